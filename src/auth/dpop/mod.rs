//! DPoP (RFC 9449): proof-of-possession for access tokens. [`DpopVerifier`] checks the `DPoP` proof
//! a request carries ([`proof`]), remembers its `jti` ([`replay`]), and says what `cnf.jkt` the token
//! must be bound to; the extractors ([`crate::auth::Claims`] and the rest) call it for every request
//! sent with `Authorization: DPoP <token>`.

mod binding;
mod htu;
mod proof;
mod replay;
#[cfg(feature = "redis")]
mod replay_redis;
#[cfg(not(feature = "redis"))]
#[path = "replay_redis_off.rs"]
mod replay_redis;

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, Method};
use jsonwebtoken::get_current_timestamp;
use url::Url;

pub(crate) use self::binding::{KeyBinding, bound_key};
pub(crate) use self::proof::CheckedProof;
use self::proof::Expected;
pub use self::proof::{
    MAX_PROOF_AGE_SECS, MAX_PROOF_BYTES, SUPPORTED_ALGORITHM_NAMES, SUPPORTED_ALGORITHMS,
    access_token_hash,
};
use self::replay::ReplayStore;
pub use self::replay::{MAX_PROOFS_PER_KEY, MAX_PROOFS_PER_SUBJECT, Principal, ProofQuotas};
use super::error::ProofError;
use crate::config::Settings;
use crate::store::CacheUrlError;

/// The request header a proof travels in (RFC 9449 §4.1).
pub const DPOP_HEADER: HeaderName = HeaderName::from_static("dpop");

/// In a request's extensions once its DPoP proof and token were accepted: the RFC 7638 thumbprint of
/// the key the client proved it holds. Handlers may read it (`Extension<DpopKey>`); refusals after
/// authentication (`insufficient_scope`) use it to answer with the `DPoP` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopKey(pub String);

/// `[AUTH] DPOP`: which token schemes the API accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DpopMode {
    /// `Bearer` and `DPoP` (the default). A DPoP-bound token must still come with its proof.
    #[default]
    Allowed,
    /// `DPoP` only: bearer tokens, in the header or the session cookie, are refused.
    Required,
    /// `Bearer` only: the `DPoP` scheme is credentials this service does not know, like `Basic`.
    Off,
}

impl DpopMode {
    /// Whether `Authorization: DPoP …` is understood.
    pub fn accepts_dpop(self) -> bool {
        self != Self::Off
    }

    /// Whether `Authorization: Bearer …` (and the session cookie) is accepted.
    pub fn accepts_bearer(self) -> bool {
        self != Self::Required
    }
}

/// Checks DPoP proofs for this service: its mode, public URL, leeway and replay store. Cheap to
/// clone; clones share the replay store. Proofs are never cached: each is new by design.
///
/// The extractors check `htu` against PUBLIC_URL and the request's path as the handler's router
/// sees it. Under [`axum::Router::nest`] that path has lost the nest prefix (axum strips it, and
/// keeps the original only with its `original-uri` feature, off here to spare a copy of every
/// request's URI), so proofs for nested routes do not match: mount protected routes with
/// [`axum::Router::merge`] and full paths.
#[derive(Debug, Clone)]
pub struct DpopVerifier(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    mode: DpopMode,
    /// PUBLIC_URL without its trailing slash: `htu` is checked against it, never against `Host`.
    public_base: String,
    leeway: u64,
    replay: ReplayStore,
}

impl DpopVerifier {
    /// A verifier for `settings`' `[AUTH] DPOP`, `LEEWAY` and `[SERVER] PUBLIC_URL`, remembering
    /// proofs in process and, with `[CACHE] URL`, in Redis (not contacted until first used).
    ///
    /// # Errors
    /// When `[CACHE] URL` cannot be used by this binary.
    pub fn new(settings: &Settings) -> Result<Self, CacheUrlError> {
        Self::with_quotas(settings, ProofQuotas::default())
    }

    /// As [`Self::new`], recording at most `quotas` proofs per proof key and per principal in a
    /// window instead of [`MAX_PROOFS_PER_KEY`] and [`MAX_PROOFS_PER_SUBJECT`] (tests use small
    /// quotas to reach them).
    ///
    /// # Errors
    /// When `[CACHE] URL` cannot be used by this binary.
    pub fn with_quotas(settings: &Settings, quotas: ProofQuotas) -> Result<Self, CacheUrlError> {
        let leeway = settings.auth.leeway.as_secs();
        // The longest a proof is accepted: `iat` up to a minute old, or up to the leeway ahead.
        let window = MAX_PROOF_AGE_SECS + leeway + 1;
        Ok(Self(Arc::new(Inner {
            mode: settings.auth.dpop,
            public_base: settings.server.public_base(),
            leeway,
            replay: ReplayStore::new(window, settings.cache.url.as_ref(), quotas)?,
        })))
    }

