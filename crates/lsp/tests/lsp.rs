//! Language servers in a real native box (root): Debian's pylsp and
//! clangd answer `initialize`, publish a diagnostic for a mistake and
//! complete a member; a server that claims a huge message, breaks the
//! framing or dies is reported with a clear status, and the box goes on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use bytesbox_lsp::{
    language_server_limits, LanguageServer, LanguageServerStart, LspEvent, DEFAULT_MAX_MESSAGE_BYTES,
    MESSAGE_TOO_LARGE, PROTOCOL_ERROR,
};
use bytesbox_native::{NativeBackend, NativeConfig};
use bytesbox_runtimes::{Catalog, LanguageServerTemplate};
use bytesbox_sandbox::{Backend, BoxId, BoxSpec, FileEntry, PutMode, RunLimits};
use bytesbox_testkit::{require_prerequisite, require_root};
use serde_json::{json, Value};
use tokio::sync::mpsc;

const MIB: u64 = 1024 * 1024;
/// How long a server may take to answer (a first clangd parse of
/// `<iostream>` on a shared machine, in a debug build's box).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
const ROOT: &str = "file:///workspace";

fn program_missing(program: &str, package: &str) -> Option<String> {
    let found = std::process::Command::new(program).arg("--version").output();
    match found {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!("{package}: {program} --version failed: {}", String::from_utf8_lossy(&out.stderr))),
        Err(e) => Some(format!("Debian's {package} (scripts/lib.sh installs it): {e}")),
    }
}

fn ready(test: &str, program: &str, package: &str) -> bool {
    require_root(test) && require_prerequisite(test, package, program_missing(program, package))
}

async fn backend_and_box() -> (Arc<dyn Backend>, BoxId) {
    let (uid_base, uid_count) = bytesbox_testkit::box_uid_range();
    let backend = NativeBackend::start(NativeConfig {
        jail_binary: Some(bytesbox_testkit::jail_binary()),
        uid_base,
        uid_count,
        ..NativeConfig::default()
    })
    .await
    .expect("the native backend starts");
    let backend: Arc<dyn Backend> = Arc::new(backend);
    let box_id = backend.create(BoxSpec::default()).await.expect("a box");
    (backend, box_id)
}

fn catalog_server(language: &str) -> LanguageServerTemplate {
    Catalog::builtin().get(language).and_then(|r| r.language_server.clone()).expect("the catalog has the server")
}

fn limits() -> RunLimits {
    language_server_limits(&RunLimits { memory_bytes: 1024 * MIB, cpu_millicores: 2000, ..RunLimits::default() })
}

/// A client of one server: requests by id, notifications by method.
struct Client {
    server: LanguageServer,
    events: mpsc::Receiver<LspEvent>,
    next_id: u64,
    /// Notifications seen while waiting for something else.
    notifications: Vec<Value>,
}

impl Client {
    async fn start(backend: &Arc<dyn Backend>, box_id: &BoxId, template: &LanguageServerTemplate) -> Client {
        let start = LanguageServerStart { template, limits: limits(), max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES };
        let (server, events) = LanguageServer::start(backend.as_ref(), box_id, start).await.expect("the server starts");
        Client { server, events, next_id: 1, notifications: Vec::new() }
    }

    fn notify(&self, method: &str, params: Value) {
        self.server.send(&json!({"jsonrpc": "2.0", "method": method, "params": params})).expect("queued");
    }

