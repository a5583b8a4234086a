//! # protected-api
//!
//! A protected REST API template: public, private, scoped, permission and user endpoints behind JSON Web
//! Tokens from Auth0, AWS Cognito, Firebase, Fief or any OpenID Connect provider, with Swagger UI.
//!
//! # Layout
//! - [`config`]: `Settings`, from defaults < INI file < `SECTION_KEY` environment variables.
//! - [`state`]: `AppState`, the handles every handler shares.
//! - [`auth`]: key sets, the `Verifier`, and the extractors handlers use (`Claims`, `RequireScope`, …);
//!   [`auth::providers`] maps each provider's settings to what the verifier checks; [`auth::dpop`]
//!   checks DPoP proofs (RFC 9449) for bound tokens.
//! - [`issuer`]: the embedded development identity provider (`PROVIDER = local`).
//! - [`routes`]: the endpoints, one module per area.
//! - [`session`]: browser login (`/login`, `/auth-callback`, `/logout`) and the session cookies.
//! - [`store`]: local accounts (SQLite) and the user-info store (memory or Redis).
//! - [`openapi`]: the OpenAPI document and Swagger UI.
//! - [`error`]: `ApiError`, mapped to status, `WWW-Authenticate` and a JSON body in one place.
//! - [`extract`]: `Form`, `Json`, `Query`, `Path`, `Bytes` whose rejections are `ApiError` JSON.
//! - [`telemetry`]: logging and the per-request span.
//! - [`server`]: the connection loop: header-read timeout, connection cap, bounded graceful shutdown.
//! - `testing` (feature `test-support`): a mock IdP and provider-shaped tokens for your own tests.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = protected_api::Settings::load(None)?;
//! let router = protected_api::build(settings).await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! protected_api::serve(listener, router, std::future::pending()).await?;
//! # Ok(()) }
//! ```

pub mod auth;
pub mod config;
pub mod error;
pub mod extract;
#[cfg(feature = "local-issuer")]
pub mod issuer;
pub mod openapi;
pub mod routes;
pub mod server;
#[cfg(feature = "sessions")]
pub mod session;
pub mod state;
pub mod store;
pub mod telemetry;
#[cfg(feature = "test-support")]
pub mod testing;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, WWW_AUTHENTICATE};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower::util::{MapFutureLayer, MapResponseLayer};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;

use auth::dpop::DPOP_HEADER;
pub use config::Settings;
pub use error::ApiError;
pub use server::{ServerLimits, serve, serve_with};
pub use state::{AppState, StartError};

/// The header an ID token may come in (`GET /api/user`).
pub const ID_TOKEN_HEADER: HeaderName = HeaderName::from_static("x-id-token");

/// Largest request body accepted (token requests and sign-ups are small); past it, 413.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest a request may take before it is answered 408.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The whole service for `settings`: state, routes and middleware.
///
/// # Errors
/// When the local issuer's key or credentials cannot be read or created.
pub async fn build(settings: Settings) -> Result<Router, StartError> {
    Ok(app(AppState::new(settings).await?))
}

/// The routes and middleware over an existing state.
pub fn app(state: AppState) -> Router {
    app_with(state, Router::new())
}

