//! `/auth-callback`: the provider sends the browser back with a code, which is exchanged (RFC 6749
//! §4.1.3, with the PKCE verifier of RFC 7636 §4.5); both tokens are verified, then the session starts.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::callback_url;
use super::cookies::{self, SessionTokens};
use super::flow::LoginFlow;
use crate::auth::{Endpoint, Verified};
use crate::error::ApiError;
use crate::state::AppState;

/// Exchanges the code, verifies the tokens and starts the session.
pub(super) async fn callback(
    State(state): State<AppState>,
    flow: LoginFlow,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    let tokens = exchange_code(&state, &flow).await?;
    let verified = state.verifier.verify(&tokens.access_token).await?;
    let chosen = flow.login.issuer;
    if verified.issuer_index() != chosen {
        // A mix-up (RFC 9700 §4.4): the token endpoint of the chosen issuer answered with another's.
        return Err(ApiError::Forbidden(
            "the provider answered with another issuer's token",
        ));
    }
    if let Some(id_token) = &tokens.id_token {
        let id = state
            .verifier
            .verify_id_token(id_token, verified.sub())
            .await?;
        if id.issuer_index() != chosen {
            return Err(ApiError::Forbidden(
                "the provider answered with another issuer's token",
            ));
        }
        check_nonce(&id, &flow.login.nonce)?;
    }
    tracing::info!(
        sub = verified.sub().unwrap_or_default(),
        "browser session started"
    );
    let jar = cookies::start_session(jar, &state.settings.server, tokens);
    Ok((jar, Redirect::to(&flow.login.next)).into_response())
}

/// The token endpoint's answer (RFC 6749 §5.1 and §5.2; OpenID Connect Core §3.1.3.3 adds `id_token`).
/// `Debug` leaves the tokens out.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    id_token: Option<String>,
    expires_in: Option<i64>,
    error: Option<String>,
}

impl std::fmt::Debug for TokenAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAnswer")
            .field("expires_in", &self.expires_in)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// Redeems the flow's code at the provider's token endpoint.
async fn exchange_code(state: &AppState, flow: &LoginFlow) -> Result<SessionTokens, ApiError> {
    let token_url = state
        .issuer(flow.login.issuer)
        .endpoints
        .get(Endpoint::Token)
        .await
        .ok_or(ApiError::Unavailable("the provider has no token endpoint"))?;
    let spec = state.verifier.issuer_spec(flow.login.issuer);
    let redirect_uri = callback_url(state);
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", flow.code.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("client_id", spec.client_id.as_deref().unwrap_or_default()),
        ("code_verifier", flow.login.verifier.as_str()),
    ];
    if let Some(secret) = &spec.client_secret {
        form.push(("client_secret", secret.expose()));
    }
    let (status, answer): (_, TokenAnswer) = state
        .http
        .post_form(&token_url, &form)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "code exchange failed");
            ApiError::Upstream("the provider's token endpoint failed")
        })?;
    match (answer.access_token, status.is_success()) {
        (Some(access_token), true) => Ok(SessionTokens {
            access_token,
            id_token: answer.id_token,
            expires_in: answer.expires_in,
        }),
        _ => {
            tracing::info!(?status, error = ?answer.error, "code exchange refused");
            Err(ApiError::Forbidden(
                "the provider refused the code exchange",
            ))
        }
    }
}

/// OpenID Connect Core §3.1.3.7: the ID token must carry the nonce this login sent, so an ID token
/// issued for another login cannot be replayed into this one.
fn check_nonce(id_token: &Verified, sent: &str) -> Result<(), ApiError> {
    #[derive(Deserialize)]
    struct Nonce {
        nonce: Option<String>,
    }
    let got = id_token
        .deserialize::<Nonce>()
        .ok()
        .and_then(|claims| claims.nonce);
    if got.as_deref() == Some(sent) {
        Ok(())
    } else {
        Err(ApiError::InvalidRequest(
            "the ID token's nonce does not match the login",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_leaves_the_tokens_out() {
        let answer = TokenAnswer {
            access_token: Some("access-secret".to_owned()),
            id_token: Some("id-secret".to_owned()),
            expires_in: Some(60),
            error: None,
        };
        let printed = format!("{answer:?}");
        assert!(!printed.contains("secret"), "{printed}");
    }
}
