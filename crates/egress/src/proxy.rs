//! The proxy itself: one accept loop per box over a listener the server
//! holds in the box's network namespace, each connection a `CONNECT` or
//! an absolute-form plain HTTP request, checked against the policy and
//! relayed with every step bounded in bytes and time.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::policy::{EgressPolicy, Refusal};

/// Bytes read from either side at once.
const RELAY_CHUNK: usize = 16 * 1024;
/// Headers a request may have.
const MAX_HEADERS: usize = 100;
/// How long the proxy's own short answers may take to write.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// What the proxy did, for metrics.
#[derive(Debug, Default)]
pub struct EgressCounters {
    /// Connections relayed to an allowed host.
    pub relayed: AtomicU64,
    /// Requests refused (403) or that failed (4xx/5xx of the proxy's own).
    pub refused: AtomicU64,
    /// Connections turned away at a connection cap.
    pub over_cap: AtomicU64,
    /// Bytes sent from boxes to hosts.
    pub bytes_out: AtomicU64,
    /// Bytes sent from hosts to boxes.
    pub bytes_in: AtomicU64,
}

/// The proxy of a server: its policy, the cap on connections over all
/// boxes and the counters.
#[derive(Debug)]
pub struct EgressProxy {
    policy: EgressPolicy,
    all_connections: Arc<Semaphore>,
    counters: EgressCounters,
}

impl EgressProxy {
    /// A proxy enforcing `policy`.
    pub fn new(policy: EgressPolicy) -> Arc<EgressProxy> {
        let all_connections = Arc::new(Semaphore::new(policy.max_connections));
        Arc::new(EgressProxy { policy, all_connections, counters: EgressCounters::default() })
    }

    /// The policy.
    pub fn policy(&self) -> &EgressPolicy {
        &self.policy
    }

    /// The counters.
    pub fn counters(&self) -> &EgressCounters {
        &self.counters
    }

    /// Serves one box's listener until the future is dropped; dropping it
    /// (the box ended) ends every connection it accepted, since they are
    /// tasks of its own set.
    pub async fn serve_box(self: Arc<Self>, listener: TcpListener) {
        let box_connections = Arc::new(Semaphore::new(self.policy.max_connections_per_box));
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else {
                        // EMFILE and the like: wait, do not spin.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    let permits = box_connections
                        .clone()
                        .try_acquire_owned()
                        .and_then(|own| Ok((own, self.all_connections.clone().try_acquire_owned()?)));
                    let Ok(permits) = permits else {
                        self.counters.over_cap.fetch_add(1, Ordering::Relaxed);
                        // A fresh socket's send buffer is empty: this never blocks.
                        let _ = stream.try_write(&answer(503, "too many connections through the egress proxy"));
                        continue;
                    };
                    let proxy = self.clone();
                    connections.spawn(async move {
                        let _permits = permits;
                        proxy.handle(stream).await;
                    });
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
    }

    async fn handle(&self, mut client: TcpStream) {
        match self.open(&mut client).await {
            Ok((upstream, early)) => {
                self.counters.relayed.fetch_add(1, Ordering::Relaxed);
                self.relay(client, upstream, early).await;
            }
            Err(failure) => {
                self.counters.refused.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(status = failure.status, reason = %failure.reason, "egress request refused");
                let _ =
                    tokio::time::timeout(ANSWER_TIMEOUT, client.write_all(&answer(failure.status, &failure.reason)))
                        .await;
            }
        }
    }

    /// Reads the request head, checks it and connects: the upstream
    /// connection and the bytes to send it first.
    async fn open(&self, client: &mut TcpStream) -> Result<(TcpStream, Vec<u8>), Failure> {
        let head = tokio::time::timeout(self.policy.header_timeout, read_head(client, self.policy.max_header_bytes))
            .await
            .map_err(|_| Failure::new(408, "the request head took too long"))??;
        let request = parse_request(&head)?;
        let addresses = self.policy.resolve(&request.host, request.port).await.map_err(Failure::refused)?;
        let upstream = tokio::time::timeout(self.policy.connect_timeout, connect_any(&addresses))
            .await
            .map_err(|_| Failure::new(504, format!("connecting to {} timed out", request.host)))?
            .map_err(|e| Failure::new(502, format!("could not connect to {}: {e}", request.host)))?;
        if request.connect {
            client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await
                .map_err(|_| Failure::new(400, "the client went away"))?;
        }
        Ok((upstream, request.forward))
    }

    /// Copies both ways until both sides are done, an error, or no byte
    /// moved for the idle timeout.
    async fn relay(&self, client: TcpStream, upstream: TcpStream, early: Vec<u8>) {
        let idle = self.policy.idle_timeout;
        let (mut client_read, mut client_write) = client.into_split();
        let (mut upstream_read, mut upstream_write) = upstream.into_split();
        if !early.is_empty()
            && !pass(Ok(early.len()), &early, &mut upstream_write, idle, &self.counters.bytes_out).await
        {
            return;
        }
        let mut out_buf = vec![0u8; RELAY_CHUNK];
        let mut in_buf = vec![0u8; RELAY_CHUNK];
        let (mut client_open, mut upstream_open) = (true, true);
        while client_open || upstream_open {
            tokio::select! {
                read = client_read.read(&mut out_buf), if client_open => {
                    client_open = pass(read, &out_buf, &mut upstream_write, idle, &self.counters.bytes_out).await;
                }
                read = upstream_read.read(&mut in_buf), if upstream_open => {
                    upstream_open = pass(read, &in_buf, &mut client_write, idle, &self.counters.bytes_in).await;
                }
                () = tokio::time::sleep(idle) => return,
            }
        }
    }
}

/// Passes what one read of a side got to the other side, within `idle`,
/// and counts it: whether the read side is still open. At its end (or an
/// error) the other side's writing is shut down, so the end travels on; a
/// write that fails or stalls shuts it down too.
async fn pass(
    read: std::io::Result<usize>,
    buf: &[u8],
    to: &mut OwnedWriteHalf,
    idle: Duration,
    count: &AtomicU64,
) -> bool {
    let n = match read {
        Ok(0) | Err(_) => 0,
        Ok(n) => n,
    };
    if n > 0 && matches!(tokio::time::timeout(idle, to.write_all(&buf[..n])).await, Ok(Ok(()))) {
        count.fetch_add(n as u64, Ordering::Relaxed);
        return true;
    }
    let _ = tokio::time::timeout(idle, to.shutdown()).await;
    false
}

/// A request the proxy answers itself.
#[derive(Debug)]
struct Failure {
    status: u16,
    reason: String,
}

impl Failure {
    fn new(status: u16, reason: impl Into<String>) -> Failure {
        Failure { status, reason: reason.into() }
    }

