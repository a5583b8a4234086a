//! `/healthz` (the process answers) and `/readyz` (every issuer's keys are loaded or loadable, and its
//! discovery document names the configured issuer).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use tokio::task::JoinSet;

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
    /// With several issuers: those whose keys can be had neither from the cache nor now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable_issuers: Option<Vec<String>>,
}

impl Health {
    fn status(status: &'static str) -> Self {
        Self {
            status,
            problem: None,
            configured_issuer: None,
            discovered_issuer: None,
            unavailable_issuers: None,
        }
    }
}

/// Liveness: the process serves requests.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health::status("ok"))
}

/// Readiness: every issuer's signing keys are cached or can be fetched now, and each discovery
/// document names exactly its configured issuer (OpenID Connect Discovery §4.3).
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, body = Health),
    (status = 503, body = Health,
        description = "No keys can be had for some issuer (named when several are trusted), or discovery names another issuer than ISSUER (both named)"),
))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let verifier: &Verifier = &state.verifier;
    // Asking for keys first refetches a refused discovery document (at most once per
    // JWKS_MIN_REFRESH), so a mismatch fixed at the provider clears by itself. All issuers at once:
    // one slow IdP does not add its wait to the others'.
    let mut checks = JoinSet::new();
    for (index, (_, keys)) in verifier.issuers().enumerate() {
        let keys = keys.clone();
        checks.spawn(async move { (index, keys.ready().await) });
    }
    let mut ready = vec![false; checks.len()];
    while let Some(done) = checks.join_next().await {
        if let Ok((index, loaded)) = done
            && let Some(slot) = ready.get_mut(index)
        {
            *slot = loaded;
        }
    }
    let mismatch = state
        .issuers
        .iter()
        .filter_map(|issuer| issuer.discovery.as_ref())
        .find_map(Discovery::issuer_mismatch);
    if let Some(mismatch) = mismatch {
        let health = Health {
            problem: Some("the discovery document names another issuer than the configured ISSUER"),
            configured_issuer: Some(mismatch.configured_issuer),
            discovered_issuer: Some(mismatch.discovered_issuer),
            ..Health::status("unavailable")
        };
        return (StatusCode::SERVICE_UNAVAILABLE, Json(health));
    }
    if ready.iter().all(|ready| *ready) {
        return (StatusCode::OK, Json(Health::status("ready")));
    }
    let mut health = Health::status("unavailable");
    if ready.len() > 1 {
        let unavailable = verifier
            .issuers()
            .zip(&ready)
            .filter(|(_, ready)| !**ready)
            .map(|((spec, _), _)| spec.issuer.clone())
            .collect();
        health.unavailable_issuers = Some(unavailable);
    }
    (StatusCode::SERVICE_UNAVAILABLE, Json(health))
}
