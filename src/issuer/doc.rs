//! `IssuerDoc`: the local issuer's operations in the OpenAPI document, merged in when it runs.

use utoipa::OpenApi;

use super::{introspect, routes, signup, token, userinfo};

/// The local issuer's operations, documented when `[AUTH] PROVIDER = local`.
#[derive(OpenApi)]
#[openapi(
    paths(routes::jwks, routes::openid_configuration, token::token, introspect::introspect, userinfo::userinfo, signup::signup),
    tags((name = "local issuer", description = "The embedded development identity provider"))
)]
pub struct IssuerDoc;
