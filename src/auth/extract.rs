//! Extractors over a [`Verifier`]: `Verified`, `Claims<T>`, `Option<Claims<T>>`, `AccessToken` and
//! `Option<IdToken>`. The token is verified once per request; the result waits in the request
//! extensions for the next extractor.

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::claims::{Claims, Verified};
use super::credentials::{id_token, request_token};
use super::error::TokenError;
use super::verify::Verifier;
use crate::error::ApiError;

/// Verifies the request's token, or reuses the verification another extractor already did.
async fn verified<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<Option<Verified>, ApiError>
where
    Verifier: FromRef<S>,
{
    if let Some(verified) = parts.extensions.get::<Verified>() {
        return Ok(Some(verified.clone()));
    }
    let Some(token) = request_token(parts)? else {
        return Ok(None);
    };
    let verified = Verifier::from_ref(state).verify(&token).await?;
    if let Some(sub) = verified.sub() {
        tracing::Span::current().record("sub", sub);
    }
    parts.extensions.insert(verified.clone());
    Ok(Some(verified))
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
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        verified(parts, state)
            .await?
            .ok_or(ApiError::MissingToken)?;
        let token = request_token(parts)?.ok_or(ApiError::MissingToken)?;
        Ok(Self(token.into_owned()))
    }
}

/// The verified token itself, with no view of its claims: for handlers that only need to know the
/// caller is authenticated, or that echo the claims as signed. Costs no deserialization.
impl<S> FromRequestParts<S> for Verified
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        verified(parts, state).await?.ok_or(ApiError::MissingToken)
    }
}

impl<S, T> FromRequestParts<S> for Claims<T>
where
    Verifier: FromRef<S>,
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let verified = verified(parts, state)
            .await?
            .ok_or(ApiError::MissingToken)?;
        view(verified)
    }
}

/// `Option<Claims<T>>` is `None` only when no credentials were sent; a bad token is still refused.
impl<S, T> OptionalFromRequestParts<S> for Claims<T>
where
    Verifier: FromRef<S>,
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
