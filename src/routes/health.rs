//! `/healthz` (the process answers) and `/readyz` (the provider's keys are loaded or loadable, and its
//! discovery document names the configured issuer).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{Discovery, Verifier};
use crate::state::AppState;

/// `/healthz` and `/readyz`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// Health or readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, `ready` or `unavailable`.
    pub status: &'static str,
    /// Why the service is not ready, when that is known and is a configuration mistake.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<&'static str>,
    /// `ISSUER` as configured, when the discovery document names another issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configured_issuer: Option<String>,
    /// The issuer the discovery document names, when it is not `ISSUER`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovered_issuer: Option<String>,
}

impl Health {
    fn status(status: &'static str) -> Self {
        Self {
            status,
            problem: None,
            configured_issuer: None,
            discovered_issuer: None,
        }
    }
}

/// Liveness: the process serves requests.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health::status("ok"))
}

/// Readiness: the provider's signing keys are cached or can be fetched now, and its discovery
/// document names exactly the configured issuer (OpenID Connect Discovery §4.3).
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, body = Health),
    (status = 503, body = Health,
        description = "No keys can be had, or discovery names another issuer than ISSUER (both named)"),
))]
pub async fn readyz(
    State(verifier): State<Verifier>,
    State(discovery): State<Option<Discovery>>,
) -> (StatusCode, Json<Health>) {
    // Asking for keys first refetches a refused discovery document (at most once per
    // JWKS_MIN_REFRESH), so a mismatch fixed at the provider clears by itself.
    let ready = verifier.keys().ready().await;
    if let Some(mismatch) = discovery.as_ref().and_then(Discovery::issuer_mismatch) {
        let health = Health {
            status: "unavailable",
            problem: Some("the discovery document names another issuer than the configured ISSUER"),
            configured_issuer: Some(mismatch.configured_issuer),
            discovered_issuer: Some(mismatch.discovered_issuer),
        };
        return (StatusCode::SERVICE_UNAVAILABLE, Json(health));
    }
    if ready {
        (StatusCode::OK, Json(Health::status("ready")))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health::status("unavailable")),
        )
    }
}
