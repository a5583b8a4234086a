//! The OpenAPI document and Swagger UI: every endpoint documented, the provider's OAuth2 flows wired in.

use protected_api::testing::MockIdp;
use serde_json::Value;

use crate::helpers::TestApp;

async fn document(app: &TestApp) -> Value {
    let response = app.get("/openapi.json").send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[cfg(feature = "local-issuer")]
#[tokio::test]
async fn every_endpoint_is_documented_with_its_errors() {
    let app = TestApp::builder().local().spawn().await;
    let doc = document(&app).await;
    for path in [
        "/api/public",
        "/api/private",
        "/api/private-scoped",
        "/api/admin",
        "/api/optional",
        "/api/profile/{id}",
        "/healthz",
        "/readyz",
        "/.well-known/oauth-protected-resource",
        "/oauth/token",
        "/.well-known/jwks.json",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    let private = &doc["paths"]["/api/private"]["get"];
    for status in ["200", "401", "400", "503"] {
        assert!(
            private["responses"][status].is_object(),
            "/api/private documents {status}"
        );
    }
    assert!(doc["paths"]["/api/private-scoped"]["get"]["responses"]["403"].is_object());
    assert_eq!(doc["components"]["schemas"]["ErrorBody"]["type"], "object");
    assert_eq!(doc["servers"][0]["url"], app.base.as_str());
}

#[cfg(feature = "local-issuer")]
#[tokio::test]
async fn every_bearer_endpoint_documents_a_malformed_header_as_400() {
    let app = TestApp::builder().local().spawn().await;
    let doc = document(&app).await;
    for path in [
        "/api/private",
        "/api/private-scoped",
        "/api/admin",
        "/api/optional",
        "/api/profile/{id}",
        "/api/user",
        "/userinfo",
    ] {
        let responses = &doc["paths"][path]["get"]["responses"];
        for status in ["400", "401", "503"] {
            assert!(
                responses[status].is_object(),
                "{path} documents {status}: {responses}"
            );
        }
    }
    // An Authorization header of `Bearer ` with nothing after it is one way to get that 400.
    for path in [
        "/api/admin",
        "/api/private-scoped",
        "/api/profile/x",
        "/userinfo",
    ] {
        let response = app
            .get(path)
            .header("authorization", "Bearer ")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{path}");
    }
}

#[cfg(feature = "local-issuer")]
#[tokio::test]
async fn the_sign_up_schema_states_the_rules_the_server_enforces() {
    let app = TestApp::builder().local().spawn().await;
    let doc = document(&app).await;
    let fields = &doc["components"]["schemas"]["NewAccount"]["properties"];
    assert_eq!(fields["username"]["minLength"], 3);
    assert_eq!(fields["username"]["maxLength"], 64);
    assert_eq!(fields["username"]["pattern"], "^[A-Za-z0-9._@+-]{3,64}$");
    assert_eq!(fields["password"]["minLength"], 8);
    assert_eq!(fields["password"]["maxLength"], 128);
    assert_eq!(fields["name"]["maxLength"], 100);
    assert!(fields["email"]["pattern"].is_string(), "{fields}");
    // Each limit is the server's: one past it is refused, field by field.
    let refused = |username: &str, password: &str, name: &str| serde_json::json!({"username": username, "password": password, "name": name});
    for (body, field) in [
        (refused("ab", "long enough pw", "n"), "username"),
        (refused(&"a".repeat(65), "long enough pw", "n"), "username"),
        (refused("with space", "long enough pw", "n"), "username"),
        (refused("alice", "short", "n"), "password"),
        (refused("alice", &"p".repeat(129), "n"), "password"),
        (refused("alice", "long enough pw", &"n".repeat(101)), "name"),
    ] {
        let response = app.post("/auth/signup").json(&body).send().await.unwrap();
        assert_eq!(response.status(), 422, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert!(answer["fields"][field].is_string(), "{body}: {answer}");
    }
    let at_the_limits = serde_json::json!({
        "username": "a".repeat(64),
        "password": "p".repeat(128),
        "name": "n".repeat(100),
        "email": "a@b.c",
    });
    let response = app
        .post("/auth/signup")
        .json(&at_the_limits)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
}

#[cfg(feature = "local-issuer")]
#[tokio::test]
async fn the_local_provider_offers_implicit_code_pkce_and_bearer() {
    let app = TestApp::builder().local().spawn().await;
    let doc = document(&app).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    let flows = &schemes["oauth2"]["flows"];
    assert_eq!(
        flows["implicit"]["authorizationUrl"],
        format!("{}/authorize", app.base)
    );
    assert_eq!(
        flows["authorizationCode"]["tokenUrl"],
        format!("{}/oauth/token", app.base)
    );
    assert!(flows["implicit"]["scopes"]["read:messages"].is_string());
    let security = doc["paths"]["/api/private"]["get"]["security"].to_string();
    assert!(
        security.contains("bearer") && security.contains("oauth2"),
        "{security}"
    );
}

#[tokio::test]
async fn auth0_swagger_login_passes_the_audience_and_client_id() {
    let idp = MockIdp::start().await;
    let jwks = idp.jwks_uri();
    let app = TestApp::builder()
        .idp(idp)
        .settings(&[
            ("AUTH_PROVIDER", "auth0"),
            ("AUTH0_DOMAIN", "tenant.eu.auth0.com"),
            ("AUTH0_API_AUDIENCE", "https://api.example.com"),
            ("AUTH0_CLIENT_ID", "spa-client-id"),
            ("AUTH0_JWKS_URI", &jwks),
        ])
        .spawn()
        .await;
    let doc = document(&app).await;
    assert_eq!(
        doc["components"]["securitySchemes"]["oauth2"]["flows"]["implicit"]["authorizationUrl"],
        "https://tenant.eu.auth0.com/authorize"
    );
    let initializer = app
        .get("/docs/swagger-initializer.js")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        initializer.contains(r#""clientId": "spa-client-id""#),
        "{initializer}"
    );
    assert!(
        initializer.contains(r#""audience": "https://api.example.com""#),
        "{initializer}"
    );
    assert!(
        initializer.contains(r#""usePkceWithAuthorizationCodeGrant": true"#),
        "{initializer}"
    );
    assert!(
        initializer.contains(&format!(
            r#""oauth2RedirectUrl": "{}/docs/oauth2-redirect""#,
            "http://127.0.0.1:8000"
        )),
        "{initializer}"
    );
}

#[tokio::test]
async fn oidc_login_urls_come_from_discovery() {
    let app = TestApp::builder().spawn().await;
    let doc = document(&app).await;
    let flows = &doc["components"]["securitySchemes"]["oauth2"]["flows"];
    assert_eq!(
        flows["authorizationCode"]["authorizationUrl"],
        format!("{}/authorize", app.idp().issuer())
    );
}

#[tokio::test]
async fn a_provider_without_browser_login_documents_bearer_only() {
    let idp = MockIdp::start().await;
    let jwks = idp.jwks_uri();
    let app = TestApp::builder()
        .idp(idp)
        .settings(&[
            ("AUTH_PROVIDER", "firebase"),
            ("FIREBASE_PROJECT_ID", "demo"),
            ("FIREBASE_JWKS_URI", &jwks),
        ])
        .spawn()
        .await;
    let doc = document(&app).await;
    assert!(doc["components"]["securitySchemes"]["oauth2"].is_null());
    let security = doc["paths"]["/api/private"]["get"]["security"].to_string();
    assert!(
        !security.contains("oauth2"),
        "no requirement names an undefined scheme: {security}"
    );
}

#[tokio::test]
async fn swagger_ui_and_its_redirect_page_are_served() {
    let app = TestApp::builder().spawn().await;
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = redirect
        .get(format!("{}/docs", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["location"], "/docs/");
    let index = app.get("/docs/").send().await.unwrap();
    assert_eq!(index.status(), 200);
    assert!(index.text().await.unwrap().contains("swagger-ui"));
    let page = app.get("/docs/oauth2-redirect").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("oauth2"));
    assert_eq!(
        app.get("/docs/swagger-ui-bundle.js")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn protected_resource_metadata_follows_rfc_9728() {
    let app = TestApp::builder().spawn().await;
    let metadata: Value = app.get_json("/.well-known/oauth-protected-resource").await;
    assert_eq!(metadata["authorization_servers"][0], app.idp().issuer());
    assert_eq!(
        metadata["bearer_methods_supported"],
        serde_json::json!(["header"])
    );
    assert_eq!(
        metadata["scopes_supported"],
        serde_json::json!(["read:messages"])
    );
    assert!(metadata["resource"].is_string());
}
