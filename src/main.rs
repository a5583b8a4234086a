//! The `protected-api` command: `serve` (the default), `token` and `dpop`. Loads settings, starts
//! telemetry and calls the library; nothing else.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use protected_api::Settings;
#[cfg(feature = "local-issuer")]
use protected_api::auth::providers::ProviderKind;
use protected_api::dpop_proof::ProofKey;
#[cfg(feature = "local-issuer")]
use protected_api::issuer::{Grant, LocalIssuer, TokenFormat};
#[cfg(feature = "local-issuer")]
use protected_api::store::AccountStore;

/// A protected REST API: JWT bearer auth for Auth0, Cognito, Firebase, Fief and any OpenID Connect
/// provider, with Swagger UI at /docs.
#[derive(Debug, Parser)]
#[command(name = "protected-api", version)]
struct Cli {
    /// INI configuration file [default: .config in the working directory, when present]
    #[arg(long, global = true, env = "CONFIG_FILE", value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (what runs when no command is given)
    Serve,
    /// Print an access token of the local issuer, for curl: signed by its key, or with
    /// [LOCAL] TOKEN_FORMAT = opaque, a random one kept in its database
    #[cfg(feature = "local-issuer")]
    Token(TokenArgs),
    /// Print one fresh DPoP proof (RFC 9449) for a request, for curl's `DPoP` header
    Dpop(DpopArgs),
    /// Exit 0 when the service at the configured address answers /healthz (for container health checks)
    Healthcheck,
}

#[cfg(feature = "local-issuer")]
#[derive(Debug, Args)]
struct TokenArgs {
    /// Scopes to grant, space-separated or repeated [default: [AUTH] SCOPE, unless --permission is given]
    #[arg(long)]
    scope: Vec<String>,
    /// Permissions to grant, repeated [default: [AUTH] PERMISSION, unless --scope is given]
    #[arg(long)]
    permission: Vec<String>,
    /// The token's subject
    #[arg(long, default_value = "local-user")]
    sub: String,
    /// Lifetime in seconds [default: [LOCAL] TOKEN_TTL]
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    ttl: Option<u64>,
    /// Bind the token to this DPoP key (claim `cnf.jkt`, RFC 9449 §6.1); created when missing
    #[arg(long, value_name = "FILE")]
    dpop_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct DpopArgs {
    /// EC P-256 private key, PKCS#8 PEM; generated there (mode 0600) when the file does not exist
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The request's method (`htm`)
    #[arg(long, default_value = "GET")]
    method: String,
    /// The request's URL (`htu`; query and fragment are left out)
    #[arg(long)]
    url: String,
    /// The access token the request carries, hashed into `ath`
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("protected-api: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    let outcome = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        #[cfg(feature = "local-issuer")]
        Command::Token(args) => print_token(&settings, args),
        // The client's side: made with the client's own key, whatever the provider.
        Command::Dpop(args) => print_proof(&args),
        Command::Healthcheck => healthcheck(&settings),
    };
    exit_code(outcome)
}

fn exit_code(outcome: anyhow::Result<()>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("protected-api: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    // Dropped last, after the runtime: the lines logged up to "stopped" are written before exit.
    let _log_writer =
        protected_api::telemetry::init(settings.log_format).context("starting the log writer")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let addr: SocketAddr = settings.server.addr;
        let public = settings.server.public_base();
        let limits = settings.server.limits;
        let provider = provider_names(&settings);
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let router = protected_api::build(settings).await.context("starting the service")?;
        let addr = listener.local_addr().unwrap_or(addr); // the real port when PORT = 0
        tracing::info!(%addr, %provider, docs = %format!("{public}/docs"), "protected-api listening");
        protected_api::serve_with(listener, router, limits, shutdown_signal()).await.context("serving")?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// Every provider `settings` trusts, once each in the order listed (`local, oidc`).
fn provider_names(settings: &Settings) -> String {
    let mut names: Vec<&str> = Vec::new();
    for spec in settings.providers() {
        if !names.contains(&spec.name()) {
            names.push(spec.name());
        }
    }
    names.join(", ")
}

#[cfg(feature = "local-issuer")]
fn print_token(settings: &Settings, args: TokenArgs) -> anyhow::Result<()> {
    // The local issuer may be any of several providers (`local, oidc`): its key is what counts.
    if !settings
        .providers()
        .any(|spec| spec.kind == ProviderKind::Local)
    {
        anyhow::bail!(
            "the token command signs with the local issuer's key, but [AUTH] PROVIDER is {}; \
             get tokens from that provider instead",
            provider_names(settings)
        );
    }
    let issuer = LocalIssuer::open(&settings.local)?;
    let mut scopes: Vec<String> = args
        .scope
        .iter()
        .flat_map(|s| s.split_whitespace())
        .map(str::to_owned)
        .collect();
    let mut permissions = args.permission;
    if scopes.is_empty() && permissions.is_empty() {
        scopes.push(settings.auth.scope.clone());
        permissions.push(settings.auth.permission.clone());
    }
    let mut extra = serde_json::Map::new();
    if let Some(path) = &args.dpop_key {
        // RFC 9449 §6.1: the token names the key its proofs must be signed with.
        let key = open_dpop_key(path)?;
        extra.insert(
            "cnf".to_owned(),
            serde_json::json!({ "jkt": key.thumbprint() }),
        );
    }
    let grant = Grant {
        sub: args.sub,
        client_id: "protected-api-cli".to_owned(),
        scopes,
        permissions,
        ttl: args.ttl.map(Duration::from_secs),
        extra,
    };
    let issued = match settings.local.token_format {
        TokenFormat::Jwt => issuer.mint(&grant)?,
        // The service finds the token in the same database the command writes it to.
        TokenFormat::Opaque => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the runtime")?
            .block_on(async {
                let accounts = AccountStore::open(&settings.local.database_url)
                    .await
                    .context("opening the accounts database")?;
                anyhow::Ok(issuer.issue(&grant, &accounts).await?)
            })?,
    };
    println!("{}", issued.access_token);
    Ok(())
}

/// Prints a proof for `args.method` `args.url` signed with the key in `args.key`.
fn print_proof(args: &DpopArgs) -> anyhow::Result<()> {
    let key = open_dpop_key(&args.key)?;
    println!(
        "{}",
        key.proof(&args.method, &args.url, args.token.as_deref())?
    );
    Ok(())
}

/// The DPoP key at `path`, generated there when missing (said on stderr: stdout is the result).
fn open_dpop_key(path: &std::path::Path) -> anyhow::Result<ProofKey> {
    let (key, created) = ProofKey::load_or_create(path)?;
    if created {
        eprintln!(
            "protected-api: generated a DPoP key in {} (thumbprint {})",
            path.display(),
            key.thumbprint()
        );
    }
    Ok(key)
}

fn healthcheck(settings: &Settings) -> anyhow::Result<()> {
    let mut addr = settings.server.addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into()); // bound to every interface: ask loopback
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()?;
        let response = client.get(format!("http://{addr}/healthz")).send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "/healthz answered {}",
            response.status()
        );
        Ok(())
    })
}

/// Completes on Ctrl-C or SIGTERM (what container runtimes send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}
