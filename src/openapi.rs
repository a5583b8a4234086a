//! `ApiDoc` from the handlers' annotations, the provider's security schemes (implicit, code + PKCE,
//! bearer), and Swagger UI at `/docs` with its OAuth2 redirect page at `/docs/oauth2-redirect`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use tokio::task::JoinSet;
use url::Url;
use utoipa::OpenApi;
use utoipa::openapi::security::{
    AuthorizationCode, Flow, HttpAuthScheme, HttpBuilder, Implicit, OAuth2, Scopes, SecurityScheme,
};
use utoipa::openapi::{Content, Ref, ResponseBuilder, Server};
use utoipa_swagger_ui::{Config, oauth};

use crate::auth::{DiscoveryDocument, Endpoint, Endpoints};
use crate::error::ErrorBody;
use crate::extract::Path;
#[cfg(feature = "local-issuer")]
use crate::issuer::doc::IssuerDoc;
use crate::routes::{api, health, metadata, user};
use crate::state::AppState;

/// The API's own operations and schemas.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "protected-api",
        description = "A protected REST API: public, private, scoped and permission endpoints behind JWT access tokens. \
            Click **Authorize** to log in with the configured provider, or paste a bearer token.\n\n\
            **DPoP (RFC 9449).** A client whose token is bound to its key (`cnf.jkt`) sends \
            `Authorization: DPoP <token>` and, on every request, a fresh `DPoP` header: a proof JWT \
            (`typ` `dpop+jwt`, the public `jwk`) signed by that key, with `htm` (the method), `htu` \
            (the URL under this server, no query), `iat`, a new `jti` and `ath` (base64url SHA-256 of \
            the token). Swagger UI cannot sign proofs: `protected-api dpop` prints one for curl. \
            Failures are 401 `invalid_dpop_proof` with a `DPoP` challenge listing the accepted `algs`; \
            a key that sends more than 50,000 proofs within one proof window (91 s by default), or a subject (issuer and `sub`) \
            more than 100,000 with all its keys, gets 429 `too_many_requests` with `Retry-After` until its window ends."
    ),
    paths(
        api::public, api::private, api::private_scoped, api::admin, api::optional, api::profile, user::user,
        health::healthz, health::readyz, metadata::protected_resource,
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "api", description = "The example endpoints"),
        (name = "health", description = "Liveness and readiness"),
        (name = "metadata", description = "RFC 9728 protected resource metadata"),
    )
)]
pub struct ApiDoc;

/// Where Swagger UI logs a person in, when the provider has a browser login.
#[derive(Debug, Clone)]
struct LoginUrls {
    authorize: Url,
    token: Option<Url>,
}

/// The scopes Swagger UI offers and pre-selects.
fn offered_scopes(state: &AppState) -> Vec<String> {
    let mut scopes = vec![
        "openid".to_owned(),
        "profile".to_owned(),
        "email".to_owned(),
    ];
    scopes.push(state.settings.auth.scope.clone());
    scopes
}

fn login_urls(endpoints: &Endpoints, discovered: Option<&DiscoveryDocument>) -> Option<LoginUrls> {
    Some(LoginUrls {
        authorize: endpoints.configured_or(Endpoint::Authorize, discovered)?,
        token: endpoints.configured_or(Endpoint::Token, discovered),
    })
}

/// Every body is read within the size limit (`ApiError::Unreadable`): each operation that takes one
/// may answer 413.
fn document_body_limit(doc: &mut utoipa::openapi::OpenApi) {
    let too_large = ResponseBuilder::new()
        .description(format!(
            "invalid_request: the body is larger than {} bytes",
            crate::MAX_BODY_BYTES
        ))
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("ErrorBody"))),
        )
        .build();
    for item in doc.paths.paths.values_mut() {
        let operations = [&mut item.post, &mut item.put, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            if operation.request_body.is_some() {
                let responses = &mut operation.responses.responses;
                responses
                    .entry("413".to_owned())
                    .or_insert_with(|| too_large.clone().into());
            }
        }
    }
}

