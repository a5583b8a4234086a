//! Extractors over a [`Verifier`] and a [`DpopVerifier`]: `Verified`, `Claims<T>`,
//! `Option<Claims<T>>`, `AccessToken` and `Option<IdToken>`. The token (and its DPoP proof) is
//! verified once per request; the result waits in the request extensions for the next extractor.

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::claims::{Claims, Verified};
use super::credentials::{Credentials, credentials, id_token, request_token};
use super::dpop::{DpopKey, DpopVerifier, Principal, bound_key};
use super::error::TokenError;
use super::verify::Verifier;
use crate::error::ApiError;

/// Verifies the request's credentials, or reuses the verification another extractor already did.
/// `None` when the request carries none.
async fn verified<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<Option<Verified>, ApiError>
where
    Verifier: FromRef<S>,
    DpopVerifier: FromRef<S>,
{
    if let Some(verified) = parts.extensions.get::<Verified>() {
        return Ok(Some(verified.clone()));
    }
    let dpop = DpopVerifier::from_ref(state);
    let verifier = Verifier::from_ref(state);
    let (verified, key) = match credentials(parts, dpop.mode())? {
        None => return Ok(None),
        Some(Credentials::Bearer(token)) => (bearer(&verifier, &dpop, &token).await?, None),
        Some(Credentials::Dpop { token, proof }) => {
            // Boxed: the replay store's future (Redis) would otherwise make this one, and every
            // extractor's, kilobytes larger on every request, Bearer ones included.
            let (verified, key) = Box::pin(proven(&verifier, &dpop, parts, token, proof))
                .await
                .map_err(ApiError::dpop)?;
            (verified, Some(key))
        }
    };
    if let Some(sub) = verified.sub() {
        tracing::Span::current().record("sub", sub);
    }
    if let Some(key) = key {
        parts.extensions.insert(key);
    }
    parts.extensions.insert(verified.clone());
    Ok(Some(verified))
}

/// A bearer token (header or session cookie): accepted unless DPoP is required, and never when it
/// is DPoP-bound (RFC 9449 §7.2: the downgrade a stolen bound token would otherwise allow).
async fn bearer(
    verifier: &Verifier,
    dpop: &DpopVerifier,
    token: &str,
) -> Result<Verified, ApiError> {
    if !dpop.mode().accepts_bearer() {
        return Err(ApiError::from(TokenError::DpopRequired).dpop());
    }
    let verified = verifier.verify(token).await?;
    if bound_key(&verified)?.is_some() {
        return Err(TokenError::DpopBound.into());
    }
    Ok(verified)
}

/// A DPoP token and its proof (RFC 9449 §7.1): the proof checked (never cached), the token verified
/// (cached as any other), the token's `cnf.jkt` equal to the proof key's thumbprint, and only then
/// the proof's `jti` recorded, so only a holder of a valid bound token can fill the replay store,
/// and only up to its key's and its principal's (issuer and `sub`) quotas.
/// The path compared with `htu` is `parts.uri`'s as sent, dot segments refused rather than resolved;
/// under `Router::nest` it lacks the nest prefix (see [`DpopVerifier`]).
async fn proven(
    verifier: &Verifier,
    dpop: &DpopVerifier,
    parts: &Parts,
    token: &str,
    proof: &str,
) -> Result<(Verified, DpopKey), ApiError> {
    let checked = dpop.check(proof, &parts.method, parts.uri.path(), Some(token))?;
    let verified = verifier.verify(token).await?;
    match bound_key(&verified)? {
        Some(jkt) if *jkt == checked.jkt => {}
        Some(_) => return Err(TokenError::DpopKeyMismatch.into()),
        None => return Err(TokenError::NotDpopBound.into()),
    }
    let principal = Principal {
        issuer: &verifier.spec_of(&verified).issuer,
        sub: verified.sub().or_else(|| verified.client_id()),
    };
    dpop.remember(&checked, principal).await?;
    Ok((verified, DpopKey(checked.jkt)))
}

