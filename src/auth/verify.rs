//! [`Verifier::verify`]: size, issuer by `iss`, header rules, key by `kid`, signature, registered
//! claims, provider rules; or, for a bearer value that is not a JWT, introspection at its issuer.

use std::borrow::Cow;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation, get_current_timestamp};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::cache::{Cached, TokenCache, TokenDigest};
use super::claims::Verified;
use super::error::{IdTokenError, TokenError, VerifyError};
use super::introspect::{Introspect, IntrospectError};
use super::introspected::{self, Activity};
use super::jwks::KeyStore;
use super::opaque::{IntrospectionCache, IntrospectionPermits, LOCAL_TOKEN_PREFIX, Outcome};
#[cfg(feature = "local-issuer")]
use super::providers::ProviderKind;
use super::providers::{ProviderSpec, TokenPurpose};
use crate::config::AuthSettings;
use crate::telemetry::metrics;

/// Checks tokens against the configured providers. Cheap to clone; clones share the key caches.
#[derive(Debug, Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    auth: AuthSettings,
    /// Never empty; the first is the default provider.
    issuers: Box<[Trusted]>,
    /// One cache for every issuer: each entry names the issuer whose keys it was checked with.
    cache: TokenCache,
    /// Introspection answers about opaque tokens, and the introspections in flight.
    introspections: IntrospectionCache,
}

/// One trusted issuer: its spec, its own key store and its own rules. Nothing here is shared with
/// another issuer, so a key never verifies a token of an issuer that did not publish it.
#[derive(Debug)]
struct Trusted {
    spec: ProviderSpec,
    keys: KeyStore,
    validations: Validations,
    /// For ID tokens: the same issuer and keys, the client as audience. `None` without a client id.
    id_validations: Option<Validations>,
    /// Who answers for this issuer's opaque tokens; set once, by [`Verifier::attach_introspector`].
    introspector: OnceLock<Arc<dyn Introspect>>,
    /// This issuer's own bound on introspections under way, so one slow issuer never starves another.
    permits: IntrospectionPermits,
}

impl Trusted {
    fn new(spec: ProviderSpec, auth: &AuthSettings, keys: KeyStore) -> Self {
        let validations = Validations::new(&spec, auth, &spec.audiences);
        let id_validations = spec
            .id_token_audience()
            .map(|audience| Validations::new(&spec, auth, &[audience.to_owned()]));
        Self {
            spec,
            keys,
            validations,
            id_validations,
            introspector: OnceLock::new(),
            permits: IntrospectionPermits::default(),
        }
    }
}

/// The one payload member read before the signature is checked, and only to pick the issuer whose
/// keys and rules then decide (RFC 8725 §3.8: the issuer is trusted only once verified).
#[derive(Deserialize)]
struct UnverifiedIssuer<'a> {
    #[serde(borrow, default)]
    iss: Option<Cow<'a, str>>,
}

/// One `Validation` per allowed algorithm. jsonwebtoken refuses a `Validation` whose list holds an
/// algorithm of another family than the key (RSA, EC, EdDSA), so `ALGORITHMS = RS256, ES256` would
/// refuse every token if both sat in one list: each token is validated with its own header `alg` alone.
#[derive(Debug)]
struct Validations(Vec<(Algorithm, Validation)>);

impl Validations {
    fn new(spec: &ProviderSpec, auth: &AuthSettings, audiences: &[String]) -> Self {
        Self(
            spec.algorithms
                .iter()
                .map(|alg| (*alg, validation(*alg, spec, auth, audiences)))
                .collect(),
        )
    }

    /// The header's `alg` and the rules for it. RFC 8725 §3.1: only the configured algorithms; `none`
    /// and HMAC never pass because the configuration cannot list them.
    fn for_alg(&self, name: &str) -> Result<(Algorithm, &Validation), TokenError> {
        let alg = Algorithm::from_str(name).map_err(|_| TokenError::AlgorithmNotAllowed(None))?;
        self.0
            .iter()
            .find_map(|(allowed, validation)| (*allowed == alg).then_some((alg, validation)))
            .ok_or(TokenError::AlgorithmNotAllowed(Some(alg)))
    }
}

