//! `x-request-id`: every request gets one (the client's own, or a new random UUID) and its response
//! carries it back, so a client's report can be matched with the server's log line.
//!
//! This is what tower-http's `SetRequestIdLayer` and `PropagateRequestIdLayer` do together, in one
//! service. Those two also store the id as a `RequestId` in the request's and the response's
//! extensions, which nothing here reads, and format each new UUID into a `String` first: together
//! about half a dozen allocations on every request, for the same headers.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::http::{HeaderName, HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use uuid::Uuid;
use uuid::fmt::Hyphenated;

/// The request id's header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Layer that gives every request an `x-request-id` and copies it onto the response (a response
/// that already names one keeps its own). Put it outside the trace layer, so the span records the id.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestIdLayer;

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestIdService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestIdService { inner }
    }
}

/// The service [`RequestIdLayer`] wraps around each route.
#[derive(Debug, Clone)]
pub struct RequestIdService<S> {
    inner: S,
}

impl<S, B, ResBody> Service<Request<B>> for RequestIdService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = WithRequestId<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let id = match request.headers().get(REQUEST_ID) {
            Some(id) => id.clone(),
            None => {
                let id = new_request_id();
                request.headers_mut().insert(REQUEST_ID, id.clone());
                id
            }
        };
        WithRequestId {
            response: self.inner.call(request),
            id: Some(id),
        }
    }
}

pin_project! {
    /// The response future of [`RequestIdService`]: the inner one, plus the id to answer with.
    pub struct WithRequestId<F> {
        #[pin]
        response: F,
        id: Option<HeaderValue>,
    }
}

impl<F, ResBody, E> Future for WithRequestId<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut output = ready!(this.response.poll(cx));
        if let (Ok(response), Some(id)) = (&mut output, this.id.take()) {
            response.headers_mut().entry(REQUEST_ID).or_insert(id);
        }
        Poll::Ready(output)
    }
}

/// A random (v4) UUID from `rand`'s thread-local generator, written into a stack buffer.
fn new_request_id() -> HeaderValue {
    let mut text = [0; Hyphenated::LENGTH];
    let text = Uuid::new_v4().hyphenated().encode_lower(&mut text);
    // Hex digits and hyphens: always a valid header value.
    HeaderValue::from_bytes(text.as_bytes()).unwrap_or(HeaderValue::from_static("-"))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;

    async fn id_of(request: Request<Body>) -> (String, String) {
        let echo = tower::service_fn(|request: Request<Body>| async move {
            let seen = request.headers()[REQUEST_ID].to_str().unwrap().to_owned();
            Ok::<_, std::convert::Infallible>(Response::new(seen))
        });
        let response = RequestIdLayer.layer(echo).oneshot(request).await.unwrap();
        let answered = response.headers()[REQUEST_ID].to_str().unwrap().to_owned();
        (response.into_body(), answered)
    }

    #[tokio::test]
    async fn a_client_id_is_kept_and_answered() {
        let request = Request::get("/")
            .header(REQUEST_ID, "trace-me")
            .body(Body::empty());
        assert_eq!(
            id_of(request.unwrap()).await,
            ("trace-me".into(), "trace-me".into())
        );
    }

    #[tokio::test]
    async fn a_missing_id_is_a_new_uuid_seen_by_the_handler_and_answered() {
        let (seen, answered) = id_of(Request::new(Body::empty())).await;
        assert_eq!(seen, answered);
        assert!(
            Uuid::parse_str(&seen).is_ok_and(|id| id.get_version_num() == 4),
            "{seen}"
        );
        let (other, _) = id_of(Request::new(Body::empty())).await;
        assert_ne!(seen, other);
    }
}
