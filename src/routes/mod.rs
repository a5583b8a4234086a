//! HTTP routes, one file per area, each a `fn router() -> Router<AppState>`.

pub mod api;
pub mod health;
pub mod metadata;
pub mod user;

use axum::Router;

use crate::state::AppState;

/// The service's own routes (the local issuer's, the browser session's and the docs are added in
/// [`crate::app_with`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(api::router())
        .merge(user::router())
        .merge(health::router())
        .merge(metadata::router())
}