/// The JOSE header fields this service reads. `jku`, `x5u`, `jwk` and `x5c` are deliberately absent:
/// keys come only from the configured key set (RFC 8725 §3.10).
#[derive(Deserialize)]
struct JoseHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<Value>,
    #[serde(default)]
    typ: Option<String>,
}

impl Verifier {
    /// A verifier for `spec`'s tokens, with `auth`'s leeway and size limit, taking keys from `keys`.
    pub fn new(spec: ProviderSpec, auth: AuthSettings, keys: KeyStore) -> Self {
        Self::trusting(auth, (spec, keys), Vec::new())
    }

    /// A verifier for several issuers: `first`, then `others`, each with its own key store. A token is
    /// checked only by the issuer its `iss` names.
    pub fn trusting(
        auth: AuthSettings,
        first: (ProviderSpec, KeyStore),
        others: Vec<(ProviderSpec, KeyStore)>,
    ) -> Self {
        Self::trusting_with(auth, first, others, IntrospectionCache::default())
    }

    /// As [`Verifier::trusting`], keeping introspection answers about opaque tokens in
    /// `introspections` (built from `[CACHE]` with [`IntrospectionCache::new`]). Attach the issuers'
    /// introspectors with [`Verifier::attach_introspector`].
    pub fn trusting_with(
        auth: AuthSettings,
        first: (ProviderSpec, KeyStore),
        others: Vec<(ProviderSpec, KeyStore)>,
        introspections: IntrospectionCache,
    ) -> Self {
        let issuers = std::iter::once(first)
            .chain(others)
            .map(|(spec, keys)| Trusted::new(spec, &auth, keys))
            .collect();
        Self {
            inner: Arc::new(Inner {
                auth,
                issuers,
                cache: TokenCache::new(),
                introspections,
            }),
        }
    }

    /// Makes `introspector` answer for the opaque access tokens of the issuer at `issuer` (its position
    /// in [`crate::Settings::providers`]). Every clone of this verifier sees it. The answers it gives
    /// are checked (`active`, `iss`, `aud`, `exp`, `nbf`) and cached like those of a remote endpoint.
    ///
    /// Opaque tokens carry no `iss` to route them by. The embedded issuer's own begin with
    /// [`LOCAL_TOKEN_PREFIX`] and go to its introspector alone. Any other is shown to each remote
    /// issuer with an introspector, in configuration order, until one answers it active: with two
    /// Keycloak realms, a token of the second is first introspected at the first, which answers
    /// `active: false`. The operator registered an introspection client at each of them, so each is
    /// trusted with the tokens this API receives; list the issuer most tokens come from first.
    ///
    /// # Errors
    /// [`AttachError`] when there is no issuer at `issuer`, or it has an introspector already.
    pub fn attach_introspector(
        &self,
        issuer: usize,
        introspector: Arc<dyn Introspect>,
    ) -> Result<(), AttachError> {
        let trusted = self.inner.issuers.get(issuer).ok_or(AttachError(issuer))?;
        trusted
            .introspector
            .set(introspector)
            .map_err(|_| AttachError(issuer))
    }

    /// Introspection answers held in process now.
    pub fn cached_introspections(&self) -> usize {
        self.inner.introspections.len()
    }

    /// The first (default) provider this verifier trusts.
    pub fn spec(&self) -> &ProviderSpec {
        &self.first().spec
    }

    /// `[AUTH]` settings (scope and permission names, leeway).
    pub fn auth(&self) -> &AuthSettings {
        &self.inner.auth
    }

    /// The first (default) provider's key cache.
    pub fn keys(&self) -> &KeyStore {
        &self.first().keys
    }

