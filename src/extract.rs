//! `Form`, `Json`, `FormOrJson`, `Query`, `Path` and `Bytes`: axum's extractors, with their rejections
//! (a body over the size limit, a malformed form, JSON, query or path) answered as an [`ApiError`] JSON
//! body instead of axum's `text/plain`. Use these in handlers; the responses stay `axum::Json`.

use axum::extract::rejection::{
    BytesRejection, FormRejection, JsonRejection, PathRejection, QueryRejection,
};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};

use crate::error::ApiError;

/// An `application/x-www-form-urlencoded` body (or the query, for `GET`), as [`axum::Form`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Form<T>(pub T);

/// An `application/json` body, as [`axum::Json`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

/// A body sent either as `application/x-www-form-urlencoded` (what HTML forms and OAuth 2.0 clients
/// send, RFC 6749 §4.1.3) or as `application/json` (what most API clients send), by the request's
/// `Content-Type`. Another content type, or none, is a 415 naming both; a malformed body a 400 or 422.
#[derive(Debug, Clone, Copy, Default)]
pub struct FormOrJson<T>(pub T);

/// The query string, as [`axum::extract::Query`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

/// The path parameters, as [`axum::extract::Path`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

/// The whole body, read within the body-size limit, as [`axum::body::Bytes`].
#[derive(Debug, Clone, Default)]
pub struct Bytes(pub axum::body::Bytes);

impl<T, S> FromRequest<S> for Form<T>
where
    axum::Form<T>: FromRequest<S, Rejection = FormRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Form(value) = axum::Form::from_request(request, state).await?;
        Ok(Self(value))
    }
}

impl<T, S> FromRequest<S> for Json<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(value) = axum::Json::from_request(request, state).await?;
        Ok(Self(value))
    }
}

impl<T, S> FromRequest<S> for FormOrJson<T>
where
    axum::Form<T>: FromRequest<S, Rejection = FormRejection>,
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(mut request: Request, state: &S) -> Result<Self, ApiError> {
        // The media type before any parameters, compared case-insensitively (RFC 9110 §8.3.1).
        let media_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(|media_type| media_type.trim().to_ascii_lowercase());
        match media_type.as_deref() {
            Some("application/x-www-form-urlencoded") => {
                // axum's `Form` compares the type case-sensitively: hand it the canonical spelling.
                request.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                let Form(value) = Form::from_request(request, state).await?;
                Ok(Self(value))
            }
            // `application/json`, or a JSON-based type such as `application/merge-patch+json`
            // (RFC 6839 §3.1), as axum's `Json` accepts.
            Some(json)
                if json == "application/json"
                    || (json.starts_with("application/") && json.ends_with("+json")) =>
            {
                let Json(value) = Json::from_request(request, state).await?;
                Ok(Self(value))
            }
            // axum's own message would name JSON only, though this route takes a form as well.
            _ => Err(ApiError::Unreadable {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                description: "Expected request with `Content-Type: application/json` or \
                              `Content-Type: application/x-www-form-urlencoded`"
                    .to_owned(),
            }),
        }
    }
}

impl<S> FromRequest<S> for Bytes
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Ok(Self(axum::body::Bytes::from_request(request, state).await?))
    }
}

impl<T, S> FromRequestParts<S> for Query<T>
where
    axum::extract::Query<T>: FromRequestParts<S, Rejection = QueryRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Query(value) =
            axum::extract::Query::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

impl<T, S> FromRequestParts<S> for Path<T>
where
    axum::extract::Path<T>: FromRequestParts<S, Rejection = PathRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(value) =
            axum::extract::Path::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// Each rejection keeps axum's status (400, 413, 415, 422) and message; a 5xx rejection is a routing
/// bug, not the client's input, so it becomes `Internal` and its text stays in the log.
macro_rules! rejection_into_api_error {
    ($($rejection:ty),+) => {$(
        impl From<$rejection> for ApiError {
            fn from(rejection: $rejection) -> Self {
                let status = rejection.status();
                if status.is_server_error() {
                    return Self::Internal(anyhow::anyhow!(rejection.body_text()));
                }
                Self::Unreadable {
                    status,
                    description: rejection.body_text(),
                }
            }
        }
    )+};
}

rejection_into_api_error!(
    BytesRejection,
    FormRejection,
    JsonRejection,
    PathRejection,
    QueryRejection
);

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Login {
        username: String,
    }

    async fn extract(content_type: &str, body: &'static str) -> Result<Login, ApiError> {
        let request = Request::post("/")
            .header(CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap();
        FormOrJson::<Login>::from_request(request, &())
            .await
            .map(|FormOrJson(login)| login)
    }

    fn status_of(error: ApiError) -> StatusCode {
        match error {
            ApiError::Unreadable { status, .. } => status,
            other => panic!("not a rejection: {other:?}"),
        }
    }

    #[tokio::test]
    async fn form_or_json_reads_either_by_content_type_and_refuses_others() {
        let alice = Login {
            username: "alice".to_owned(),
        };
        let form = extract(
            "Application/X-WWW-Form-URLEncoded; charset=utf-8",
            "username=alice",
        );
        assert_eq!(form.await.unwrap(), alice);
        let json = extract("application/json", r#"{"username":"alice"}"#);
        assert_eq!(json.await.unwrap(), alice);

        let other = extract("text/plain", "username=alice").await.unwrap_err();
        assert_eq!(status_of(other), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let vendor_json = extract("application/vnd.api+json", r#"{"username":"alice"}"#);
        assert_eq!(vendor_json.await.unwrap(), alice);
        let malformed = extract("application/json", "{").await.unwrap_err();
        assert_eq!(status_of(malformed), StatusCode::BAD_REQUEST);
        let missing = extract("application/x-www-form-urlencoded", "name=x").await;
        assert_eq!(
            status_of(missing.unwrap_err()),
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }

    #[tokio::test]
    async fn another_content_type_or_none_is_a_415_naming_both_accepted_types() {
        let without = Request::post("/")
            .body(Body::from("username=alice"))
            .unwrap();
        let without = FormOrJson::<Login>::from_request(without, &())
            .await
            .map(|FormOrJson(login)| login);
        for refused in [extract("text/plain", "username=alice").await, without] {
            let Err(ApiError::Unreadable {
                status,
                description,
            }) = refused
            else {
                panic!("not a rejection: {refused:?}");
            };
            assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
            assert!(description.contains("application/json"), "{description}");
            assert!(
                description.contains("application/x-www-form-urlencoded"),
                "{description}"
            );
        }
    }
}
