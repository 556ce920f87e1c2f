//! The accept loop of `bytesbox serve`, in place of `axum::serve`, which
//! has no header timeout and no cap on connections. Each connection:
//!
//! - is admitted against the caps per address and in total
//!   (`crate::connections`); past them it gets a short 503
//!   `too_many_connections`, written without reading its request, and is
//!   closed at once, so a refused connection costs no task and no buffer;
//! - has `TCP_NODELAY` (output frames are small and latency-bound);
//! - must send each request's head within the header timeout, counted
//!   from the connection's opening or from the previous response (hyper's
//!   HTTP/1 header read timeout), in at most [`MAX_HEAD_BYTES`];
//! - fails a write the client takes nothing of for the send timeout,
//!   which ends the connection (`MeteredIo`);
//! - reads through an [`InboundMeter`] that WebSocket handlers arm after
//!   the upgrade (`crate::inbound`), found in every request's extensions
//!   next to the peer's `ConnectInfo`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::connections::{ConnectionConfig, ConnectionLimits, Refusal};
use crate::inbound::{InboundMeter, MeteredIo};
use crate::memory_budget::MemoryBudget;

/// The most a request's head (request line and headers) may take; also
/// the connection's read buffer while it reads a body.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;

/// What the accept loop needs.
#[derive(Debug)]
pub struct ListenerSettings {
    /// Timeouts and caps.
    pub config: ConnectionConfig,
    /// Behind a trusted proxy every connection comes from the proxy, so
    /// the per-address cap is not applied (only the total).
    pub trusted_proxy: bool,
    /// The budget partial WebSocket messages are charged to (the one in
    /// the application's state).
    pub budget: Arc<MemoryBudget>,
}

/// Serves `app` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, app: Router, settings: ListenerSettings) {
    let per_address = (!settings.trusted_proxy).then_some(settings.config.max_per_address);
    let limits = ConnectionLimits::new(per_address, settings.config.max_total);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(settings.config.header_timeout())
        .max_buf_size(MAX_HEAD_BYTES)
        .keep_alive(true);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors, mostly: give the connections that
                // are closing a moment, rather than spinning.
                tracing::warn!(%error, "could not accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let permit = match limits.admit(peer.ip()) {
            Ok(permit) => permit,
            Err(refusal) => {
                refuse(tcp, refusal);
                continue;
            }
        };
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "could not set TCP_NODELAY");
        }
        let meter = InboundMeter::new(settings.budget.clone());
        let io = TokioIo::new(MeteredIo::new(tcp, meter.clone(), permit, settings.config.send_timeout()));
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(meter.clone());
            tower::ServiceExt::oneshot(app.clone(), request.map(axum::body::Body::new))
        });
        let connection = http.serve_connection(io, service).with_upgrades();
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
        });
    }
}

/// Answers 503 without reading the request and closes. Never waits: the
/// answer goes out only if the socket takes it at once.
fn refuse(tcp: TcpStream, refusal: Refusal) {
    let message = match refusal {
        Refusal::PerAddress => "too many connections from this address; close some and try again",
        Refusal::Total => "the server has as many connections as it takes; try again shortly",
    };
    let body = serde_json::json!({ "error": { "code": "too_many_connections", "message": message } }).to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         retry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.try_write(response.as_bytes());
    // Dropping closes it; shutdown first so what was written is sent
    // before the close.
    let mut tcp = tcp;
    let _ = futures_util::FutureExt::now_or_never(tcp.shutdown());
}
