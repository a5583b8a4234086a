//! `/auth-callback`: the provider sends the browser back with a code, which is exchanged (RFC 6749
//! §4.1.3, with the PKCE verifier of RFC 7636 §4.5); both tokens are verified, then the session starts.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::callback_url;
use super::cookies::{self, SessionTokens};
use super::flow::LoginFlow;
use crate::auth::{Endpoint, Verified};
use crate::error::ApiError;
use crate::state::AppState;

/// `/auth-callback`: the first issuer's answer.
pub(super) async fn first(
    state: State<AppState>,
    flow: LoginFlow,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    callback(state, 0, flow, jar).await
}

/// `/auth-callback/N`: the answer of the issuer at `N` (never 0: the first has the bare path).
pub(super) async fn numbered(
    state: State<AppState>,
    Path(issuer): Path<String>,
    flow: LoginFlow,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    let issuer = issuer
        .parse()
        .ok()
        .filter(|index| *index != 0)
        .ok_or(ApiError::NotFound)?;
    callback(state, issuer, flow, jar).await
}

/// Exchanges the code, verifies the tokens and starts the session; `arrived` is the issuer whose
/// callback path the browser came back to.
async fn callback(
    State(state): State<AppState>,
    arrived: usize,
    flow: LoginFlow,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    let chosen = flow.login.issuer;
    // Mix-up defence (RFC 9700 §4.4.2), before the code, the PKCE verifier or the client secret
    // leave: the answer must come back on the chosen issuer's own redirect URI, and name that issuer
    // when it names one (RFC 9207 §2.4).
    if arrived != chosen {
        return Err(ApiError::Forbidden(
            "the answer came from another issuer than the login's",
        ));
    }
    check_response_issuer(&state, chosen, flow.iss.as_deref()).await?;
    let tokens = exchange_code(&state, &flow).await?;
    let verified = state.verifier.verify(&tokens.access_token).await?;
    if verified.issuer_index() != chosen {
        // A second layer: the token endpoint of the chosen issuer answered with another's token.
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

/// RFC 9207 §2.4: an `iss` in the authorization response must be the chosen issuer's identifier,
/// and is required when that issuer's discovery document says it always sends one.
async fn check_response_issuer(
    state: &AppState,
    chosen: usize,
    iss: Option<&str>,
) -> Result<(), ApiError> {
    let wrong = ApiError::Forbidden("the answer came from another issuer than the login's");
    let Some(spec) = state.verifier.issuer(chosen) else {
        return Err(wrong);
    };
    match iss {
        Some(iss) if iss == spec.issuer => Ok(()),
        Some(_) => Err(wrong),
        None => {
            let advertised = match &state.issuer(chosen).discovery {
                Some(discovery) => discovery
                    .document()
                    .await
                    .is_ok_and(|document| document.authorization_response_iss_parameter_supported),
                None => false,
            };
            if advertised {
                Err(ApiError::InvalidRequest(
                    "no iss in the callback (RFC 9207)",
                ))
            } else {
                Ok(())
            }
        }
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
    let redirect_uri = callback_url(state, flow.login.issuer);
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