    fn refused(refusal: Refusal) -> Failure {
        let status = match refusal {
            Refusal::Unresolved { .. } => 502,
            _ => 403,
        };
        Failure::new(status, format!("egress refused: {refusal}"))
    }
}

/// A plain-text answer of the proxy's own.
fn answer(status: u16, reason: &str) -> Vec<u8> {
    let phrase = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    };
    let body = format!("{reason}\n");
    format!(
        "HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads until the end of the request head (`\r\n\r\n`), at most `max`
/// bytes of head; what came after it stays in the buffer.
async fn read_head(client: &mut TcpStream, max: usize) -> Result<Vec<u8>, Failure> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = client.read(&mut chunk).await.map_err(|_| Failure::new(400, "the client went away"))?;
        if n == 0 {
            return Err(Failure::new(400, "the request head ended early"));
        }
        let searched_from = head.len().saturating_sub(3);
        head.extend_from_slice(&chunk[..n]);
        if head[searched_from..].windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(head);
        }
        if head.len() > max {
            return Err(Failure::new(431, format!("the request head is larger than {max} bytes")));
        }
    }
}

/// A request read: where to, and the bytes to send there first.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    connect: bool,
    host: String,
    port: u16,
    forward: Vec<u8>,
}

/// Reads a complete head (and what follows it): `CONNECT host:port`, or
/// an absolute-form `http://` request rewritten to origin form with
/// `Connection: close`.
fn parse_request(buffer: &[u8]) -> Result<Request, Failure> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let head_len = match request.parse(buffer) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) | Err(_) => return Err(Failure::new(400, "not an HTTP request head")),
    };
    let (Some(method), Some(target)) = (request.method, request.path) else {
        return Err(Failure::new(400, "not an HTTP request head"));
    };
    let rest = &buffer[head_len..];
    if method.eq_ignore_ascii_case("CONNECT") {
        let (host, port) = split_authority(target, None)?;
        return Ok(Request { connect: true, host, port, forward: rest.to_vec() });
    }
    let Some(after_scheme) = strip_prefix_ignore_case(target, "http://") else {
        return Err(Failure::new(400, "this proxy takes CONNECT host:port and absolute-form http:// requests only"));
    };
    let (authority, path) = match after_scheme.find(['/', '?']) {
        Some(at) => (&after_scheme[..at], &after_scheme[at..]),
        None => (after_scheme, "/"),
    };
    let path = if path.starts_with('?') { format!("/{path}") } else { path.to_string() };
    if authority.contains('@') {
        return Err(Failure::new(400, "credentials in the URL are not forwarded"));
    }
    let (host, port) = split_authority(authority, Some(80))?;
    let mut forward = format!("{method} {path} HTTP/1.1\r\n").into_bytes();
    let mut has_host = false;
    for header in request.headers.iter() {
        let name = header.name;
        let hop_by_hop = ["connection", "proxy-connection", "keep-alive", "proxy-authorization", "te", "upgrade"];
        if hop_by_hop.iter().any(|hop| name.eq_ignore_ascii_case(hop)) {
            continue;
        }
        has_host |= name.eq_ignore_ascii_case("host");
        forward.extend_from_slice(name.as_bytes());
        forward.extend_from_slice(b": ");
        forward.extend_from_slice(header.value);
        forward.extend_from_slice(b"\r\n");
    }
    if !has_host {
        forward.extend_from_slice(format!("Host: {authority}\r\n").as_bytes());
    }
    forward.extend_from_slice(b"Connection: close\r\n\r\n");
    forward.extend_from_slice(rest);
    Ok(Request { connect: false, host, port, forward })
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

