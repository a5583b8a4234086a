//! Token verification: the public face of the `auth` tree.
//!
//! A request's access token goes through [`Verifier::verify`] once (a `DPoP` one with its proof
//! through [`DpopVerifier`] too); handlers ask for what they need with
//! the extractors [`Verified`] (no view of the claims), [`Claims`], `Option<Claims>`,
//! [`RequireScope`] and [`RequirePermission`]; [`AccessToken`] and `Option<IdToken>` hand over the
//! raw tokens for calls to the provider. A bearer value that is not a JWT is an opaque token, checked
//! by introspection (RFC 7662) at its issuer: see [`Introspect`].

mod cache;
mod claims;
#[cfg(feature = "sessions")]
mod cookie;
#[cfg(not(feature = "sessions"))]
#[path = "cookie_off.rs"]
mod cookie;
mod credentials;
mod discovery;
pub mod dpop;
mod endpoints;
mod error;
mod extract;
mod fetch;
mod introspect;
mod introspected;
mod jwks;
mod keys;
mod opaque;
mod pkce;
pub mod providers;
mod random;
mod refresh;
mod require;
mod verify;

pub use claims::{Claims, Grants, RegisteredClaims, Verified};
#[cfg(feature = "sessions")]
pub use cookie::{ID_TOKEN_COOKIE, SESSION_COOKIE};
pub use credentials::{Credentials, bearer_token, credentials, id_token, request_token};
pub use discovery::{Discovery, DiscoveryDocument, IssuerMismatch};
pub use dpop::{DpopKey, DpopMode, DpopVerifier};
pub use endpoints::{Endpoint, Endpoints, callback_path};
pub use error::{IdTokenError, ProofError, TokenError, VerifyError};
pub use extract::{AccessToken, IdToken};
pub use fetch::{FetchError, HttpFetcher};
pub use introspect::{Introspect, IntrospectError, IntrospectFuture, RemoteIntrospector};
pub use jwks::KeyStore;
pub use keys::{KeySet, VerifyKey};
pub use opaque::{IntrospectionCache, LOCAL_TOKEN_PREFIX};
pub use pkce::pkce_challenge;
pub use random::{RandomError, random_bytes, random_token};
pub use require::{
    AdminPermission, Match, MessagesScope, RequirePermission, RequireScope, Required, Requirement,
};
pub use verify::{AttachError, Verifier};