    /// Every trusted issuer's spec and key cache, in the order of [`crate::Settings::providers`].
    pub fn issuers(&self) -> impl Iterator<Item = (&ProviderSpec, &KeyStore)> {
        self.inner
            .issuers
            .iter()
            .map(|trusted| (&trusted.spec, &trusted.keys))
    }

    /// The spec of the issuer at `index` in [`crate::Settings::providers`]; the first's when out of
    /// range.
    pub fn issuer_spec(&self, index: usize) -> &ProviderSpec {
        self.issuer(index).unwrap_or_else(|| self.spec())
    }

    /// The spec of the issuer at `index` in [`crate::Settings::providers`], if there is one.
    pub fn issuer(&self, index: usize) -> Option<&ProviderSpec> {
        self.inner.issuers.get(index).map(|trusted| &trusted.spec)
    }

    /// The spec of the issuer that verified `verified`.
    pub fn spec_of(&self, verified: &Verified) -> &ProviderSpec {
        self.issuer_spec(verified.issuer_index())
    }

    fn first(&self) -> &Trusted {
        // `trusting` always puts `first` there.
        &self.inner.issuers[0]
    }

    /// The issuer that owns `token`, by the exact `iss` of its (not yet verified) payload. With one
    /// issuer the payload is not read here: jsonwebtoken checks `iss` as before.
    fn route(&self, token: &str) -> Result<(usize, &Trusted), TokenError> {
        let issuers = &self.inner.issuers;
        if let [only] = &issuers[..] {
            return Ok((0, only));
        }
        let index = self.issuer_named_by(token)?;
        Ok((index, &issuers[index]))
    }

    /// The position of the issuer whose identifier is exactly the `iss` of `token`'s payload, read
    /// WITHOUT checking the signature: only to choose where to send something (whose keys, whose
    /// logout page), never to trust what the token says (RFC 8725 §2.1). No request is made.
    ///
    /// # Errors
    /// When the payload cannot be read, has no `iss`, or names no trusted issuer.
    pub fn issuer_named_by(&self, token: &str) -> Result<usize, TokenError> {
        let payload = token.split('.').nth(1).ok_or(TokenError::Malformed)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let unverified: UnverifiedIssuer<'_> =
            serde_json::from_slice(&json).map_err(|_| TokenError::MalformedClaims)?;
        let iss = unverified.iss.ok_or(TokenError::MissingClaim("iss"))?;
        self.inner
            .issuers
            .iter()
            .position(|trusted| trusted.spec.issuer == iss)
            .ok_or(TokenError::UnknownIssuer)
    }

    /// How many issuers are trusted.
    pub fn issuer_count(&self) -> usize {
        self.inner.issuers.len()
    }

    /// Verifies a compact JWS access token, or answers from the verified-token cache when this token
    /// was checked before against the same key set.
    ///
    /// # Errors
    /// [`VerifyError::Token`] with the first rule the token breaks; [`VerifyError::KeysUnavailable`] when
    /// the provider's keys cannot be had.
    pub async fn verify(&self, token: &str) -> Result<Verified, VerifyError> {
        if token.len() > self.inner.auth.max_token_bytes {
            return Err(TokenError::TooLarge.into());
        }
        if !is_jwt_shaped(token) {
            // Boxed: introspection's future (an HTTP call, Redis) is kilobytes, and held inline it
            // would be copied with this one on every request, JWTs included.
            return Box::pin(self.verify_opaque(token)).await;
        }
        let digest = TokenCache::digest(token);
        let issuers = &self.inner.issuers;
        let cached = self
            .inner
            .cache
            .get(&digest, get_current_timestamp(), |issuer| {
                issuers.get(issuer)?.keys.fresh_generation()
            });
        if let Some(cached) = cached {
            metrics::token_cache(true);
            return match cached {
                Cached::Accepted(verified) => Ok(verified),
                Cached::Refused(error) => Err(error.into()),
            };
        }
        metrics::token_cache(false);
        // An unknown issuer is refused here, before any key lookup, so it never causes a fetch.
        let (index, trusted) = self.route(token)?;
        let generation = trusted.keys.fresh_generation();
        let leeway = self.inner.auth.leeway.as_secs();
        let result = self
            .verify_signed(index, trusted, token, TokenPurpose::Access)
            .await;
        // Cache only what was computed entirely with one fresh key set (no refresh happened meanwhile).
        if let Some(generation) = generation.filter(|g| trusted.keys.fresh_generation() == Some(*g))
        {
            let now = get_current_timestamp();
            match &result {
                Ok(verified) => {
                    let outcome = Ok(verified.clone());
                    self.inner
                        .cache
                        .put(digest, &outcome, index, generation, now, leeway);
                }
                Err(VerifyError::Token(error)) => {
                    let outcome = Err(error.clone());
                    self.inner
                        .cache
                        .put(digest, &outcome, index, generation, now, leeway);
                }
                Err(VerifyError::KeysUnavailable | VerifyError::IntrospectionUnavailable) => {}
            }
        }
        result
    }