    async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.server.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).expect("queued");
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        loop {
            let message = self.next_message(deadline).await;
            if message["id"] == json!(id) && message.get("method").is_none() {
                assert!(message.get("error").is_none(), "{method} failed: {message}");
                return message["result"].clone();
            }
            self.answer_server_request(&message);
            self.notifications.push(message);
        }
    }

    /// Servers ask the client things (clangd's `window/workDoneProgress/create`);
    /// a client answers each.
    fn answer_server_request(&self, message: &Value) {
        if message.get("method").is_some() && message.get("id").is_some() {
            let _ = self.server.send(&json!({"jsonrpc": "2.0", "id": message["id"], "result": null}));
        }
    }

    async fn next_message(&mut self, deadline: Instant) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, self.events.recv()).await {
            Ok(Some(LspEvent::Message(message))) => message,
            Ok(Some(exited)) => panic!("the server ended: {exited:?}"),
            Ok(None) => panic!("the server's events ended"),
            Err(_) => panic!("no message within {ANSWER_TIMEOUT:?}; seen: {:?}", self.notifications),
        }
    }

    /// The diagnostics published for `uri` once there are some.
    async fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        let published = |m: &Value| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == uri
                && m["params"]["diagnostics"].as_array().is_some_and(|d| !d.is_empty())
        };
        if let Some(found) = self.notifications.iter().find(|m| published(m)) {
            return found["params"]["diagnostics"].as_array().cloned().unwrap_or_default();
        }
        loop {
            let message = self.next_message(deadline).await;
            self.answer_server_request(&message);
            if published(&message) {
                return message["params"]["diagnostics"].as_array().cloned().unwrap_or_default();
            }
            self.notifications.push(message);
        }
    }

    async fn initialize(&mut self, template: &LanguageServerTemplate) {
        let result = self
            .request(
                "initialize",
                json!({
                    "processId": null,
                    "rootUri": ROOT,
                    "workspaceFolders": [{"uri": ROOT, "name": "workspace"}],
                    "initializationOptions": template.initialization_options(),
                    "capabilities": {
                        "textDocument": {
                            "completion": {"completionItem": {"snippetSupport": false}},
                            "publishDiagnostics": {},
                            "hover": {"contentFormat": ["markdown", "plaintext"]}
                        }
                    }
                }),
            )
            .await;
        assert!(result["capabilities"]["completionProvider"].is_object(), "{result}");
        assert!(result["capabilities"]["documentFormattingProvider"] != json!(null), "it formats: {result}");
        self.notify("initialized", json!({}));
        self.notify("workspace/didChangeConfiguration", json!({"settings": template.settings()}));
    }

    fn open(&self, uri: &str, language_id: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": language_id, "version": 1, "text": text}}),
        );
    }

    async fn completion_labels(&mut self, uri: &str, line: u32, character: u32) -> Vec<String> {
        let result = self
            .request(
                "textDocument/completion",
                json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}),
            )
            .await;
        let items = result.get("items").unwrap_or(&result).as_array().cloned().unwrap_or_default();
        items.iter().filter_map(|item| item["label"].as_str().map(|l| l.trim().to_string())).collect()
    }
}

async fn put(backend: &Arc<dyn Backend>, box_id: &BoxId, files: &[(&str, &str)]) {
    let files = files
        .iter()
        .map(|(path, text)| FileEntry {
            path: path.to_string(),
            content: Bytes::copy_from_slice(text.as_bytes()),
            executable: false,
        })
        .collect();
    backend.put_files(box_id, files, PutMode::Merge).await.expect("files in the workspace");
}

#[tokio::test]
async fn pylsp_diagnoses_completes_and_finds_definitions_across_files() {
    if !ready("pylsp_diagnoses_completes_and_finds_definitions_across_files", "pylsp", "python3-pylsp") {
        return;
    }
    let (backend, box_id) = backend_and_box().await;
    let main = "import math\nimport helpers\nprint(undefined_name)\nmath.sq\nhelpers.gree\nhelpers.greet('x')\n";
    put(&backend, &box_id, &[("main.py", main), ("helpers.py", "def greet(name):\n    return 'hi ' + name\n")]).await;
    let template = catalog_server("python");
    let mut client = Client::start(&backend, &box_id, &template).await;
    let started = Instant::now();
    client.initialize(&template).await;
    let uri = format!("{ROOT}/main.py");
    client.open(&uri, &template.language_id, main);
    let diagnostics = client.diagnostics(&uri).await;
    let messages: Vec<&str> = diagnostics.iter().filter_map(|d| d["message"].as_str()).collect();
    assert!(messages.iter().any(|m| m.contains("undefined name 'undefined_name'")), "{messages:?}");
    assert!(
        !diagnostics.iter().any(|d| d["source"] == "pycodestyle"),
        "style warnings are off by the catalog's settings: {diagnostics:?}"
    );
    let labels = client.completion_labels(&uri, 3, 7).await;
    assert!(labels.iter().any(|l| l.starts_with("sqrt")), "{labels:?}");
    // A module of the workspace, from the file on disk.
    let labels = client.completion_labels(&uri, 4, 12).await;
    assert!(labels.iter().any(|l| l.starts_with("greet")), "{labels:?}");
    let definition = client
        .request(
            "textDocument/definition",
            json!({"textDocument": {"uri": uri}, "position": {"line": 5, "character": 10}}),
        )
        .await;
    assert_eq!(definition[0]["uri"], format!("{ROOT}/helpers.py"), "{definition}");
    let hover = client
        .request("textDocument/hover", json!({"textDocument": {"uri": uri}, "position": {"line": 3, "character": 2}}))
        .await;
    assert!(hover.to_string().contains("math"), "{hover}");
    let formatted = client
        .request(
            "textDocument/formatting",
            json!({"textDocument": {"uri": uri}, "options": {"tabSize": 4, "insertSpaces": true}}),
        )
        .await;
    assert!(formatted.is_array(), "{formatted}");
    eprintln!("pylsp: initialize to diagnostics and completions in {:?}", started.elapsed());
    client.server.kill().await;
    let end = tokio::time::timeout(ANSWER_TIMEOUT, async {
        loop {
            match client.events.recv().await {
                Some(LspEvent::Exited { status, .. }) => return status,
                Some(LspEvent::Message(_)) => continue,
                None => panic!("no end reported"),
            }
        }
    })
    .await
    .expect("the end is reported");
    assert_eq!(end, "killed");
    backend.destroy(&box_id).await.expect("destroyed");
}

