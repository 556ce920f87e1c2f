//! Terminals over the WebSocket protocol, on the native backend (a PTY and
//! a real box: the host double has neither): the shell and its terminal,
//! Ctrl+C, a flood, a dropped connection, closing, and the idle cull.

use std::time::{Duration, Instant};

use base64::Engine as _;
use bytesbox_testkit::wait_until;
use serde_json::{json, Value};

use crate::test_server::TestServer;
use crate::{connect, next, send, Socket};

/// How long a terminal may take to show what a test waits for.
const PATIENCE: Duration = Duration::from_secs(60);

/// A terminal's output as one client saw it.
#[derive(Debug, Default)]
struct Screen {
    text: String,
    /// Offset just past the last byte received.
    end: u64,
}

impl Screen {
    /// Whether `needle` is in what arrived since `from` bytes of text (or
    /// straddles that point): a flood is searched once, not once a frame.
    fn shows_since(&self, from: usize, needle: &str) -> bool {
        let mut start = from.saturating_sub(needle.len());
        while !self.text.is_char_boundary(start) {
            start -= 1;
        }
        self.text[start..].contains(needle)
    }

    fn take(&mut self, frame: &Value) {
        let data = frame["data"].as_str().unwrap();
        let bytes = match frame["encoding"].as_str() {
            Some("base64") => base64::engine::general_purpose::STANDARD.decode(data).unwrap(),
            _ => data.as_bytes().to_vec(),
        };
        self.end = frame["offset"].as_u64().unwrap() + bytes.len() as u64;
        self.text.push_str(&String::from_utf8_lossy(&bytes));
    }
}

/// Reads frames until terminal `id` has shown `needle` (other frames go
/// to `others`).
async fn until_shown(socket: &mut Socket, id: &str, screen: &mut Screen, needle: &str) -> Vec<Value> {
    let deadline = Instant::now() + PATIENCE;
    let mut others = Vec::new();
    let mut searched = 0;
    while !screen.shows_since(searched, needle) {
        searched = screen.text.len();
        assert!(Instant::now() < deadline, "terminal {id} never showed {needle:?}; it showed {:?}", tail(&screen.text));
        let frame = next(socket).await;
        if frame["type"] == "terminal_output" && frame["id"] == id {
            screen.take(&frame);
        } else {
            assert!(
                !(frame["type"] == "terminal_exit" && frame["id"] == id),
                "terminal {id} ended before showing {needle:?}: {frame} after {:?}",
                tail(&screen.text)
            );
            others.push(frame);
        }
    }
    others
}