    /// Verifies an opaque token by introspection, or answers from the introspection cache. Without an
    /// issuer to ask it is refused as before: a bearer value that is not a JWS.
    async fn verify_opaque(&self, token: &str) -> Result<Verified, VerifyError> {
        // Only answers of an issuer that may be asked are ever cached, so a hit needs no routing.
        let cache = &self.inner.introspections;
        let digest = TokenCache::digest(token);
        if let Some(outcome) = cache.get(&digest, get_current_timestamp()) {
            metrics::token_cache(true);
            return outcome.map_err(VerifyError::from);
        }
        let asked = self.introspecting(token);
        if asked.is_empty() {
            return Err(if token.starts_with(LOCAL_TOKEN_PREFIX) {
                TokenError::UnknownIssuer
            } else {
                TokenError::Malformed
            }
            .into());
        }
        metrics::token_cache(false);
        cache
            .single_flight(digest, self.introspect(&asked, token, digest))
            .await
    }

    /// The issuers `token` may be shown to, in configuration order. Opaque tokens carry no `iss` to
    /// route them by: the local issuer's own begin with [`LOCAL_TOKEN_PREFIX`] and are looked up in
    /// its store alone; any other goes to every other issuer with an introspector, never to the local
    /// store. So a token of this service never leaves it, and a remote token never meets the local
    /// database.
    fn introspecting(&self, token: &str) -> Vec<usize> {
        let local = token.starts_with(LOCAL_TOKEN_PREFIX);
        self.inner
            .issuers
            .iter()
            .enumerate()
            .filter(|(_, trusted)| {
                trusted.introspector.get().is_some() && is_local(&trusted.spec) == local
            })
            .map(|(index, _)| index)
            .collect()
    }