#[tokio::test]
async fn clangd_diagnoses_a_type_error_and_completes_a_vector_member() {
    if !ready("clangd_diagnoses_a_type_error_and_completes_a_vector_member", "clangd", "clangd") {
        return;
    }
    let (backend, box_id) = backend_and_box().await;
    let main = "#include <vector>\n#include \"util.h\"\nint main() {\n    std::vector<int> v;\n    int x = \"text\";\n    v.pu\n    return twice(x);\n}\n";
    put(&backend, &box_id, &[("main.cpp", main), ("util.h", "inline int twice(int x) { return 2 * x; }\n")]).await;
    let template = catalog_server("cpp");
    let mut client = Client::start(&backend, &box_id, &template).await;
    let started = Instant::now();
    client.initialize(&template).await;
    let uri = format!("{ROOT}/main.cpp");
    client.open(&uri, &template.language_id, main);
    let diagnostics = client.diagnostics(&uri).await;
    let messages: Vec<&str> = diagnostics.iter().filter_map(|d| d["message"].as_str()).collect();
    assert!(
        messages.iter().any(|m| m.contains("Cannot initialize a variable of type 'int'")),
        "the type error: {messages:?}"
    );
    assert!(!messages.iter().any(|m| m.contains("util.h")), "the header beside it is found: {messages:?}");
    let labels = client.completion_labels(&uri, 5, 8).await;
    assert!(labels.iter().any(|l| l.starts_with("push_back")), "{labels:?}");
    let formatted = client
        .request(
            "textDocument/formatting",
            json!({"textDocument": {"uri": uri}, "options": {"tabSize": 4, "insertSpaces": true}}),
        )
        .await;
    assert!(formatted.is_array(), "{formatted}");
    eprintln!("clangd: initialize to diagnostics and completions in {:?}", started.elapsed());
    backend.destroy(&box_id).await.expect("destroyed");
    let end = tokio::time::timeout(ANSWER_TIMEOUT, async {
        loop {
            match client.events.recv().await {
                Some(LspEvent::Exited { status, .. }) => return status,
                Some(LspEvent::Message(_)) => continue,
                None => panic!("no end reported"),
            }
        }
    })
    .await
    .expect("the end is reported when the box goes");
    assert_eq!(end, "killed", "the server dies with its box");
}

/// Starts a fake server (a shell script) and returns how it ended.
async fn end_of(
    backend: &Arc<dyn Backend>,
    box_id: &BoxId,
    script: &str,
    max_message_bytes: usize,
) -> (String, String) {
    let template = LanguageServerTemplate::new(vec!["sh".into(), "-c".into(), script.into()], "text", 16);
    let start = LanguageServerStart { template: &template, limits: limits(), max_message_bytes };
    let (_server, mut events) = LanguageServer::start(backend.as_ref(), box_id, start).await.expect("it starts");
    tokio::time::timeout(ANSWER_TIMEOUT, async {
        loop {
            match events.recv().await {
                Some(LspEvent::Exited { status, message, .. }) => return (status, message),
                Some(LspEvent::Message(_)) => continue,
                None => panic!("no end reported"),
            }
        }
    })
    .await
    .expect("the end is reported")
}

