//! Logging and metrics: a subscriber (pretty or JSON, `RUST_LOG` respected) and the per-request span
//! `http_request{method, path, request_id, status, latency_ms, sub}`. Tokens and cookies are never logged.

#[cfg(feature = "metrics")]
pub mod metrics;
// The same recording calls, empty, so call sites need no `#[cfg]` of their own.
#[cfg(not(feature = "metrics"))]
#[path = "metrics_off.rs"]
pub mod metrics;

use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{MakeSpan, OnResponse, TraceLayer};
use tracing::Span;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The filter when `RUST_LOG` is unset.
const DEFAULT_FILTER: &str = "info,tower_http=warn";

/// Installs the global subscriber. Later calls (tests) are ignored.
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _already_set = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// One span per request; the status and latency are recorded when the response is ready, and `sub`
/// by the auth extractor once the token is verified.
pub fn trace_layer()
-> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RequestSpan, (), RecordResponse> {
    TraceLayer::new_for_http()
        .make_span_with(RequestSpan)
        .on_request(())
        .on_response(RecordResponse)
}

/// Opens `http_request{method, path, request_id, status, latency_ms, sub}`.
#[derive(Debug, Clone, Copy)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        // The route template, not the concrete path: `/api/profile/{id}` keeps ids out of the logs' cardinality.
        let path = request
            .extensions()
            .get::<MatchedPath>()
            .map_or(request.uri().path(), MatchedPath::as_str);
        let request_id = request
            .headers()
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        tracing::info_span!(
            "http_request",
            method = %request.method(),
            path,
            request_id,
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
            sub = tracing::field::Empty,
        )
    }
}

/// Records the status and latency on the request span and logs one line per request.
#[derive(Debug, Clone, Copy)]
pub struct RecordResponse;

impl<B> OnResponse<B> for RecordResponse {
    fn on_response(self, response: &Response<B>, latency: Duration, span: &Span) {
        span.record("status", response.status().as_u16());
        span.record("latency_ms", latency.as_secs_f64() * 1000.0);
        tracing::info!("request served");
    }
}
