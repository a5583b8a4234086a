//! Scope and permission requirements as extractors: `RequireScope<MessagesScope>` in a handler's
//! arguments refuses, with 403 `insufficient_scope`, a token that lacks what the rule names.

use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;

use super::claims::{Claims, Grants};
use super::dpop::{DpopKey, DpopVerifier};
use super::verify::Verifier;
use crate::config::AuthSettings;
use crate::error::ApiError;

/// Whether every name, or any one of them, must be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// All of the names.
    AllOf,
    /// At least one of the names.
    AnyOf,
}

/// Names a token must be granted, and how many of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Required {
    /// The names.
    pub names: Vec<String>,
    /// All of them or any one.
    pub mode: Match,
}

impl Required {
    /// Every one of `names`.
    pub fn all_of<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> Self {
        Self {
            names: names.into_iter().map(Into::into).collect(),
            mode: Match::AllOf,
        }
    }

    /// At least one of `names`.
    pub fn any_of<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> Self {
        Self {
            names: names.into_iter().map(Into::into).collect(),
            mode: Match::AnyOf,
        }
    }

    /// Whether `granted` satisfies the requirement.
    pub fn is_met_by(&self, granted: &Grants) -> bool {
        match self.mode {
            Match::AllOf => self.names.iter().all(|name| granted.contains(name)),
            Match::AnyOf => self.names.iter().any(|name| granted.contains(name)),
        }
    }
}

/// A named requirement, read from configuration at request time. Implement it on a unit type:
///
/// ```
/// use protected_api::auth::{Required, Requirement};
/// use protected_api::config::AuthSettings;
///
/// /// Reading or writing messages.
/// pub struct ReadOrWrite;
/// impl Requirement for ReadOrWrite {
///     fn required(_: &AuthSettings) -> Required {
///         Required::any_of(["read:messages", "write:messages"])
///     }
/// }
/// ```
pub trait Requirement: Send + Sync + 'static {
    /// What the token must be granted.
    fn required(auth: &AuthSettings) -> Required;
}

/// `[AUTH] SCOPE`, the scope `/api/private-scoped` needs.
#[derive(Debug)]
pub struct MessagesScope;

impl Requirement for MessagesScope {
    fn required(auth: &AuthSettings) -> Required {
        Required::all_of([auth.scope.as_str()])
    }
}

/// `[AUTH] PERMISSION`, the permission `/api/admin` needs.
#[derive(Debug)]
pub struct AdminPermission;

impl Requirement for AdminPermission {
    fn required(auth: &AuthSettings) -> Required {
        Required::all_of([auth.permission.as_str()])
    }
}

/// Extractor: the token's scopes must meet `R`. Holds the caller's claims.
#[derive(Debug)]
pub struct RequireScope<R: Requirement>(pub Claims, pub PhantomData<R>);

/// Extractor: the token's permissions must meet `R`. Holds the caller's claims.
#[derive(Debug)]
pub struct RequirePermission<R: Requirement>(pub Claims, pub PhantomData<R>);

async fn granted<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    required: impl FnOnce(&AuthSettings) -> Required,
    grants: impl FnOnce(&Claims) -> &Grants,
) -> Result<Claims, ApiError>
where
    Verifier: FromRef<S>,
    DpopVerifier: FromRef<S>,
{
    let claims = Claims::from_request_parts(parts, state).await?;
    let required = required(Verifier::from_ref(state).auth());
    if required.is_met_by(grants(&claims)) {
        Ok(claims)
    } else {
        let refused = ApiError::InsufficientScope(required);
        // RFC 9449 §7.1: a request made with the DPoP scheme is answered with its challenge.
        if parts.extensions.get::<DpopKey>().is_some() {
            Err(refused.dpop())
        } else {
            Err(refused)
        }
    }
}

impl<S: Send + Sync, R: Requirement> FromRequestParts<S> for RequireScope<R>
where
    Verifier: FromRef<S>,
    DpopVerifier: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let claims = granted(parts, state, R::required, Claims::scopes).await?;
        Ok(Self(claims, PhantomData))
    }
}

impl<S: Send + Sync, R: Requirement> FromRequestParts<S> for RequirePermission<R>
where
    Verifier: FromRef<S>,
    DpopVerifier: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let claims = granted(parts, state, R::required, Claims::permissions).await?;
        Ok(Self(claims, PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn all_of_needs_every_name_and_any_of_one() {
        let granted = Grants::from_claim(Some(&json!("read:messages write:messages")));
        assert!(Required::all_of(["read:messages", "write:messages"]).is_met_by(&granted));
        assert!(!Required::all_of(["read:messages", "delete:messages"]).is_met_by(&granted));
        assert!(Required::any_of(["delete:messages", "write:messages"]).is_met_by(&granted));
        assert!(!Required::any_of(["delete:messages"]).is_met_by(&granted));
    }
}
