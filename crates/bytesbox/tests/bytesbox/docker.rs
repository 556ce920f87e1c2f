//! `bytesbox serve --backend docker` and `bytesbox runtimes --backend
//! docker`, as real processes against the engine and the runtime images.
//! Without root, the engine or the images: a failure in CI, a loud skip
//! elsewhere.

use bytesbox_docker::DEFAULT_IMAGE;
use bytesbox_runtimes::Catalog;

use super::docker_engine::{engine_objects_of, require_docker};
use super::*;

/// The catalog's languages that have an image: the ones the Docker backend
/// must serve.
fn languages_with_an_image() -> Vec<(String, String, String)> {
    let catalog = Catalog::builtin();
    let languages: Vec<_> = catalog
        .runtimes()
        .iter()
        .filter(|r| r.image.is_some())
        .map(|r| (r.id.clone(), r.example.path.clone(), r.example.source.clone()))
        .collect();
    assert_eq!(
        languages.len(),
        10,
        "python, javascript, typescript, java, c, cpp, bash, sqlite, mysql and postgresql have an image"
    );
    languages
}

/// Whether `stdout` is the catalog example's greeting: the line itself,
/// or for the SQL servers' clients a table with it as its one cell.
fn greets(id: &str, stdout: &str) -> bool {
    match id {
        "mysql" | "postgresql" => {
            stdout.lines().any(|line| line.trim_matches(|c| c == '|' || c == ' ') == "Hello, World!")
        }
        _ => stdout == "Hello, World!\n",
    }
}

/// A plain HTTP/1.1 request with a JSON body (or none); status and JSON answer.
async fn http_json(address: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(120), stream.read_to_end(&mut raw)).await.expect("an answer").unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, payload) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no header end in {text:?}"));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap();
    let payload = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(payload)
    } else {
        payload.to_string()
    };
    let value = serde_json::from_str(&payload).unwrap_or_else(|e| panic!("{e}: {payload:?}"));
    (status, value)
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

