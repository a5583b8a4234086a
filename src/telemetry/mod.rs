//! Logging and metrics: a subscriber (`RUST_LOG` respected) writing the pretty (`pretty.rs`) or JSON
//! (`json.rs`) format to stdout from a background thread (`writer.rs`); the request span
//! `http_request{method, path, request_id, sub}` that every line logged while serving a request
//! carries, and one access line per request ("request served", with `status` and `latency_ms`).
//! Tokens and cookies are never logged.

#[cfg(test)]
mod captured;
mod fields;
mod json;
#[cfg(feature = "metrics")]
pub mod metrics;
// The same recording calls, empty, so call sites need no `#[cfg]` of their own.
#[cfg(not(feature = "metrics"))]
#[path = "metrics_off.rs"]
pub mod metrics;
mod pretty;
mod request_id;
mod staged;
mod timestamp;
mod writer;

use json::{JsonFields, JsonLine};
use pretty::{PlainFields, PrettyLine};
pub use request_id::{REQUEST_ID, RequestIdLayer, RequestIdService, WithRequestId};
pub use writer::WriterGuard;

use std::io::IsTerminal;
use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::{Request, Response};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{MakeSpan, OnResponse, TraceLayer};
use tracing::{Span, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt, layer::SubscriberExt};

use crate::config::LogFormat;

/// The access line's target, apart from the span's (`protected_api::telemetry`), so that
/// `RUST_LOG=info,protected_api::access=warn` drops the line and keeps the span for other lines.
pub const ACCESS_TARGET: &str = "protected_api::access";

/// The filter when `RUST_LOG` is unset.
const DEFAULT_FILTER: &str = "info,tower_http=warn";

/// Installs the global subscriber, writing to stdout through `writer`'s background thread. Later
/// calls (tests) are ignored.
///
/// Lines are formatted on the thread that logs them and written by the background thread in batches
/// (at most 10 ms late). Hold the returned guard until exit: dropping it writes the lines still
/// waiting (waiting at most a second). When stdout cannot keep up and 2 MiB of lines are waiting,
/// logging threads wait for room instead of dropping lines.
///
/// # Errors
/// When the writer thread cannot be started.
pub fn init(format: LogFormat) -> std::io::Result<WriterGuard> {
    let (writer, guard) = writer::spawn(std::io::stdout())?;
    // Colours for a person at a terminal only: in a file or a log collector the escape codes are
    // noise, and writing them was about a fifth of a logged request's instructions.
    let ansi = std::io::stdout().is_terminal();
    let registry =
        tracing_subscriber::registry().with(filter(std::env::var("RUST_LOG").ok().as_deref()));
    let _already_set = match format {
        LogFormat::Json => registry.with(json_layer(writer)).try_init(),
        LogFormat::Pretty => registry.with(pretty_layer(writer, ansi)).try_init(),
    };
    Ok(guard)
}

/// The levels `RUST_LOG` asks for, else [`DEFAULT_FILTER`].
///
/// Directives that only pair targets with levels (`info,tower_http=warn`, the default) become a
/// [`Targets`] filter, which decides once per call site. `EnvFilter` gives the same answers but takes
/// a lock on every span's creation, entry, exit and close, to find the span-scoped directives
/// (`[http_request]=debug`, `[{sub=…}]`); it is only used when `RUST_LOG` has one, or when
/// `Targets` cannot read it.
fn filter<S>(rust_log: Option<&str>) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let directives = rust_log.unwrap_or(DEFAULT_FILTER);
    // `Targets` reads a `[` as part of a target's name, where `EnvFilter` reads a span directive.
    let plain = !directives.is_empty()
        && directives
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"_:=,".contains(&byte));
    if plain && let Ok(targets) = directives.parse::<Targets>() {
        return targets.boxed();
    }
    EnvFilter::try_new(directives)
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER))
        .boxed()
}

/// The pretty format (`pretty`): `2026-12-01T09:00:00.123456Z  INFO http_request: request served
/// status=200 latency_ms=0.21 method="GET" path="/api/public" request_id="…"`.
fn pretty_layer<S, W>(writer: W, ansi: bool) -> fmt::Layer<S, PlainFields, PrettyLine, W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi)
        .fmt_fields(PlainFields)
        .event_format(PrettyLine)
}

