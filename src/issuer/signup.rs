//! Sign-up for local accounts: `POST /auth/signup` for API clients (form or JSON), and the browser's
//! `GET`/`POST /authorize/signup`, linked from the sign-in page, which creates the account through the
//! same code and then goes on with the same authorization request.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::authorize::{self, CsrfChecked, Refused, check, grant};
use super::pages::{self, Kept, signup_page};
use super::request::AuthorizeRequest;
use super::state::IssuerState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{FormOrJson, Query};
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
///
/// People in a browser need not call it: the login page behind Swagger UI's Authorize button links to
/// a sign-up form (`/authorize/signup`) that creates the account by the same rules, then logs in.
#[utoipa::path(post, path = "/auth/signup", tag = "local issuer",
    request_body(content(
        (NewAccount = "application/json"),
        (NewAccount = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 201, description = "Created", body = SignedUp),
        (status = 409, description = "conflict: the username or email is taken", body = ErrorBody),
        (status = 422, description = "invalid_request: weak or malformed input, or a body that is not JSON or form data; `fields` names the problem with each field (`body` for an unreadable body)", body = ErrorBody),
        (status = 503, description = "temporarily_unavailable: too many sign-ups at once; see Retry-After", body = ErrorBody),
    ))]
pub async fn signup(
    State(state): State<IssuerState>,
    new: Result<FormOrJson<NewAccount>, ApiError>,
) -> Result<(StatusCode, Json<SignedUp>), ApiError> {
    let FormOrJson(new) = new.map_err(unreadable_is_invalid)?;
    let account = create(&state.accounts, new).await?;
    let body = SignedUp {
        sub: account.sub,
        username: account.username,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// A body that cannot be read as a sign-up is bad input like a weak password: 422, the reason under
/// `fields.body`. Only an oversized body keeps its 413.
fn unreadable_is_invalid(error: ApiError) -> ApiError {
    match error {
        ApiError::Unreadable {
            status,
            description,
        } if status != StatusCode::PAYLOAD_TOO_LARGE => ApiError::InvalidFields {
            summary: "the body is not a sign-up in JSON or form data",
            fields: BTreeMap::from([("body", description)]),
        },
        other => other,
    }
}

/// Creates the account: the one sign-up path of the API and the browser form, so both keep the same
/// rules and errors.
async fn create(accounts: &AccountStore, new: NewAccount) -> Result<Account, ApiError> {
    let account = accounts.sign_up(new).await?;
    tracing::info!(sub = %account.sub, "account created");
    Ok(account)
}

/// The browser form's fields: the authorization request plus what `POST /auth/signup` takes. An
/// optional field left empty is absent. `Debug` leaves the password out.
#[derive(Deserialize)]
pub(super) struct SignupForm {
    #[serde(flatten)]
    request: AuthorizeRequest,
    username: String,
    password: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
}

impl std::fmt::Debug for SignupForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignupForm")
            .field("request", &self.request)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// `GET /authorize/signup`: the sign-up form for an authorization request.
pub(super) async fn form(
    State(state): State<IssuerState>,
    Query(request): Query<AuthorizeRequest>,
) -> Result<Response, Refused> {
    authorize::serve_form(&state, &request, |csrf| {
        signup_page(&request, csrf, &Kept::default(), None, &[])
    })
}

/// `POST /authorize/signup`: creates the account, then sends the browser back to the client as a
/// sign-in would. A refusal shows the form again with the reason, field by field.
pub(super) async fn submit(
    State(state): State<IssuerState>,
    CsrfChecked { form, csrf }: CsrfChecked<SignupForm>,
) -> Result<Response, Refused> {
    let checked = check(&state, &form.request)?;
    let optional = |value: &str| Some(value.trim().to_owned()).filter(|value| !value.is_empty());
    let new = NewAccount {
        username: form.username.clone(),
        password: form.password.clone(),
        email: optional(&form.email),
        name: optional(&form.name),
    };
    match create(&state.accounts, new).await {
        Ok(account) => grant(&state, checked, &form.request, &account).await,
        Err(refused) => show_again(&form, &csrf, refused),
    }
}

/// The sign-up form again, saying why `refused` (what `POST /auth/signup` would answer, as a page);
/// a server fault is the error page instead.
fn show_again(form: &SignupForm, csrf: &str, refused: ApiError) -> Result<Response, Refused> {
    let (status, message, fields, wait) = match &refused {
        ApiError::InvalidFields { summary, fields } => {
            let fields = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            (status, capitalised(summary), fields, None)
        }
        ApiError::Conflict(message) => (StatusCode::CONFLICT, capitalised(message), vec![], None),
        ApiError::Busy { retry_after } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-up is busy right now. Try again in a moment.".to_owned(),
            vec![],
            Some(*retry_after),
        ),
        _ => {
            tracing::error!(error = ?refused, "sign-up failed");
            return Err(authorize::unavailable());
        }
    };
    let kept = Kept {
        username: &form.username,
        email: &form.email,
        name: &form.name,
    };
    let page = signup_page(&form.request, csrf, &kept, Some(&message), &fields);
    Ok(pages::respond(status, page, wait))
}

/// `"username or email is taken"` as a sentence.
fn capitalised(message: &str) -> String {
    let mut chars = message.chars();
    let first = chars.next().map(|c| c.to_uppercase().collect::<String>());
    format!("{}{}.", first.unwrap_or_default(), chars.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_leaves_the_password_out() {
        let form = SignupForm {
            request: AuthorizeRequest::default(),
            username: "ada".to_owned(),
            password: "password-secret".to_owned(),
            email: String::new(),
            name: String::new(),
        };
        let printed = format!("{form:?}");
        assert!(!printed.contains("secret"), "{printed}");
        assert!(printed.contains("ada"), "{printed}");
    }
}