/// Like [`app`], with `extra` routes of your own merged in: they get the same state, extractors,
/// middleware and error handling.
pub fn app_with(state: AppState, extra: Router<AppState>) -> Router {
    let metadata_url: Arc<str> = format!(
        "{}{}",
        state.settings.server.public_base(),
        routes::metadata::METADATA_PATH
    )
    .into();
    let mut router = routes::router().merge(openapi::router(&state)).merge(extra);
    #[cfg(feature = "sessions")]
    {
        router = router.merge(session::router());
    }
    #[cfg(feature = "local-issuer")]
    if let Some(issuer) = state.issuer.clone() {
        router = router.merge(issuer::routes::router(issuer));
    }
    router = router
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
    // `/metrics` and the request counter, when built in and turned on.
    #[cfg(feature = "metrics")]
    let count_requests = if state.settings.server.metrics && telemetry::metrics::install().is_some()
    {
        router = router.route("/metrics", axum::routing::get(telemetry::metrics::render));
        Some(telemetry::metrics::CountRequestsLayer)
    } else {
        None
    };
    #[cfg(not(feature = "metrics"))]
    let count_requests: Option<tower::layer::util::Identity> = None;
    let cors = cors_layer(&state.settings.server.cors_origins);
    // One `Router::layer` call for the whole stack, outermost first: axum wraps and boxes every
    // route once per call, so each further call would cost every request another clone of a boxed
    // service and another boxed future.
    router
        .layer(
            ServiceBuilder::new()
                .layer(telemetry::RequestIdLayer)
                .layer(SetSensitiveRequestHeadersLayer::new([
                    AUTHORIZATION,
                    COOKIE,
                    ID_TOKEN_HEADER,
                    DPOP_HEADER,
                ]))
                .layer(telemetry::trace_layer())
                .option_layer(cors)
                .layer(MapFutureLayer::new(with_request_timeout))
                .layer(MapResponseLayer::new(move |response| {
                    add_resource_metadata(&metadata_url, response)
                }))
                .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
                .option_layer(count_requests),
        )
        .with_state(state)
}

/// The response, or an empty 408 once it has taken [`REQUEST_TIMEOUT`]. tokio's `timeout` polls the
/// request first and arms its timer only when the answer is not ready at once; tower-http's
/// `TimeoutLayer` arms it before every request, two locked updates of the runtime's timer wheel
/// for each answer that needed no wait.
async fn with_request_timeout(
    response: impl Future<Output = Result<Response, Infallible>>,
) -> Result<Response, Infallible> {
    tokio::time::timeout(REQUEST_TIMEOUT, response)
        .await
        .unwrap_or_else(|_elapsed| Ok(StatusCode::REQUEST_TIMEOUT.into_response()))
}

/// RFC 9728 §5.1: every `Bearer` and `DPoP` challenge points at the protected resource metadata.
/// A plain function under tower's `MapResponseLayer`, so the responses that carry no challenge cost
/// a header lookup and no allocation.
fn add_resource_metadata(metadata_url: &str, mut response: Response) -> Response {
    if !response.headers().contains_key(WWW_AUTHENTICATE) {
        return response;
    }
    // One field per challenge (a 401 without credentials has one per accepted scheme): each gets
    // the parameter, in its order.
    let challenges: Vec<HeaderValue> = response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|value| match value.to_str() {
            Ok(challenge) if challenge.starts_with("Bearer ") || challenge.starts_with("DPoP ") => {
                let with_metadata = format!("{challenge}, resource_metadata=\"{metadata_url}\"");
                HeaderValue::from_str(&with_metadata).unwrap_or_else(|_| value.clone())
            }
            _ => value.clone(),
        })
        .collect();
    let headers = response.headers_mut();
    headers.remove(WWW_AUTHENTICATE);
    for value in challenges {
        headers.append(WWW_AUTHENTICATE, value);
    }
    response
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST])
            // `DPoP`: a browser client sends its proof on cross-origin calls too (RFC 9449 §4.1).
            .allow_headers([AUTHORIZATION, CONTENT_TYPE, ID_TOKEN_HEADER, DPOP_HEADER])
            .expose_headers([WWW_AUTHENTICATE])
            .max_age(Duration::from_secs(600)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_request_still_running_after_the_timeout_is_answered_408() {
        let response = with_request_timeout(std::future::pending()).await.unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_answered_in_time_keeps_its_response() {
        let answer = async {
            tokio::time::sleep(REQUEST_TIMEOUT / 2).await;
            Ok(StatusCode::NO_CONTENT.into_response())
        };
        let response = with_request_timeout(answer).await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
}
