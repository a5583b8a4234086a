//! `POST /auth/signup`: local accounts for the embedded issuer (form or JSON).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::state::IssuerState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::FormOrJson;
use crate::store::{Account, AccountStore, NewAccount};

/// A new account.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedUp {
    /// The account's subject: the `sub` of its tokens.
    pub sub: String,
    /// The login name.
    pub username: String,
}

/// Creates a local account (username or email, and a password).
#[utoipa::path(post, path = "/auth/signup", tag = "local issuer",
    request_body(content(
        (NewAccount = "application/json"),
        (NewAccount = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 201, description = "Created", body = SignedUp),
        (status = 400, description = "invalid_request: the body is not valid JSON or form data", body = ErrorBody),
        (status = 409, description = "conflict: the username or email is taken", body = ErrorBody),
        (status = 415, description = "invalid_request: send application/json or application/x-www-form-urlencoded", body = ErrorBody),
        (status = 422, description = "invalid_request: weak or malformed input; `fields` names the problem with each field", body = ErrorBody),
        (status = 503, description = "temporarily_unavailable: too many sign-ups at once; see Retry-After", body = ErrorBody),
    ))]
pub async fn signup(
    State(state): State<IssuerState>,
    FormOrJson(new): FormOrJson<NewAccount>,
) -> Result<(StatusCode, Json<SignedUp>), ApiError> {
    let account = create(&state.accounts, new).await?;
    let body = SignedUp {
        sub: account.sub,
        username: account.username,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// Creates the account.
async fn create(accounts: &AccountStore, new: NewAccount) -> Result<Account, ApiError> {
    let account = accounts.sign_up(new).await?;
    tracing::info!(sub = %account.sub, "account created");
    Ok(account)
}
