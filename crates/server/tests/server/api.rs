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
        (r#"bytesbox_runs_total{node="local",language="python",stage="run",status="ok"}"#, 3.0),
        (r#"bytesbox_runs_total{node="local",language="c",stage="compile",status="nonzero"}"#, 1.0),
        (r#"bytesbox_runs_total{node="local",language="bash",stage="run",status="nonzero"}"#, 1.0),
        (r#"bytesbox_jobs_total{node="local",language="python",outcome="finished"}"#, 3.0),
        (r#"bytesbox_job_duration_seconds_count{node="local",language="python"}"#, 3.0),
        (r#"bytesbox_box_creations_total{node="local",origin="session"}"#, 1.0),
        (r#"bytesbox_box_reuses_total{node="local",origin="session"}"#, 3.0),
        (r#"bytesbox_box_creations_total{node="local",origin="execute"}"#, 1.0),
        (r#"bytesbox_queue_depth{node="local"}"#, 0.0),
        (r#"bytesbox_running_jobs{node="local"}"#, 0.0),
        (r#"bytesbox_sessions_active{node="local"}"#, 1.0),
        (r#"bytesbox_boxes_active{node="local"}"#, 1.0),
        (r#"bytesbox_kernels_active{node="local"}"#, 0.0),
    ];
    for (name, value) in expect {
        assert_eq!(sample(&page, name), Some(value), "{name} in\n{page}");
    }
    // The server's own memory: this test process, so more than a MiB and
    // less than the machine.
    let resident = sample(&page, r#"bytesbox_resident_memory_bytes{node="local"}"#).expect("the server's memory");
    assert!((1024.0 * 1024.0..1e12).contains(&resident), "{resident}");
    // Every metric carries the node's id (the default here).
    let samples = page.lines().filter(|line| line.starts_with("bytesbox_"));
    for line in samples {
        assert!(line.contains(r#"node="local""#), "{line}");
    }
    // Every python job took more than a millisecond and less than a minute.
    assert_eq!(
        sample(&page, r#"bytesbox_job_duration_seconds_bucket{node="local",le="0.001",language="python"}"#),
        Some(0.0)
    );
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

#[tokio::test]
async fn unknown_api_paths_answer_a_json_404_and_the_api_documents_itself() {
    let server = TestServer::new().start().await;
    for (method, path) in [("GET", "/api/v1/nope"), ("POST", "/api/v1/executes"), ("GET", "/api/v9/runtimes")] {
        let (status, head, body) = http(&server.url, method, path, None).await;
        assert_eq!(status, 404, "{method} {path}");
        assert!(head.to_lowercase().contains("content-type: application/json"), "{method} {path}: {head}");
        assert_eq!(body["error"]["code"], "not_found", "{method} {path}: {body}");
        assert_eq!(body["error"]["message"], format!("no API route {method} {path}; see /api/v1/docs"));
    }
    // A known path with the wrong method is still its own route's answer.
    let (status, _, _) = http(&server.url, "DELETE", "/api/v1/runtimes", None).await;
    assert_eq!(status, 405);
    let (status, head, text) = http_from(None, &server.url, "GET", "/api/v1/docs", None).await;
    assert_eq!(status, 200);
    assert!(head.to_lowercase().contains("content-type: text/plain; charset=utf-8"), "{head}");
    assert!(text.contains("/api/v1/execute") && text.contains("/api/v1/docs"), "the API's own document");
    server.stop().await;
}

#[tokio::test]
async fn accepted_names_the_entry_a_run_uses_given_or_chosen() {
    let server = TestServer::new().catalog().start().await;
    let (mut socket, _) = connect(&server.url).await;
    let files = project(&[("lib/helper.py", "print('helper')"), ("main.py", "print('main')"), ("data.txt", "1")]);
    let accepted = |frames: &[Value]| frames.iter().find(|f| f["type"] == "accepted").cloned().unwrap_or(Value::Null);
    // No entry: the catalog's rule picks main.py, and says so.
    let frames = run_in(&mut socket, "chosen", None, files.clone()).await;
    assert_eq!(accepted(&frames)["entry"], "main.py", "{frames:#?}");
    assert_eq!(stdout(&frames), "main\n");
    // A given entry is named as it was given.
    send(&mut socket, json!({"type": "run", "id": "given", "files": files, "entry": "lib/helper.py"})).await;
    let frames = until_done(&mut socket, "given").await;
    assert_eq!(accepted(&frames)["entry"], "lib/helper.py", "{frames:#?}");
    assert_eq!(stdout(&frames), "helper\n");
    server.stop().await;
}

/// SQLite's structured results, on the host double: isolation is not what
/// this tests. The same values, caps and line numbers as the servers'
/// (`STRUCTURED_CASES`), a trigger whose body holds semicolons, and the
/// first failed statement ends the run, as the text mode's `sqlite3 -bail`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_runs_give_structured_results_and_stop_at_a_failed_statement() {
    if !sqlite_installed("sqlite_runs_give_structured_results_and_stop_at_a_failed_statement") {
        return;
    }
    let server = TestServer::new().catalog().start().await;
    let (mut socket, _) = connect(&server.url).await;
    let source = "CREATE TABLE t (id INT, body TEXT);\n\
         INSERT INTO t VALUES (1, 'a,b|c;\td'), (2, 'two\nlines \"q\" {}[]'), (3, NULL), (4, '');\n\
         SELECT id, body, id * 1.5 AS f FROM t ORDER BY id;\n\
         CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET body = 'x;y' WHERE id = new.id; END;\n\
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000) SELECT x FROM c;\n\
         SELECT printf('%.*c', 10000, 'x') AS long_value;\n\
         SELECT X'00FF' AS raw;\n\
         SELECT id,\n  body\n  FROMM t;\n\
         SELECT 'never run';\n";
    let files = project(&[("main.sql", source)]);
    send(
        &mut socket,
        json!({"type": "run", "id": "structured", "language": "sqlite", "files": files, "sql_results": true}),
    )
    .await;
    let frames = until_done(&mut socket, "structured").await;
    assert_eq!(stdout(&frames), "", "the results replace the shell's text\n{frames:#?}");
    assert_eq!(exit_of(&frames, "run")["status"], "nonzero", "one statement failed\n{frames:#?}");
    let results: Vec<&Value> = frames.iter().filter(|f| f["type"] == "sql_result").map(|f| &f["result"]).collect();
    let statements: Vec<u64> = results.iter().map(|r| r["statement"].as_u64().expect("an index")).collect();
    assert_eq!(statements, [0, 1, 2, 3, 4, 5, 6, 7], "up to the failed one, in order\n{frames:#?}");

    assert_eq!(results[1]["affected_rows"], 4, "{}", results[1]);
    let select = results[2];
    assert_eq!((&select["line"], &select["row_count"], &select["truncated"]), (&json!(4), &json!(4), &json!(false)));
    let types: Vec<&Value> = select["columns"].as_array().expect("columns").iter().map(|c| &c["type"]).collect();
    assert_eq!(types, ["integer", "text", "real"], "{select}");
    assert_eq!(
        select["rows"],
        json!([["1", "a,b|c;\td", "1.5"], ["2", "two\nlines \"q\" {}[]", "3.0"], ["3", null, "4.5"], ["4", "", "6.0"]]),
        "values as the shell prints them, NULL apart from ''"
    );
    assert!(results[3].get("error").is_none(), "the trigger is one statement: {}", results[3]);

    let huge = results[4];
    assert_eq!((&huge["row_count"], &huge["truncated"]), (&json!(5000), &json!(true)));
    let kept = huge["rows"].as_array().expect("rows");
    assert_eq!((kept.len(), &kept[999]), (1000, &json!(["1000"])), "the first 1000 rows");
    let long = &results[5]["rows"][0][0];
    assert_eq!((&long["bytes"], long["text"].as_str().map(str::len)), (&json!(10_000), Some(4096)), "{long}");
    assert_eq!(results[6]["rows"][0][0], json!({"hex": "00ff", "bytes": 2}), "{}", results[6]);
    assert_eq!(results[6]["columns"][0]["type"], "blob");

    let failed = results[7];
    assert_eq!((&failed["line"], &failed["end_line"]), (&json!(9), &json!(11)), "{failed}");
    assert_eq!((&failed["error"]["line"], &failed["error"]["column"]), (&json!(11), &json!(9)), "near \"t\": {failed}");

    // The database lasts into the session's next run.
    let files = project(&[("main.sql", "SELECT count(*) AS n FROM t;\n")]);
    send(&mut socket, json!({"type": "run", "id": "again", "language": "sqlite", "files": files, "sql_results": true}))
        .await;
    let frames = until_done(&mut socket, "again").await;
    let again = frames.iter().find(|f| f["type"] == "sql_result").map(|f| &f["result"]).expect("a result");
    assert_eq!(again["rows"], json!([["4"]]), "{again}");

    // The one-shot API gives them too; a run that does not ask gets the shell's text.
    let body =
        json!({"language": "sqlite", "files": project(&[("main.sql", "SELECT 1 AS one;\n")]), "sql_results": true});
    let (status, _, answer) = http(&server.url, "POST", "/api/v1/execute", Some(&body.to_string())).await;
    assert_eq!(
        (status, &answer["run"]["stdout"], &answer["sql_results"][0]["rows"]),
        (200, &json!(""), &json!([["1"]])),
        "{answer}"
    );
    let body = json!({"language": "sqlite", "files": project(&[("main.sql", "SELECT 1 AS one;\n")])});
    let (status, _, answer) = http(&server.url, "POST", "/api/v1/execute", Some(&body.to_string())).await;
    assert_eq!(
        (status, &answer["run"]["stdout"], &answer["sql_results"]),
        (200, &json!("1\n"), &Value::Null),
        "{answer}"
    );
    server.stop().await;
}

/// A `scratch` query (the IDE's schema panel's) runs beside the project:
/// the workspace's `main.sql` stays as the project's run left it (a
/// terminal or `git status` sees the project's, not the query), and the
/// watch reports nothing, neither the query nor the project's file gone
/// (the IDE would delete the file, with its error marks).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scratch_query_runs_beside_the_project_and_leaves_the_workspace_as_it_was() {
    if !sqlite_installed("a_scratch_query_runs_beside_the_project_and_leaves_the_workspace_as_it_was") {
        return;
    }
    let server = TestServer::new().catalog().start().await;
    let (mut socket, _) = connect(&server.url).await;
    let source = "CREATE TABLE notes (id INT, body TEXT);\nSELECT nope FROM notes;\n";
    let files = project(&[("main.sql", source)]);
    send(&mut socket, json!({"type": "run", "id": "user", "language": "sqlite", "files": files, "sql_results": true}))
        .await;
    until_done(&mut socket, "user").await;
    crate::git::git_ok(&mut socket, "init", &["init", "-q"]).await;
    crate::git::git_ok(&mut socket, "add", &["add", "main.sql"]).await;
    crate::git::git_ok(&mut socket, "commit", &["commit", "-q", "-m", "the project"]).await;
    send(&mut socket, json!({"type": "files_watch"})).await;
    assert_eq!(next(&mut socket).await["type"], "files_watching");

    let query = "SELECT name FROM sqlite_master WHERE type = 'table';\n";
    let scratch = |id: &str| {
        json!({"type": "run", "id": id, "language": "sqlite", "files": project(&[("main.sql", query)]),
               "entry": "main.sql", "sql_results": true, "scratch": true})
    };
    send(&mut socket, scratch("schema")).await;
    let mut frames = Vec::new();
    loop {
        let frame = next(&mut socket).await;
        let done = frame["id"] == "schema" && (frame["type"] == "done" || frame["type"] == "error");
        frames.push(frame);
        if done {
            break;
        }
    }
    let rows: Vec<&Value> = frames.iter().filter(|f| f["type"] == "sql_result").map(|f| &f["result"]["rows"]).collect();
    assert_eq!(rows, [&json!([["notes"]])], "the query ran on the session's database\n{frames:#?}");
    // Nothing of the workspace changed: the project's main.sql is there as
    // committed, nothing is new.
    let status =
        crate::git::git_ok(&mut socket, "status", &["status", "--porcelain=v1", "-uall", "--", "main.sql"]).await;
    assert_eq!(status, "", "main.sql is the project's");
    tokio::time::sleep(Duration::from_millis(800)).await;
    send(&mut socket, json!({"type": "ping", "nonce": "settle"})).await;
    loop {
        let frame = next(&mut socket).await;
        assert_ne!(frame["type"], "files_changed", "the scratch run is no change of the workspace: {frame}");
        if frame["type"] == "pong" {
            break;
        }
    }

    // Only a session's structured query, with its files and entry named.
    let mut plain = scratch("plain");
    plain["sql_results"] = json!(false);
    let mut no_entry = scratch("no-entry");
    no_entry.as_object_mut().unwrap().remove("entry");
    for frame in [plain, no_entry] {
        let id = frame["id"].as_str().unwrap().to_string();
        send(&mut socket, frame).await;
        let answer = until_done(&mut socket, &id).await;
        assert_eq!((&answer[0]["type"], &answer[0]["code"]), (&json!("error"), &json!("invalid_spec")), "{answer:?}");
    }
    server.stop().await;
}

/// The sqlite3 shell that `scripts/test` installs: a recorded skip
/// without it, a failure in CI (the host double needs no root).
fn sqlite_installed(test: &str) -> bool {
    let missing = bytesbox_runtimes::Catalog::builtin()
        .detect_versions()
        .into_iter()
        .find(|s| s.id == "sqlite" && !s.available)
        .map(|s| format!("sqlite: {}", s.reason.unwrap_or_default()));
    bytesbox_testkit::require_prerequisite(test, "the sqlite3 shell (scripts/lib.sh)", missing)
}

/// Root, and the SQL servers that `scripts/test` installs
/// (`ensure_sql_servers`): a recorded skip without them, a failure in CI.
fn sql_servers_installed(test: &str) -> bool {
    if !require_root(test) {
        return false;
    }
    let missing: Vec<String> = bytesbox_runtimes::Catalog::builtin()
        .detect_versions()
        .into_iter()
        .filter(|s| ["mysql", "postgresql"].contains(&s.id.as_str()) && !s.available)
        .map(|s| format!("{}: {}", s.id, s.reason.unwrap_or_default()))
        .collect();
    let problem = (!missing.is_empty()).then(|| missing.join("; "));
    bytesbox_testkit::require_prerequisite(test, "MariaDB and PostgreSQL (scripts/lib.sh: ensure_sql_servers)", problem)
}

/// The next frame about `id` of this type, or the first that is not
/// output when `kind` is `None` (the answer to a request of the session).
async fn frame_of(socket: &mut Socket, id: &str, kind: Option<&str>) -> Value {
    loop {
        let frame = next(socket).await;
        let wanted = match kind {
            Some(kind) => frame["type"] == kind,
            None => frame["type"] != "output",
        };
        if frame["id"] == id && wanted {
            return frame;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_databases_last_across_a_sessions_runs_until_reset() {
    if !sql_servers_installed("sql_databases_last_across_a_sessions_runs_until_reset") {
        return;
    }
    let server = TestServer::new().catalog().native().start().await;
    let (mut socket, _) = connect(&server.url).await;
    let (mut other, _) = connect(&server.url).await;
    let create = "CREATE TABLE notes (body VARCHAR(20));\nINSERT INTO notes VALUES ('kept-note');\n";
    let select = "SELECT body FROM notes;\n";
    for language in ["mysql", "postgresql"] {
        let sql = |source: &str| project(&[("main.sql", source)]);
        let frames = run_in(&mut socket, &format!("{language}-create"), Some(language), sql(create)).await;
        assert_eq!(exit_of(&frames, "run")["status"], "ok", "{language}: {frames:#?}");
        // A run of another language in between keeps the database (and
        // the server running on it).
        let between = project(&[("main.sh", "echo another language")]);
        let frames = run_in(&mut socket, &format!("{language}-between"), Some("bash"), between).await;
        assert_eq!(exit_of(&frames, "run")["status"], "ok", "{language}: {frames:#?}");
        // A later run of the session finds the table.
        let frames = run_in(&mut socket, &format!("{language}-select"), Some(language), sql(select)).await;
        assert_eq!(exit_of(&frames, "run")["status"], "ok", "{language}: {frames:#?}");
        assert!(stdout(&frames).contains("kept-note"), "{language}: {frames:#?}");
        // Another session has a database of its own.
        let frames = run_in(&mut other, &format!("{language}-other"), Some(language), sql(select)).await;
        assert_eq!(exit_of(&frames, "run")["status"], "nonzero", "{language}: {frames:#?}");
        assert!(!stdout(&frames).contains("kept-note"), "{language}: {frames:#?}");
        // A reset drops the database; the next run starts from an empty one.
        let reset = format!("{language}-reset");
        send(&mut socket, json!({"type": "reset_database", "id": reset})).await;
        assert_eq!(frame_of(&mut socket, &reset, None).await, json!({"type": "database_reset", "id": reset}));
        let frames = run_in(&mut socket, &format!("{language}-after-reset"), Some(language), sql(select)).await;
        assert_eq!(exit_of(&frames, "run")["status"], "nonzero", "{language}: {frames:#?}");
        assert!(!stdout(&frames).contains("kept-note"), "{language}: {frames:#?}");
    }
    // The first session's first run of each made the host's template, and
    // its box's server started from it instead of the initialiser.
    let templates = server.server_templates();
    for language in ["mysql", "postgresql"] {
        assert!(templates.iter().any(|t| t.contains(&format!("/{language}-"))), "{language}: {templates:?}");
    }
    let probe = "SELECT 'init log: ' || coalesce(pg_read_file('/workspace/.bytesbox/postgresql/init.log', 0, 8, true), 'none') AS probe;\n";
    let frames = run_in(&mut other, "no-initialiser", Some("postgresql"), project(&[("main.sql", probe)])).await;
    assert!(stdout(&frames).contains("init log: none"), "{frames:#?}");
    // So did the server of a one-shot run's box of its own.
    let body = json!({"language": "postgresql", "files": project(&[("main.sql", probe)])}).to_string();
    let (status, _, answer) = http(&server.url, "POST", "/api/v1/execute", Some(&body)).await;
    assert_eq!((status, &answer["run"]["status"]), (200, &json!("ok")), "{answer}");
    assert!(answer["run"]["stdout"].as_str().is_some_and(|out| out.contains("init log: none")), "{answer}");
    // While a run is going, the database stays.
    send(&mut socket, run("long", "sleep 60")).await;
    frame_of(&mut socket, "long", Some("stage")).await;
    send(&mut socket, json!({"type": "reset_database", "id": "busy"})).await;
    let refused = frame_of(&mut socket, "busy", None).await;
    assert_eq!((&refused["type"], &refused["code"]), (&json!("error"), &json!("session_busy")), "{refused}");
    send(&mut socket, json!({"type": "kill", "id": "long"})).await;
    until_done(&mut socket, "long").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sessions_sql_runs_share_one_server_that_outlives_a_runaway_query() {
    if !sql_servers_installed("a_sessions_sql_runs_share_one_server_that_outlives_a_runaway_query") {
        return;
    }
    let server = TestServer::new().catalog().native().start().await;
    let (mut socket, _) = connect(&server.url).await;
    // What only the same server process answers alike twice: a global
    // setting changed in its memory (MariaDB), its start time (PostgreSQL).
    let cases = [
        (
            "mysql",
            "SET GLOBAL table_open_cache = 65;\nSELECT CONCAT('server mark ', @@GLOBAL.table_open_cache) AS probe;\n",
            "SELECT CONCAT('server mark ', @@GLOBAL.table_open_cache) AS probe;\n",
            "SELECT CONCAT('digits ', COUNT(*)) AS probe FROM digits;\n",
        ),
        (
            "postgresql",
            "SELECT 'server mark ' || pg_postmaster_start_time() AS probe;\n",
            "SELECT 'server mark ' || pg_postmaster_start_time() AS probe;\n",
            "SELECT 'digits ' || COUNT(*) AS probe FROM digits;\n",
        ),
    ];
    let setup = "CREATE TABLE digits (d INT);\nINSERT INTO digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9);\n";
    let runaway = "SELECT COUNT(*) FROM digits a, digits b, digits c, digits d, digits e, digits f, digits g, digits h, digits i, digits j;\n";
    for (language, first, again, count) in cases {
        let sql = |source: &str| project(&[("main.sql", source)]);
        let mark = |frames: &[Value]| {
            let out = stdout(frames);
            let line = out.lines().find(|l| l.contains("server mark")).map(|l| l.trim().to_string());
            line.unwrap_or_else(|| panic!("{language}: {frames:#?}"))
        };
        let started = mark(&run_in(&mut socket, &format!("{language}-mark"), Some(language), sql(first)).await);
        let frames = run_in(&mut socket, &format!("{language}-setup"), Some(language), sql(setup)).await;
        assert_eq!(exit_of(&frames, "run")["status"], "ok", "{language}: {frames:#?}");
        assert_eq!(mark(&run_in(&mut socket, &format!("{language}-again"), Some(language), sql(again)).await), started);
        // A runaway query ends at the run's time limit, on the server too:
        // the next run gets its answer from the same server.
        let id = format!("{language}-runaway");
        let limits = json!({"wall_time_ms": 3000});
        send(
            &mut socket,
            json!({"type": "run", "id": id, "language": language, "files": sql(runaway), "limits": limits}),
        )
        .await;
        let frames = until_done(&mut socket, &id).await;
        assert_eq!(exit_of(&frames, "run")["status"], "timeout", "{language}: {frames:#?}");
        let frames = run_in(&mut socket, &format!("{language}-after"), Some(language), sql(count)).await;
        assert_eq!(exit_of(&frames, "run")["status"], "ok", "{language}: {frames:#?}");
        assert!(stdout(&frames).contains("digits 10"), "{language}: {frames:#?}");
        assert_eq!(mark(&run_in(&mut socket, &format!("{language}-last"), Some(language), sql(again)).await), started);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_box_with_a_database_server_counts_against_the_idle_memory_cap() {
    if !sql_servers_installed("an_idle_box_with_a_database_server_counts_against_the_idle_memory_cap") {
        return;
    }
    // A guest may keep 1 MiB in idle boxes; a box with a server holds more.
    let plans = "[guest]\nmax_idle_box_bytes = 1048576\n";
    let accounts = bytesbox_server::accounts::AccountsConfig::default();
    let server = TestServer::new().catalog().native().accounts(accounts, plans, Stores::SqliteAndFiles).start().await;
    let (mut socket, _) = connect(&server.url).await;
    let frames = run_in(&mut socket, "serve", Some("postgresql"), project(&[("main.sql", "SELECT 1;\n")])).await;
    assert_eq!(exit_of(&frames, "run")["status"], "ok", "{frames:#?}");
    // The session stays connected, so only the sweep of idle bytes can
    // destroy its box: the server's run does not make the box busy.
    server.wait_for_boxes(0, "the idle box with its database server to be reclaimed").await;
    server.stop().await;
}

/// A file whose results test the structured form: values holding the
/// separators, quotes, braces and newlines of the formats, NULL next to
/// an empty string (the INSERT spans two lines), a statement on lines 5
/// to 7 that fails on its third line, a result
/// past the row cap, a value past the cell cap and a binary value.
/// (language, file, the failing statement's line, the binary cell).
const STRUCTURED_CASES: &[(&str, &str, u32, &str)] = &[
    (
        "mysql",
        "CREATE TABLE t (id INT, body TEXT);\n\
         INSERT INTO t VALUES (1, 'a,b|c;\td'), (2, 'two\nlines \"q\" {}[]'), (3, NULL), (4, '');\n\
         SELECT id, body FROM t ORDER BY id;\n\
         SELECT id,\n  body\n  FROMM t;\n\
         SELECT seq FROM seq_1_to_5000;\n\
         SELECT REPEAT('x', 10000) AS long_value;\n\
         SELECT X'00FF' AS raw;\n",
        7,
        "{\"bytes\":2,\"hex\":\"00ff\"}",
    ),
    (
        "postgresql",
        "CREATE TABLE t (id INT, body TEXT);\n\
         INSERT INTO t VALUES (1, 'a,b|c;\td'), (2, 'two\nlines \"q\" {}[]'), (3, NULL), (4, '');\n\
         SELECT id, body FROM t ORDER BY id;\n\
         SELECT id,\n  body\n  FROMM t;\n\
         SELECT g FROM generate_series(1, 5000) AS g;\n\
         SELECT REPEAT('x', 10000) AS long_value;\n\
         SELECT '\\x00ff'::bytea AS raw;\n",
        7,
        "\"\\\\x00ff\"",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_runs_give_structured_results_on_both_servers() {
    if !sql_servers_installed("sql_runs_give_structured_results_on_both_servers") {
        return;
    }
    let server = TestServer::new().catalog().native().start().await;
    let (mut socket, _) = connect(&server.url).await;
    for &(language, source, error_line, binary) in STRUCTURED_CASES {
        let id = format!("{language}-structured");
        let files = project(&[("main.sql", source)]);
        send(&mut socket, json!({"type": "run", "id": id, "language": language, "files": files, "sql_results": true}))
            .await;
        let frames = until_done(&mut socket, &id).await;
        assert_eq!(stdout(&frames), "", "{language}: the results replace the client's text\n{frames:#?}");
        assert_eq!(exit_of(&frames, "run")["status"], "nonzero", "{language}: one statement failed\n{frames:#?}");
        let exit_at = frames.iter().position(|f| f["type"] == "exit").expect("an exit");
        let results: Vec<&Value> =
            frames[..exit_at].iter().filter(|f| f["type"] == "sql_result").map(|f| &f["result"]).collect();
        let statements: Vec<u64> = results.iter().map(|r| r["statement"].as_u64().expect("an index")).collect();
        assert_eq!(statements, [0, 1, 2, 3, 4, 5, 6], "{language}: one result per statement, in order\n{frames:#?}");

        assert_eq!(results[1]["affected_rows"], 4, "{language}: {}", results[1]);
        let select = results[2];
        assert_eq!(
            (&select["line"], &select["row_count"], &select["truncated"]),
            (&json!(4), &json!(4), &json!(false))
        );
        assert_eq!(select["columns"][1]["name"], "body", "{language}: {select}");
        assert!(select["columns"][1]["type"].as_str().is_some_and(|t| t.contains("text")), "{language}: {select}");
        assert_eq!(
            select["rows"],
            json!([["1", "a,b|c;\td"], ["2", "two\nlines \"q\" {}[]"], ["3", null], ["4", ""]]),
            "{language}: values exactly as stored, NULL apart from ''"
        );

        let failed = results[3];
        assert_eq!((&failed["line"], &failed["end_line"]), (&json!(5), &json!(7)), "{language}: {failed}");
        assert_eq!(failed["error"]["line"], error_line, "{language}: the error points at its line\n{failed}");
        assert!(failed["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{language}: {failed}");

        let huge = results[4];
        assert_eq!((&huge["row_count"], &huge["truncated"]), (&json!(5000), &json!(true)), "{language}");
        let kept = huge["rows"].as_array().expect("rows");
        assert_eq!((kept.len(), &kept[999]), (1000, &json!(["1000"])), "{language}: the first 1000 rows");

        let long = &results[5]["rows"][0][0];
        assert_eq!(long["bytes"], 10_000, "{language}: {long}");
        assert_eq!(long["text"].as_str().map(str::len), Some(4096), "{language}: {long}");

        assert_eq!(results[6]["rows"][0][0].to_string(), binary, "{language}: {}", results[6]);

        // The one-shot API gives the same results in its answer.
        let body =
            json!({"language": language, "files": project(&[("main.sql", "SELECT 1 AS one;\n")]), "sql_results": true});
        let (status, _, answer) = http(&server.url, "POST", "/api/v1/execute", Some(&body.to_string())).await;
        assert_eq!(
            (status, &answer["run"]["status"], &answer["run"]["stdout"]),
            (200, &json!("ok"), &json!("")),
            "{answer}"
        );
        assert_eq!(answer["sql_results"][0]["rows"], json!([["1"]]), "{language}: {answer}");
    }
    // The servers' notices and warnings come with their statement, the
    // first 20 of a statement that raises them without end.
    let notices = [
        ("mysql", "SELECT 1/0 AS w;\n", json!(["Warning 1365: Division by 0"])),
        (
            "postgresql",
            "DO $$ BEGIN FOR i IN 1..100000 LOOP RAISE NOTICE 'n%', i; END LOOP; END $$;\n",
            json!((1..=20).map(|i| format!("n{i}")).collect::<Vec<_>>()),
        ),
    ];
    for (language, source, expected) in notices {
        let body = json!({"language": language, "files": project(&[("main.sql", source)]), "sql_results": true});
        let (status, _, answer) = http(&server.url, "POST", "/api/v1/execute", Some(&body.to_string())).await;
        assert_eq!((status, &answer["sql_results"][0]["notices"]), (200, &expected), "{language}: {answer}");
    }
    // Structured results are the SQL servers' only.
    let frames = run_in(&mut socket, "not-sql", Some("python"), project(&[("main.py", "print(1)")])).await;
    assert_eq!(stdout(&frames), "1\n", "{frames:#?}");
    send(&mut socket, json!({"type": "run", "id": "py-structured", "language": "python", "files": project(&[("main.py", "print(1)")]), "sql_results": true})).await;
    let refused = until_done(&mut socket, "py-structured").await;
    assert_eq!(refused.last().map(|f| &f["code"]), Some(&json!("invalid_spec")), "{refused:#?}");
    // And they are read from stdout alone: never under a terminal.
    let files = project(&[("main.sql", "SELECT 1;\n")]);
    let frame = json!({"type": "run", "id": "tty", "language": "postgresql", "files": files, "sql_results": true, "tty": {"rows": 24, "cols": 80}});
    send(&mut socket, frame).await;
    let refused = until_done(&mut socket, "tty").await;
    assert_eq!(refused.last().map(|f| &f["code"]), Some(&json!("invalid_spec")), "{refused:#?}");
    server.stop().await;
}
