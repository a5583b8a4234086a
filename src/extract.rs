//! `Form`, `Json`, `Query`, `Path` and `Bytes`: axum's extractors, with their rejections (a body over
//! the size limit, a malformed form, JSON, query or path) answered as an [`ApiError`] JSON body instead
//! of axum's `text/plain`. Use these in handlers; the responses stay `axum::Json`.

use axum::extract::rejection::{
    BytesRejection, FormRejection, JsonRejection, PathRejection, QueryRejection,
};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;

use crate::error::ApiError;

/// An `application/x-www-form-urlencoded` body (or the query, for `GET`), as [`axum::Form`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Form<T>(pub T);

/// An `application/json` body, as [`axum::Json`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

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