/// Runs one program over the session's WebSocket; its run stage's stdout
/// and exit frame.
async fn run_over_websocket(
    socket: &mut Socket,
    id: &str,
    language: &str,
    path: &str,
    source: &str,
) -> (String, Value) {
    send(socket, json!({"type": "run", "id": id, "language": language, "files": [{"path": path, "content": source}]}))
        .await;
    let mut stdout = String::new();
    let mut exit = Value::Null;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(90), next(socket)).await.expect("frames keep coming");
        match frame["type"].as_str() {
            Some("output") if frame["stage"] == "run" && frame["stream"] == "stdout" => {
                stdout.push_str(frame["data"].as_str().unwrap())
            }
            Some("exit") if frame["stage"] == "run" => exit = frame,
            Some("exit") => assert_eq!(frame["status"], "ok", "{language}: compile failed: {frame}"),
            Some("done") => return (stdout, exit),
            Some("error") => panic!("{language}: {frame}"),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_docker_runs_every_catalog_language_through_every_api() {
    if !require_docker("serve_with_docker_runs_every_catalog_language_through_every_api").await {
        return;
    }
    let mut served = Served::start_with_backend("", "docker");
    let address = served.address.clone();
    let languages = languages_with_an_image();

    // The runtimes are the image's, probed in it.
    let (status, runtimes) = http_json(&address, "GET", "/api/v1/runtimes", None).await;
    assert_eq!(status, 200, "{runtimes}");
    for (id, _, _) in &languages {
        let runtime = runtimes.as_array().unwrap().iter().find(|r| r["id"] == id.as_str()).unwrap();
        assert_eq!(runtime["available"], true, "{runtime}");
    }
    for absent in ["ruby", "go", "rust"] {
        let runtime = runtimes.as_array().unwrap().iter().find(|r| r["id"] == absent).unwrap();
        assert_eq!(runtime["available"], false, "no image holds {absent}: {runtime}");
    }

    let mut socket = served.connect().await;
    for (id, path, source) in &languages {
        let files = json!([{"path": path, "content": source}]);
        let (status, answer) =
            http_json(&address, "POST", "/api/v1/execute", Some(&json!({"language": id, "files": files}))).await;
        assert_eq!(status, 200, "{id} over /api/v1/execute: {answer}");
        assert_eq!(answer["run"]["status"], "ok", "{id} over /api/v1/execute: {answer}");
        assert!(greets(id, answer["run"]["stdout"].as_str().unwrap()), "{id} over /api/v1/execute: {answer}");

        let piston = json!({"language": id, "version": "*", "files": [{"name": path, "content": source}]});
        let (status, answer) = http_json(&address, "POST", "/api/v2/execute", Some(&piston)).await;
        assert_eq!(status, 200, "{id} over /api/v2/execute: {answer}");
        assert_eq!(answer["run"]["code"], 0, "{id} over /api/v2/execute: {answer}");
        assert!(greets(id, answer["run"]["stdout"].as_str().unwrap()), "{id} over /api/v2/execute: {answer}");

        let (stdout, exit) = run_over_websocket(&mut socket, &format!("r-{id}"), id, path, source).await;
        assert_eq!(exit["status"], "ok", "{id} over the WebSocket: {exit}");
        assert!(greets(id, &stdout), "{id} over the WebSocket: {stdout:?}");
    }
    // The SQL servers keep the session's database between its runs: the
    // server started in the session's container serves the next run.
    for id in ["mysql", "postgresql"] {
        let create = "CREATE TABLE kept (note VARCHAR(20));\nINSERT INTO kept VALUES ('from run one');\n";
        let (stdout, exit) = run_over_websocket(&mut socket, &format!("{id}-1"), id, "main.sql", create).await;
        assert_eq!(exit["status"], "ok", "{id}: {exit}\n{stdout}");
        let read = "SELECT note FROM kept;\n";
        let (stdout, exit) = run_over_websocket(&mut socket, &format!("{id}-2"), id, "main.sql", read).await;
        assert_eq!(exit["status"], "ok", "{id}: {exit}\n{stdout}");
        assert!(stdout.contains("from run one"), "{id}: the table of the session's first run is gone: {stdout}");
    }
    // Input reaches a program in the container, over each API.
    let echo = "print(input().upper())";
    let request = json!({"language": "python", "files": [{"path": "main.py", "content": echo}], "stdin": "hi\n"});
    let (_, answer) = http_json(&address, "POST", "/api/v1/execute", Some(&request)).await;
    assert_eq!(answer["run"]["stdout"], "HI\n", "{answer}");
    let piston = json!({"language": "py", "version": "3.x", "files": [{"content": echo}], "stdin": "ho\n"});
    let (_, answer) = http_json(&address, "POST", "/api/v2/execute", Some(&piston)).await;
    assert_eq!(answer["run"]["stdout"], "HO\n", "{answer}");

    drop(socket);
    let pid = served.pid();
    assert!(!engine_objects_of(pid).await.is_empty(), "the session's box is a container of this server");
    served.terminate();
    assert!(served.wait(Duration::from_secs(60)).success());
    let left = engine_objects_of(pid).await;
    assert!(left.is_empty(), "the server left engine objects behind: {left:?}");
}

/// Frames about language server `id` until one satisfies `last`,
/// answering the server's own requests with `null` as a client must.
async fn lsp_frames_until(socket: &mut Socket, id: &str, mut last: impl FnMut(&Value) -> bool) -> Value {
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let frame = next(socket).await;
            if frame["id"] != id || !frame["type"].as_str().is_some_and(|t| t.starts_with("lsp_")) {
                continue;
            }
            let message = &frame["message"];
            if message.get("method").is_some() && message.get("id").is_some() {
                let answer = json!({"jsonrpc": "2.0", "id": message["id"], "result": null});
                send(socket, json!({"type": "lsp_message", "id": id, "message": answer})).await;
            }
            if last(&frame) || frame["type"] == "lsp_exited" || frame["type"] == "lsp_error" {
                return frame;
            }
            seen.push(frame);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("language server {id}: nothing conclusive in 120 s: {seen:#?}"))
}

