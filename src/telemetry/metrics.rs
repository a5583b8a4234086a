//! Prometheus metrics at `/metrics`: requests by route and status, auth failures by reason, key-set
//! fetches, token-cache hits. Counters only, so recording costs a few atomic adds.

use std::sync::OnceLock;

use axum::extract::{MatchedPath, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::counter;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder the first time it is called (later calls reuse it). `None` when
/// another recorder was installed first (by the application embedding this library).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => Some(handle),
            Err(error) => {
                tracing::warn!(%error, "metrics recorder not installed; /metrics will be empty");
                None
            }
        })
        .as_ref()
}

/// `GET /metrics`, Prometheus text format.
pub async fn render() -> Response {
    match install() {
        Some(handle) => (
            [(CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Middleware: counts each request by route template (not the raw path, which would explode the
/// label set), method and status.
pub async fn count_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    counter!("http_requests_total", "route" => route, "method" => method, "status" => response.status().as_str().to_owned())
        .increment(1);
    response
}

/// A refused token, by reason (`expired`, `bad_signature`, …).
pub fn auth_failure(reason: &'static str) {
    counter!("auth_failures_total", "reason" => reason).increment(1);
}

/// A key-set fetch and whether it worked.
pub fn jwks_fetch(ok: bool) {
    counter!("jwks_fetches_total", "result" => if ok { "ok" } else { "error" }).increment(1);
}

/// A token-cache lookup.
pub fn token_cache(hit: bool) {
    if hit {
        counter!("token_cache_hits_total").increment(1);
    } else {
        counter!("token_cache_misses_total").increment(1);
    }
}