/// The local issuer's operations (`/oauth/token`, `/auth/signup`, …), when it is the provider.
#[cfg(feature = "local-issuer")]
fn issuer_doc(state: &AppState) -> Option<utoipa::openapi::OpenApi> {
    state.issuer.is_some().then(IssuerDoc::openapi)
}

/// Built without the local issuer: nothing to add.
#[cfg(not(feature = "local-issuer"))]
fn issuer_doc(_: &AppState) -> Option<utoipa::openapi::OpenApi> {
    None
}

/// The OAuth2 security schemes: one per provider that has a login page, named `oauth2` for the first
/// provider (so a single-provider document is unchanged) and `oauth2_NAME` for each other. A provider
/// with several issuers offers the login page of the first that has one. `discovered` holds each
/// issuer's discovery document, in the order of [`crate::Settings::providers`], where known.
fn login_schemes(
    state: &AppState,
    discovered: &[Option<Arc<DiscoveryDocument>>],
) -> Vec<(String, &'static str, LoginUrls)> {
    let mut schemes: Vec<(String, &'static str, LoginUrls)> = Vec::new();
    for (index, (spec, _)) in state.verifier.issuers().enumerate() {
        let name = spec.name();
        if schemes.iter().any(|(_, taken, _)| *taken == name) {
            continue;
        }
        let document = discovered.get(index).and_then(Option::as_deref);
        let Some(login) = login_urls(&state.issuer(index).endpoints, document) else {
            continue;
        };
        let scheme = if name == state.verifier.spec().name() {
            "oauth2".to_owned()
        } else {
            format!("oauth2_{name}")
        };
        schemes.push((scheme, name, login));
    }
    schemes
}

/// The OpenAPI document for this configuration, as JSON. `discovered` holds each issuer's discovery
/// document, in the order of [`crate::Settings::providers`], where known.
pub fn document(state: &AppState, discovered: &[Option<Arc<DiscoveryDocument>>]) -> Value {
    let mut doc = ApiDoc::openapi();
    if let Some(issuer) = issuer_doc(state) {
        doc.merge(issuer);
    }
    doc.servers = Some(vec![Server::new(state.settings.server.public_base())]);
    document_body_limit(&mut doc);
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                // A hint only (OpenAPI 3.1): opaque tokens are accepted too, as the description says.
                .bearer_format("JWT")
                .description(Some(
                    "Paste an access token (for the local issuer: `protected-api token`). \
                     A JWT is verified by its signature; any other value is an opaque token, \
                     introspected (RFC 7662) where an issuer offers it (`[OIDC] \
                     INTROSPECTION_CLIENT_ID`, or `[LOCAL] TOKEN_FORMAT = opaque`) and refused \
                     otherwise.",
                ))
                .build(),
        ),
    );
    let schemes = login_schemes(state, discovered);
    for (scheme, provider, login) in &schemes {
        let scopes = || {
            Scopes::from_iter(offered_scopes(state).into_iter().map(|scope| {
                let description = format!("request {scope}");
                (scope, description)
            }))
        };
        let mut flows = vec![Flow::Implicit(Implicit::new(
            login.authorize.as_str(),
            scopes(),
        ))];
        if let Some(token) = &login.token {
            flows.push(Flow::AuthorizationCode(AuthorizationCode::new(
                login.authorize.as_str(),
                token.as_str(),
                scopes(),
            )));
        }
        let description = format!(
            "Log in with the {provider} provider (authorization code with PKCE, or implicit)."
        );
        components.add_security_scheme(
            scheme.as_str(),
            SecurityScheme::OAuth2(OAuth2::with_description(flows, description)),
        );
    }
    let mut json = serde_json::to_value(&doc).unwrap_or(Value::Null);
    let names: Vec<&str> = schemes
        .iter()
        .map(|(scheme, _, _)| scheme.as_str())
        .collect();
    offer_login_schemes(&mut json, &names);
    json
}