/// The IDE's language servers run in the session's container from the
/// images (docs/language-servers.md): pylsp, clangd and
/// typescript-language-server each start, initialise and diagnose the
/// mistake in a file of the project.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn language_servers_diagnose_in_docker_boxes() {
    if !require_docker("language_servers_diagnose_in_docker_boxes").await {
        return;
    }
    let mut served = Served::start_with_backend("", "docker");
    let mut socket = served.connect().await;
    let cases = [
        ("python", "main.py", "print(undefined_name)\n", "undefined name 'undefined_name'"),
        ("cpp", "main.cpp", "int main() { return missing; }\n", "undeclared identifier 'missing'"),
        ("typescript", "index.ts", "const n: number = \"text\";\n", "is not assignable to type 'number'"),
    ];
    for (language, path, text, expected) in cases {
        let id = format!("lsp-{language}");
        let files = json!([{"path": path, "content": text}]);
        send(&mut socket, json!({"type": "lsp_start", "id": id, "language": language, "files": files})).await;
        let ready = lsp_frames_until(&mut socket, &id, |f| f["type"] == "lsp_ready").await;
        assert_eq!(ready["type"], "lsp_ready", "{language}: {ready}");
        let root = ready["root_uri"].as_str().unwrap().to_string();
        // typescript-language-server publishes diagnostics only to a client
        // that says it takes them (the IDE's client does).
        let capabilities = json!({"textDocument": {"publishDiagnostics": {}}});
        let init = json!({"processId": null, "rootUri": root, "capabilities": capabilities,
            "initializationOptions": ready["initialization_options"]});
        let message = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init});
        send(&mut socket, json!({"type": "lsp_message", "id": id, "message": message})).await;
        let answer = lsp_frames_until(&mut socket, &id, |f| f["message"]["id"] == 1).await;
        assert!(answer["message"]["result"]["capabilities"].is_object(), "{language}: {answer}");
        for (method, params) in [
            ("initialized", json!({})),
            ("workspace/didChangeConfiguration", json!({"settings": ready["settings"]})),
            (
                "textDocument/didOpen",
                json!({"textDocument": {"uri": format!("{root}/{path}"), "languageId": ready["language_id"],
                    "version": 1, "text": text}}),
            ),
        ] {
            let message = json!({"jsonrpc": "2.0", "method": method, "params": params});
            send(&mut socket, json!({"type": "lsp_message", "id": id, "message": message})).await;
        }
        let diagnosed = lsp_frames_until(&mut socket, &id, |f| {
            f["message"]["method"] == "textDocument/publishDiagnostics"
                && f["message"]["params"]["diagnostics"].as_array().is_some_and(|d| !d.is_empty())
        })
        .await;
        let diagnostics = diagnosed["message"]["params"]["diagnostics"].to_string();
        assert!(diagnostics.contains(expected), "{language}: {diagnosed}");
        send(&mut socket, json!({"type": "lsp_stop", "id": id})).await;
        let stopped = lsp_frames_until(&mut socket, &id, |f| f["type"] == "lsp_exited").await;
        assert_eq!(stopped["status"], "stopped", "{language}: {stopped}");
    }
    drop(socket);
    served.terminate();
    assert!(served.wait(Duration::from_secs(60)).success());
}

/// The answer to git command `id`: its `git_result`, or a panic with the
/// `git_error`.
async fn git_over_websocket(socket: &mut Socket, id: &str, args: &[&str], files: Value) -> Value {
    send(socket, json!({"type": "git", "id": id, "args": args, "files": files})).await;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(90), next(socket)).await.expect("frames keep coming");
        if frame["id"] != id {
            continue;
        }
        match frame["type"].as_str() {
            Some("git_result") => return frame,
            Some("git_error") | Some("error") => panic!("git {args:?}: {frame}"),
            _ => {}
        }
    }
}

