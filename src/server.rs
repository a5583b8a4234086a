//! The connection loop: HTTP/1.1 over hyper with a header-read timeout, a write timeout, a connection
//! cap and a graceful shutdown that ends after a bounded time, so slow or idle clients cannot hold the
//! server.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_io_timeout::TimeoutStream;
use tower::Service;

/// How long and how many connections the server holds (`[SERVER] HEADER_TIMEOUT`, `MAX_CONNECTIONS`,
/// `SHUTDOWN_TIMEOUT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Longest wait for a request's headers, counted from the connection's start or from the previous
    /// response; then the connection is closed. This is also how long an idle keep-alive connection
    /// is kept (hyper starts the same timer while it waits for the next request).
    ///
    /// It is also the write timeout: a client that accepts no response bytes for this long (its
    /// receive window stays full) is disconnected. Without it, a client that pipelines requests and
    /// never reads would hold its connection forever, since hyper waits on the write and never starts
    /// the header timer again.
    pub header_timeout: Duration,
    /// Most connections served at once. Further ones are not accepted until one closes: they wait in
    /// the kernel's listen backlog, and once that is full the kernel drops new connection attempts.
    pub max_connections: usize,
    /// After the shutdown signal, how long in-flight requests may take before every connection still
    /// open is closed.
    pub shutdown_timeout: Duration,
}

impl Default for ServerLimits {
    /// 10 s for headers, 512 connections, 25 s of graceful shutdown.
    ///
    /// 512 stays well under the common soft limit of 1024 open files, so the process keeps files for
    /// its own key fetches and database; 25 s ends before the 30 s after which Kubernetes sends SIGKILL.
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            max_connections: 512,
            shutdown_timeout: Duration::from_secs(25),
        }
    }
}

/// Serves `router` on `listener` with the default [`ServerLimits`] until `shutdown` completes; see
/// [`serve_with`].
///
/// # Errors
/// None today: accept errors are logged and retried, as `axum::serve` does.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_with(listener, router, ServerLimits::default(), shutdown).await
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes. Then it stops accepting
/// (new connections are refused, so a load balancer moves on to another replica), lets in-flight
/// requests finish with `Connection: close`, and closes whatever is still open after
/// `limits.shutdown_timeout`.
///
/// Handlers can read the peer address with `ConnectInfo<SocketAddr>` (the per-address login back-off
/// does).
///
/// # Errors
/// None today: accept errors are logged and retried, as `axum::serve` does.
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    // `axum::serve` builds hyper without a timer, which leaves the header-read timeout inert. HTTP/1.1
    // only, as before (axum's `http2` feature is off): hyper-util's `auto::Builder` would compile h2 in,
    // and the protocol sniffing it does first reads with no timeout, so a silent client would stay.
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let graceful = GracefulShutdown::new();
    // Owning the connection tasks lets the shutdown deadline abort them.
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {} // forget the connections that ended
        let (stream, peer, slot) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            next = next_connection(&listener, &slots) => match next {
                Some(next) => next,
                None => continue,
            },
        };
        let service = match make_service.call(peer).await {
            Ok(service) => TowerToHyperService::new(service),
            Err(never) => match never {},
        };
        let connection = graceful.watch(http.serve_connection(
            TokioIo::new(with_write_timeout(stream, limits.header_timeout)),
            service,
        ));
        connections.spawn(async move {
            if let Err(error) = connection.await {
                // Header timeouts, resets and malformed requests end here: the client's doing.
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    let open = graceful.count();
    tracing::info!(open, "stopped accepting; finishing in-flight requests");
    if tokio::time::timeout(limits.shutdown_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            timeout = ?limits.shutdown_timeout,
            "shutdown timeout reached; closing the connections still open"
        );
    }
    connections.shutdown().await;
    Ok(())
}

/// `stream`, whose writes fail with `TimedOut` once one has waited `timeout` for the client to make
/// room. hyper has a timer for reading headers but none for writing, and tower's `TimeoutLayer`
/// covers only the handler; this is what ends a connection whose client stopped reading.
fn with_write_timeout(stream: TcpStream, timeout: Duration) -> Pin<Box<TimeoutStream<TcpStream>>> {
    let mut stream = TimeoutStream::new(stream);
    stream.set_write_timeout(Some(timeout));
    Box::pin(stream) // its timer is `!Unpin`; `TokioIo` needs `Unpin`
}

/// The next connection, once a slot under the cap is free. Waiting here, rather than accepting and
/// closing, holds a burst in the kernel's listen backlog and serves it as slots free, instead of
/// turning it into resets. Once the backlog is full the kernel drops new connection attempts, which
/// a load balancer sees as a connect timeout and retries on another replica.
async fn next_connection(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let slot = Arc::clone(slots).acquire_owned().await.ok()?; // never closed
    match listener.accept().await {
        Ok((stream, peer)) => Some((stream, peer, slot)),
        Err(error) => {
            on_accept_error(&error).await;
            None
        }
    }
}

/// As `axum::serve`: a connection reset before accept is the peer's business; anything else (most
/// often EMFILE, out of file descriptors) is logged and retried after a pause instead of spinning.
async fn on_accept_error(error: &io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "cannot accept connections; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
