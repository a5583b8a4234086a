//! The mock IdP's token introspection endpoint (RFC 7662): opaque tokens it issued, answered as
//! registered, behind HTTP Basic client authentication; it counts its calls and can misbehave.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use axum::Form;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::{HANG_FOR, IdpState};

/// The client id the mock introspection endpoint accepts.
pub const INTROSPECTION_CLIENT_ID: &str = "api-introspector";
/// The client secret it accepts: with `:` and `%`, which RFC 6749 §2.3.1 form-encoding must carry.
pub const INTROSPECTION_CLIENT_SECRET: &str = "s3cret:with%chars";

/// How the mock introspection endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntrospectionAnswer {
    /// The registered answer for the token, `{"active": false}` for any other.
    Tokens,
    /// An error status with an empty body.
    Status(u16),
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 with `"active": "true"`, a string where RFC 7662 requires a boolean.
    ActiveAsString,
    /// No answer for [`HANG_FOR`], longer than the service waits.
    Hang,
}

/// The endpoint's state inside the mock IdP.
#[derive(Debug)]
pub(super) struct Introspection {
    tokens: RwLock<HashMap<String, Value>>,
    answer: RwLock<IntrospectionAnswer>,
    calls: AtomicUsize,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

impl Default for Introspection {
    fn default() -> Self {
        Self {
            tokens: RwLock::default(),
            answer: RwLock::new(IntrospectionAnswer::Tokens),
            calls: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    }
}

impl Introspection {
    /// Registers `answer` for a new random opaque token and returns the token.
    pub(super) fn issue(&self, answer: Value) -> String {
        let token = format!("mock_at_{}", uuid::Uuid::new_v4().simple());
        if let Ok(mut tokens) = self.tokens.write() {
            tokens.insert(token.clone(), answer);
        }
        token
    }

    pub(super) fn answer_with(&self, answer: IntrospectionAnswer) {
        if let Ok(mut current) = self.answer.write() {
            *current = answer;
        }
    }

    pub(super) fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub(super) fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

/// One request being answered: counted in on creation, out when dropped (also when the client gives
/// up and hyper drops the handler).
struct InFlight<'a>(&'a Introspection);

impl<'a> InFlight<'a> {
    fn enter(introspection: &'a Introspection) -> Self {
        let now = introspection.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        introspection.peak.fetch_max(now, Ordering::SeqCst);
        Self(introspection)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `Authorization: Basic` as RFC 6749 §2.3.1 builds it: each part form-encoded, then base64.
fn expected_basic() -> String {
    let encode = |value: &str| -> String {
        url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
    };
    let pair = format!(
        "{}:{}",
        encode(INTROSPECTION_CLIENT_ID),
        encode(INTROSPECTION_CLIENT_SECRET)
    );
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// `POST /oauth/introspect`: counts the call, checks the client, answers as told.
pub(super) async fn introspect(
    State(state): State<Arc<IdpState>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let introspection = &state.introspection;
    introspection.calls.fetch_add(1, Ordering::SeqCst);
    let _in_flight = InFlight::enter(introspection);
    let authorized = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value == expected_basic());
    if !authorized {
        // RFC 7662 §2.3 with RFC 6749 §5.2.
        let body = axum::Json(json!({"error": "invalid_client"}));
        return (StatusCode::UNAUTHORIZED, body).into_response();
    }
    let answer = introspection
        .answer
        .read()
        .map(|answer| answer.clone())
        .unwrap_or(IntrospectionAnswer::Tokens);
    match answer {
        IntrospectionAnswer::Status(code) => StatusCode::from_u16(code)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            .into_response(),
        IntrospectionAnswer::Garbage => {
            ([(CONTENT_TYPE, "text/html")], "<html>maintenance</html>").into_response()
        }
        IntrospectionAnswer::ActiveAsString => {
            axum::Json(json!({"active": "true", "scope": "read:messages"})).into_response()
        }
        IntrospectionAnswer::Hang => {
            tokio::time::sleep(HANG_FOR).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        IntrospectionAnswer::Tokens => {
            let known = form.get("token").and_then(|token| {
                let tokens = introspection.tokens.read().ok()?;
                tokens.get(token).cloned()
            });
            let hinted = form.get("token_type_hint").map(String::as_str) == Some("access_token");
            match known {
                Some(answer) if hinted => axum::Json(answer).into_response(),
                _ => axum::Json(json!({"active": false})).into_response(),
            }
        }
    }
}
