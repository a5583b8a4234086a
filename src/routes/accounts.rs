//! `POST /auth/signup`: local accounts for the embedded issuer (form or JSON).

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::Bytes;
use crate::state::AppState;
use crate::store::{AccountStore, NewAccount, SignupError};

/// `/auth/signup`, for the local provider.
pub fn router() -> Router<AppState> {
    Router::new().route("/auth/signup", post(signup))
}

/// A new account.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedUp {
    /// The account's subject: the `sub` of its tokens.
    pub sub: String,
    /// The login name.
    pub username: String,
}

/// A refused sign-up: what is wrong with each field.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldErrors {
    /// `invalid_request`.
    pub error: &'static str,
    /// A summary.
    pub error_description: String,
    /// Field name -> problem.
    #[schema(value_type = Object)]
    pub fields: std::collections::BTreeMap<&'static str, String>,
}

/// Creates a local account (username or email, and a password).
#[utoipa::path(post, path = "/auth/signup", tag = "local issuer",
    request_body(content = NewAccount, description = "JSON or application/x-www-form-urlencoded"),
    responses(
        (status = 201, description = "Created", body = SignedUp),
        (status = 409, description = "The username or email is taken", body = ErrorBody),
        (status = 422, description = "Weak or malformed input, field by field", body = FieldErrors),
        (status = 503, description = "Too many sign-ups at once; see Retry-After", body = ErrorBody),
    ))]
pub async fn signup(
    State(accounts): State<Option<AccountStore>>,
    headers: HeaderMap,
    Bytes(body): Bytes,
) -> Result<Response, ApiError> {
    let accounts = accounts.ok_or(ApiError::NotFound)?;
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    let parsed: Result<NewAccount, String> = if is_form {
        serde_urlencoded::from_bytes(&body).map_err(|error| error.to_string())
    } else {
        serde_json::from_slice(&body).map_err(|error| error.to_string())
    };
    let new = match parsed {
        Ok(new) => new,
        Err(problem) => {
            let fields = [("body", problem)].into_iter().collect();
            return Ok(field_errors("malformed sign-up request", fields));
        }
    };
    match accounts.sign_up(new).await {
        Ok(account) => {
            tracing::info!(sub = %account.sub, "account created");
            let body = SignedUp {
                sub: account.sub,
                username: account.username,
            };
            Ok((StatusCode::CREATED, Json(body)).into_response())
        }
        Err(SignupError::Invalid(fields)) => Ok(field_errors("some fields are invalid", fields)),
        Err(SignupError::Taken) => {
            let body = ErrorBody {
                error: "conflict".to_owned(),
                error_description: "username or email is taken".to_owned(),
            };
            Ok((StatusCode::CONFLICT, Json(body)).into_response())
        }
        Err(SignupError::Busy(busy)) => Err(busy.into()),
        Err(error) => Err(ApiError::Internal(error.into())),
    }
}

fn field_errors(
    summary: &str,
    fields: std::collections::BTreeMap<&'static str, String>,
) -> Response {
    let body = FieldErrors {
        error: "invalid_request",
        error_description: summary.to_owned(),
        fields,
    };
    (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
}
