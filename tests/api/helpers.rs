//! `TestApp` (the service on 127.0.0.1:0 trusting its own `MockIdp`) and small request helpers.

use axum::Router;
use protected_api::testing::MockIdp;
use protected_api::{AppState, Settings};
use tempfile::TempDir;
use tokio::net::TcpListener;

/// The service on a random loopback port.
pub(crate) struct TestApp {
    /// The IdP it trusts (absent for the local provider).
    pub(crate) idp: Option<MockIdp>,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    /// A client for it.
    pub(crate) http: reqwest::Client,
    /// The state it runs with (for minting local tokens, reading settings).
    pub(crate) state: AppState,
    /// Keeps the local issuer's files alive for the test.
    _data: TempDir,
}

impl TestApp {
    /// The service with `PROVIDER = oidc`, trusting a fresh `MockIdp` through discovery.
    pub(crate) async fn spawn() -> Self {
        Self::oidc(&[], Router::new()).await
    }

    /// Like [`TestApp::spawn`], with extra `SECTION_KEY` settings and extra routes.
    pub(crate) async fn oidc(extra: &[(&str, &str)], routes: Router<AppState>) -> Self {
        let idp = MockIdp::start().await;
        let settings = idp.oidc_settings(extra);
        Self::start(settings, Some(idp), routes, TempDir::new().unwrap()).await
    }

    /// The service trusting `idp` with the given settings pairs (provider and all).
    pub(crate) async fn with_idp(idp: MockIdp, pairs: &[(&str, &str)]) -> Self {
        let settings = Settings::from_pairs(pairs.iter().copied()).unwrap();
        Self::start(settings, Some(idp), Router::new(), TempDir::new().unwrap()).await
    }

    /// The service with exactly these `SECTION_KEY` settings, trusting an IdP the test runs itself.
    pub(crate) async fn with_settings(pairs: &[(&str, &str)]) -> Self {
        let settings = Settings::from_pairs(pairs.iter().copied()).unwrap();
        Self::start(settings, None, Router::new(), TempDir::new().unwrap()).await
    }

    /// Another instance with the same settings as `self` (a replica behind the same load balancer).
    pub(crate) async fn replica(&self) -> Self {
        let settings = (*self.state.settings).clone();
        Self::start(settings, None, Router::new(), TempDir::new().unwrap()).await
    }

    /// The service with the embedded local issuer, its files in a temporary directory.
    pub(crate) async fn local(extra: &[(&str, &str)]) -> Self {
        let data = TempDir::new().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut pairs = vec![
            (
                "LOCAL_DATA_DIR".to_owned(),
                data.path().display().to_string(),
            ),
            ("SERVER_PUBLIC_URL".to_owned(), base.clone()),
        ];
        pairs.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let settings = Settings::from_pairs(pairs).unwrap();
        Self::serve_on(listener, base, settings, None, Router::new(), data).await
    }

    async fn start(
        settings: Settings,
        idp: Option<MockIdp>,
        routes: Router<AppState>,
        data: TempDir,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        Self::serve_on(listener, base, settings, idp, routes, data).await
    }

    async fn serve_on(
        listener: TcpListener,
        base: String,
        settings: Settings,
        idp: Option<MockIdp>,
        routes: Router<AppState>,
        data: TempDir,
    ) -> Self {
        let state = AppState::new(settings).await.unwrap();
        let router = protected_api::app_with(state.clone(), routes);
        tokio::spawn(protected_api::serve(
            listener,
            router,
            std::future::pending(),
        ));
        Self {
            idp,
            base,
            http: reqwest::Client::new(),
            state,
            _data: data,
        }
    }

    /// The mock IdP (panics for the local provider).
    pub(crate) fn idp(&self) -> &MockIdp {
        self.idp.as_ref().expect("this app trusts a MockIdp")
    }

    /// A GET to `path`.
    pub(crate) fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.base))
    }

    /// A POST to `path`.
    pub(crate) fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.base))
    }

    /// GET `path` with `token` as bearer.
    pub(crate) async fn get_with(&self, path: &str, token: &str) -> reqwest::Response {
        self.get(path).bearer_auth(token).send().await.unwrap()
    }
}

/// A loopback port nothing listens on (for a server the test starts, or one that is down).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `WWW-Authenticate` value, or "" when absent.
pub(crate) fn www_authenticate(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Asserts a 401 `invalid_token` whose description contains `why`, and returns the description.
pub(crate) async fn assert_invalid_token(response: reqwest::Response, why: &str) -> String {
    assert_eq!(response.status(), 401, "expected 401 for {why}");
    let challenge = www_authenticate(&response);
    assert!(
        challenge.starts_with("Bearer realm=\"protected-api\""),
        "{challenge}"
    );
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token", "{body}");
    let description = body["error_description"].as_str().unwrap().to_owned();
    assert!(
        description.contains(why),
        "description {description:?} should mention {why:?}"
    );
    description
}
