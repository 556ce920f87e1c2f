//! Attacks on connections and on what the server holds while it reads:
//! half-sent requests by the thousand from one address, half-sent
//! WebSocket messages, and large bodies from an address that is already
//! rate-limited. The attacker uses 127.0.0.1; the victim, 127.0.0.2, is
//! another address as far as the server can tell.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytesbox_testkit::require_root;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;

use crate::report::record;
use crate::served::{client_from, Served};

const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const VICTIM: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const MIB: u64 = 1024 * 1024;
/// The bound on server memory during a memory attack.
pub(crate) const ALLOWED_GROWTH_KIB: u64 = 256 * 1024;

fn socket_address(served: &Served) -> SocketAddr {
    served.address.parse().unwrap()
}

async fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

/// Takes this process's whole hard limit on open files: the attacker
/// needs thousands.
fn raise_own_open_files() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
}

/// Whether the server still holds `stream` open without having answered.
fn still_open(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.try_read(&mut byte), Err(error) if error.kind() == std::io::ErrorKind::WouldBlock)
}

/// Samples the server's resident memory until stopped; the peak, in KiB.
pub(crate) struct RssPeak {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    sampler: std::thread::JoinHandle<()>,
}

impl RssPeak {
    pub(crate) fn start(pid: i32) -> RssPeak {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let (stopped, highest) = (stop.clone(), peak.clone());
        let sampler = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    highest.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        RssPeak { stop, peak, sampler }
    }

    pub(crate) fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.sampler.join().unwrap();
        self.peak.load(Ordering::Relaxed)
    }
}

fn rss_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()
}

/// Sends `count` execute requests from the attacker, each declaring a
/// 14 MiB body and sending one byte less, all at once; what the server
/// answered each (empty when it reset the connection unread).
async fn bodies_one_byte_short(address: SocketAddr, count: usize) -> Vec<String> {
    let declared = 14 * MIB;
    // One body for all (the test's memory and time go to the attack, not
    // to making copies).
    let body: &[u8] = &vec![b' '; usize::try_from(declared).unwrap() - 1];
    futures_util::future::join_all((0..count).map(|_| async move {
        let mut stream = connect_from(ATTACKER, address).await.unwrap();
        let head = format!(
            "POST /api/v1/execute HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: {declared}\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // A body refused unread stops going in when the server closes.
        let _ = tokio::time::timeout(Duration::from_secs(60), stream.write_all(body)).await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut answer)).await;
        String::from_utf8_lossy(&answer).into_owned()
    }))
    .await
}