    /// Introspects `token` at the issuers at `asked`, in order, until one answers `active: true`; its
    /// answer then decides, checked by its rules. Inactive at all of them: inactive, cached for the
    /// TTL. An endpoint that fails (down, slow, garbage, or no permit in time) does not stop the
    /// others: an active answer elsewhere still counts; but when none is active and any failed, the
    /// token may be that one's, so the caller gets 503 and nothing is cached.
    async fn introspect(&self, asked: &[usize], token: &str, digest: TokenDigest) -> Outcome {
        let cache = &self.inner.introspections;
        let issuers = &self.inner.issuers;
        // Another flight may have finished between the caller's lookup and this one starting.
        if let Some(outcome) = cache.get(&digest, get_current_timestamp()) {
            return outcome.map_err(VerifyError::from);
        }
        if let Some(shared) = cache.get_shared(&digest).await
            && let Some(index) = asked
                .iter()
                .copied()
                .find(|index| issuers[*index].spec.issuer == shared.issuer)
            && introspected::activity(&shared.answer).is_ok()
        {
            let now = get_current_timestamp();
            let serve_until = shared.serve_until(now, cache.ttl_secs());
            let outcome = self.check_answer(shared.answer, index, now)?;
            cache.put(digest, &outcome, serve_until);
            return outcome.map_err(VerifyError::from);
        }
        let mut failed = false;
        for &index in asked {
            let trusted = &issuers[index];
            let Some(introspector) = trusted.introspector.get() else {
                continue;
            };
            let issuer = &trusted.spec.issuer;
            let answer = match trusted.permits.ask(introspector.as_ref(), token).await {
                Ok(answer) => answer,
                Err(IntrospectError::Busy) => {
                    // Expected under a flood of made-up tokens: one warning a minute says so, and
                    // the rest stay at debug rather than one warning per request.
                    if trusted.permits.warn_busy(get_current_timestamp()) {
                        tracing::warn!(%issuer, "token introspections at their bound; refusing more");
                    } else {
                        tracing::debug!(%issuer, "no introspection permit in time");
                    }
                    failed = true;
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%issuer, %error, "token introspection failed");
                    failed = true;
                    continue;
                }
            };
            match introspected::activity(&answer) {
                Ok(Activity::Active) => {
                    let now = get_current_timestamp();
                    let serve_until = introspected::serve_until(&answer, now, cache.ttl_secs());
                    let outcome = self.check_answer(answer.clone(), index, now)?;
                    cache.put(digest, &outcome, serve_until);
                    cache
                        .put_shared(&digest, issuer, &answer, serve_until)
                        .await;
                    return outcome.map_err(VerifyError::from);
                }
                Ok(Activity::Inactive) => {}
                // Not an RFC 7662 answer: this endpoint misbehaves.
                Err(_) => {
                    tracing::warn!(%issuer, "token introspection answered without a boolean active");
                    failed = true;
                }
            }
        }
        if failed {
            return Err(VerifyError::IntrospectionUnavailable);
        }
        // Inactive everywhere it was shown. Kept under the first issuer asked, which every replica
        // with the same configuration asks too.
        let now = get_current_timestamp();
        let answer = Map::from_iter([("active".to_owned(), Value::Bool(false))]);
        let serve_until = introspected::serve_until(&answer, now, cache.ttl_secs());
        let outcome = Err(TokenError::Inactive);
        cache.put(digest, &outcome, serve_until);
        if let Some(first) = asked.first() {
            let issuer = &issuers[*first].spec.issuer;
            cache
                .put_shared(&digest, issuer, &answer, serve_until)
                .await;
        }
        outcome.map_err(VerifyError::from)
    }

    /// An active answer of the issuer at `index`, checked by its rules at `now`: the verified token,
    /// or the rule it breaks.
    ///
    /// # Errors
    /// [`VerifyError::IntrospectionUnavailable`] when the answer is no RFC 7662 answer.
    fn check_answer(
        &self,
        answer: Map<String, Value>,
        index: usize,
        now: u64,
    ) -> Result<Result<Verified, TokenError>, VerifyError> {
        let spec = &self.inner.issuers[index].spec;
        let leeway = self.inner.auth.leeway.as_secs();
        match introspected::verified(answer, index, spec, now, leeway) {
            Ok(verified) => Ok(Ok(verified)),
            Err(VerifyError::Token(error)) => Ok(Err(error)),
            Err(unavailable) => Err(unavailable),
        }
    }

    /// Verified tokens held by the cache now.
    pub fn cached_tokens(&self) -> u64 {
        self.inner.cache.accepted_len()
    }

    /// Verifies an OpenID Connect ID token (`X-Id-Token`): same issuer and keys, the provider's client
    /// id as audience, and it must be about `sub`, the subject of the access token it came with.
    ///
    /// # Errors
    /// As [`Verifier::verify`], wrapped in [`IdTokenError`]; [`TokenError::AudienceMismatch`] when no
    /// client id is configured to check the audience against, [`TokenError::SubjectMismatch`] when
    /// the subjects differ.
    pub async fn verify_id_token(
        &self,
        token: &str,
        sub: Option<&str>,
    ) -> Result<Verified, IdTokenError> {
        let refused = |error: TokenError| IdTokenError(VerifyError::Token(error));
        if token.len() > self.inner.auth.max_token_bytes {
            return Err(refused(TokenError::TooLarge));
        }
        let (index, trusted) = self.route(token).map_err(refused)?;
        let verified = self
            .verify_signed(index, trusted, token, TokenPurpose::Id)
            .await?;
        if verified.sub() != sub {
            return Err(refused(TokenError::SubjectMismatch));
        }
        Ok(verified)
    }

    /// The full check: header rules, key by `kid`, signature, registered claims, provider rules.
    #[tracing::instrument(level = "debug", skip_all, fields(kid))]
    async fn verify_signed(
        &self,
        index: usize,
        trusted: &Trusted,
        token: &str,
        purpose: TokenPurpose,
    ) -> Result<Verified, VerifyError> {
        let validations = match purpose {
            TokenPurpose::Access => &trusted.validations,
            TokenPurpose::Id => trusted
                .id_validations
                .as_ref()
                .ok_or(TokenError::AudienceMismatch)?,
        };
        let header = read_header(token)?;
        let (alg, validation) = validations.for_alg(&header.alg)?;
        if header.crit.is_some() {
            // We implement no JWS extension, so any critical one must be refused (RFC 7515 §4.1.11).
            return Err(TokenError::UnsupportedCritical.into());
        }
        if purpose == TokenPurpose::Access
            && self.inner.auth.require_at_jwt
            && !header.typ.as_deref().is_some_and(is_access_token_type)
        {
            // RFC 9068 §4 / RFC 8725 §3.11: explicit typing keeps an ID token (same issuer, same keys,
            // perhaps the API among its audiences) from passing as an access token.
            return Err(TokenError::NotAnAccessToken.into());
        }
        if let Some(kid) = &header.kid {
            tracing::Span::current().record("kid", kid.as_str());
        }
        let key = trusted.keys.key_for(header.kid.as_deref(), alg).await?;
        // The payload's JSON text, kept as signed; parsed once more below for the rules.
        let payload = jsonwebtoken::decode::<Box<RawValue>>(token, &key.key, validation)
            .map_err(TokenError::from)?
            .claims;
        let claims: Map<String, Value> =
            serde_json::from_str(payload.get()).map_err(|_| TokenError::MalformedClaims)?;
        let now = get_current_timestamp();
        let leeway = self.inner.auth.leeway.as_secs();
        match claims.get("iat") {
            None => {}
            Some(iat) => match iat.as_f64() {
                Some(iat) if iat <= (now + leeway) as f64 => {}
                Some(_) => return Err(TokenError::IssuedInFuture.into()),
                None => return Err(TokenError::MalformedClaims.into()),
            },
        }
        // RFC 7519 §4.1.2, §4.1.7: `sub` and `jti` are strings. Checked once here, so that every
        // endpoint, whether it reads the claims through a typed view or echoes them, agrees.
        if ["sub", "jti"]
            .iter()
            .any(|name| claims.get(*name).is_some_and(|value| !value.is_string()))
        {
            return Err(TokenError::MalformedClaims.into());
        }
        trusted.spec.check_rules(&claims, purpose, now, leeway)?;
        Ok(Verified::new(
            payload,
            index,
            &claims,
            &trusted.spec.scope_claim,
            &trusted.spec.permissions_claim,
        ))
    }
}

