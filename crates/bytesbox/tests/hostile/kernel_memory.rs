//! Kernel memory outside the box's limit: a guest's program opens many TCP
//! connections to itself on 127.0.0.1 and writes without reading, so the
//! data waits in kernel socket buffers. The box's memory limit must stop
//! it: the host's TCP memory (`/proc/net/sockstat`) grows by about the
//! limit at most, not by gigabytes.

use std::time::Duration;

use serde_json::json;

use crate::report;
use crate::served::{self, Served};

const ATTACK: &str = "kernel_memory";
const MIB: u64 = 1024 * 1024;
const LIMIT: u64 = 128 * MIB;

/// Fills loopback socket buffers for up to 8 s or 1 GiB, reports how much
/// it queued, then holds the sockets open while the host is measured.
const FILL: &str = r#"
import socket, time
chunk = b"x" * 65536
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(512)
held, queued = [], 0
deadline = time.monotonic() + 8
for _ in range(400):
    if queued >= 1 << 30 or time.monotonic() > deadline:
        break
    try:
        client = socket.create_connection(server.getsockname())
        held.append((client, server.accept()[0]))
    except OSError:
        break
    client.setblocking(False)
    while queued < 1 << 30 and time.monotonic() < deadline:
        try:
            queued += client.send(chunk)
        except OSError:
            break
print(f"queued {queued >> 20} MiB", flush=True)
time.sleep(3)
"#;

/// The host's TCP memory now, in bytes (`TCP: … mem PAGES`).
fn host_tcp_memory() -> u64 {
    let sockstat = std::fs::read_to_string("/proc/net/sockstat").unwrap();
    let pages: u64 = sockstat
        .lines()
        .find_map(|line| line.strip_prefix("TCP:"))
        .and_then(|fields| fields.split_whitespace().skip_while(|f| *f != "mem").nth(1))
        .and_then(|pages| pages.parse().ok())
        .unwrap();
    pages * 4096
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_socket_buffers_are_held_to_the_box_memory_limit() {
    if !bytesbox_testkit::require_root("loopback_socket_buffers_are_held_to_the_box_memory_limit") {
        return;
    }
    let served = Served::start("");
    let mut socket = served.connect().await;
    let before = host_tcp_memory();
    served::send(
        &mut socket,
        json!({"type": "run", "id": "fill", "language": "python",
               "files": [{"path": "main.py", "content": FILL}],
               "limits": {"memory_bytes": LIMIT, "open_files": 1024, "wall_time_ms": 30_000}}),
    )
    .await;
    let queued_mib = loop {
        let frame = tokio::time::timeout(Duration::from_secs(40), served::next(&mut socket)).await.unwrap();
        assert_ne!(frame["type"], "error", "{frame}");
        assert_ne!(frame["type"], "done", "the program ended without saying what it queued: {frame}");
        if frame["type"] == "output" && frame["stream"] == "stdout" {
            let line = frame["data"].as_str().unwrap().to_string();
            let mib: u64 = line.trim().trim_start_matches("queued ").trim_end_matches(" MiB").parse().unwrap();
            break mib;
        }
    };
    // The sockets are still open: their buffers are still held.
    let grown = host_tcp_memory().saturating_sub(before);
    report::record(ATTACK, "queued in loopback socket buffers, 128 MiB box (MiB)", queued_mib);
    report::record(ATTACK, "host TCP memory growth (MiB)", grown / MIB);
    // Stopped at the limit (give or take what the kernel charges late),
    // where an unaccounted box queued 1 GiB and more.
    assert!(queued_mib * MIB < 2 * LIMIT, "{queued_mib} MiB queued past a 128 MiB limit");
    assert!(grown < 2 * LIMIT, "the host's TCP memory grew by {} MiB", grown / MIB);
    loop {
        let frame = served::next(&mut socket).await;
        if frame["type"] == "done" || frame["type"] == "error" {
            break;
        }
    }
}
