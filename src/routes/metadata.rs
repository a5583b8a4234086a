//! RFC 9728 protected resource metadata: which authorization server to ask, for which scopes.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::dpop::SUPPORTED_ALGORITHM_NAMES;
use crate::auth::{DpopMode, Verifier};
use crate::config::Settings;
use crate::state::AppState;

/// Where the metadata lives, relative to `PUBLIC_URL`.
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// `/.well-known/oauth-protected-resource`.
pub fn router() -> Router<AppState> {
    Router::new().route(METADATA_PATH, get(protected_resource))
}

/// RFC 9728 §2 metadata.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResourceMetadata {
    /// This API's identifier: its public URL.
    pub resource: String,
    /// Every issuer whose tokens it accepts, the default (browser login) first.
    pub authorization_servers: Vec<String>,
    /// Scopes its endpoints ask for.
    pub scopes_supported: Vec<String>,
    /// Tokens go in the `Authorization` header only (RFC 9700 §2.4.2 rules out the query string).
    pub bearer_methods_supported: Vec<&'static str>,
    /// A name for people.
    pub resource_name: &'static str,
    /// Where the API is documented.
    pub resource_documentation: String,
    /// The `alg`s a DPoP proof may be signed with (RFC 9728 §2, RFC 9449); absent when
    /// `[AUTH] DPOP = off`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dpop_signing_alg_values_supported: Option<Vec<&'static str>>,
    /// Whether every access token must be DPoP-bound (`[AUTH] DPOP = required`).
    pub dpop_bound_access_tokens_required: bool,
}

/// This API's protected resource metadata.
#[utoipa::path(get, path = "/.well-known/oauth-protected-resource", tag = "metadata",
    responses((status = 200, description = "RFC 9728 metadata", body = ResourceMetadata)))]
pub async fn protected_resource(
    State(settings): State<Arc<Settings>>,
    State(verifier): State<Verifier>,
) -> Json<ResourceMetadata> {
    let base = settings.server.public_base();
    Json(ResourceMetadata {
        resource: base.clone(),
        authorization_servers: verifier
            .issuers()
            .map(|(spec, _)| spec.issuer.clone())
            .collect(),
        scopes_supported: vec![settings.auth.scope.clone()],
        bearer_methods_supported: vec!["header"],
        resource_name: "protected-api",
        resource_documentation: format!("{base}/docs"),
        dpop_signing_alg_values_supported: settings
            .auth
            .dpop
            .accepts_dpop()
            .then(|| SUPPORTED_ALGORITHM_NAMES.to_vec()),
        dpop_bound_access_tokens_required: settings.auth.dpop == DpopMode::Required,
    })
}