/// Whether a bearer value has the shape of a JWS in compact serialization (RFC 7515 §7.1): exactly
/// three base64url segments separated by dots, the header and payload non-empty (the signature may
/// be empty, as in an unsecured `alg: none` JWT, RFC 7519 §6.1, which the JWT checks then refuse by
/// name). Anything else (Ory's `ory_at_….…`, a random string, a five-part JWE) is opaque and goes to
/// introspection; a JWT-shaped value that is no valid JWT is refused by the JWT checks, never
/// introspected.
fn is_jwt_shaped(token: &str) -> bool {
    let base64url = |segment: &str| {
        segment
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    };
    let mut segments = token.split('.');
    match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some(header), Some(payload), Some(signature), None) => {
            !header.is_empty()
                && !payload.is_empty()
                && [header, payload, signature].into_iter().all(base64url)
        }
        _ => false,
    }
}

/// Whether `spec` is the embedded issuer, whose opaque tokens are looked up in its own store.
#[cfg(feature = "local-issuer")]
fn is_local(spec: &ProviderSpec) -> bool {
    spec.kind == ProviderKind::Local
}

/// Without the embedded issuer, no issuer keeps opaque tokens in this process.
#[cfg(not(feature = "local-issuer"))]
fn is_local(_spec: &ProviderSpec) -> bool {
    false
}