/// The images hold git (docs/git.md): a session's container makes a
/// repository, commits as the session's author and reads its log, as
/// the Source Control panel does on the native backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_commands_run_in_docker_boxes() {
    if !require_docker("git_commands_run_in_docker_boxes").await {
        return;
    }
    let mut served = Served::start_with_backend("", "docker");
    let mut socket = served.connect().await;
    let files = json!([{"path": "main.py", "content": "print('hi')\n"}]);
    let steps: [(&str, &[&str]); 3] =
        [("g-init", &["init", "-b", "main"]), ("g-add", &["add", "main.py"]), ("g-commit", &["commit", "-m", "first"])];
    for (id, args) in steps {
        let result = git_over_websocket(&mut socket, id, args, files.clone()).await;
        assert_eq!(result["status"], "ok", "git {args:?}: {result}");
    }
    let log = git_over_websocket(&mut socket, "g-log", &["log", "--format=%an <%ae> %s"], json!([])).await;
    assert_eq!(log["status"], "ok", "{log}");
    assert_eq!(log["stdout"], "Guest <guest@bytesbox.invalid> first\n", "{log}");
    drop(socket);
    served.terminate();
    assert!(served.wait(Duration::from_secs(60)).success());
}

/// A server killed (SIGKILL) with its spare pool full leaves spares (and
/// perhaps one half made) in the engine; the next server's start-up
/// removes them all. The pool's size comes from `[docker.spare_pool]`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spares_of_a_killed_docker_server_are_swept_by_the_next_one() {
    if !require_docker("spares_of_a_killed_docker_server_are_swept_by_the_next_one").await {
        return;
    }
    let mut served = Served::start_with_backend("[docker.spare_pool]\nmin = 3\nmax = 3\n", "docker");
    let pid = served.pid();
    let containers =
        || async move { engine_objects_of(pid).await.iter().filter(|object| object.starts_with("container")).count() };
    bytesbox_testkit::wait_until("three spares", Duration::from_secs(120), || async { containers().await == 3 }).await;
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    served.wait(Duration::from_secs(30));
    assert!(containers().await >= 3, "a killed server removes nothing");
    let next = bytesbox_docker::DockerBackend::start(bytesbox_docker::DockerConfig {
        spare_pool: bytesbox_docker::SparePoolConfig::off(),
        ..bytesbox_docker::DockerConfig::default()
    })
    .await
    .unwrap();
    let left = engine_objects_of(pid).await;
    bytesbox_sandbox::Backend::shutdown(&next).await;
    assert!(left.is_empty(), "the killed server's spares are still there: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtimes_with_docker_show_each_image_present_or_missing() {
    if !require_docker("runtimes_with_docker_show_each_image_present_or_missing").await {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let runtimes = |catalog: Option<&std::path::Path>| {
        let mut command = Command::new(BYTESBOX);
        command.args(["runtimes", "--backend", "docker"]);
        if let Some(path) = catalog {
            command.arg("--catalog").arg(path);
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let line_of = |table: &str, id: &str| -> String {
        table.lines().find(|l| l.split_whitespace().next() == Some(id)).unwrap_or_default().to_string()
    };

    let table = runtimes(None);
    for (id, _, _) in languages_with_an_image() {
        let line = line_of(&table, &id);
        assert!(line.contains("available") && line.contains(&format!("{DEFAULT_IMAGE} (present)")), "{table}");
    }
    // The versions are the image's, from its own tools.
    assert!(line_of(&table, "python").contains("3."), "{table}");
    for id in ["ruby", "go", "rust"] {
        let line = line_of(&table, id);
        assert!(line.contains("missing") && line.contains("no runtime image holds"), "{table}");
    }

    // A catalog naming an image the engine does not have.
    let catalog = bytesbox_runtimes::BUILTIN_CATALOG.replacen(
        &format!("image = \"{DEFAULT_IMAGE}\""),
        "image = \"bytesbox-runtime:no-such-image\"",
        1,
    );
    let path = dir.path().join("catalog.toml");
    std::fs::write(&path, catalog).unwrap();
    let table = runtimes(Some(&path));
    let python = line_of(&table, "python");
    assert!(python.contains("missing") && python.contains("bytesbox-runtime:no-such-image (missing)"), "{table}");
    assert!(python.contains("scripts/images build"), "the fix is named: {table}");
    assert!(line_of(&table, "javascript").contains("available"), "{table}");
}

/// `bytesbox serve --backend docker` with no engine behind `DOCKER_HOST`
/// exits at once with a message that names the problem and the fix. No
/// root, engine or images needed.
#[test]
fn serve_with_docker_says_how_to_fix_an_engine_that_does_not_answer() {
    let data = tempfile::tempdir().unwrap();
    let address = "unix:///nonexistent/bytesbox-test/docker.sock";
    let mut child = Command::new(BYTESBOX)
        .args(["serve", "--listen", "127.0.0.1:0", "--backend", "docker", "--data-dir"])
        .arg(data.path())
        .env("DOCKER_HOST", address)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("bytesbox serve kept running with no engine to talk to");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "serve refuses to start: {stderr}");
    assert!(output.stdout.is_empty(), "nothing listens: {}", String::from_utf8_lossy(&output.stdout));
    assert!(stderr.contains(address) && stderr.contains("does not answer"), "names the problem: {stderr}");
    assert!(stderr.contains("dockerd") && stderr.contains("DOCKER_HOST"), "says how to fix it: {stderr}");
    assert!(stderr.contains("scripts/images build"), "and how to get the images: {stderr}");
}

/// Egress on the Docker backend (`docs/egress.md`): the proxy listens in
/// the container's network namespace, so a guest of a plan with egress
/// clones from and pushes to a test host in a network namespace of the
/// test's own, and is refused the metadata address and the host's
/// loopback; the container itself still has no route out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn egress_reaches_an_allowed_host_from_docker_boxes_and_nothing_else() {
    if !require_docker("egress_reaches_an_allowed_host_from_docker_boxes_and_nothing_else").await {
        return;
    }
    let host = bytesbox_testkit::test_hosts::TestHost::start().unwrap();
    let config = format!(
        "[egress]\nrules = [{{ hosts = [\"{}/32\"], ports = [80] }}]\n[plans.guest]\negress = true\n",
        host.address
    );
    let mut served = Served::start_with_backend(&config, "docker");
    let mut socket = served.connect().await;
    let script = format!(
        "set -e\n\
         echo \"proxy=$http_proxy\"\n\
         git clone --quiet {url} /tmp/clone\n\
         cd /tmp/clone\n\
         echo 'from a container' > pushed.txt\n\
         git add pushed.txt\n\
         git -c user.name=Ada -c user.email=ada@test.invalid commit --quiet -m 'pushed from a container'\n\
         git push --quiet origin main\n\
         for url in http://169.254.169.254/x.git http://127.0.0.1:{port}/x.git; do\n\
           if git ls-remote \"$url\" >/dev/null 2>/tmp/err; then echo \"reached $url\"; fi\n\
           grep -q 403 /tmp/err && echo refused\n\
         done\n\
         if git -c http.proxy= ls-remote {url} >/dev/null 2>&1; then echo 'direct reached'; else echo 'direct refused'; fi\n",
        url = host.repository_url(),
        port = served.address.rsplit(':').next().unwrap(),
    );
    let (stdout, exit) = run_over_websocket(&mut socket, "egress", "bash", "main.sh", &script).await;
    assert_eq!(exit["status"], "ok", "{exit} {stdout}");
    assert_eq!(stdout, "proxy=http://127.0.0.1:3128\nrefused\nrefused\ndirect refused\n");
    assert_eq!(host.last_commit_subject().unwrap(), "pushed from a container", "the push arrived");
    drop(socket);
    served.terminate();
    assert!(served.wait(Duration::from_secs(60)).success());
}