/// Where an operation accepts `oauth2`, it accepts each of `schemes` instead (each one requirement,
/// any of which is enough); with none, the requirement goes: it must name a defined scheme.
fn offer_login_schemes(doc: &mut Value, schemes: &[&str]) {
    if schemes == ["oauth2"] {
        return;
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
    {
        let Some(security) = operation.get_mut("security").and_then(Value::as_array_mut) else {
            continue;
        };
        if let Some(at) = security
            .iter()
            .position(|requirement| requirement.get("oauth2").is_some())
        {
            let offered = schemes
                .iter()
                .map(|scheme| serde_json::json!({ *scheme: [] }));
            security.splice(at..=at, offered);
        }
    }
}

/// The Swagger UI configuration: the document, the redirect page, and the provider's OAuth client.
fn swagger_config(state: &AppState) -> Config<'static> {
    let spec = state.verifier.spec();
    let mut oauth = oauth::Config::new()
        .app_name("protected-api")
        .scopes(offered_scopes(state))
        .use_pkce_with_authorization_code_grant(true);
    if let Some(client_id) = &spec.client_id {
        oauth = oauth.client_id(client_id);
    }
    if !spec.login.authorize_params.is_empty() {
        let params: HashMap<String, String> = spec.login.authorize_params.iter().cloned().collect();
        oauth = oauth.additional_query_string_params(params);
    }
    let redirect = format!(
        "{}/docs/oauth2-redirect",
        state.settings.server.public_base()
    );
    Config::with_oauth_config(["/openapi.json"], oauth)
        .oauth2_redirect_url(redirect)
        .persist_authorization(true)
        .try_it_out_enabled(true)
}

/// `/openapi.json`, `/docs` and `/docs/oauth2-redirect`.
pub fn router(state: &AppState) -> Router<AppState> {
    let config = Arc::new(swagger_config(state));
    let files = config.clone();
    let index = config.clone();
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(|| async { Redirect::permanent("/docs/") }))
        .route(
            "/docs/",
            get(move || async move { swagger_file("index.html", &index) }),
        )
        .route(
            "/docs/oauth2-redirect",
            get(move || async move { swagger_file("oauth2-redirect.html", &config) }),
        )
        .route(
            "/docs/{*file}",
            get(move |Path(file): Path<String>| async move { swagger_file(&file, &files) }),
        )
}

/// The document; for OIDC the discovered login endpoints are included once discovery answers. Every
/// issuer's document is asked for at once, each for at most 3 s.
async fn openapi_json(State(state): State<AppState>) -> Json<Value> {
    let mut fetches = JoinSet::new();
    for (index, issuer) in state.issuers.iter().enumerate() {
        if let Some(discovery) = issuer.discovery.clone() {
            fetches.spawn(async move {
                let found =
                    tokio::time::timeout(Duration::from_secs(3), discovery.document()).await;
                (index, found.ok().and_then(Result::ok))
            });
        }
    }
    let mut discovered = vec![None; state.issuers.len()];
    while let Some(done) = fetches.join_next().await {
        if let Ok((index, document)) = done
            && let Some(slot) = discovered.get_mut(index)
        {
            *slot = document;
        }
    }
    Json(document(&state, &discovered))
}

fn swagger_file(file: &str, config: &Arc<Config<'static>>) -> Response {
    match utoipa_swagger_ui::serve(file, config.clone()) {
        Ok(Some(file)) => {
            let mut response = file.bytes.into_owned().into_response();
            if let Ok(content_type) = HeaderValue::from_str(&file.content_type) {
                response.headers_mut().insert(CONTENT_TYPE, content_type);
            }
            if file.gzpipped {
                response
                    .headers_mut()
                    .insert("content-encoding", HeaderValue::from_static("gzip"));
            }
            response
        }
        Ok(None) => crate::error::ApiError::NotFound.into_response(),
        Err(error) => {
            tracing::error!(%error, "Swagger UI file could not be served");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