#[tokio::test]
async fn hostile_servers_are_ended_with_a_clear_status_and_the_box_goes_on() {
    if !require_root("hostile_servers_are_ended_with_a_clear_status_and_the_box_goes_on") {
        return;
    }
    let (backend, box_id) = backend_and_box().await;
    let (status, message) =
        end_of(&backend, &box_id, "printf 'Content-Length: 9999999999999\\r\\n\\r\\n'; exec sleep 600", 1 << 20).await;
    assert_eq!(status, MESSAGE_TOO_LARGE);
    assert!(message.contains("9999999999999"), "{message}");
    // A real body past the bound, streamed: refused at its header.
    let (status, _) = end_of(
        &backend,
        &box_id,
        "printf 'Content-Length: 2000000\\r\\n\\r\\n'; exec head -c 2000000 /dev/zero",
        1 << 20,
    )
    .await;
    assert_eq!(status, MESSAGE_TOO_LARGE);
    let (status, message) = end_of(&backend, &box_id, "exec yes", 1 << 20).await;
    assert_eq!(status, PROTOCOL_ERROR, "a header that never ends: {message}");
    let (status, message) =
        end_of(&backend, &box_id, "printf 'Content-Length: 3\\r\\n\\r\\nxyz'; exec sleep 600", 1 << 20).await;
    assert_eq!(status, PROTOCOL_ERROR, "{message}");
    let (status, message) = end_of(&backend, &box_id, "echo 'No module named pylsp' >&2; exit 1", 1 << 20).await;
    assert_eq!((status.as_str(), message.as_str()), ("nonzero", "No module named pylsp"));
    // Still a working box.
    let template = LanguageServerTemplate::new(
        vec!["sh".into(), "-c".into(), "printf 'Content-Length: 2\\r\\n\\r\\n{}'; exec sleep 600".into()],
        "text",
        16,
    );
    let start = LanguageServerStart { template: &template, limits: limits(), max_message_bytes: 1 << 20 };
    let (_server, mut events) = LanguageServer::start(backend.as_ref(), &box_id, start).await.expect("it starts");
    let first = tokio::time::timeout(ANSWER_TIMEOUT, events.recv()).await.expect("a message");
    assert_eq!(first, Some(LspEvent::Message(json!({}))));
    backend.destroy(&box_id).await.expect("destroyed");
}

#[tokio::test]
async fn typescript_language_server_completes_javascript_and_checks_typescript() {
    let test = "typescript_language_server_completes_javascript_and_checks_typescript";
    if !ready(test, "typescript-language-server", "typescript-language-server (npm; scripts/lib.sh installs it)") {
        return;
    }
    let (backend, box_id) = backend_and_box().await;
    let script = "const words = ['a'];\nconsole.log(Math.sq);\nwords.pu\n";
    let typed = "let count: number = 'three';\nexport {};\n";
    put(&backend, &box_id, &[("index.js", script), ("main.ts", typed)]).await;
    let template = catalog_server("javascript");
    let mut client = Client::start(&backend, &box_id, &template).await;
    let started = Instant::now();
    client.initialize(&template).await;
    let uri = format!("{ROOT}/index.js");
    client.open(&uri, &template.language_id, script);
    let labels = client.completion_labels(&uri, 1, 19).await;
    assert!(labels.iter().any(|l| l == "sqrt"), "{labels:?}");
    let labels = client.completion_labels(&uri, 2, 8).await;
    assert!(labels.iter().any(|l| l == "push"), "{labels:?}");
    // TypeScript's type errors, from the same server.
    let ts = format!("{ROOT}/main.ts");
    client.open(&ts, "typescript", typed);
    let diagnostics = client.diagnostics(&ts).await;
    assert!(
        diagnostics
            .iter()
            .any(|d| d["message"].as_str().is_some_and(|m| m.contains("not assignable to type 'number'"))),
        "{diagnostics:?}"
    );
    eprintln!("typescript-language-server: initialize to completions and diagnostics in {:?}", started.elapsed());
    backend.destroy(&box_id).await.expect("destroyed");
}
