//! The server's APIs with the real language catalog: every language,
//! multi-file projects and hostile input in real boxes (native backend,
//! root), and metrics, rate limits and many sessions at once on the host
//! double.

use super::*;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

/// A hello-world program per catalog language: (language, path, source).
const HELLO: &[(&str, &str, &str)] = &[
    ("python", "main.py", "print('hello from python')\n"),
    ("javascript", "main.js", "console.log('hello from javascript');\n"),
    (
        "java",
        "Main.java",
        "public class Main { public static void main(String[] a) { System.out.println(\"hello from java\"); } }\n",
    ),
    ("c", "main.c", "#include <stdio.h>\nint main(void) { puts(\"hello from c\"); return 0; }\n"),
    ("cpp", "main.cpp", "#include <iostream>\nint main() { std::cout << \"hello from cpp\" << std::endl; }\n"),
    ("bash", "main.sh", "echo \"hello from bash\"\n"),
    ("sqlite", "main.sql", "SELECT 'hello from sqlite';\n"),
];

fn project(files: &[(&str, &str)]) -> Value {
    Value::Array(files.iter().map(|(path, content)| json!({"path": path, "content": content})).collect())
}

/// Sends a run and returns its frames up to `done`/`error`.
async fn run_in(socket: &mut Socket, id: &str, language: Option<&str>, files: Value) -> Vec<Value> {
    let mut frame = json!({"type": "run", "id": id, "files": files});
    if let Some(language) = language {
        frame["language"] = json!(language);
    }
    send(socket, frame).await;
    until_done(socket, id).await
}

