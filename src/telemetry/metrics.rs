//! Prometheus metrics at `/metrics`: requests by route and status, auth failures by reason, key-set
//! fetches, token-cache hits. Counters only, so recording costs a few atomic adds.
//!
//! The two counters every request touches keep their registered handles: the request counter in a
//! per-thread map keyed by route, method and status, the token-cache counters in a static set when
//! the recorder is installed. The request layer is a plain tower service, without the boxing of
//! `middleware::from_fn`. The hot path then does no allocation, no label hashing and no lookup in
//! the recorder's shared registry.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, ready};

use axum::extract::MatchedPath;
use axum::http::Request;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use metrics::{Counter, counter};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Token-cache counters, registered once with the installed recorder.
struct CacheCounters {
    hits: Counter,
    misses: Counter,
}

static CACHE_COUNTERS: OnceLock<CacheCounters> = OnceLock::new();

/// Request counters by route template, each with the (method, status) pairs seen on it. A route sees
/// a handful of pairs, so a short list scan beats a second hash.
type RequestCounters = HashMap<Box<str>, Vec<((&'static str, StatusCode), Counter)>>;

thread_local! {
    /// This thread's request counters.
    static REQUEST_COUNTERS: RefCell<RequestCounters> = RefCell::new(HashMap::new());

    /// This thread's refused-token counters, by reason (a dozen at most).
    static FAILURE_COUNTERS: RefCell<Vec<(&'static str, Counter)>> = const { RefCell::new(Vec::new()) };
}

/// Installs the Prometheus recorder the first time it is called (later calls reuse it). `None` when
/// another recorder was installed first (by the application embedding this library).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => {
                CACHE_COUNTERS.get_or_init(|| CacheCounters {
                    hits: counter!("token_cache_hits_total"),
                    misses: counter!("token_cache_misses_total"),
                });
                Some(handle)
            }
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

/// Layer that counts each request by route template (not the raw path, which would explode the
/// label set), method and status. Put it inside the router (`Router::layer`), where the matched
/// route is known.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountRequestsLayer;

impl<S> Layer<S> for CountRequestsLayer {
    type Service = CountRequests<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CountRequests { inner }
    }
}

/// The service [`CountRequestsLayer`] wraps around each route. It adds no allocation to the request:
/// the labels travel in [`CountedResponse`] and are counted when the response is ready.
#[derive(Debug, Clone)]
pub struct CountRequests<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for CountRequests<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = CountedResponse<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let route = request.extensions().get::<MatchedPath>().cloned();
        let method = method_label(request.method());
        CountedResponse {
            response: self.inner.call(request),
            route,
            method,
        }
    }
}

pin_project! {
    /// The response future of [`CountRequests`]: the inner one, plus the labels to count under.
    pub struct CountedResponse<F> {
        #[pin]
        response: F,
        route: Option<MatchedPath>,
        method: &'static str,
    }
}

impl<F, E> Future for CountedResponse<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = ready!(this.response.poll(cx));
        if let Ok(response) = &output {
            let route = this.route.as_ref().map_or("unmatched", MatchedPath::as_str);
            count_request(route, this.method, response.status());
        }
        Poll::Ready(output)
    }
}

/// Adds one to the counter of a route, method and status, through this thread's handle (registered
/// on first use).
fn count_request(route: &str, method: &'static str, status: StatusCode) {
    REQUEST_COUNTERS.with_borrow_mut(|by_route| {
        let seen = match by_route.get_mut(route) {
            Some(seen) => seen,
            None => by_route.entry(route.into()).or_default(),
        };
        increment_kept(seen, (method, status), || {
            counter!(
                "http_requests_total",
                "route" => route.to_owned(),
                "method" => method,
                "status" => status.as_str().to_owned()
            )
        });
    });
}

/// The method as a label; methods outside RFC 9110 are all `OTHER`, so made-up methods cannot grow
/// the label set.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::OPTIONS,
        Method::PATCH,
        Method::TRACE,
        Method::CONNECT,
    ];
    KNOWN
        .iter()
        .find(|known| *known == method)
        .map_or("OTHER", Method::as_str)
}

/// A refused token, by reason (`expired`, `bad_signature`, …).
pub fn auth_failure(reason: &'static str) {
    if !installed() {
        // Another recorder, or none: nothing of ours to keep handles to.
        counter!("auth_failures_total", "reason" => reason).increment(1);
        return;
    }
    FAILURE_COUNTERS.with_borrow_mut(|seen| {
        increment_kept(
            seen,
            reason,
            || counter!("auth_failures_total", "reason" => reason),
        );
    });
}

/// Adds one to the counter kept under `labels` in `kept`, registering it first (`register`) when
/// this thread has not seen those labels yet. The lists are short, so a scan beats a hash.
fn increment_kept<L: PartialEq>(
    kept: &mut Vec<(L, Counter)>,
    labels: L,
    register: impl FnOnce() -> Counter,
) {
    if let Some((_, counter)) = kept.iter().find(|(known, _)| *known == labels) {
        counter.increment(1);
        return;
    }
    let counter = register();
    counter.increment(1);
    kept.push((labels, counter));
}

/// Whether this module's Prometheus recorder is the installed one.
fn installed() -> bool {
    HANDLE.get().is_some_and(Option::is_some)
}

/// A key-set fetch and whether it worked.
pub fn jwks_fetch(ok: bool) {
    counter!("jwks_fetches_total", "result" => if ok { "ok" } else { "error" }).increment(1);
}

/// A token-cache lookup.
pub fn token_cache(hit: bool) {
    if let Some(counters) = CACHE_COUNTERS.get() {
        let counter = if hit {
            &counters.hits
        } else {
            &counters.misses
        };
        counter.increment(1);
    } else if hit {
        counter!("token_cache_hits_total").increment(1);
    } else {
        counter!("token_cache_misses_total").increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_counted_on_several_threads_add_up_in_the_rendered_counter() {
        let handle = install().unwrap();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..250 {
                        count_request("/test/threads", "GET", StatusCode::OK);
                    }
                });
            }
        });
        let text = handle.render();
        let line = r#"http_requests_total{route="/test/threads",method="GET",status="200"} 1000"#;
        assert!(text.lines().any(|rendered| rendered == line), "{text}");
    }

    #[test]
    fn standard_methods_keep_their_name_and_made_up_ones_are_other() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let made_up = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&made_up), "OTHER");
    }
}