/// The JSON format (`json`): one object per line, the event's fields at the top level and the
/// request span's under `span` (`{"timestamp", "level", "message", "status", "latency_ms", "span":
/// {"name", "method", "path", "request_id", "sub"}}`).
fn json_layer<S, W>(writer: W) -> fmt::Layer<S, JsonFields, JsonLine, W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .fmt_fields(JsonFields)
        .event_format(JsonLine)
}

/// One span per request, and one line when its response is ready. Nothing on body chunks or at the
/// end of the body: the line is written when the response (its head) is, with the handler's time.
pub fn trace_layer()
-> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RequestSpan, (), RecordResponse, (), ()> {
    TraceLayer::new_for_http()
        .make_span_with(RequestSpan)
        .on_request(())
        .on_response(RecordResponse)
        .on_body_chunk(())
        .on_eos(())
}

/// Opens `http_request{method, path, request_id, sub}`: what a line logged while serving the request
/// needs to be traced back to it. `sub` is recorded by the auth extractor once the token is verified.
#[derive(Debug, Clone, Copy)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        // The field values are only computed when the span is enabled (`RUST_LOG` at `info` or
        // finer), and each is recorded as a `&str`, without going through `Display`. The subscriber
        // formats them once, here; the status and latency go on the access line instead of being
        // recorded on the span, which would format the span's fields again (and in JSON, parse them
        // back first).
        tracing::info_span!(
            "http_request",
            method = request.method().as_str(),
            path = route_of(request),
            request_id = request_id_of(request),
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

/// `latency` in milliseconds, to the microsecond: `0.123`, not the `0.12344400000000001` a plain
/// conversion prints.
fn in_milliseconds(latency: Duration) -> f64 {
    // Whole microseconds fit an f64 exactly, so the division gives the shortest decimal back.
    latency.as_micros() as f64 / 1000.0
}

/// Logs the access line, "request served" with `status` and `latency_ms`, inside the request span.
#[derive(Debug, Clone, Copy)]
pub struct RecordResponse;

impl<B> OnResponse<B> for RecordResponse {
    fn on_response(self, response: &Response<B>, latency: Duration, _: &Span) {
        tracing::info!(
            target: ACCESS_TARGET,
            status = response.status().as_u16(),
            latency_ms = in_milliseconds(latency),
            "request served"
        );
    }
}

#[cfg(test)]
mod tests {

    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use serde_json::Value;
    use tower::ServiceExt;
    use tracing_subscriber::Registry;

    use super::captured::Captured;
    use super::*;

    /// One request to `/things/42` with `x-request-id: trace-me`, through the shipped layers, whose
    /// handler records `sub` as the auth extractor does and logs a warning with client input in it.
    async fn serve_one_request() {
        let app = Router::new()
            .route(
                "/things/{id}",
                get(|| async {
                    Span::current().record("sub", "user-7");
                    let detail = "x\r\nINFO fake field";
                    tracing::warn!(%detail, "odd input {}", "\u{1b}[31mred\nINFO fake line");
                    "ok"
                }),
            )
            .layer(trace_layer())
            .layer(RequestIdLayer);
        let request = Request::get("/things/42")
            .header("x-request-id", "trace-me")
            .body(Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
    }

    /// The lines logged for [`serve_one_request`] by the shipped subscriber in `format`, with
    /// `RUST_LOG` set to `rust_log`.
    async fn lines_of_one_request(format: LogFormat, rust_log: Option<&str>) -> Vec<String> {
        let captured = Captured::default();
        let writer = captured.clone();
        let registry = Registry::default().with(filter(rust_log));
        let _default = match format {
            LogFormat::Pretty => {
                tracing::subscriber::set_default(registry.with(pretty_layer(writer, false)))
            }
            LogFormat::Json => tracing::subscriber::set_default(registry.with(json_layer(writer))),
        };
        serve_one_request().await;
        captured.lines()
    }

    #[tokio::test]
    async fn the_pretty_access_line_says_method_route_status_latency_id_and_sub() {
        let lines = lines_of_one_request(LogFormat::Pretty, None).await;

        assert_eq!(lines.len(), 2, "{lines:#?}");
        let served = &lines[1];
        // `2026-12-01T09:00:00.123456Z  INFO http_request: request served status=200 …`
        assert_eq!(served.find('Z'), Some(26), "{served}");
        let (_, rest) = served
            .split_once("Z  INFO http_request: request served status=200 latency_ms=")
            .unwrap();
        let (latency, span) = rest.split_once(' ').unwrap();
        assert!(latency.parse::<f64>().is_ok_and(|ms| ms >= 0.0), "{served}");
        assert_eq!(
            span,
            r#"method="GET" path="/things/{id}" request_id="trace-me" sub="user-7""#
        );
    }

    #[tokio::test]
    async fn a_warning_while_serving_carries_the_request_span_and_cannot_fake_a_line() {
        let lines = lines_of_one_request(LogFormat::Pretty, None).await;

        let warned = &lines[0];
        assert!(
            warned.ends_with(
                r#"  WARN http_request: odd input \u{1b}[31mred\nINFO fake line detail=x\r\nINFO fake field method="GET" path="/things/{id}" request_id="trace-me" sub="user-7""#
            ),
            "{warned}"
        );
        assert!(!lines.iter().any(|line| line.starts_with("INFO fake")));
    }

    #[test]
    fn latency_is_written_to_the_microsecond() {
        assert_eq!(
            in_milliseconds(Duration::from_nanos(123_444_000)).to_string(),
            "123.444"
        );
        assert_eq!(
            in_milliseconds(Duration::from_nanos(123_444)).to_string(),
            "0.123"
        );
    }

    #[tokio::test]
    async fn the_json_access_line_has_the_same_fields() {
        let lines = lines_of_one_request(LogFormat::Json, None).await;

        assert_eq!(lines.len(), 2, "{lines:#?}");
        let warned: Value = serde_json::from_str(&lines[0]).unwrap();
        let served: Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(warned["level"], "WARN");
        assert_eq!(served["level"], "INFO");
        assert_eq!(served["message"], "request served");
        assert_eq!(served["status"], 200);
        assert!(served["latency_ms"].is_f64(), "{served}");
        assert!(
            served["timestamp"]
                .as_str()
                .is_some_and(|at| at.len() == 27 && at.ends_with('Z')),
            "{served}"
        );
        for line in [&warned, &served] {
            let span = &line["span"];
            assert_eq!(span["name"], "http_request", "{line}");
            assert_eq!(span["method"], "GET", "{line}");
            assert_eq!(span["path"], "/things/{id}", "{line}");
            assert_eq!(span["request_id"], "trace-me", "{line}");
            assert_eq!(span["sub"], "user-7", "{line}");
        }
    }

    #[tokio::test]
    async fn rust_log_with_levels_only_still_sets_the_levels() {
        // Read as a plain `Targets` filter.
        let lines = lines_of_one_request(LogFormat::Pretty, Some("warn")).await;
        assert_eq!(lines.len(), 1, "{lines:#?}");
        // The request span is at `info`, so off too: the warning comes alone.
        assert!(lines[0].contains("  WARN odd input"), "{lines:#?}");
    }

    #[tokio::test]
    async fn the_access_line_can_be_dropped_while_warnings_keep_the_request_span() {
        let lines =
            lines_of_one_request(LogFormat::Pretty, Some("info,protected_api::access=warn")).await;
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(
            lines[0].contains("  WARN http_request: odd input")
                && lines[0].ends_with(r#"request_id="trace-me" sub="user-7""#),
            "{lines:#?}"
        );
    }

    #[tokio::test]
    async fn rust_log_with_a_span_directive_still_works() {
        // Only `EnvFilter` reads span directives: `info` inside `http_request`, else `warn`.
        let lines = lines_of_one_request(LogFormat::Pretty, Some("warn,[http_request]=info")).await;
        assert_eq!(lines.len(), 2, "{lines:#?}");
    }
}
