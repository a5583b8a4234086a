//! Test support for code built on protected-api (cargo feature `test-support`): a mock identity provider
//! on 127.0.0.1 that publishes a JWKS and a discovery document, and a builder for tokens shaped like
//! Auth0's, Cognito's, Firebase's, Fief's or Keycloak's. No account anywhere is needed.
//!
//! ```no_run
//! use protected_api::testing::MockIdp;
//! # async fn demo() {
//! let idp = MockIdp::start().await;
//! let settings = idp.oidc_settings(&[("AUTH_SCOPE", "read:messages")]);
//! let router = protected_api::build(settings).await.unwrap();
//! let token = idp.token().scope("read:messages").sign();
//! # let _ = (router, token);
//! # }
//! ```

mod introspection;
mod keys;
mod tokens;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use introspection::{
    INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, IntrospectionAnswer,
};
pub use keys::TestKey;
pub use tokens::TokenBuilder;

use crate::Settings;

/// The audience [`MockIdp`] tokens carry unless told otherwise.
pub const AUDIENCE: &str = "https://api.example.test";

/// How the mock IdP answers key-set requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksAnswer {
    /// The published keys.
    Keys,
    /// An error status with an empty body.
    Status(u16),
    /// 200 with a body that is not a JWK set.
    Garbage,
    /// No answer for [`HANG_FOR`], longer than any client waits (an IdP that accepts the connection and
    /// stalls), then the published keys.
    Hang,
}

/// How long [`JwksAnswer::Hang`] holds a request: well past the service's 10 s fetch timeout, and
/// bounded, so that a test's runtime never keeps a task alive for ever.
pub const HANG_FOR: Duration = Duration::from_secs(120);

#[derive(Debug)]
struct IdpState {
    issuer: String,
    published: RwLock<Vec<Value>>,
    signing: RwLock<Arc<TestKey>>,
    answer: RwLock<JwksAnswer>,
    cache_control: RwLock<Option<String>>,
    /// The `issuer` the discovery document names, when it differs from the one tokens carry.
    discovery_issuer: RwLock<Option<String>>,
    jwks_fetches: AtomicUsize,
    discovery_fetches: AtomicUsize,
    userinfo_calls: AtomicUsize,
    token_calls: AtomicUsize,
    /// Whether discovery says `authorization_response_iss_parameter_supported` (RFC 9207).
    iss_parameter: AtomicBool,
    /// `/oauth/introspect` (RFC 7662).
    introspection: introspection::Introspection,
}

/// An identity provider on a random loopback port: `/.well-known/jwks.json` and
/// `/.well-known/openid-configuration`, and `/oauth/introspect` for opaque tokens. It stops when dropped.
#[derive(Debug)]
pub struct MockIdp {
    state: Arc<IdpState>,
    server: JoinHandle<()>,
}

impl Drop for MockIdp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl MockIdp {
    /// Starts an IdP publishing one RSA key, `kid` `key-1`.
    pub async fn start() -> Self {
        Self::start_with(TestKey::rsa("key-1")).await
    }