/// `host:port` (`[v6]:port`); the port may be left out when there is a
/// default.
fn split_authority(authority: &str, default_port: Option<u16>) -> Result<(String, u16), Failure> {
    let bad = || Failure::new(400, format!("{authority:?} is not host:port"));
    let (host, port) = match authority.rfind(':') {
        Some(colon) if !authority[colon..].contains(']') => (&authority[..colon], Some(&authority[colon + 1..])),
        _ => (authority, None),
    };
    let port = match port {
        Some(text) => text.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad)?,
        None => default_port.ok_or_else(bad)?,
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_string(), port))
}

/// Connects to the first address that answers.
async fn connect_any(addresses: &[SocketAddr]) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for address in addresses {
        match TcpStream::connect(address).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_keeps_what_came_after_the_head() {
        let request = parse_request(b"CONNECT git.internal:443 HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03").expect("parsed");
        assert_eq!(
            request,
            Request { connect: true, host: "git.internal".into(), port: 443, forward: b"\x16\x03".to_vec() }
        );
        assert!(parse_request(b"CONNECT git.internal HTTP/1.1\r\n\r\n").is_err(), "no port");
    }

    #[test]
    fn absolute_form_is_rewritten_to_origin_form_without_hop_by_hop_headers() {
        let head = b"POST http://10.200.0.2/repo.git/git-receive-pack?x=1 HTTP/1.1\r\nHost: 10.200.0.2\r\n\
                     Proxy-Connection: keep-alive\r\nContent-Length: 3\r\n\r\nabc";
        let request = parse_request(head).expect("parsed");
        assert_eq!((request.connect, request.host.as_str(), request.port), (false, "10.200.0.2", 80));
        assert_eq!(
            String::from_utf8(request.forward).expect("text"),
            "POST /repo.git/git-receive-pack?x=1 HTTP/1.1\r\nHost: 10.200.0.2\r\nContent-Length: 3\r\n\
             Connection: close\r\n\r\nabc"
        );
        let bare = parse_request(b"GET http://[::1]:8080 HTTP/1.1\r\n\r\n").expect("parsed");
        assert_eq!((bare.host.as_str(), bare.port), ("[::1]", 8080));
        assert!(String::from_utf8(bare.forward).expect("text").starts_with("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n"));
    }

    #[test]
    fn origin_form_other_schemes_and_credentials_are_refused() {
        for head in [
            &b"GET /index.html HTTP/1.1\r\n\r\n"[..],
            b"GET https://a.internal/ HTTP/1.1\r\n\r\n",
            b"GET http://user:pw@a.internal/ HTTP/1.1\r\n\r\n",
            b"GET http://a.internal:0/ HTTP/1.1\r\n\r\n",
            b"not http at all\r\n\r\n",
        ] {
            assert_eq!(parse_request(head).expect_err("refused").status, 400, "{:?}", String::from_utf8_lossy(head));
        }
    }
}