/// The victim's `/healthz` and an `echo` run: both must be answered; their
/// latencies are recorded.
pub(crate) async fn victim_is_served(served: &Served, attack: &str) {
    let http = client_from(VICTIM);
    let started = Instant::now();
    let health = http.get(format!("http://{}/healthz", served.address)).send().await.unwrap();
    record(attack, "victim /healthz latency (ms)", started.elapsed().as_millis());
    assert_eq!(health.status(), 200);
    let started = Instant::now();
    let run = json!({"language": "bash", "files": [{"path": "main.sh", "content": "echo hi"}]});
    let response = http.post(format!("http://{}/api/v1/execute", served.address)).json(&run).send().await.unwrap();
    record(attack, "victim echo run latency (ms)", started.elapsed().as_millis());
    assert_eq!(response.status(), 200);
    let result: Value = response.json().await.unwrap();
    assert_eq!(result["run"]["stdout"], "hi\n", "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_from_one_address_do_not_starve_others() {
    if !require_root("half_sent_requests_from_one_address_do_not_starve_others") {
        return;
    }
    const ATTACK: &str = "conn-half-sent-requests";
    const REQUESTS: usize = 20_000;
    let served = Served::start("[connections]\nheader_timeout_secs = 5\n");
    raise_own_open_files();
    let address = socket_address(&served);
    let half_sent = format!("GET /healthz HTTP/1.1\r\nHost: {address}\r\nX-Padding: ");
    // Connections the server closed are let go at once, so this process
    // (with the same open-file limit as the server) can go on sending.
    let mut held: Vec<TcpStream> = Vec::new();
    let (mut sent, mut not_sent, mut closed_by_server) = (0usize, 0usize, 0usize);
    let mut victim_checked = false;
    let deadline = Instant::now() + Duration::from_secs(40);
    while sent + not_sent < REQUESTS && Instant::now() < deadline {
        let batch = (REQUESTS - sent - not_sent).min(500);
        let opened = futures_util::future::join_all((0..batch).map(|_| async {
            let connecting = tokio::time::timeout(Duration::from_secs(2), connect_from(ATTACKER, address));
            let mut stream = connecting.await.ok()?.ok()?;
            stream.write_all(half_sent.as_bytes()).await.ok()?;
            Some(stream)
        }))
        .await;
        for stream in opened {
            match stream {
                Some(stream) => {
                    sent += 1;
                    held.push(stream);
                }
                None => not_sent += 1,
            }
        }
        let before = held.len();
        held.retain(still_open);
        closed_by_server += before - held.len();
        if !victim_checked && sent + not_sent >= REQUESTS / 2 {
            // Halfway, with the attacker's connections open.
            victim_checked = true;
            victim_is_served(&served, ATTACK).await;
        }
    }
    record(ATTACK, "half-sent requests sent (failed to send)", format!("{sent} ({not_sent})"));
    victim_is_served(&served, ATTACK).await;
    let still_held = held.len();
    // What the server still holds is closed by the header timeout.
    let ended = futures_util::future::join_all(held.into_iter().map(|mut stream| async move {
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await.is_ok()
    }))
    .await;
    record(ATTACK, "closed by the server during the attack", closed_by_server);
    record(ATTACK, "held at the end, then closed by the header timeout", still_held);
    assert!(ended.iter().all(|closed| *closed), "a half-sent request was held past the header timeout");
    assert!(sent >= REQUESTS / 2, "the attacker could not send its requests ({sent} sent)");
    assert!(still_held <= 256 + 500, "the server held {still_held} connections of one address");
    victim_is_served(&served, ATTACK).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_past_the_address_cap_is_answered_503_unread() {
    if !require_root("a_connection_past_the_address_cap_is_answered_503_unread") {
        return;
    }
    let served = Served::start("[connections]\nmax_per_address = 2\n");
    let address = socket_address(&served);
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = connect_from(ATTACKER, address).await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        held.push(stream);
    }
    // The server admits connections in order, so once a request on a third
    // one is refused, both are counted.
    let mut third = connect_from(ATTACKER, address).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), third.read_to_end(&mut answer)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too_many_connections"), "{answer}");
    let health = client_from(VICTIM).get(format!("http://{address}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200, "another address is not affected");
    drop(held);
}

/// Opens a WebSocket by hand (the frame that follows is not one a library
/// would send) and reads the `101` answer.
async fn raw_websocket(address: SocketAddr, path: &str) -> TcpStream {
    let mut stream = connect_from(ATTACKER, address).await.unwrap();
    let upgrade = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(upgrade.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    stream
}

/// A masked text frame's header announcing `length` bytes.
fn text_frame_header(length: u64) -> Vec<u8> {
    let mut header = vec![0x81, 0x80 | 127];
    header.extend_from_slice(&length.to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    header
}

/// A whole masked text frame (with a zero mask, so the payload is as is).
fn text_frame(payload: &str) -> Vec<u8> {
    let length = payload.len();
    let mut frame = vec![0x81];
    match length {
        0..=125 => frame.push(0x80 | u8::try_from(length).unwrap()),
        126..=65535 => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&u16::try_from(length).unwrap().to_be_bytes());
        }
        _ => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(length as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(payload.as_bytes());
    frame
}

/// Reads until the server closes; the close frame's code, if it sent one.
async fn close_code(stream: &mut TcpStream) -> Option<u16> {
    let mut received = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut received)).await.expect("closed");
    // Server frames are unmasked; the close frame is the last one, with a
    // payload of at most 125 bytes: find 0x88 followed by its length.
    (0..received.len().saturating_sub(3)).rev().find_map(|at| {
        let length = usize::from(received[at + 1]);
        (received[at] == 0x88 && length >= 2 && at + 2 + length == received.len())
            .then(|| u16::from_be_bytes([received[at + 2], received[at + 3]]))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_websocket_messages_are_bounded_and_timed_out() {
    if !require_root("half_sent_websocket_messages_are_bounded_and_timed_out") {
        return;
    }
    const ATTACK: &str = "conn-ws-half-frames";
    const CONNECTIONS: usize = 40;
    // A short message timeout, and a budget wait longer than it, so every
    // stalled message ends by the timeout.
    let served = Served::start("[connections]\nmessage_timeout_secs = 3\nmemory_wait_ms = 30000\n");
    let address = socket_address(&served);
    victim_is_served(&served, ATTACK).await;
    let idle = served.rss_kib();
    let peak = RssPeak::start(served.pid());
    let frame_bytes = 12 * MIB - 64;
    // One frame for all.
    let mut frame = text_frame_header(frame_bytes);
    frame.resize(frame.len() + usize::try_from(frame_bytes).unwrap() - 1, b'x');
    let frame: &[u8] = &frame;
    let attackers = futures_util::future::join_all((0..CONNECTIONS).map(|_| async move {
        let mut stream = raw_websocket(address, "/api/v1/ws").await;
        // The server stops reading when the budget is full; the write ends
        // when it closes the connection.
        let _ = tokio::time::timeout(Duration::from_secs(60), stream.write_all(frame)).await;
        close_code(&mut stream).await
    }));
    let victim = async {
        // While the attack is on: a victim's WebSocket session runs a program.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let started = Instant::now();
        let tcp = connect_from(VICTIM, address).await.unwrap();
        let (mut socket, _) = tokio_tungstenite::client_async(format!("ws://{address}/api/v1/ws"), tcp).await.unwrap();
        let hello = next_json(&mut socket).await;
        assert_eq!(hello["type"], "hello");
        let run =
            json!({"type": "run", "id": "v", "language": "bash", "files": [{"path": "main.sh", "content": "echo hi"}]});
        socket.send(Message::Text(run.to_string().into())).await.unwrap();
        let mut output = String::new();
        loop {
            let frame = next_json(&mut socket).await;
            match frame["type"].as_str() {
                Some("output") => output.push_str(frame["data"].as_str().unwrap()),
                Some("done") => break,
                Some("error") => panic!("{frame}"),
                _ => {}
            }
        }
        assert_eq!(output, "hi\n");
        record(ATTACK, "victim WebSocket echo run latency (ms)", started.elapsed().as_millis());
    };
    let (codes, ()) = tokio::join!(attackers, victim);
    let peak = peak.finish();
    let timed_out = codes.iter().filter(|code| **code == Some(1008)).count();
    record(ATTACK, "server memory over idle at peak (MiB)", peak.saturating_sub(idle) / 1024);
    record(ATTACK, "connections closed by the message timeout", format!("{timed_out} of {CONNECTIONS}"));
    assert!(peak < idle + ALLOWED_GROWTH_KIB, "server memory peaked at {peak} KiB from {idle} KiB");
    assert_eq!(timed_out, CONNECTIONS, "close codes: {codes:?}");
    victim_is_served(&served, ATTACK).await;
}

async fn next_json(socket: &mut tokio_tungstenite::WebSocketStream<TcpStream>) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), socket.next()).await.unwrap().unwrap().unwrap();
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
        if let Message::Close(close) = frame {
            panic!("the victim's connection was closed: {close:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_from_a_rate_limited_address_are_not_read() {
    if !require_root("bodies_from_a_rate_limited_address_are_not_read") {
        return;
    }
    const ATTACK: &str = "conn-rate-limited-bodies";
    const BODIES: usize = 80;
    let served = Served::start("[rate_limit]\nper_minute = 1\nburst = 1\n");
    let address = socket_address(&served);
    // The attacker spends its one token, then is answered 429.
    let http = client_from(ATTACKER);
    let run = json!({"language": "bash", "files": [{"path": "main.sh", "content": "echo hi"}]});
    let url = format!("http://{address}/api/v1/execute");
    assert_eq!(http.post(&url).json(&run).send().await.unwrap().status(), 200);
    assert_eq!(http.post(&url).json(&run).send().await.unwrap().status(), 429);
    let idle = served.rss_kib();
    let peak = RssPeak::start(served.pid());
    let answers = async {
        let answers = bodies_one_byte_short(address, BODIES).await;
        answers.iter().map(|answer| answer.split_whitespace().nth(1).map(str::to_string)).collect::<Vec<_>>()
    };
    let (answers, ()) = tokio::join!(answers, victim_is_served(&served, ATTACK));
    let peak = peak.finish();
    let rate_limited = answers.iter().filter(|status| status.as_deref() == Some("429")).count();
    record(ATTACK, "server memory over idle at peak (MiB)", peak.saturating_sub(idle) / 1024);
    record(ATTACK, "bodies answered 429 (others reset unread)", format!("{rate_limited} of {BODIES}"));
    assert!(peak < idle + ALLOWED_GROWTH_KIB, "server memory peaked at {peak} KiB from {idle} KiB");
    assert!(
        answers.iter().all(|status| status.as_deref().is_none_or(|status| status == "429")),
        "answers: {answers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_past_the_memory_budget_are_refused_and_stalled_ones_time_out() {
    if !require_root("bodies_past_the_memory_budget_are_refused_and_stalled_ones_time_out") {
        return;
    }
    const ATTACK: &str = "conn-budget-bodies";
    const BODIES: usize = 80;
    // No rate limit and room for every run: only the memory budget stands
    // between these bodies and the server's memory.
    let served = Served::start(
        "[rate_limit]\nper_minute = 0\n[plans.guest]\nmax_concurrent_runs = 100\n\
         [connections]\nidle_timeout_secs = 3\n",
    );
    let address = socket_address(&served);
    let idle = served.rss_kib();
    let peak = RssPeak::start(served.pid());
    let answers = async {
        let answers = bodies_one_byte_short(address, BODIES).await;
        answers
            .iter()
            .map(|answer| {
                ["server_busy", "request_timeout"].into_iter().find(|code| answer.contains(code)).unwrap_or("none")
            })
            .collect::<Vec<_>>()
    };
    let victim = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        victim_is_served(&served, ATTACK).await;
    };
    let (answers, ()) = tokio::join!(answers, victim);
    let peak = peak.finish();
    let count = |code: &str| answers.iter().filter(|answer| **answer == code).count();
    record(ATTACK, "server memory over idle at peak (MiB)", peak.saturating_sub(idle) / 1024);
    record(ATTACK, "refused 503 server_busy", format!("{} of {BODIES}", count("server_busy")));
    record(ATTACK, "stalled, 408 request_timeout", format!("{} of {BODIES}", count("request_timeout")));
    assert!(peak < idle + ALLOWED_GROWTH_KIB, "server memory peaked at {peak} KiB from {idle} KiB");
    assert!(count("server_busy") > 0, "answers: {answers:?}");
    assert!(count("request_timeout") > 0, "answers: {answers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_piston_message_is_closed_by_the_message_timeout() {
    if !require_root("a_half_sent_piston_message_is_closed_by_the_message_timeout") {
        return;
    }
    let served = Served::start("[connections]\nmessage_timeout_secs = 2\n");
    let address = socket_address(&served);
    let mut stream = raw_websocket(address, "/api/v2/connect").await;
    // A job waiting for its input, so the connection stays up for it...
    let init =
        json!({"type": "init", "language": "bash", "version": "*", "files": [{"content": "read line; echo $line"}]});
    stream.write_all(&text_frame(&init.to_string())).await.unwrap();
    // ...then a 1 MiB `data` message of which a fifth comes.
    let mut partial = text_frame_header(MIB);
    partial.resize(partial.len() + usize::try_from(MIB / 5).unwrap(), b'x');
    stream.write_all(&partial).await.unwrap();
    assert_eq!(close_code(&mut stream).await, Some(1008));
}
