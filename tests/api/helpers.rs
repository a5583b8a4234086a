//! `TestApp` (the service on 127.0.0.1:0, built with [`TestApp::builder`]) and small request helpers.

use std::io;
use std::net::SocketAddr;

use axum::Router;
use protected_api::testing::MockIdp;
use protected_api::{AppState, ServerLimits, Settings};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The service on a random loopback port.
pub(crate) struct TestApp {
    /// The IdP it trusts (absent for the local provider and for settings the test wrote itself).
    pub(crate) idp: Option<MockIdp>,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// A client for it.
    pub(crate) http: reqwest::Client,
    /// The state it runs with (for minting local tokens, reading settings).
    pub(crate) state: AppState,
    /// The serving task: it ends after [`TestApp::shut_down`] and the shutdown timeout.
    pub(crate) server: JoinHandle<io::Result<()>>,
    /// Sent by [`TestApp::shut_down`]; until then the service runs for the whole test.
    stop: Option<oneshot::Sender<()>>,
    /// Keeps the local issuer's files alive for the test.
    _data: TempDir,
}

/// Which provider settings a [`TestAppBuilder`] starts from.
enum Base {
    /// `PROVIDER = oidc` trusting the builder's `MockIdp` (a fresh one unless given).
    MockIdp,
    /// The embedded local issuer, its files in a temporary directory, `SERVER_PUBLIC_URL` = the app.
    #[cfg_attr(not(feature = "local-issuer"), allow(dead_code))]
    Local,
    /// Nothing: the pairs are all the settings there are.
    Exact,
    /// The settings of another instance.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    Same(Box<Settings>),
}

/// Builds a [`TestApp`]: `TestApp::builder()`, then what differs from the default (`PROVIDER = oidc`
/// against a fresh `MockIdp`), then `.spawn().await`.
pub(crate) struct TestAppBuilder {
    base: Base,
    idp: Option<MockIdp>,
    pairs: Vec<(String, String)>,
    routes: Router<AppState>,
    limits: ServerLimits,
}

impl TestApp {
    /// A builder for the service with `PROVIDER = oidc`, trusting a fresh `MockIdp` through discovery.
    pub(crate) fn builder() -> TestAppBuilder {
        TestAppBuilder {
            base: Base::MockIdp,
            idp: None,
            pairs: Vec::new(),
            routes: Router::new(),
            limits: ServerLimits::default(),
        }
    }

    /// The mock IdP (panics for the local provider).
    pub(crate) fn idp(&self) -> &MockIdp {
        self.idp.as_ref().expect("this app trusts a MockIdp")
    }

    /// Starts a graceful shutdown: the listener closes, in-flight requests finish, then [`Self::server`] ends.
    pub(crate) fn shut_down(&mut self) {
        let stop = self.stop.take().expect("shut down once");
        stop.send(()).unwrap();
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A GET to `path`.
    pub(crate) fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path))
    }

    /// A POST to `path`.
    pub(crate) fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path))
    }

    /// GET `path` and its JSON body, whatever the status (discovery and metadata documents).
    pub(crate) async fn get_json(&self, path: &str) -> serde_json::Value {
        self.get(path).send().await.unwrap().json().await.unwrap()
    }

    /// GET `path` with `token` as bearer.
    pub(crate) async fn get_with(&self, path: &str, token: &str) -> reqwest::Response {
        self.get(path).bearer_auth(token).send().await.unwrap()
    }
}

impl TestAppBuilder {
    /// Trust `idp` (e.g. one started with an EC key, or told to misbehave) instead of a fresh one.
    pub(crate) fn idp(mut self, idp: MockIdp) -> Self {
        self.idp = Some(idp);
        self
    }

    /// The embedded local issuer instead of `oidc`, its files in a temporary directory.
    #[cfg_attr(not(feature = "local-issuer"), allow(dead_code))]
    pub(crate) fn local(mut self) -> Self {
        self.base = Base::Local;
        self
    }

    /// Exactly these `SECTION_KEY` settings, with no provider defaults (the test writes them all).
    pub(crate) fn settings(mut self, pairs: &[(&str, &str)]) -> Self {
        self.base = Base::Exact;
        self.extra(pairs)
    }

    /// These `SECTION_KEY` settings on top of the provider's (a later pair wins over an earlier one).
    pub(crate) fn extra(mut self, pairs: &[(&str, &str)]) -> Self {
        self.pairs.extend(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        self
    }

    /// Routes of the test's own, merged in as a library user's would be.
    pub(crate) fn routes(mut self, routes: Router<AppState>) -> Self {
        self.routes = routes;
        self
    }

    /// The same settings as `app` (a replica behind the same load balancer), with nothing on top.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn replica_of(mut self, app: &TestApp) -> Self {
        self.base = Base::Same(Box::new((*app.state.settings).clone()));
        self
    }

    /// Served within `limits` instead of the defaults.
    pub(crate) fn limits(mut self, limits: ServerLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Starts the service on a random loopback port.
    pub(crate) async fn spawn(self) -> TestApp {
        let data = TempDir::new().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let mut idp = self.idp;
        let settings = match self.base {
            Base::MockIdp => {
                let idp = match &idp {
                    Some(idp) => idp,
                    None => idp.insert(MockIdp::start().await),
                };
                let pairs: Vec<(&str, &str)> = self
                    .pairs
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                idp.oidc_settings(&pairs)
            }
            Base::Local => {
                let local = [
                    (
                        "LOCAL_DATA_DIR".to_owned(),
                        data.path().display().to_string(),
                    ),
                    ("SERVER_PUBLIC_URL".to_owned(), base.clone()),
                ];
                Settings::from_pairs(local.into_iter().chain(self.pairs)).unwrap()
            }
            Base::Exact => Settings::from_pairs(self.pairs).unwrap(),
            Base::Same(settings) => {
                assert!(
                    self.pairs.is_empty(),
                    "a replica runs with the same settings"
                );
                *settings
            }
        };
        let state = AppState::new(settings).await.unwrap();
        let router = protected_api::app_with(state.clone(), self.routes);
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(protected_api::serve_with(
            listener,
            router,
            self.limits,
            async move {
                // Only an explicit `shut_down` stops it; a dropped sender does not.
                if stopped.await.is_err() {
                    std::future::pending::<()>().await;
                }
            },
        ));
        TestApp {
            idp,
            base,
            addr,
            http: reqwest::Client::new(),
            state,
            server,
            stop: Some(stop),
            _data: data,
        }
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
    check_invalid_token(response, why)
        .await
        .unwrap_or_else(|problem| panic!("{problem}"))
}

/// The description of a 401 `invalid_token` that mentions `why`, or what is wrong with `response`.
pub(crate) async fn check_invalid_token(
    response: reqwest::Response,
    why: &str,
) -> Result<String, String> {
    if response.status() != 401 {
        return Err(format!(
            "expected 401 for {why:?}, got {}",
            response.status()
        ));
    }
    let challenge = www_authenticate(&response);
    if !challenge.starts_with("Bearer realm=\"protected-api\"")
        || !challenge.contains(r#"error="invalid_token""#)
    {
        return Err(format!("challenge {challenge:?}"));
    }
    let body: serde_json::Value = response.json().await.unwrap();
    if body["error"] != "invalid_token" {
        return Err(format!("body {body}"));
    }
    let description = body["error_description"].as_str().unwrap().to_owned();
    if !description.contains(why) {
        return Err(format!(
            "description {description:?} should mention {why:?}"
        ));
    }
    Ok(description)
}