fn view<T: DeserializeOwned>(verified: Verified) -> Result<Claims<T>, ApiError> {
    Claims::from_verified(verified).map_err(|error| {
        tracing::debug!(%error, "token claims do not fit the handler's claims type");
        ApiError::InvalidToken(TokenError::MalformedClaims)
    })
}

/// The request's access token as sent, for handlers that pass it on (to the provider's userinfo
/// endpoint): taken exactly as [`Claims`] takes it ([`request_token`]: the bearer header, else the
/// session cookie), and verified first, so it is never a token the service refused.
#[derive(Clone)]
pub struct AccessToken(pub String);

/// Never the token itself in logs.
impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(..)")
    }
}

impl<S> FromRequestParts<S> for AccessToken
where
    Verifier: FromRef<S>,
    DpopVerifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let missing = || ApiError::MissingToken(DpopVerifier::from_ref(state).mode());
        verified(parts, state).await?.ok_or_else(missing)?;
        let token = request_token(parts)?.ok_or_else(missing)?;
        Ok(Self(token.into_owned()))
    }
}

/// The verified token itself, with no view of its claims: for handlers that only need to know the
/// caller is authenticated, or that echo the claims as signed. Costs no deserialization.
impl<S> FromRequestParts<S> for Verified
where
    Verifier: FromRef<S>,
    DpopVerifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        verified(parts, state)
            .await?
            .ok_or_else(|| ApiError::MissingToken(DpopVerifier::from_ref(state).mode()))
    }
}

impl<S, T> FromRequestParts<S> for Claims<T>
where
    Verifier: FromRef<S>,
    DpopVerifier: FromRef<S>,
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let verified = verified(parts, state)
            .await?
            .ok_or_else(|| ApiError::MissingToken(DpopVerifier::from_ref(state).mode()))?;
        view(verified)
    }
}

/// `Option<Claims<T>>` is `None` only when no credentials were sent; a bad token is still refused.
impl<S, T> OptionalFromRequestParts<S> for Claims<T>
where
    Verifier: FromRef<S>,
    DpopVerifier: FromRef<S>,
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, ApiError> {
        verified(parts, state).await?.map(view).transpose()
    }
}

/// The ID token a request carries, as sent and not yet verified: the `X-Id-Token` header, else the
/// browser session's ID-token cookie. Only as `Option<IdToken>`, `None` when there is neither; verify
/// it with [`Verifier::verify_id_token`] against the access token's `sub`.
#[derive(Clone)]
pub struct IdToken(pub String);

/// Never the token itself in logs.
impl std::fmt::Debug for IdToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdToken(..)")
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for IdToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, ApiError> {
        Ok(id_token(parts)?.map(|token| Self(token.into_owned())))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;
    use crate::config::Settings;
    use crate::state::AppState;

    /// The rare paths (a key-set fetch, introspection, DPoP's replay store in Redis) are boxed: held
    /// inline, their futures made the one every authenticated request awaits about 11 KiB, moved
    /// several times a request.
    #[tokio::test]
    async fn the_futures_every_authenticated_request_awaits_stay_small() {
        let settings = Settings::from_pairs([
            ("AUTH_PROVIDER", "oidc"),
            ("OIDC_ISSUER", "https://idp.example.com"),
            ("OIDC_AUDIENCE", "api"),
        ])
        .unwrap();
        let state = AppState::new(settings).await.unwrap();

        let verify = state.verifier.verify("a.b.c");
        assert!(
            size_of_val(&verify) <= 1024,
            "{} bytes",
            size_of_val(&verify)
        );
        let mut parts = Request::new(()).into_parts().0;
        let extract = verified(&mut parts, &state);
        assert!(
            size_of_val(&extract) <= 2048,
            "{} bytes",
            size_of_val(&extract)
        );
    }
}