/// The end of a screen's text, for a failure's message.
fn tail(text: &str) -> &str {
    let mut start = text.len().saturating_sub(2000);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Frames until one of `type` about terminal `id`.
async fn until_frame(socket: &mut Socket, kind: &str, id: &str, screen: &mut Screen) -> Value {
    loop {
        let frame = next(socket).await;
        if frame["type"] == "terminal_output" && frame["id"] == id {
            screen.take(&frame);
        } else if frame["type"] == kind && (frame["id"] == id || frame["terminal"] == id) {
            return frame;
        }
    }
}

/// Opens terminal `id`; what other terminals show meanwhile is skipped (a
/// terminal's own output never comes before its `terminal_opened`).
async fn open(socket: &mut Socket, id: &str, rows: u16, cols: u16) {
    send(socket, json!({"type": "terminal_open", "id": id, "rows": rows, "cols": cols})).await;
    let frame = loop {
        let frame = next(socket).await;
        if frame["type"] != "terminal_output" || frame["id"] == id {
            break frame;
        }
    };
    assert_eq!((frame["type"].as_str(), frame["id"].as_str()), (Some("terminal_opened"), Some(id)), "{frame}");
}

async fn type_in(socket: &mut Socket, id: &str, keys: &str) {
    send(socket, json!({"type": "terminal_input", "id": id, "data": keys})).await;
}

/// Resident memory of this process (the server runs in it).
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_is_a_login_shell_with_its_size_its_users_uid_and_ctrl_c() {
    let test = "a_terminal_is_a_login_shell_with_its_size_its_users_uid_and_ctrl_c";
    let Some(server) = TestServer::new().start_native(test).await else { return };
    let (mut socket, hello) = connect(&server.url).await;
    assert_eq!(hello["terminals"], json!([]), "a new session has no terminals");
    open(&mut socket, "t1", 33, 101).await;
    let mut screen = Screen::default();
    // What the shell prints is computed, so the echo of the typed command
    // never matches.
    type_in(&mut socket, "t1", "stty size; echo \"term=$TERM\"; [ \"$(id -u)\" != 0 ] && echo not-$((0))-root\r").await;
    until_shown(&mut socket, "t1", &mut screen, "not-0-root").await;
    assert!(screen.text.contains("33 101"), "{:?}", screen.text);
    assert!(screen.text.contains("term=xterm-256color"), "{:?}", screen.text);

    send(&mut socket, json!({"type": "terminal_resize", "id": "t1", "rows": 40, "cols": 120})).await;
    type_in(&mut socket, "t1", "stty size | tr ' ' x\r").await;
    until_shown(&mut socket, "t1", &mut screen, "40x120").await;

    // Ctrl+C reaches the foreground program through the terminal: a
    // program that says when it is waiting, so the key cannot reach the
    // shell before it.
    let waiting = "python3 -c 'import time; print(\"waiting-\" + str(6 * 7), flush=True); time.sleep(100)'";
    type_in(&mut socket, "t1", &format!("{waiting}; echo slept-$((1+1))\r")).await;
    until_shown(&mut socket, "t1", &mut screen, "waiting-42").await;
    let interrupted = Instant::now();
    type_in(&mut socket, "t1", "\x03").await;
    type_in(&mut socket, "t1", "echo back-$((6*7))\r").await;
    until_shown(&mut socket, "t1", &mut screen, "back-42").await;
    assert!(interrupted.elapsed() < Duration::from_secs(60), "the sleep was interrupted, not waited out");
    assert!(!screen.text.contains("slept-2"), "the rest of the line did not run: {:?}", screen.text);

    // Errors name the terminal; the connection goes on.
    send(&mut socket, json!({"type": "terminal_input", "id": "ghost", "data": "x"})).await;
    let error = until_frame(&mut socket, "error", "ghost", &mut screen).await;
    assert_eq!((error["code"].as_str(), error["terminal"].as_str()), (Some("unknown_terminal"), Some("ghost")));
    send(&mut socket, json!({"type": "terminal_open", "id": "t1", "rows": 24, "cols": 80})).await;
    let error = until_frame(&mut socket, "error", "t1", &mut screen).await;
    assert_eq!(error["code"], "duplicate_terminal_id");
    send(&mut socket, json!({"type": "terminal_resize", "id": "t1", "rows": 0, "cols": 80})).await;
    let error = until_frame(&mut socket, "error", "t1", &mut screen).await;
    assert_eq!(error["code"], "invalid_spec");
    let paste = "x".repeat(64 * 1024 + 1);
    send(&mut socket, json!({"type": "terminal_input", "id": "t1", "data": paste})).await;
    let error = until_frame(&mut socket, "error", "t1", &mut screen).await;
    assert_eq!(error["code"], "invalid_message");

    // `exit` ends the shell: its exit frame says how.
    type_in(&mut socket, "t1", "exit 3\r").await;
    let exit = until_frame(&mut socket, "terminal_exit", "t1", &mut screen).await;
    assert_eq!((exit["status"].as_str(), exit["code"].as_i64()), (Some("nonzero"), Some(3)));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_in_a_terminal_stays_bounded_and_other_sessions_stay_responsive() {
    let test = "a_flood_in_a_terminal_stays_bounded_and_other_sessions_stay_responsive";
    let Some(server) = TestServer::new().start_native(test).await else { return };
    let (mut flooder, _) = connect(&server.url).await;
    open(&mut flooder, "t1", 24, 80).await;
    let before = resident_bytes();
    type_in(&mut flooder, "t1", "yes flood-flood-flood-flood-flood-flood\r").await;

    // The flooding client reads nothing for a while; another session is
    // served meanwhile, runs included.
    let (mut other, _) = connect(&server.url).await;
    let flood_started = Instant::now();
    let mut round_trips = Vec::new();
    while flood_started.elapsed() < Duration::from_secs(4) {
        let sent = Instant::now();
        send(&mut other, json!({"type": "ping", "nonce": "n"})).await;
        assert_eq!(next(&mut other).await["type"], "pong");
        round_trips.push(sent.elapsed());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    send(&mut other, crate::run("r1", "echo served")).await;
    assert_eq!(crate::stdout(&crate::until_done(&mut other, "r1").await), "served\n");
    let grown = resident_bytes().saturating_sub(before);
    let slowest = round_trips.iter().max().unwrap();
    println!("flood: the server grew by {} KiB; the other session's slowest ping took {slowest:?}", grown / 1024);
    // The session's queue (64 frames of at most 64 KiB) and the run's
    // (16 chunks) bound it; an unbounded server would hold everything
    // `yes` printed in four seconds.
    assert!(grown < 48 * 1024 * 1024, "the server grew by {grown} bytes under a flood");
    assert!(*slowest < Duration::from_secs(5), "a ping took {slowest:?}");

    // Ctrl+C stops the flood; the shell answers again.
    type_in(&mut flooder, "t1", "\x03").await;
    type_in(&mut flooder, "t1", "echo calm-$((2+3))\r").await;
    let mut screen = Screen::default();
    until_shown(&mut flooder, "t1", &mut screen, "calm-5").await;
    let lines = screen.text.matches("\r\nflood-flood-flood-flood-flood-flood\r\n").count();
    assert!(lines > 1000, "the terminal flooded ({lines} lines came through)");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_survives_a_dropped_connection_and_replays_what_it_printed_meanwhile() {
    let test = "a_terminal_survives_a_dropped_connection_and_replays_what_it_printed_meanwhile";
    let Some(server) = TestServer::new().grace(Duration::from_secs(20)).start_native(test).await else { return };
    let (mut socket, hello) = connect(&server.url).await;
    let token = hello["resume"].as_str().unwrap().to_string();
    open(&mut socket, "t1", 24, 80).await;
    let mut screen = Screen::default();
    type_in(&mut socket, "t1", "echo ready-$((1+1))\r").await;
    until_shown(&mut socket, "t1", &mut screen, "ready-2").await;
    // More than the scrollback holds, printed while nobody is connected;
    // `finished` is written into the workspace once it is all out.
    type_in(&mut socket, "t1", "sleep 1; seq -f 'line-%g' 1 20000; echo end-$((2*2)); touch finished\r").await;
    until_shown(&mut socket, "t1", &mut screen, "touch finished").await;
    let seen_before = screen.end;
    drop(socket);

    let session = server.sessions.find(hello["session"].as_str().unwrap()).unwrap();
    let backend = server.backend.clone();
    wait_until("the terminal to finish printing while its client is away", PATIENCE, || async {
        let Some(box_id) = session.current_box() else { return false };
        !session.is_connected() && backend.get_files(&box_id, vec!["finished".into()], 1024).await.is_ok()
    })
    .await;

    let (mut socket, again) = connect(&format!("{}?resume={token}", server.url)).await;
    assert_eq!(again["terminals"], json!([{"id": "t1", "rows": 24, "cols": 80}]), "the resumed hello lists it");
    // What was queued before the drop comes first and continues where the
    // client was; then the replay, after a gap.
    let mut expected = seen_before;
    let first = loop {
        let frame = next(&mut socket).await;
        if frame["type"] != "terminal_output" {
            continue;
        }
        let offset = frame["offset"].as_u64().unwrap();
        if offset > expected {
            break frame;
        }
        assert_eq!(offset, expected, "frames continue where the client was");
        let mut queued = Screen::default();
        queued.take(&frame);
        expected = queued.end;
    };
    let replay_from = first["offset"].as_u64().unwrap();
    let mut replay = Screen::default();
    replay.take(&first);
    until_shown(&mut socket, "t1", &mut replay, "end-4").await;
    let replayed = replay.end - replay_from;
    assert!(replay_from > seen_before, "a gap says what was missed: {replay_from} after {seen_before}");
    assert!(replayed <= 64 * 1024, "the replay is bounded by the scrollback: {replayed} bytes");
    assert!(replay.text.contains("line-20000\r\nend-4"), "the newest output is replayed");
    assert!(!replay.text.contains("line-1\r\n"), "the oldest gave way");

    // And it goes on live.
    type_in(&mut socket, "t1", "echo live-$((3*3))\r").await;
    until_shown(&mut socket, "t1", &mut replay, "live-9").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_terminal_kills_everything_it_started_and_terminals_are_capped() {
    let test = "closing_a_terminal_kills_everything_it_started_and_terminals_are_capped";
    let server = TestServer::new().grace(Duration::from_secs(1)).sessions(|sessions| sessions.max_terminals = 2);
    let Some(server) = server.start_native(test).await else { return };
    let (mut socket, _) = connect(&server.url).await;
    open(&mut socket, "t1", 24, 80).await;
    open(&mut socket, "t2", 24, 80).await;
    send(&mut socket, json!({"type": "terminal_open", "id": "t3", "rows": 24, "cols": 80})).await;
    // (The prompts of t1 and t2 may come first.)
    let error = until_frame(&mut socket, "error", "t3", &mut Screen::default()).await;
    assert_eq!((error["code"].as_str(), error["terminal"].as_str()), (Some("too_many_terminals"), Some("t3")));

    // A program that left the terminal's session and process group.
    let mut first = Screen::default();
    type_in(&mut socket, "t1", "setsid sleep 1000 & echo $! > pid; echo started-$((1+1))\r").await;
    until_shown(&mut socket, "t1", &mut first, "started-2").await;
    send(&mut socket, json!({"type": "terminal_close", "id": "t1"})).await;
    let exit = until_frame(&mut socket, "terminal_exit", "t1", &mut first).await;
    assert_eq!(exit["status"], "killed");

    let mut second = Screen::default();
    type_in(&mut socket, "t2", "kill -0 $(cat pid) 2>/dev/null; echo \"state-$?\"\r").await;
    while !second.text.contains("state-0") && !second.text.contains("state-1") {
        let frame = next(&mut socket).await;
        if frame["type"] == "terminal_output" && frame["id"] == "t2" {
            second.take(&frame);
        }
    }
    assert!(second.text.contains("state-1"), "the program t1 started died with it: {:?}", second.text);

    // A closed terminal frees its place.
    open(&mut socket, "t3", 24, 80).await;

    // The session ends when its client is gone for the grace period: its
    // terminals and box with it.
    drop(socket);
    let backend = server.backend.clone();
    wait_until("the box to go with the session", PATIENCE, || async { backend.list().await.is_empty() }).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_box_with_only_idle_terminals_is_culled_with_a_notice_but_not_while_a_run_goes() {
    let test = "a_box_with_only_idle_terminals_is_culled_with_a_notice_but_not_while_a_run_goes";
    let server = TestServer::new().sessions(|sessions| sessions.terminal_idle = Duration::from_secs(1));
    let Some(server) = server.start_native(test).await else { return };
    let (mut socket, _) = connect(&server.url).await;
    open(&mut socket, "t1", 24, 80).await;
    let mut screen = Screen::default();
    type_in(&mut socket, "t1", "echo hi-$((1+1))\r").await;
    until_shown(&mut socket, "t1", &mut screen, "hi-2").await;

    // A run keeps the box, however idle the terminal.
    send(&mut socket, crate::run("r1", "sleep 5; echo ran")).await;
    let mut frames = Vec::new();
    loop {
        let frame = next(&mut socket).await;
        assert_ne!(frame["type"], "terminal_exit", "the box was culled while a run went: {frame}");
        let done = frame["type"] == "done" && frame["id"] == "r1";
        frames.push(frame);
        if done {
            break;
        }
    }
    assert_eq!(crate::stdout(&frames), "ran\n");

    // Then nothing happens in it: a notice, and the box goes.
    let exit = until_frame(&mut socket, "terminal_exit", "t1", &mut screen).await;
    assert_eq!(exit["status"], "killed");
    assert!(screen.text.contains("[bytesbox] Nothing was typed or printed here"), "{:?}", screen.text);
    let backend = server.backend.clone();
    wait_until("the culled box to be gone", PATIENCE, || async { backend.list().await.is_empty() }).await;
    // A new terminal gets a new box.
    open(&mut socket, "t2", 24, 80).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_terminal_costs_a_rate_limit_token() {
    let test = "opening_a_terminal_costs_a_rate_limit_token";
    // Two tokens, none back for a minute: the connection takes one.
    let limits = bytesbox_server::rate_limit::RateLimitConfig { per_minute: 1, burst: 2, trust_forwarded_for: false };
    let Some(server) = TestServer::new().rate_limit(limits).start_native(test).await else { return };
    let (mut socket, _) = connect(&server.url).await;
    open(&mut socket, "t1", 24, 80).await;
    send(&mut socket, json!({"type": "terminal_open", "id": "t2", "rows": 24, "cols": 80})).await;
    let error = until_frame(&mut socket, "error", "t2", &mut Screen::default()).await;
    assert_eq!(error["code"], "rate_limited", "{error}");
    server.stop().await;
}