    /// `[AUTH] DPOP`.
    pub fn mode(&self) -> DpopMode {
        self.0.mode
    }

    /// Checks `proof` for a `method` request to `path` (under PUBLIC_URL), made with `access_token`
    /// (`None` at a token endpoint, where `ath` is not asked for), then records its `jti`, counted
    /// against `principal`: whom the token speaks for (or, at a token endpoint, is to be issued to).
    /// Returns the RFC 7638 SHA-256 thumbprint of the proof's key: what the token is, or is to be,
    /// bound to (`cnf.jkt`). The extractors do more: they record the `jti` only once the token is
    /// verified and bound to that key, so that only a holder of a valid bound token fills the store.
    /// Call this only once the caller is known (the token verified, a grant's credentials checked):
    /// a proof recorded for an unchecked `principal` spends that principal's quota.
    ///
    /// # Errors
    /// The first failed check (RFC 9449 §4.3), [`ProofError::Replayed`] for a proof seen before,
    /// [`ProofError::KeyOverQuota`] or [`ProofError::SubjectOverQuota`] when the proof's key or
    /// `principal` sent too many proofs in this window, [`ProofError::StoreFull`] when no more proofs
    /// can be remembered right now.
    pub async fn verify_proof(
        &self,
        proof: &str,
        method: &Method,
        path: &str,
        access_token: Option<&str>,
        principal: Principal<'_>,
    ) -> Result<String, ProofError> {
        let checked = self.check(proof, method, path, access_token)?;
        self.remember(&checked, principal).await?;
        Ok(checked.jkt)
    }

    /// The stateless checks of [`Self::verify_proof`], without recording the `jti`.
    pub(crate) fn check(
        &self,
        proof: &str,
        method: &Method,
        path: &str,
        access_token: Option<&str>,
    ) -> Result<CheckedProof, ProofError> {
        let url = self.request_url(path).ok_or(ProofError::UrlMismatch)?;
        self.check_at(proof, method, &[url], access_token)
    }

    /// The URL a request for `path` arrived at, as a proof's `htu` must name it: PUBLIC_URL and the
    /// path. `None` for a path with dot segments, which no proof may name.
    pub(crate) fn request_url(&self, path: &str) -> Option<Url> {
        htu::request_url(&self.0.public_base, path)
    }

    /// As [`Self::check`], for a request that clients may name by any of `urls` (`htu`): an endpoint
    /// advertised under another origin than PUBLIC_URL, as the local issuer's token endpoint is.
    pub(crate) fn check_at(
        &self,
        proof: &str,
        method: &Method,
        urls: &[Url],
        access_token: Option<&str>,
    ) -> Result<CheckedProof, ProofError> {
        proof::check(
            proof,
            &Expected {
                method: method.as_str(),
                urls,
                access_token,
                now: get_current_timestamp(),
                leeway: self.0.leeway,
            },
        )
    }

    /// Records a checked proof's `jti`, counted against its key and against `principal`, whom the
    /// token speaks for: the last step, once everything else about the request passed, so only a
    /// caller holding a valid bound token can fill the store.
    ///
    /// # Errors
    /// As [`ReplayStore::first_use`].
    pub(crate) async fn remember(
        &self,
        checked: &CheckedProof,
        principal: Principal<'_>,
    ) -> Result<(), ProofError> {
        let now = get_current_timestamp();
        self.0
            .replay
            .first_use(&checked.replay_key, &checked.jkt, principal, now)
            .await
    }
}

/// The request's one `DPoP` header, if any (RFC 9449 §4.3 point 1: not two).
///
/// # Errors
/// [`ProofError::Several`] for more than one; [`ProofError::Malformed`] for one that is not ASCII.
pub fn proof_header(headers: &HeaderMap) -> Result<Option<&str>, ProofError> {
    let mut values = headers.get_all(DPOP_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ProofError::Several);
    }
    value
        .to_str()
        .map(|proof| Some(proof.trim()))
        .map_err(|_| ProofError::Malformed)
}