/// There is no issuer at this position, or it has an introspector already.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("issuer {0} does not exist or has an introspector already")]
pub struct AttachError(pub usize);

/// RFC 9068 §2.1: `at+jwt`, or its full media type; media types compare case-insensitively (RFC 7515
/// §4.1.9).
fn is_access_token_type(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
}

/// The registered-claim checks for tokens signed with `alg`: leeway, exact issuer, `aud` among
/// `audiences` (skipped when empty: the provider's rules check the client instead, as for Cognito).
fn validation(
    alg: Algorithm,
    spec: &ProviderSpec,
    auth: &AuthSettings,
    audiences: &[String],
) -> Validation {
    let mut validation = Validation::new(alg);
    // jsonwebtoken defaults to 60 s and skips `nbf`; both are set explicitly.
    validation.leeway = auth.leeway.as_secs();
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.set_issuer(&[spec.issuer.as_str()]);
    let mut required = vec!["exp", "iss"];
    if audiences.is_empty() {
        validation.validate_aud = false;
    } else {
        validation.set_audience(audiences);
        required.push("aud");
    }
    validation.set_required_spec_claims(&required);
    validation
}

/// Splits a compact JWS and reads its header; the payload and signature are left to jsonwebtoken.
fn read_header(token: &str) -> Result<JoseHeader, TokenError> {
    let mut segments = token.split('.');
    let (Some(header), Some(_payload), Some(_signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(TokenError::Malformed);
    };
    let json = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&json).map_err(|_| TokenError::MalformedHeader)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn only_three_base64url_segments_are_jwt_shaped() {
        assert!(is_jwt_shaped("eyJh.e30.c2ln"));
        assert!(is_jwt_shaped("a.b.c"));
        assert!(
            is_jwt_shaped("a.b."),
            "an unsecured JWT, refused as alg none"
        );
        for opaque in [
            "abc",
            "ory_at_abc.def",
            "a.b.c.d.e",
            "a..c",
            ".b.c",
            "a.b+c.d",
            "a.b.c=",
        ] {
            assert!(!is_jwt_shaped(opaque), "{opaque}");
        }
    }

    #[test]
    fn only_three_segments_make_a_token() {
        let header = encode(r#"{"alg":"RS256"}"#);
        assert!(read_header(&format!("{header}.e30.sig")).is_ok());
        assert!(matches!(
            read_header(&format!("{header}.e30")),
            Err(TokenError::Malformed)
        ));
        assert!(matches!(
            read_header(&format!("{header}.e30.sig.x")),
            Err(TokenError::Malformed)
        ));
        assert!(matches!(
            read_header("!!!.e30.sig"),
            Err(TokenError::Malformed)
        ));
    }

    #[test]
    fn a_header_must_be_json_with_a_string_alg() {
        assert!(matches!(
            read_header(&format!("{}.e30.s", encode("[1]"))),
            Err(TokenError::MalformedHeader)
        ));
        assert!(matches!(
            read_header(&format!("{}.e30.s", encode(r#"{"alg":1}"#))),
            Err(TokenError::MalformedHeader)
        ));
        let with_kid = read_header(&format!(
            "{}.e30.s",
            encode(r#"{"alg":"ES256","kid":"k1"}"#)
        ))
        .unwrap();
        assert_eq!(with_kid.kid.as_deref(), Some("k1"));
    }
}
