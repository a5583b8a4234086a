//! Logging and metrics: a subscriber (pretty or JSON, `RUST_LOG` respected) writing to stdout from a
//! background thread, and the per-request span `http_request{method, path, request_id, status,
//! latency_ms, sub}`. Tokens and cookies are never logged.

#[cfg(feature = "metrics")]
pub mod metrics;
// The same recording calls, empty, so call sites need no `#[cfg]` of their own.
#[cfg(not(feature = "metrics"))]
#[path = "metrics_off.rs"]
pub mod metrics;
mod request_id;

pub use request_id::{REQUEST_ID, RequestIdLayer, RequestIdService, WithRequestId};

use std::io::{BufWriter, IsTerminal, Stdout};
use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{MakeSpan, OnResponse, TraceLayer};
use tracing::Span;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The filter when `RUST_LOG` is unset.
const DEFAULT_FILTER: &str = "info,tower_http=warn";

/// Lines waiting for the writer thread; past that, logging waits for it (see [`init`]). About 2 MiB
/// of request lines, or some 50 ms of a busy server's output.
const QUEUED_LINES: usize = 8_192;

/// Bytes the writer thread gathers before a `write` call: one call carries up to a few hundred lines.
const WRITE_BATCH: usize = 64 * 1024;

/// Installs the global subscriber, writing to stdout. Later calls (tests) are ignored.
///
/// Lines are formatted on the thread that logs them and written by a background thread, which
/// writes whatever has queued up in one `write` call, and at once when idle. Hold the returned guard
/// until exit: dropping it writes the lines still queued (waiting at most about a second).
/// When stdout cannot keep up and 8,192 lines are waiting, logging threads wait for room
/// instead of dropping lines: an access log that loses lines under load is worse than a slower
/// server, and memory stays bounded.
#[must_use = "dropping the guard stops the log writer"]
pub fn init(format: LogFormat) -> WorkerGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("log-writer")
        .finish(stdout_batches());
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_writer(writer)
        // Colours for a person at a terminal only: in a file or a log collector the escape codes are
        // noise, and writing them was about a fifth of a logged request's instructions.
        .with_ansi(std::io::stdout().is_terminal())
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
    guard
}

/// Stdout behind a buffer the writer thread flushes once it has emptied its queue. Every line goes
/// into the buffer whole, so a `write` call never ends inside a line.
fn stdout_batches() -> BufWriter<Stdout> {
    BufWriter::with_capacity(WRITE_BATCH, std::io::stdout())
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
        // The field values are only computed when the span is enabled (`RUST_LOG` at `info` or
        // finer), and each is recorded as a `&str`, without going through `Display`.
        tracing::info_span!(
            "http_request",
            method = request.method().as_str(),
            path = route_of(request),
            request_id = request_id_of(request),
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
            sub = tracing::field::Empty,
        )
    }
}

/// The route template, not the concrete path: `/api/profile/{id}` keeps ids out of the logs'
/// cardinality. Unmatched requests (404) keep their path.
fn route_of<B>(request: &Request<B>) -> &str {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or(request.uri().path(), MatchedPath::as_str)
}

/// The request id [`RequestIdLayer`] put in the headers (the client's own, or a new one).
fn request_id_of<B>(request: &Request<B>) -> &str {
    request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}

/// Records the status and latency on the request span and logs one line per request.
#[derive(Debug, Clone, Copy)]
pub struct RecordResponse;

impl<B> OnResponse<B> for RecordResponse {
    fn on_response(self, response: &Response<B>, latency: Duration, span: &Span) {
        // One call for both fields: the JSON format re-encodes all of a span's fields on each call.
        tracing::record_all!(
            span,
            status = response.status().as_u16(),
            latency_ms = latency.as_secs_f64() * 1000.0
        );
        tracing::info!("request served");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Subscriber, subscriber};
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::registry::LookupSpan;
    use tracing_subscriber::{Layer, Registry};

    use super::*;

    /// Every field recorded on any span, as `name=value`.
    #[derive(Clone, Default)]
    struct Recorded(Arc<Mutex<Vec<String>>>);

    impl Visit for Recorded {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0
                .lock()
                .unwrap()
                .push(format!("{}={value:?}", field.name()));
        }

        fn record_str(&mut self, field: &Field, value: &str) {
            self.0
                .lock()
                .unwrap()
                .push(format!("{}={value}", field.name()));
        }
    }

    impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorded {
        fn on_new_span(&self, attributes: &Attributes<'_>, _: &Id, _: Context<'_, S>) {
            attributes.record(&mut self.clone());
        }

        fn on_record(&self, _: &Id, values: &Record<'_>, _: Context<'_, S>) {
            values.record(&mut self.clone());
        }
    }

    #[tokio::test]
    async fn the_request_span_carries_method_route_id_status_and_latency() {
        let recorded = Recorded::default();
        let _guard = subscriber::set_default(Registry::default().with(recorded.clone()));
        let app = Router::new()
            .route("/things/{id}", get(|| async { "ok" }))
            .layer(trace_layer())
            .layer(RequestIdLayer);
        let request = Request::get("/things/42")
            .header("x-request-id", "trace-me")
            .body(Body::empty())
            .unwrap();

        let response = app.oneshot(request).await.unwrap();

        assert_eq!(response.status(), 200);
        let fields = recorded.0.lock().unwrap().clone();
        for expected in [
            "method=GET",
            "path=/things/{id}",
            "request_id=trace-me",
            "status=200",
        ] {
            assert!(
                fields.iter().any(|field| field == expected),
                "{expected} in {fields:?}"
            );
        }
        assert!(
            fields.iter().any(|field| field.starts_with("latency_ms=")),
            "{fields:?}"
        );
    }
}
