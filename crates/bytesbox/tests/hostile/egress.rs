//! The egress proxy as an attacker uses it (`docs/egress.md`): a program
//! in a box whose plan has egress opens hundreds of connections to the
//! proxy and sends each a request head one byte at a time, never
//! finishing. The box's connections are capped (the rest answered 503 at
//! once), the slow ones are closed at the header timeout (408), the server
//! stays responsive and its memory bounded, and once the program is gone
//! no connection of the proxy is left open.

use std::time::Duration;

use bytesbox_testkit::require_root;
use serde_json::{json, Value};

use crate::connections::{victim_is_served, RssPeak, ALLOWED_GROWTH_KIB};
use crate::report::record;
use crate::served::{next, send, Served, Socket};

/// Connections the program opens.
const CONNECTIONS: usize = 200;
/// The box's cap.
const PER_BOX: usize = 8;

/// Opens the connections, trickles a head into each, and prints how each
/// ended: `503`, `408`, or `open` if neither came within 20 s.
const SLOW_HEADS: &str = r#"
import collections, selectors, socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
head = b"GET http://10.231.255.2/ HTTP/1.1\r\nHost: 10.231.255.2\r\n"
sockets, ended = [], collections.Counter()
for _ in range(count):
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    sockets.append([s, 0])
deadline = time.time() + 20
while sockets and time.time() < deadline:
    for entry in list(sockets):
        s, sent = entry
        try:
            answer = s.recv(4096)
            if answer:
                ended[answer.split(b" ")[1].decode()] += 1
            else:
                ended["closed"] += 1
            sockets.remove(entry)
            s.close()
            continue
        except BlockingIOError:
            pass
        except OSError:
            ended["reset"] += 1
            sockets.remove(entry)
            continue
        if sent < len(head):
            try:
                s.send(head[sent:sent + 1])
                entry[1] += 1
            except OSError:
                pass
    time.sleep(0.25)
ended["open"] += len(sockets)
print(" ".join(f"{k}={v}" for k, v in sorted(ended.items())))
"#;

/// Prints how many listeners on the proxy's port there are (the server's
/// one: the table is the box's), and how many TCP sockets on the proxy's port (3128, `0C38`) are
/// open in the box's namespace besides listeners and TIME_WAIT (the
/// kernel's, not a descriptor's), waiting up to 10 s for them to go.
const LEFT_OPEN: &str = r#"
import time
def proxy_sockets(states):
    rows = [row.split() for row in open("/proc/net/tcp").read().splitlines()[1:]]
    return sum(1 for row in rows if row[1].endswith(":0C38") and states(row[3]))
def still_open():
    return proxy_sockets(lambda state: state not in ("0A", "06"))
deadline = time.time() + 10
while still_open() and time.time() < deadline:
    time.sleep(0.2)
print(f"listening={proxy_sockets(lambda state: state == '0A')} open={still_open()}")
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_half_sent_proxy_connections_are_capped_and_timed_out() {
    if !require_root("slow_half_sent_proxy_connections_are_capped_and_timed_out") {
        return;
    }
    const ATTACK: &str = "egress-slow-heads";
    // An operator who gives guests egress to one address (nobody serves
    // it: no request here ever gets that far).
    let config = format!(
        "[egress]\nheader_timeout_secs = 3\nmax_connections_per_box = {PER_BOX}\n\
         rules = [{{ hosts = [\"10.231.255.2/32\"], ports = [80] }}]\n[plans.guest]\negress = true\n"
    );
    let mut served = Served::start(&config);
    let idle_kib = served.rss_kib();
    let mut socket = served.connect().await;
    // A first run makes the box (and its proxy) before the descriptors
    // are counted.
    send(
        &mut socket,
        json!({"type": "run", "id": "warm", "language": "bash",
        "files": [{"path": "main.sh", "content": "echo $http_proxy"}]}),
    )
    .await;
    assert_eq!(output_of(&mut socket, "warm").await, "http://127.0.0.1:3128\n");
    let peak = RssPeak::start(served.pid());
    let run = json!({"type": "run", "id": "attack", "language": "bash",
        "limits": {"wall_time_ms": 45_000, "cpu_time_ms": 45_000},
        "files": [{"path": "main.sh", "content": format!("python3 slow.py 3128 {CONNECTIONS}")},
                  {"path": "slow.py", "content": SLOW_HEADS}]});
    send(&mut socket, run).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    victim_is_served(&served, ATTACK).await;
    let ended = output_of(&mut socket, "attack").await;
    let peak_kib = peak.finish();
    record(ATTACK, "how the connections ended", ended.trim());
    let count = |what: &str| -> usize {
        ended
            .split_whitespace()
            .find_map(|pair| pair.strip_prefix(&format!("{what}=")))
            .map_or(0, |n| n.parse().unwrap())
    };
    assert!(count("503") >= CONNECTIONS - PER_BOX * 4, "most were turned away at the box's cap: {ended}");
    assert!(count("408") >= 1, "the slow heads were closed at the header timeout: {ended}");
    assert_eq!(count("open"), 0, "no connection outlived the header timeout: {ended}");
    let grown = peak_kib.saturating_sub(idle_kib);
    record(ATTACK, "server RSS growth during the attack (KiB)", grown);
    assert!(grown < ALLOWED_GROWTH_KIB, "the server grew by {grown} KiB");
    victim_is_served(&served, ATTACK).await;
    // Every connection the server accepted lives in the box's network
    // namespace, where the box sees it: once the program is gone, none of
    // the proxy's sockets may stay open (ESTABLISHED or CLOSE_WAIT:
    // a descriptor the server forgot), only its listener.
    send(
        &mut socket,
        json!({"type": "run", "id": "left", "language": "bash",
        "files": [{"path": "main.sh", "content": "python3 left.py"}, {"path": "left.py", "content": LEFT_OPEN}]}),
    )
    .await;
    let left = output_of(&mut socket, "left").await;
    record(ATTACK, "proxy sockets left open after the attack", left.trim());
    assert_eq!(left, "listening=1 open=0\n", "the server kept proxy connections open");

    served.terminate();
    let status = served.wait(Duration::from_secs(60));
    assert!(status.success(), "the server exited with {status}");
    drop(socket);
}

/// Run `id`'s stdout, once it exited with 0.
async fn output_of(socket: &mut Socket, id: &str) -> String {
    let mut out = String::new();
    loop {
        let frame: Value = next(socket).await;
        if frame["id"] != id {
            continue;
        }
        match frame["type"].as_str() {
            Some("output") if frame["stream"] == "stdout" => out.push_str(frame["data"].as_str().unwrap()),
            Some("exit") => assert_eq!(frame["status"], "ok", "{id}: {frame} {out}"),
            Some("done") => return out,
            Some("error") => panic!("{id}: {frame}"),
            _ => {}
        }
    }
}
