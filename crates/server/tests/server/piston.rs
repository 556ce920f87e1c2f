//! Piston v2 compatibility (`docs/piston.md`) over real HTTP and WebSocket
//! connections, with the language catalog: on the host double for the
//! protocol, on the native backend (root) where Piston's answers carry
//! real measurements or limits.

use std::time::Duration;

use bytesbox_engine::AdmissionConfig;
use bytesbox_server::config::{PistonConfig, ServerConfig};
use bytesbox_testkit::require_root;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use super::{http, wait_until_one_runs_and_one_waits, Server, Socket, TestServer};

async fn execute(server: &Server, body: Value) -> (u16, String, Value) {
    http(&server.url, "POST", "/api/v2/execute", Some(&body.to_string())).await
}

/// The detected Python version, as `/api/v2/runtimes` lists it.
async fn python_version(server: &Server) -> String {
    let (_, _, runtimes) = http(&server.url, "GET", "/api/v2/runtimes", None).await;
    let python = runtimes.as_array().unwrap().iter().find(|r| r["language"] == "python").unwrap();
    python["version"].as_str().unwrap().to_string()
}

/// A stage of an `execute` answer that ended well: the fields Piston sends.
fn assert_clean_stage(stage: &Value) {
    assert_eq!(stage["code"], 0, "{stage}");
    assert!(stage["signal"].is_null() && stage["status"].is_null() && stage["message"].is_null(), "{stage}");
    assert!(stage["wall_time"].as_u64().unwrap() > 0, "{stage}");
    assert!(stage["memory"].as_u64().unwrap() > 0, "{stage}");
    assert!(stage["cpu_time"].is_u64(), "{stage}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piston_execute_runs_python_with_stdin_args_and_data_files() {
    if !require_root("piston_execute_runs_python_with_stdin_args_and_data_files") {
        return;
    }
    let server = TestServer::new().catalog().native().start().await;
    let version = python_version(&server).await;
    assert_eq!(version.split('.').count(), 3, "a semantic version: {version}");
    // The pauses keep the two streams' writes apart, so `output` has one
    // order to check.
    let program = "import sys, time\nname = input()\nprint('hello', name, sys.argv[1:], flush=True)\ntime.sleep(0.1)\n\
                   print('warn', file=sys.stderr, flush=True)\ntime.sleep(0.1)\n\
                   print(open('data.bin', 'rb').read().hex(), open('raw.bin', 'rb').read().hex())\n";
    let body = json!({
        "language": "py", "version": "3.x",
        "files": [{"content": program},
                  {"name": "data.bin", "content": "AP8=", "encoding": "base64"},
                  {"name": "raw.bin", "content": "cafe", "encoding": "hex"}],
        "stdin": "Ada", "args": ["1", "two words"],
        "run_timeout": 5000, "run_memory_limit": -1, "compile_memory_limit": -1,
    });
    let (status, _, answer) = execute(&server, body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["language"], "python");
    assert_eq!(answer["version"], version.as_str());
    assert!(answer.get("compile").is_none(), "no compile key for an interpreted language: {answer}");
    let run = &answer["run"];
    assert_eq!(run["stdout"], "hello Ada ['1', 'two words']\n00ff cafe\n");
    assert_eq!(run["stderr"], "warn\n");
    assert_eq!(run["output"], "hello Ada ['1', 'two words']\nwarn\n00ff cafe\n", "both streams in order");
    assert_clean_stage(run);
    server.wait_for_boxes(0, "the box of each execute to be destroyed").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piston_execute_compiles_c_and_reports_compile_errors_as_piston_does() {
    if !require_root("piston_execute_compiles_c_and_reports_compile_errors_as_piston_does") {
        return;
    }
    let server = TestServer::new().catalog().native().start().await;
    let program = "#include <stdio.h>\n#include <math.h>\nint main(int argc, char **argv) {\n\
                   printf(\"%.1f %s\\n\", sqrt(2.25), argv[1]);\n return 3;\n}\n";
    let body = json!({"language": "c", "version": "*", "files": [{"name": "main.c", "content": program}],
                      "args": ["x"], "compile_timeout": 20000, "compile_cpu_time": 20000});
    let (status, _, answer) = execute(&server, body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["language"], "c");
    assert_clean_stage(&answer["compile"]);
    let run = &answer["run"];
    assert_eq!((run["stdout"].as_str(), run["code"].as_i64()), (Some("1.5 x\n"), Some(3)));
    assert_eq!((run["status"].as_str(), run["message"].as_str()), (Some("RE"), Some("Exited with error status 3")));
    assert!(run["signal"].is_null());

    // An unnamed file gets a name with the language's extension, so it is
    // compiled; a compile error ends the job, and `run` repeats `compile`.
    let broken = json!({"language": "gcc", "version": "*", "files": [{"content": "int main(void) { return nope; }"}]});
    let (status, _, answer) = execute(&server, broken).await;
    assert_eq!(status, 200, "{answer}");
    let compile = &answer["compile"];
    assert_eq!((compile["code"].as_i64(), compile["status"].as_str()), (Some(1), Some("RE")));
    assert!(compile["stderr"].as_str().unwrap().contains("nope"), "{compile}");
    assert_eq!(compile["output"], compile["stderr"]);
    assert_eq!(answer["run"], answer["compile"], "Piston repeats the compile stage as run");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piston_execute_times_out_with_sigkill_and_refuses_bad_requests() {
    if !require_root("piston_execute_times_out_with_sigkill_and_refuses_bad_requests") {
        return;
    }
    let server = TestServer::new().catalog().native().start().await;
    let spin = json!({"language": "python", "version": "*", "run_timeout": 300,
                      "files": [{"content": "print('started', flush=True)\nwhile True: pass\n"}]});
    let (status, _, answer) = execute(&server, spin).await;
    assert_eq!(status, 200, "{answer}");
    let run = &answer["run"];
    assert_eq!(run["stdout"], "started\n", "output before the timeout is kept");
    assert_eq!((run["signal"].as_str(), run["status"].as_str()), (Some("SIGKILL"), Some("TO")));
    assert!(run["code"].is_null());
    assert_eq!(run["message"], "Time limit exceeded (wall clock)");
    assert!(run["wall_time"].as_u64().unwrap() >= 300);

    let hello = |extra: Value| {
        let mut body = json!({"language": "python", "version": "*", "files": [{"content": "print(1)"}]});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    let max = ServerConfig::default().limits.max;
    let too_long = format!("run_timeout cannot exceed the configured limit of {}", max.wall_time_ms);
    let too_big = format!("compile_memory_limit cannot exceed the configured limit of {}", max.memory_bytes);
    let cases = [
        (hello(json!({"run_timeout": 999_999_999})), too_long.as_str()),
        (hello(json!({"compile_memory_limit": 1u64 << 60})), too_big.as_str()),
        (hello(json!({"run_timeout": "5s"})), "If specified, run_timeout must be a number"),
        (hello(json!({"run_cpu_time": -3})), "run_cpu_time must be non-negative"),
        (hello(json!({"language": "cobol"})), "cobol-* runtime is unknown"),
        (hello(json!({"version": "2.x"})), "python-2.x runtime is unknown"),
        (hello(json!({"version": ">=99"})), "python->=99 runtime is unknown"),
        (hello(json!({"version": null})), "version is required as a string"),
        (hello(json!({"files": {"a": "b"}})), "files is required as an array"),
        (hello(json!({"files": [{"name": "a.py"}]})), "files[0].content is required as a string"),
        (
            hello(json!({"files": [{"content": "AA==", "encoding": "base64"}]})),
            "files must include at least one utf8 encoded file",
        ),
    ];
    for (body, message) in cases {
        let (status, _, answer) = execute(&server, body.clone()).await;
        assert_eq!((status, answer["message"].as_str()), (400, Some(message)), "{body}");
    }
    let (status, _, answer) = execute(&server, hello(json!({"files": [{"name": "../x.py", "content": "1"}]}))).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("../x.py"), "{answer}");
    server.wait_for_boxes(0, "every execute's box to be destroyed").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piston_runtimes_list_available_languages_and_ranges_select_them() {
    let server = TestServer::new().catalog().start().await;
    let (status, _, runtimes) = http(&server.url, "GET", "/api/v2/runtimes", None).await;
    assert_eq!(status, 200);
    let runtimes = runtimes.as_array().unwrap();
    for runtime in runtimes {
        let keys: Vec<&String> = runtime.as_object().unwrap().keys().collect();
        assert!(keys.iter().all(|k| ["language", "version", "aliases", "runtime"].contains(&k.as_str())), "{runtime}");
        semver::Version::parse(runtime["version"].as_str().unwrap()).unwrap();
    }
    let find = |language: &str| runtimes.iter().find(|r| r["language"] == language).unwrap().clone();
    let c = find("c");
    assert_eq!(c["runtime"], "gcc");
    assert!(c["aliases"].as_array().unwrap().contains(&json!("gcc")));
    assert!(find("python").get("runtime").is_none(), "runtime only when the version names a tool");

    let python = find("python")["version"].as_str().unwrap().to_string();
    let (major, minor) = {
        let mut parts = python.split('.');
        (parts.next().unwrap().to_string(), parts.next().unwrap().to_string())
    };
    for selector in
        [python.clone(), format!("{major}.x"), format!("{major}.{minor}"), format!(">={major}.0 <99"), "*".into()]
    {
        let body = json!({"language": "python3", "version": selector, "files": [{"content": "print(6*7)"}]});
        let (status, _, answer) = execute(&server, body).await;
        assert_eq!((status, answer["run"]["stdout"].as_str()), (200, Some("42\n")), "{selector}: {answer}");
        assert_eq!(answer["version"], python.as_str());
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piston_execute_answers_a_full_queue_with_retry_after() {
    let server = TestServer::new().catalog().admission(AdmissionConfig { max_running: 1, max_queued: 1 }).start().await;
    let slow = json!({"language": "bash", "version": "*", "files": [{"content": "sleep 1; echo done"}]});
    let busy: Vec<_> = (0..2)
        .map(|_| {
            let (url, body) = (server.url.clone(), slow.to_string());
            tokio::spawn(async move { http(&url, "POST", "/api/v2/execute", Some(&body)).await })
        })
        .collect();
    wait_until_one_runs_and_one_waits(&server).await;
    let (status, head, answer) = execute(&server, slow.clone()).await;
    assert_eq!(status, 503, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("queue"), "{answer}");
    assert!(head.to_ascii_lowercase().contains("retry-after: "), "{head}");

    // The WebSocket gets Piston's error frame and 4002.
    let mut socket = connect(&server).await;
    send(&mut socket, json!({"type": "init", "language": "bash", "version": "*", "files": [{"content": "true"}]}))
        .await;
    let error = frame(&mut socket).await.json();
    assert_eq!(error["type"], "error");
    assert!(error["message"].as_str().unwrap().contains("queue"), "{error}");
    assert_eq!(frame(&mut socket).await.close(), (4002, "Notified Error".into()));

    for request in busy {
        let (status, _, answer) = request.await.unwrap();
        assert_eq!((status, answer["run"]["stdout"].as_str()), (200, Some("done\n")), "admitted requests finish");
    }
    server.stop().await;
}

/// A frame from the server: JSON text or a close with its code.
#[derive(Debug)]
enum Frame {
    Json(Value),
    Close(u16, String),
}

impl Frame {
    fn json(self) -> Value {
        match self {
            Frame::Json(value) => value,
            other => panic!("expected a JSON frame, got {other:?}"),
        }
    }

    fn close(self) -> (u16, String) {
        match self {
            Frame::Close(code, reason) => (code, reason),
            other => panic!("expected a close, got {other:?}"),
        }
    }
}

async fn connect(server: &Server) -> Socket {
    connect_url(&server.url.replace("/api/v1/ws", "/api/v2/connect")).await
}

async fn connect_url(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn send(socket: &mut Socket, value: Value) {
    socket.send(Message::Text(value.to_string().into())).await.unwrap();
}

async fn frame(socket: &mut Socket) -> Frame {
    loop {
        let message =
            tokio::time::timeout(Duration::from_secs(20), socket.next()).await.expect("no frame").unwrap().unwrap();
        match message {
            Message::Text(text) => return Frame::Json(serde_json::from_str(&text).unwrap()),
            Message::Close(Some(close)) => return Frame::Close(close.code.into(), close.reason.to_string()),
            Message::Close(None) => return Frame::Close(1005, String::new()),
            _ => {}
        }
    }
}

/// Frames until the close; `data` frames of one stream are merged.
async fn until_close(socket: &mut Socket) -> (Vec<Value>, (u16, String)) {
    let mut frames: Vec<Value> = Vec::new();
    loop {
        match frame(socket).await {
            Frame::Close(code, reason) => return (frames, (code, reason)),
            Frame::Json(value) => {
                if let Some(last) = frames.last_mut() {
                    if value["type"] == "data" && last["type"] == "data" && last["stream"] == value["stream"] {
                        last["data"] =
                            json!(format!("{}{}", last["data"].as_str().unwrap(), value["data"].as_str().unwrap()));
                        continue;
                    }
                }
                frames.push(value);
            }
        }
    }
}

/// Reads frames until stdout has shown `text`.
async fn wait_for_stdout(socket: &mut Socket, text: &str) {
    let mut seen = String::new();
    while !seen.contains(text) {
        let value = frame(socket).await.json();
        if value["type"] == "data" && value["stream"] == "stdout" {
            seen.push_str(value["data"].as_str().unwrap());
        }
    }
}

fn init(language: &str, source: &str) -> Value {
    json!({"type": "init", "language": language, "version": "*", "files": [{"content": source}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piston_connect_exchanges_runtime_stage_data_exit_and_closes_4999() {
    let server = TestServer::new().catalog().start().await;
    let version = python_version(&server).await;
    let mut socket = connect(&server).await;
    let program =
        "import sys, time\nprint('out', flush=True)\ntime.sleep(0.1)\nprint('err', file=sys.stderr)\nsys.exit(2)\n";
    send(&mut socket, init("python", program)).await;
    let (frames, close) = until_close(&mut socket).await;
    assert_eq!(
        frames,
        [
            json!({"type": "runtime", "language": "python", "version": version}),
            json!({"type": "stage", "stage": "run"}),
            json!({"type": "data", "stream": "stdout", "data": "out\n"}),
            json!({"type": "data", "stream": "stderr", "data": "err\n"}),
            json!({"type": "exit", "stage": "run", "code": 2, "signal": null, "status": "RE",
                   "message": "Exited with error status 2"}),
        ]
    );
    assert_eq!(close, (4999, "Job Completed".into()));

    // A compiled language: both stages, each with its exit.
    let mut socket = connect(&server).await;
    send(&mut socket, init("c++", "#include <iostream>\nint main() { std::cout << \"hi\" << std::endl; }\n")).await;
    let (frames, close) = until_close(&mut socket).await;
    let kinds: Vec<String> = frames.iter().map(|f| format!("{} {}", f["type"], f["stage"])).collect();
    assert_eq!(
        kinds,
        [
            r#""runtime" null"#,
            r#""stage" "compile""#,
            r#""exit" "compile""#,
            r#""stage" "run""#,
            r#""data" null"#,
            r#""exit" "run""#
        ]
    );
    assert_eq!(frames[2]["code"], 0);
    assert_eq!(frames[4]["data"], "hi\n");
    assert_eq!(close.0, 4999);
    // The box goes before the close is sent.
    assert!(server.backend.list().await.is_empty(), "each connection's box is destroyed when it ends");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piston_connect_feeds_stdin_and_delivers_signals() {
    let server = TestServer::new().catalog().start().await;
    let echo = "print('ready', flush=True)\nprint(input().upper(), flush=True)\nprint(input()[::-1])\n";
    let mut socket = connect(&server).await;
    send(&mut socket, init("python", echo)).await;
    wait_for_stdout(&mut socket, "ready\n").await;
    send(&mut socket, json!({"type": "data", "stream": "stdin", "data": "first\n"})).await;
    wait_for_stdout(&mut socket, "FIRST\n").await;
    send(&mut socket, json!({"type": "data", "stream": "stdin", "data": "second\n"})).await;
    let (frames, close) = until_close(&mut socket).await;
    assert_eq!(frames[0], json!({"type": "data", "stream": "stdout", "data": "dnoces\n"}));
    assert_eq!(frames[1]["code"], 0);
    assert_eq!(close.0, 4999);

    // SIGINT reaches a program that handles it.
    let handler = "import signal, sys, time\n\
                   def on_signal(number, frame):\n    print('caught', signal.Signals(number).name, flush=True)\n    sys.exit(0)\n\
                   signal.signal(signal.SIGINT, on_signal)\nprint('ready', flush=True)\ntime.sleep(30)\n";
    let mut socket = connect(&server).await;
    send(&mut socket, init("python", handler)).await;
    wait_for_stdout(&mut socket, "ready\n").await;
    send(&mut socket, json!({"type": "signal", "signal": "SIGINT"})).await;
    let (frames, close) = until_close(&mut socket).await;
    assert_eq!(frames[0]["data"], "caught SIGINT\n");
    assert_eq!((frames[1]["type"].as_str(), frames[1]["code"].as_i64()), (Some("exit"), Some(0)));
    assert_eq!(close.0, 4999);

    // SIGTERM's default action ends a program that does not handle it.
    let mut socket = connect(&server).await;
    send(&mut socket, init("python", "import time\nprint('ready', flush=True)\ntime.sleep(30)\n")).await;
    wait_for_stdout(&mut socket, "ready\n").await;
    send(&mut socket, json!({"type": "signal", "signal": "SIGTERM"})).await;
    let (frames, close) = until_close(&mut socket).await;
    let exit = frames.iter().find(|f| f["type"] == "exit").unwrap();
    assert_eq!((exit["signal"].as_str(), exit["status"].as_str()), (Some("SIGTERM"), Some("SG")));
    assert!(exit["code"].is_null());
    assert_eq!(close.0, 4999);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piston_connect_closes_with_piston_s_codes() {
    let server = TestServer::new().catalog().start().await;
    let sleeper = "import time\nprint('ready', flush=True)\ntime.sleep(30)\n";

    let mut socket = connect(&server).await;
    send(&mut socket, json!({"type": "data", "stream": "stdin", "data": "x"})).await;
    assert_eq!(frame(&mut socket).await.close(), (4003, "Not yet initialized".into()));

    let mut socket = connect(&server).await;
    send(&mut socket, json!({"type": "signal", "signal": "SIGINT"})).await;
    assert_eq!(frame(&mut socket).await.close().0, 4003);

    for (message, code, reason) in [
        (json!({"type": "signal", "signal": "SIGBOGUS"}), 4005, "Invalid signal"),
        (json!({"type": "signal", "signal": 2}), 4005, "Invalid signal"),
        (json!({"type": "data", "stream": "stdout", "data": "x"}), 4004, "Can only write to stdin"),
        (init("python", "print(1)"), 4000, "Already Initialized"),
    ] {
        let mut socket = connect(&server).await;
        send(&mut socket, init("python", sleeper)).await;
        assert_eq!(frame(&mut socket).await.json()["type"], "runtime");
        wait_for_stdout(&mut socket, "ready\n").await;
        send(&mut socket, message.clone()).await;
        assert_eq!(frame(&mut socket).await.close(), (code, reason.into()), "{message}");
    }

    // A bad init is reported, then closed with 4002.
    let mut socket = connect(&server).await;
    send(&mut socket, init("cobol", "x")).await;
    assert_eq!(frame(&mut socket).await.json(), json!({"type": "error", "message": "cobol-* runtime is unknown"}));
    assert_eq!(frame(&mut socket).await.close(), (4002, "Notified Error".into()));
    let mut socket = connect(&server).await;
    socket.send(Message::Text("{not json".into())).await.unwrap();
    assert_eq!(frame(&mut socket).await.json()["type"], "error");
    assert_eq!(frame(&mut socket).await.close().0, 4002);

    // No init within the default second (Piston's) closes the connection;
    // a server configured with a longer timeout keeps a connection opened
    // before that one waiting for its init: the timeout is the configured
    // one. (How soon a timeout closes is measured by no test: timing
    // claims belong in benchmarks.)
    let patient =
        TestServer::new().catalog().piston(PistonConfig { init_timeout: Duration::from_secs(3600) }).start().await;
    let mut waiting = connect(&patient).await;
    let mut socket = connect(&server).await;
    assert_eq!(frame(&mut socket).await.close(), (4001, "Initialization Timeout".into()));
    send(&mut waiting, init("bash", "echo late")).await;
    let (frames, close) = until_close(&mut waiting).await;
    assert_eq!(frames[0]["type"], "runtime", "{frames:?}");
    assert_eq!(close.0, 4999);
    patient.stop().await;

    assert!(server.backend.list().await.is_empty(), "closed connections leave no box behind");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn piston_connect_enforces_the_output_cap_on_the_stream() {
    if !require_root("piston_connect_enforces_the_output_cap_on_the_stream") {
        return;
    }
    let server = TestServer::new().catalog().native().start().await;
    let cap = bytesbox_sandbox::RunLimits::default().output_bytes as usize;
    let mut socket = connect(&server).await;
    // The program keeps writing when its pipe breaks, so only the cap ends
    // it. (One that dies of the broken pipe can race the cap's kill in
    // the native backend and end `RE`/`SG` instead: see docs/piston.md.)
    let flood =
        "import os\nwhile True:\n    try:\n        os.write(1, b'x' * 65536)\n    except OSError:\n        pass\n";
    send(&mut socket, init("python", flood)).await;
    let (frames, close) = until_close(&mut socket).await;
    let streamed = frames.iter().find(|f| f["type"] == "data").unwrap()["data"].as_str().unwrap().len();
    assert!(streamed <= cap, "{streamed} bytes streamed past the {cap}-byte cap");
    assert!(streamed >= cap / 2, "output up to the cap is delivered ({streamed} bytes)");
    let exit = frames.iter().find(|f| f["type"] == "exit").unwrap();
    assert_eq!((exit["status"].as_str(), exit["signal"].as_str()), (Some("OL"), Some("SIGKILL")), "{exit}");
    assert_eq!(exit["message"], "stdout length exceeded");
    assert_eq!(close.0, 4999);
    server.stop().await;
}