fn exit_of<'a>(frames: &'a [Value], stage: &str) -> &'a Value {
    frames.iter().find(|f| f["type"] == "exit" && f["stage"] == stage).unwrap_or_else(|| panic!("{frames:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_world_in_every_language_over_websocket_and_execute() {
    if !require_root("hello_world_in_every_language_over_websocket_and_execute") {
        return;
    }
    let server = TestServer::new().catalog().native().start().await;
    let (mut socket, _) = connect(&server.url).await;
    for (language, path, source) in HELLO {
        let expected = format!("hello from {language}\n");
        // By extension alone over the WebSocket, in one warm box...
        let frames = run_in(&mut socket, language, None, project(&[(path, source)])).await;
        let accepted = frames.iter().find(|f| f["type"] == "accepted").unwrap_or_else(|| panic!("{frames:#?}"));
        assert_eq!(accepted["language"], *language);
        assert_eq!(stdout(&frames), expected, "{language}: {frames:#?}");
        assert_eq!(exit_of(&frames, "run")["status"], "ok", "{language}");
        // ...and by name through the execute API, in a fresh box.
        let body = json!({"language": language, "files": project(&[(path, source)])}).to_string();
        let (status, _, answer) = http(&server.url, "POST", "/api/v1/execute", Some(&body)).await;
        assert_eq!(status, 200, "{language}: {answer}");
        assert_eq!(answer["run"]["stdout"], expected.as_str(), "{language}: {answer}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_file_projects_run_over_the_api() {
    if !require_root("multi_file_projects_run_over_the_api") {
        return;
    }
    let server = TestServer::new().catalog().native().start().await;
    let (mut socket, _) = connect(&server.url).await;

    let python = project(&[
        ("main.py", "from shapes.area import square\nprint(square(7))\n"),
        ("shapes/__init__.py", ""),
        ("shapes/area.py", "def square(side):\n    return side * side\n"),
    ]);
    let frames = run_in(&mut socket, "py", None, python).await;
    assert_eq!(stdout(&frames), "49\n", "{frames:#?}");

    let java = project(&[
        (
            "com/example/app/Main.java",
            "package com.example.app;\nimport com.example.util.Greeter;\npublic class Main {\n  public static void main(String[] args) { System.out.println(Greeter.greet(\"packages\")); }\n}\n",
        ),
        (
            "com/example/util/Greeter.java",
            "package com.example.util;\npublic class Greeter {\n  public static String greet(String who) { return \"hello, \" + who; }\n}\n",
        ),
    ]);
    let frames = run_in(&mut socket, "java", Some("java"), java).await;
    assert_eq!(exit_of(&frames, "compile")["status"], "ok", "{frames:#?}");
    assert_eq!(stdout(&frames), "hello, packages\n", "{frames:#?}");

    let cpp = project(&[
        ("src/main.cpp", "#include \"geometry/area.hpp\"\n#include <iostream>\nint main() { std::cout << area(6, 7) << std::endl; }\n"),
        ("src/geometry/area.hpp", "#pragma once\nint area(int w, int h);\n"),
        ("src/geometry/area.cpp", "#include \"area.hpp\"\nint area(int w, int h) { return w * h; }\n"),
    ]);
    let frames = run_in(&mut socket, "cpp", Some("cpp"), cpp).await;
    assert_eq!(exit_of(&frames, "compile")["status"], "ok", "{frames:#?}");
    assert_eq!(stdout(&frames), "42\n", "{frames:#?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_of_one_session_talk_over_the_box_loopback() {
    if !require_root("two_runs_of_one_session_talk_over_the_box_loopback") {
        return;
    }
    let server = TestServer::new().catalog().native().start().await;
    let (mut socket, _) = connect(&server.url).await;
    let server_py = "import socket\ns = socket.socket()\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
        s.bind(('127.0.0.1', 7000))\ns.listen()\nprint('listening', flush=True)\nc, _ = s.accept()\n\
        print('server got', c.recv(100).decode(), flush=True)\n";
    let client_py =
        "import socket\nc = socket.create_connection(('127.0.0.1', 7000))\nc.sendall(b'ping')\nprint('sent')\n";
    send(&mut socket, json!({"type": "run", "id": "srv", "files": project(&[("server.py", server_py)])})).await;
    let mut server_output = String::new();
    while server_output != "listening\n" {
        let frame = next(&mut socket).await;
        assert!(frame["type"] != "error" && frame["type"] != "done", "{frame}");
        if frame["type"] == "output" {
            server_output.push_str(frame["data"].as_str().unwrap());
        }
    }
    // The server is still running: the second run goes on beside it.
    send(&mut socket, json!({"type": "run", "id": "cli", "files": project(&[("client.py", client_py)])})).await;
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut done = 0;
    while done < 2 {
        let frame = next(&mut socket).await;
        let id = frame["id"].as_str().unwrap_or_default().to_string();
        match frame["type"].as_str() {
            Some("output") => seen.entry(id).or_default().push_str(frame["data"].as_str().unwrap()),
            Some("done") => done += 1,
            Some("error") => panic!("{frame}"),
            _ => {}
        }
    }
    assert_eq!(seen.get("cli").map(String::as_str), Some("sent\n"));
    assert_eq!(seen.get("srv").map(String::as_str), Some("server got ping\n"), "after its first line");
    server.stop().await;
}

/// The value of one sample line of a Prometheus text page.
fn sample(page: &str, name_and_labels: &str) -> Option<f64> {
    page.lines().find_map(|line| line.strip_prefix(name_and_labels)?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_runs_boxes_queue_and_latency() {
    let server = TestServer::new().catalog().start().await;
    let (mut socket, _) = connect(&server.url).await;
    for id in ["a", "b", "c"] {
        let frames = run_in(&mut socket, id, None, project(&[("main.py", "print(1)")])).await;
        assert_eq!(stdout(&frames), "1\n");
    }
    let frames = run_in(&mut socket, "bad", None, project(&[("main.c", "int main(void) { return nope; }")])).await;
    assert_eq!(exit_of(&frames, "compile")["status"], "nonzero");
    let body = json!({"files": project(&[("main.sh", "exit 3")])}).to_string();
    let (status, _, _) = http(&server.url, "POST", "/api/v1/execute", Some(&body)).await;
    assert_eq!(status, 200);
    server.wait_for_boxes(1, "the execute's box to be destroyed after its answer").await;

    let (status, head, page) = http_from(None, &server.url, "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    assert!(head.contains("openmetrics-text"), "{head}");
    let expect = [
        (r#"bytesbox_runs_total{language="python",stage="run",status="ok"}"#, 3.0),
        (r#"bytesbox_runs_total{language="c",stage="compile",status="nonzero"}"#, 1.0),
        (r#"bytesbox_runs_total{language="bash",stage="run",status="nonzero"}"#, 1.0),
        (r#"bytesbox_jobs_total{language="python",outcome="finished"}"#, 3.0),
        (r#"bytesbox_job_duration_seconds_count{language="python"}"#, 3.0),
        (r#"bytesbox_box_creations_total{origin="session"}"#, 1.0),
        (r#"bytesbox_box_reuses_total{origin="session"}"#, 3.0),
        (r#"bytesbox_box_creations_total{origin="execute"}"#, 1.0),
        ("bytesbox_queue_depth", 0.0),
        ("bytesbox_running_jobs", 0.0),
        ("bytesbox_sessions_active", 1.0),
        ("bytesbox_boxes_active", 1.0),
    ];
    for (name, value) in expect {
        assert_eq!(sample(&page, name), Some(value), "{name} in\n{page}");
    }
    // Every python job took more than a millisecond and less than a minute.
    assert_eq!(sample(&page, r#"bytesbox_job_duration_seconds_bucket{le="0.001",language="python"}"#), Some(0.0));
    server.stop().await;
}

/// A WebSocket connection made from a given local address.
async fn connect_from(source: IpAddr, url: &str) -> Result<(Socket, Value), String> {
    let address = url.trim_start_matches("ws://").split('/').next().unwrap().to_string();
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.bind(std::net::SocketAddr::new(source, 0)).unwrap();
    let stream = tcp.connect(address.parse().unwrap()).await.unwrap();
    let (mut socket, _) = tokio_tungstenite::client_async(url, tokio_tungstenite::MaybeTlsStream::Plain(stream))
        .await
        .map_err(|e| e.to_string())?;
    let hello = next(&mut socket).await;
    Ok((socket, hello))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_refuse_one_busy_client_with_retry_after_and_spare_the_others() {
    let rate_limit = RateLimitConfig { per_minute: 1, burst: 3, trust_forwarded_for: false };
    let server = TestServer::new().rate_limit(rate_limit).start().await;
    let busy = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let other = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
    let body = json!({"files": project(&[("main.sh", "echo ok")])}).to_string();
    for _ in 0..3 {
        let (status, _, answer) = http_from(Some(busy), &server.url, "POST", "/api/v1/execute", Some(&body)).await;
        assert_eq!(status, 200, "{answer}");
    }
    let (status, head, answer) = http_from(Some(busy), &server.url, "POST", "/api/v1/execute", Some(&body)).await;
    assert_eq!(status, 429, "{answer}");
    assert!(answer.contains("\"rate_limited\""), "{answer}");
    let retry_after: u64 = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("retry-after: ").map(str::to_string))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After in {head}"));
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let refused = connect_from(busy, &server.url).await;
    assert!(refused.is_err_and(|e| e.contains("429")), "a WebSocket upgrade costs a token too");

    // Another client: its connection and two runs fit its burst; the
    // third run gets an error frame and the connection stays usable.
    let (mut socket, _) = connect_from(other, &server.url).await.unwrap();
    for id in ["r1", "r2"] {
        send(&mut socket, run(id, "echo fine")).await;
        assert_eq!(stdout(&until_done(&mut socket, id).await), "fine\n");
    }
    send(&mut socket, run("r3", "echo too many")).await;
    let frame = next(&mut socket).await;
    assert_eq!(
        (frame["type"].as_str(), frame["code"].as_str(), frame["id"].as_str()),
        (Some("error"), Some("rate_limited"), Some("r3"))
    );
    send(&mut socket, json!({"type": "ping", "nonce": "still there?"})).await;
    assert_eq!(next(&mut socket).await["nonce"], "still there?");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_sessions_at_once_each_get_exactly_their_own_answer() {
    let server = TestServer::new()
        .admission(AdmissionConfig { max_running: 8, max_queued: 64 })
        // 100 connections and runs from one address: over the default
        // per-client burst.
        .rate_limit(RateLimitConfig { per_minute: 0, ..RateLimitConfig::default() })
        .start()
        .await;
    let clients: Vec<_> = (0..50)
        .map(|n| {
            let url = server.url.clone();
            tokio::spawn(async move {
                let (mut socket, _) = connect(&url).await;
                send(&mut socket, run("job", &format!("sleep 0.2; echo session {n}"))).await;
                let frames = until_done(&mut socket, "job").await;
                (n, stdout(&frames), frames.last().cloned().unwrap_or_default())
            })
        })
        .collect();
    for client in clients {
        let (n, out, last) = client.await.unwrap();
        assert_eq!(last["type"], "done", "{last}");
        assert_eq!(out, format!("session {n}\n"));
    }
    assert_eq!(server.sessions.count(), 50, "sessions wait out their grace period");
    assert_eq!(server.backend.list().await.len(), 50, "one box per session");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_hostile_input_gets_clear_errors_and_harms_no_other_session() {
    if !require_root("oversized_and_hostile_input_gets_clear_errors_and_harms_no_other_session") {
        return;
    }
    // Time and output limits enforced by a real box.
    let server = TestServer::new().native().start().await;
    // A bystander session with a program running throughout.
    let (mut bystander, _) = connect(&server.url).await;
    send(&mut bystander, run("tick", "for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.3; done")).await;

    let (mut socket, _) = connect(&server.url).await;
    let code_of =
        |frame: &Value| (frame["type"].as_str().map(str::to_string), frame["code"].as_str().map(str::to_string));
    let error = |code: &str| (Some("error".to_string()), Some(code.to_string()));
    let cases = [
        // 11 MiB of files in a frame under the 12 MiB frame cap: over the
        // 10 MiB project size.
        (
            json!({"type": "run", "id": "big", "language": "sh",
            "files": [{"path": "main.sh", "content": "x".repeat(11 << 20)}]}),
            "invalid_spec",
        ),
        (
            json!({"type": "run", "id": "many", "language": "sh", "files":
            (0..501).map(|n| json!({"path": format!("f{n}.sh"), "content": ""})).collect::<Vec<_>>()}),
            "invalid_spec",
        ),
        (
            json!({"type": "run", "id": "dup", "language": "sh", "files": [
            {"path": "main.sh", "content": ""}, {"path": "./main.sh", "content": ""}]}),
            "invalid_path",
        ),
        (
            json!({"type": "run", "id": "nul", "language": "sh", "files": [{"path": "a\u{0}b.sh", "content": ""}]}),
            "invalid_path",
        ),
        (
            json!({"type": "run", "id": "abs", "language": "sh", "files": [{"path": "/etc/passwd", "content": ""}]}),
            "invalid_path",
        ),
        (
            json!({"type": "run", "id": "b64", "language": "sh", "files": [{"path": "main.sh", "content": "%%%", "encoding": "base64"}]}),
            "invalid_message",
        ),
        (json!({"type": "run", "id": "../../x", "language": "sh", "files": []}), "invalid_spec"),
        (json!({"type": "launch_missiles"}), "invalid_message"),
    ];
    for (frame, code) in cases {
        send(&mut socket, frame.clone()).await;
        let reply = next(&mut socket).await;
        assert_eq!(
            code_of(&reply),
            error(code),
            "{} -> {reply}",
            &frame.to_string()[..frame.to_string().len().min(120)]
        );
    }
    socket.send(Message::Binary(vec![0xff, 0x00].into())).await.unwrap();
    assert_eq!(code_of(&next(&mut socket).await), error("invalid_message"));

    // A time limit and an output flood, each ended cleanly.
    let mut slow = run("slow", "sleep 10");
    slow["limits"] = json!({"wall_time_ms": 500});
    send(&mut socket, slow).await;
    let frames = until_done(&mut socket, "slow").await;
    assert_eq!(exit_of(&frames, "run")["status"], "timeout", "{frames:#?}");
    send(&mut socket, run("flood", "yes flooding")).await;
    let frames = until_done(&mut socket, "flood").await;
    assert_eq!(exit_of(&frames, "run")["status"], "output_limit");
    let delivered = stdout(&frames).len();
    assert!((1 << 19..=1 << 20).contains(&delivered), "{delivered} bytes of a 1 MiB cap");

    // A frame over the 12 MiB frame cap ends that connection only.
    let huge = "y".repeat(13 << 20);
    let _ = socket.send(Message::Text(huge.into())).await;
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "an oversized frame closes its connection");

    // The bystander's program ran on undisturbed.
    let frames = until_done(&mut bystander, "tick").await;
    assert_eq!(stdout(&frames), (1..=6).map(|i| format!("tick {i}\n")).collect::<String>());
    let (mut fresh, _) = connect(&server.url).await;
    send(&mut fresh, run("ok", "echo still serving")).await;
    assert_eq!(stdout(&until_done(&mut fresh, "ok").await), "still serving\n");
    server.stop().await;
}