    /// Starts an IdP that publishes and signs with `key`.
    ///
    /// # Panics
    /// When no loopback port can be bound (tests only).
    #[allow(clippy::expect_used)]
    pub async fn start_with(key: TestKey) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let address = listener.local_addr().expect("local address");
        let state = Arc::new(IdpState {
            issuer: format!("http://{address}"),
            published: RwLock::new(vec![key.jwk()]),
            signing: RwLock::new(Arc::new(key)),
            answer: RwLock::new(JwksAnswer::Keys),
            cache_control: RwLock::new(None),
            discovery_issuer: RwLock::new(None),
            jwks_fetches: AtomicUsize::new(0),
            discovery_fetches: AtomicUsize::new(0),
            userinfo_calls: AtomicUsize::new(0),
            token_calls: AtomicUsize::new(0),
            iss_parameter: AtomicBool::new(false),
            introspection: introspection::Introspection::default(),
        });
        let router = Router::new()
            .route("/.well-known/jwks.json", get(jwks))
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/userinfo", get(userinfo))
            .route("/oauth/token", axum::routing::post(token_endpoint))
            .route(
                "/oauth/introspect",
                axum::routing::post(introspection::introspect),
            )
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { state, server }
    }

    /// `http://127.0.0.1:PORT`: the issuer, and the base of its endpoints.
    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// The JWKS URI.
    pub fn jwks_uri(&self) -> String {
        format!("{}/.well-known/jwks.json", self.state.issuer)
    }

    /// A token from this IdP for [`AUDIENCE`], signed with the current key.
    pub fn token(&self) -> TokenBuilder {
        TokenBuilder::new(&self.state.issuer, AUDIENCE, self.signing_key())
    }

    /// The key tokens are signed with now.
    pub fn signing_key(&self) -> Arc<TestKey> {
        self.state
            .signing
            .read()
            .map(|key| key.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Publishes exactly these JWKs (any JSON, malformed ones included).
    pub fn publish(&self, keys: Vec<Value>) {
        if let Ok(mut published) = self.state.published.write() {
            *published = keys;
        }
    }

    /// Rotates: publishes only `key` and signs new tokens with it.
    pub fn rotate_to(&self, key: TestKey) {
        self.publish(vec![key.jwk()]);
        if let Ok(mut signing) = self.state.signing.write() {
            *signing = Arc::new(key);
        }
    }

    /// Sets how key-set requests are answered (to simulate an outage or a broken IdP).
    pub fn answer_with(&self, answer: JwksAnswer) {
        if let Ok(mut current) = self.state.answer.write() {
            *current = answer;
        }
    }

    /// Sends this `Cache-Control` value with the key set.
    pub fn cache_control(&self, value: &str) {
        if let Ok(mut current) = self.state.cache_control.write() {
            *current = Some(value.to_owned());
        }
    }

    /// Makes the discovery document name `issuer` (its endpoints and tokens keep the real one), as an IdP
    /// does whose `issuer` differs from the configured one, e.g. by a trailing slash.
    pub fn discovery_names_issuer(&self, issuer: &str) {
        if let Ok(mut current) = self.state.discovery_issuer.write() {
            *current = Some(issuer.to_owned());
        }
    }

    /// How many times the key set was requested.
    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// How many times the userinfo endpoint was called.
    pub fn userinfo_calls(&self) -> usize {
        self.state.userinfo_calls.load(Ordering::SeqCst)
    }

    /// Makes discovery promise an `iss` in every authorization response (RFC 9207 §3).
    pub fn promise_iss_parameter(&self) {
        self.state.iss_parameter.store(true, Ordering::SeqCst);
    }

    /// How many times the token endpoint was called (it refuses every code).
    pub fn token_calls(&self) -> usize {
        self.state.token_calls.load(Ordering::SeqCst)
    }

    /// A new opaque access token whose introspection answer is `answer`, exactly (give it
    /// `"active": true` and the members to test).
    pub fn opaque_token(&self, answer: Value) -> String {
        self.state.introspection.issue(answer)
    }

    /// Sets how introspection requests are answered (to simulate an outage or a broken endpoint).
    pub fn introspection_answer(&self, answer: IntrospectionAnswer) {
        self.state.introspection.answer_with(answer);
    }

    /// The most introspection requests the endpoint was answering at one time.
    pub fn introspection_peak_concurrency(&self) -> usize {
        self.state.introspection.peak()
    }

    /// How many times the introspection endpoint was called.
    pub fn introspection_calls(&self) -> usize {
        self.state.introspection.calls()
    }

    /// How many times the discovery document was requested.
    pub fn discovery_fetches(&self) -> usize {
        self.state.discovery_fetches.load(Ordering::SeqCst)
    }

    /// As [`MockIdp::oidc_settings`], with the introspection client's credentials, so opaque tokens
    /// are introspected at the discovered endpoint.
    pub fn introspection_settings(&self, extra: &[(&str, &str)]) -> Settings {
        let mut pairs = vec![
            ("OIDC_INTROSPECTION_CLIENT_ID", INTROSPECTION_CLIENT_ID),
            (
                "OIDC_INTROSPECTION_CLIENT_SECRET",
                INTROSPECTION_CLIENT_SECRET,
            ),
        ];
        pairs.extend_from_slice(extra);
        self.oidc_settings(&pairs)
    }

    /// Settings for `PROVIDER = oidc` trusting this IdP through discovery, with `extra` `SECTION_KEY`
    /// pairs on top.
    ///
    /// # Panics
    /// When the resulting settings are invalid (tests only).
    #[allow(clippy::expect_used)]
    pub fn oidc_settings(&self, extra: &[(&str, &str)]) -> Settings {
        let mut pairs = vec![
            ("AUTH_PROVIDER".to_owned(), "oidc".to_owned()),
            ("OIDC_ISSUER".to_owned(), self.state.issuer.clone()),
            ("OIDC_AUDIENCE".to_owned(), AUDIENCE.to_owned()),
        ];
        pairs.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        Settings::from_pairs(pairs).expect("valid test settings")
    }
}

async fn jwks(State(state): State<Arc<IdpState>>) -> Response {
    state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let answer = state
        .answer
        .read()
        .map(|answer| answer.clone())
        .unwrap_or(JwksAnswer::Keys);
    if answer == JwksAnswer::Hang {
        tokio::time::sleep(HANG_FOR).await;
    }
    match answer {
        JwksAnswer::Status(code) => StatusCode::from_u16(code)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response(),
        JwksAnswer::Garbage => {
            ([(CONTENT_TYPE, "text/html")], "<html>maintenance</html>").into_response()
        }
        JwksAnswer::Keys | JwksAnswer::Hang => {
            let keys = state
                .published
                .read()
                .map(|keys| keys.clone())
                .unwrap_or_default();
            let mut response = axum::Json(json!({ "keys": keys })).into_response();
            if let Some(value) = state
                .cache_control
                .read()
                .ok()
                .and_then(|value| value.clone())
                && let Ok(value) = value.parse()
            {
                response.headers_mut().insert(CACHE_CONTROL, value);
            }
            response
        }
    }
}

/// A userinfo endpoint that describes whoever the bearer token names (it does not verify the token:
/// the service under test already did).
async fn userinfo(State(state): State<Arc<IdpState>>, headers: axum::http::HeaderMap) -> Response {
    use base64::Engine;
    state.userinfo_calls.fetch_add(1, Ordering::SeqCst);
    let sub = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .and_then(|token| token.split('.').nth(1))
        .and_then(|payload| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .ok()
        })
        .and_then(|json| serde_json::from_slice::<Value>(&json).ok())
        .and_then(|claims| claims.get("sub").and_then(Value::as_str).map(str::to_owned));
    match sub {
        Some(sub) => axum::Json(json!({
            "sub": sub, "email": format!("{sub}@example.com"), "email_verified": true,
            "name": "Test User", "picture": "https://example.com/avatar.png",
        }))
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// A token endpoint that counts its calls and refuses every code (RFC 6749 §5.2).
async fn token_endpoint(State(state): State<Arc<IdpState>>) -> Response {
    state.token_calls.fetch_add(1, Ordering::SeqCst);
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "error": "invalid_grant" })),
    )
        .into_response()
}

async fn discovery(State(state): State<Arc<IdpState>>) -> axum::Json<Value> {
    state.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    let issuer = &state.issuer;
    let named = state
        .discovery_issuer
        .read()
        .ok()
        .and_then(|named| named.clone())
        .unwrap_or_else(|| issuer.clone());
    axum::Json(json!({
        "issuer": named,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "authorization_response_iss_parameter_supported": state.iss_parameter.load(Ordering::SeqCst),
    }))
}
