//! The Jupyter protocol against a real ipykernel in a real native box
//! (root): streams, rich outputs, errors, input, interrupt, a new kernel
//! after the last, a kernel at its memory limit, a kernel killed from
//! inside, nothing left after shutdown, and the box's isolation from a cell.

use std::sync::Arc;
use std::time::Duration;

use bytesbox_docker::{DockerBackend, DockerConfig, DEFAULT_IMAGE};
use bytesbox_kernels::{Kernel, KernelEvent, KernelMessage, KernelStart, DEFAULT_MAX_MESSAGE_BYTES, KERNELS_DIR};
use bytesbox_native::{NativeBackend, NativeConfig};
use bytesbox_runtimes::{Catalog, KernelTemplate};
use bytesbox_sandbox::{Backend, BoxId, BoxSpec, RunLimits, RunSpec};
use bytesbox_testkit::{require_prerequisite, require_root};
use serde_json::Value;
use tokio::sync::mpsc;

const MIB: u64 = 1024 * 1024;

/// How long one cell may take (a first matplotlib import builds its font
/// cache; the machine is shared).
const CELL_TIMEOUT: Duration = Duration::from_secs(90);

fn ipykernel_missing() -> Option<String> {
    let found = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import ipykernel, numpy, pandas, matplotlib"])
        .output()
        .map_err(|e| e.to_string())
        .and_then(
            |out| if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) },
        );
    found.err().map(|e| {
        format!("Debian's python3-ipykernel, numpy, pandas and matplotlib (scripts/lib.sh installs them): {e}")
    })
}

fn ready(test: &str) -> bool {
    require_root(test) && require_prerequisite(test, "ipykernel", ipykernel_missing())
}

struct Harness {
    backend: Arc<dyn Backend>,
    box_id: BoxId,
    template: KernelTemplate,
}

impl Harness {
    async fn start() -> Harness {
        let (uid_base, uid_count) = bytesbox_testkit::box_uid_range();
        let backend = NativeBackend::start(NativeConfig {
            jail_binary: Some(bytesbox_testkit::jail_binary()),
            uid_base,
            uid_count,
            ..NativeConfig::default()
        })
        .await
        .expect("the native backend starts");
        Harness::start_on(Arc::new(backend)).await
    }

    async fn start_on(backend: Arc<dyn Backend>) -> Harness {
        let box_id = backend.create(BoxSpec::default()).await.expect("a box");
        let catalog = Catalog::builtin();
        let python = catalog.runtimes().iter().find(|r| r.id == "python").expect("python");
        let template = python.kernel.clone().expect("python has a kernel");
        Harness { backend, box_id, template }
    }

    async fn kernel_with(&self, memory_bytes: u64) -> (Kernel, mpsc::Receiver<KernelEvent>) {
        let limits = RunLimits {
            memory_bytes,
            cpu_millicores: 1000,
            wall_time_ms: 3_600_000,
            cpu_time_ms: 3_600_000,
            ..RunLimits::default()
        };
        let start = KernelStart {
            template: &self.template,
            limits,
            workspace_dir: "/workspace",
            timeout: Duration::from_secs(60),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        };
        Kernel::start(self.backend.clone(), &self.box_id, start).await.expect("the kernel starts")
    }

    async fn kernel(&self) -> (Kernel, mpsc::Receiver<KernelEvent>) {
        self.kernel_with(384 * MIB).await
    }

    /// Runs a shell command in the box and returns its stdout.
    async fn sh(&self, script: &str) -> String {
        let run = self.backend.run(&self.box_id, RunSpec::command(["sh", "-c", script])).await.expect("a run");
        run.collect().await.expect("collected").stdout_text()
    }
}

/// What one cell produced.
#[derive(Debug, Default)]
struct Cell {
    /// iopub messages about it, in order (status and execute_input left out).
    outputs: Vec<KernelMessage>,
    /// Its execute_reply's content.
    reply: Value,
    /// Whether a `busy` status came before the `idle` one.
    saw_busy: bool,
}

impl Cell {
    fn of_type(&self, msg_type: &str) -> Vec<&KernelMessage> {
        self.outputs.iter().filter(|m| m.msg_type == msg_type).collect()
    }

    fn stream(&self, name: &str) -> String {
        self.of_type("stream")
            .iter()
            .filter(|m| m.content["name"] == name)
            .map(|m| m.content["text"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

/// Collects a request's messages until its reply and its `idle` status
/// have both come. `on_input` answers input requests.
async fn collect(
    kernel: &Kernel,
    events: &mut mpsc::Receiver<KernelEvent>,
    request: &str,
    on_input: Option<&str>,
) -> Cell {
    let mut cell = Cell::default();
    let mut idle = false;
    let mut replied = false;
    tokio::time::timeout(CELL_TIMEOUT, async {
        while !(idle && replied) {
            let event = events.recv().await.expect("the kernel's events go on");
            let KernelEvent::Message(message) = event else { panic!("the kernel ended during {request}: {event:?}") };
            if message.parent.as_deref() != Some(request) {
                continue;
            }
            match (message.channel, message.msg_type.as_str()) {
                ("iopub", "status") => match message.content["execution_state"].as_str() {
                    Some("busy") => cell.saw_busy = true,
                    Some("idle") => idle = true,
                    _ => {}
                },
                ("iopub", "execute_input") => {}
                ("iopub", _) => cell.outputs.push(message),
                ("shell", _) => {
                    cell.reply = message.content;
                    replied = true;
                }
                ("stdin", "input_request") => {
                    let answer = on_input.expect("an input request was answered");
                    kernel.input_reply(request, answer.to_string()).await.expect("input reply sent");
                    cell.outputs.push(message);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{request} did not finish in time: {cell:?}"));
    cell
}

async fn execute(kernel: &Kernel, events: &mut mpsc::Receiver<KernelEvent>, request: &str, code: &str) -> Cell {
    kernel.execute(request, code.to_string(), true).await.expect("execute sent");
    collect(kernel, events, request, None).await
}

/// Waits for the kernel's end.
async fn exit_of(events: &mut mpsc::Receiver<KernelEvent>) -> (String, Option<i32>) {
    tokio::time::timeout(CELL_TIMEOUT, async {
        loop {
            match events.recv().await {
                Some(KernelEvent::Exited { status, exit_code, .. }) => return (status, exit_code),
                Some(KernelEvent::Message(_)) => continue,
                None => panic!("the events ended without an exit"),
            }
        }
    })
    .await
    .expect("the kernel ended in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_rich_outputs_errors_and_execution_counts() {
    if !ready("streams_rich_outputs_errors_and_execution_counts") {
        return;
    }
    let harness = Harness::start().await;
    let (kernel, mut events) = harness.kernel().await;
    assert_eq!(kernel.language_info["name"], "python");

    let cell = execute(&kernel, &mut events, "c1", "import sys\nprint('hello')\nprint('oops', file=sys.stderr)").await;
    assert!(cell.saw_busy);
    assert_eq!(cell.reply["status"], "ok");
    assert_eq!(cell.stream("stdout"), "hello\n");
    assert_eq!(cell.stream("stderr"), "oops\n");
    let first_count = cell.reply["execution_count"].as_i64().expect("a count");

    let cell = execute(&kernel, &mut events, "c2", "6 * 7").await;
    let result = cell.of_type("execute_result");
    assert_eq!(result.len(), 1, "{cell:?}");
    assert_eq!(result[0].content["data"]["text/plain"], "42");
    assert_eq!(result[0].content["execution_count"].as_i64(), Some(first_count + 1));
    assert_eq!(cell.reply["execution_count"].as_i64(), Some(first_count + 1));

    let plot = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()";
    let cell = execute(&kernel, &mut events, "c3", plot).await;
    assert_eq!(cell.reply["status"], "ok", "{cell:?}");
    let images: Vec<_> = cell.of_type("display_data");
    let png = images.iter().find_map(|m| m.content["data"]["image/png"].as_str()).expect("a PNG plot");
    // Base64 of the PNG signature.
    assert!(png.starts_with("iVBORw0KGgo"), "{}", &png[..20.min(png.len())]);

    let table = "import pandas as pd\npd.DataFrame({'city': ['Oslo', 'Lima'], 'rain': [763, 6]})";
    let cell = execute(&kernel, &mut events, "c4", table).await;
    let result = cell.of_type("execute_result");
    let html = result[0].content["data"]["text/html"].as_str().expect("an HTML table");
    assert!(html.contains("<table") && html.contains("Oslo") && html.contains("763"), "{html}");
    assert!(result[0].content["data"]["text/plain"].as_str().is_some_and(|t| t.contains("Lima")));

    let mimes = r#"from IPython.display import display, Markdown, SVG, JSON, HTML
display(Markdown('# Title'))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>'))
display(JSON({'a': [1, 2]}))
handle = display(HTML('<b>before</b>'), display_id=True)
handle.update(HTML('<b>after</b>'))"#;
    let cell = execute(&kernel, &mut events, "c5", mimes).await;
    let shown: Vec<&Value> = cell.of_type("display_data").iter().map(|m| &m.content["data"]).collect();
    assert!(shown.iter().any(|d| d["text/markdown"] == "# Title"), "{shown:?}");
    assert!(shown.iter().any(|d| d["image/svg+xml"].as_str().is_some_and(|s| s.contains("<rect"))), "{shown:?}");
    assert!(shown.iter().any(|d| d["application/json"]["a"] == serde_json::json!([1, 2])), "{shown:?}");
    let updates = cell.of_type("update_display_data");
    assert_eq!(updates.len(), 1, "{cell:?}");
    assert_eq!(updates[0].content["data"]["text/html"], "<b>after</b>");
    let display_id = &updates[0].content["transient"]["display_id"];
    assert!(display_id.is_string());
    assert!(cell.of_type("display_data").iter().any(|m| &m.content["transient"]["display_id"] == display_id));

    kernel.complete("c7", "import collections\ncollections.Ord".to_string(), 33).await.expect("complete sent");
    let cell = collect(&kernel, &mut events, "c7", None).await;
    let matches = cell.reply["matches"].as_array().expect("matches");
    assert!(matches.iter().any(|m| m == "OrderedDict"), "{matches:?}");

    kernel.inspect("c8", "len".to_string(), 3, 0).await.expect("inspect sent");
    let cell = collect(&kernel, &mut events, "c8", None).await;
    assert_eq!(cell.reply["found"], true);
    assert!(cell.reply["data"]["text/plain"].as_str().is_some_and(|t| t.contains("Return the number of items")));
    // Last: a failed cell makes the kernel abort what reaches it just after.
    let cell = execute(&kernel, &mut events, "c6", "def f():\n    return 1 / 0\nf()").await;
    assert_eq!(cell.reply["status"], "error");
    let errors = cell.of_type("error");
    assert_eq!(errors[0].content["ename"], "ZeroDivisionError");
    let traceback: Vec<&str> =
        errors[0].content["traceback"].as_array().expect("a traceback").iter().filter_map(Value::as_str).collect();
    // The frame of `f`, at its line, and the message.
    assert!(traceback.iter().any(|line| line.contains(", line 2")), "{traceback:?}");
    assert!(traceback.last().is_some_and(|line| line.contains("division by zero")), "{traceback:?}");
    // Tracebacks keep their terminal colours for the IDE to show.
    assert!(traceback.iter().any(|line| line.contains("\u{1b}[")), "{traceback:?}");

    kernel.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_interrupt_and_a_fresh_kernel_after_shutdown() {
    if !ready("input_interrupt_and_a_fresh_kernel_after_shutdown") {
        return;
    }
    let harness = Harness::start().await;
    let (kernel, mut events) = harness.kernel().await;
    kernel.execute("i1", "name = input('Your name? ')\nprint('hi', name)".into(), true).await.expect("sent");
    let cell = collect(&kernel, &mut events, "i1", Some("Ada")).await;
    let prompt = cell.of_type("input_request");
    assert_eq!(prompt[0].content["prompt"], "Your name? ");
    assert_eq!(cell.stream("stdout"), "hi Ada\n");

    kernel.execute("i2", "while True: pass".into(), true).await.expect("sent");
    // Wait until the loop is running, then interrupt it.
    tokio::time::timeout(CELL_TIMEOUT, async {
        loop {
            if let Some(KernelEvent::Message(m)) = events.recv().await {
                if m.parent.as_deref() == Some("i2") && m.msg_type == "execute_input" {
                    return;
                }
            }
        }
    })
    .await
    .expect("the loop started");
    tokio::time::sleep(Duration::from_millis(300)).await;
    kernel.interrupt().await.expect("interrupted");
    let cell = collect(&kernel, &mut events, "i2", None).await;
    assert_eq!(cell.reply["status"], "error");
    assert_eq!(cell.of_type("error")[0].content["ename"], "KeyboardInterrupt");
    // A cell sent right after a failed one may be skipped by the kernel
    // (`aborted`: Jupyter's stop-on-error for cells queued behind it);
    // the client sends it again.
    let mut attempt = 0;
    let cell = loop {
        attempt += 1;
        let cell = execute(&kernel, &mut events, &format!("i3-{attempt}"), "name").await;
        if cell.reply["status"] != "aborted" || attempt == 5 {
            break cell;
        }
    };
    let result = cell.of_type("execute_result");
    assert_eq!(
        result.first().map(|r| &r.content["data"]["text/plain"]),
        Some(&Value::from("'Ada'")),
        "state survives an interrupt: {cell:?}"
    );

    let kernel_dir = format!("{KERNELS_DIR}/{}", kernel.id);
    let relay_dir = kernel.relay_dir().to_path_buf();
    kernel.shutdown(Duration::from_secs(5)).await;
    assert!(!relay_dir.exists(), "the relay's directory is removed");
    let (status, _) = exit_of(&mut events).await;
    assert!(["ok", "killed"].contains(&status.as_str()), "{status}");
    bytesbox_testkit::wait_until("no kernel process is left", Duration::from_secs(10), || async {
        harness.sh("ps -eo args | grep -c '[i]pykernel_launcher' || true").await.trim() == "0"
    })
    .await;
    assert_eq!(harness.sh(&format!("ls -A {kernel_dir} 2>/dev/null | wc -l")).await.trim(), "0", "no socket is left");

    // A new kernel in the same box: nothing of the old one's state, counts from 1.
    let (kernel, mut events) = harness.kernel().await;
    let cell = execute(&kernel, &mut events, "n1", "'name' in dir()").await;
    assert_eq!(cell.of_type("execute_result")[0].content["data"]["text/plain"], "False");
    assert_eq!(cell.reply["execution_count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kernel_past_its_memory_or_killed_from_inside_ends_clearly_and_the_box_goes_on() {
    if !ready("a_kernel_past_its_memory_or_killed_from_inside_ends_clearly_and_the_box_goes_on") {
        return;
    }
    let harness = Harness::start().await;
    let (kernel, mut events) = harness.kernel_with(160 * MIB).await;
    kernel.execute("m1", "hog = b'x' * (400 << 20)".into(), true).await.expect("sent");
    let (status, _) = exit_of(&mut events).await;
    assert_eq!(status, "memory_limit");
    assert!(kernel.has_exited());
    assert!(matches!(kernel.execute("m2", "1".into(), true).await, Err(bytesbox_kernels::KernelError::Exited)));
    drop(kernel);

    let (kernel, mut events) = harness.kernel().await;
    let cell = execute(&kernel, &mut events, "x1", "1 + 1").await;
    assert_eq!(cell.of_type("execute_result")[0].content["data"]["text/plain"], "2");
    kernel.execute("x2", "import os\nos._exit(3)".into(), true).await.expect("sent");
    let (status, code) = exit_of(&mut events).await;
    assert_eq!((status.as_str(), code), ("nonzero", Some(3)));

    let (kernel, mut events) = harness.kernel().await;
    let cell = execute(&kernel, &mut events, "y1", "print('still here')").await;
    assert_eq!(cell.stream("stdout"), "still here\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cell_is_as_isolated_as_any_program_of_the_box() {
    if !ready("a_cell_is_as_isolated_as_any_program_of_the_box") {
        return;
    }
    let secret = tempfile::NamedTempFile::new().expect("a host file");
    std::fs::write(secret.path(), "host secret").expect("written");
    let harness = Harness::start().await;
    let (kernel, mut events) = harness.kernel().await;
    let code = format!(
        r#"import os, socket
results = {{}}
try:
    results['host_file'] = open({path:?}).read()
except OSError as e:
    results['host_file'] = type(e).__name__
try:
    socket.create_connection(('1.1.1.1', 53), timeout=2)
    results['network'] = 'connected'
except OSError as e:
    results['network'] = type(e).__name__
results['uid'] = os.getuid()
results['processes'] = len([p for p in os.listdir('/proc') if p.isdigit()])
results['sees_the_test'] = os.path.exists('/proc/{test_pid}/exe') and 'kernels' in os.path.basename(os.readlink('/proc/{test_pid}/exe'))
print(results)"#,
        path = secret.path().display().to_string(),
        test_pid = std::process::id(),
    );
    let cell = execute(&kernel, &mut events, "s1", &code).await;
    let printed = cell.stream("stdout");
    assert!(printed.contains("'host_file': 'FileNotFoundError'"), "{printed}");
    assert!(!printed.contains("host secret"));
    assert!(printed.contains("'network': 'OSError'") || printed.contains("'network': 'TimeoutError'"), "{printed}");
    assert!(!printed.contains("'uid': 0"), "{printed}");
    // Its own pid namespace: the kernel, the box init and little else.
    assert!(printed.contains("'sees_the_test': False"), "{printed}");
    // Dropping a kernel (a session that ends) kills it and removes its
    // relays and its directory in the box.
    let relay_dir = kernel.relay_dir().to_path_buf();
    let kernel_dir = format!("{KERNELS_DIR}/{}", kernel.id);
    drop(kernel);
    assert!(!relay_dir.exists(), "the relay's directory goes with the kernel");
    bytesbox_testkit::wait_until("the dropped kernel's process and files to go", Duration::from_secs(10), || async {
        harness
            .sh(&format!("ps -eo args | grep -c '[i]pykernel_launcher'; ls -A {kernel_dir} 2>/dev/null | wc -l"))
            .await
            == "0\n0\n"
    })
    .await;
    let processes: usize = printed
        .split("'processes': ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert!(processes < 16, "{processes} processes visible: {printed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_past_the_bound_ends_the_kernel_and_never_reaches_the_server() {
    if !ready("a_message_past_the_bound_ends_the_kernel_and_never_reaches_the_server") {
        return;
    }
    let harness = Harness::start().await;
    let (kernel, mut events) = harness.kernel().await;
    // The cell speaks for the kernel on its own iopub socket: 24 MiB in one
    // message, past the 16 MiB bound.
    let code = "k = get_ipython().kernel\nk.session.send(k.iopub_socket, 'stream', {'name': 'stdout', 'text': 'x' * (24 << 20)}, parent=k.get_parent())\nprint('after')";
    kernel.execute("h1", code.to_string(), true).await.expect("sent");
    let mut delivered = 0usize;
    let status = tokio::time::timeout(CELL_TIMEOUT, async {
        loop {
            match events.recv().await.expect("events go on until the exit") {
                KernelEvent::Message(message) => delivered = delivered.max(message.content.to_string().len()),
                KernelEvent::Exited { status, .. } => return status,
            }
        }
    })
    .await
    .expect("the kernel was ended");
    assert_eq!(status, bytesbox_kernels::MESSAGE_TOO_LARGE, "the exit says why");
    assert!(delivered < 1 << 20, "nothing oversized came through ({delivered} bytes)");
    // The box goes on: a new kernel answers.
    let (kernel, mut events) = harness.kernel().await;
    let cell = execute(&kernel, &mut events, "h2", "print('still heard')").await;
    assert_eq!(cell.stream("stdout"), "still heard\n");
}

/// The hostile corpus's cases about what a program of the box can reach
/// (host files, the host's loopback and network, other processes, `/proc`,
/// privileges, mounts and namespaces), run from a notebook cell with
/// `%run`: the kernel is a program of the box like any other.
const CORPUS_CASES_FOR_CELLS: [&str; 14] = [
    "read_host_secret_file",
    "environ_secret_search",
    "host_loopback_unreachable",
    "network_egress_private",
    "network_egress_public",
    "pid_namespace_view",
    "proc_sensitive_files",
    "proc_host_info",
    "proc1_environ_denied",
    "read_etc_shadow",
    "identity_and_privileges",
    "write_outside_workspace",
    "syscall_unshare_setns",
    "syscall_mount_family",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_corpus_isolation_cases_hold_from_a_notebook_cell() {
    if !ready("the_corpus_isolation_cases_hold_from_a_notebook_cell") {
        return;
    }
    // The host's bait (a secret file, listeners) before the backend, as
    // the conformance runner does.
    let host = bytesbox_conformance::HostContext::start().await.expect("the host context");
    let harness = Harness::start().await;
    let (kernel, mut events) = harness.kernel().await;
    let corpus = bytesbox_conformance::load_corpus().expect("the corpus");
    let mut failures = Vec::new();
    for name in CORPUS_CASES_FOR_CELLS {
        let case = corpus.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("corpus case {name}"));
        let resolved = case.resolve("native", &host.vars()).expect("resolved");
        let files = resolved
            .files
            .iter()
            .map(|f| bytesbox_sandbox::FileEntry::new(f.path.clone(), f.content.clone()))
            .collect();
        harness.backend.put_files(&harness.box_id, files, bytesbox_sandbox::PutMode::Merge).await.expect("files");
        let args: Vec<String> = resolved.spec.args.iter().map(|a| format!("'{a}'")).collect();
        let cell = execute(&kernel, &mut events, name, &format!("%run main.py {}", args.join(" "))).await;
        let (stdout, stderr) = (cell.stream("stdout"), cell.stream("stderr"));
        let errors: Vec<String> = cell.of_type("error").iter().map(|e| e.content.to_string()).collect();
        let expect = &resolved.spec.expect;
        let mut problems = Vec::new();
        problems.extend(
            expect
                .stdout_contains
                .iter()
                .filter(|s| !stdout.contains(s.as_str()))
                .map(|s| format!("stdout lacks {s:?}")),
        );
        problems.extend(
            expect
                .stdout_not_contains
                .iter()
                .filter(|s| stdout.contains(s.as_str()))
                .map(|s| format!("stdout has {s:?}")),
        );
        let everything = format!("{stdout}{stderr}{}", errors.join(""));
        problems.extend(
            expect
                .output_not_contains
                .iter()
                .filter(|s| everything.contains(s.as_str()))
                .map(|s| format!("output has {s:?}")),
        );
        if !errors.is_empty() {
            problems.push(format!("the cell failed: {errors:?}"));
        }
        if stdout.is_empty() || expect.stdout_contains.is_empty() && expect.stdout_not_contains.is_empty() {
            problems.push("the case printed nothing or checks nothing".to_string());
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {problems:?}\nstdout: {stdout}\nstderr: {stderr}"));
        }
    }
    assert_eq!(host.connections(), 0, "no connection reached the host's listeners");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kernel_that_cannot_start_says_why_and_leaves_nothing() {
    if !ready("a_kernel_that_cannot_start_says_why_and_leaves_nothing") {
        return;
    }
    let mut harness = Harness::start().await;
    let broken = bytesbox_runtimes::BUILTIN_CATALOG.replacen("\"ipykernel_launcher\"", "\"no_such_kernel_module\"", 1);
    let catalog = Catalog::parse(&broken).expect("still a valid catalog");
    let python = catalog.runtimes().iter().find(|r| r.id == "python").expect("python");
    harness.template = python.kernel.clone().expect("a kernel");
    let start = KernelStart {
        template: &harness.template,
        limits: RunLimits {
            memory_bytes: 256 * MIB,
            wall_time_ms: 3_600_000,
            cpu_time_ms: 3_600_000,
            ..RunLimits::default()
        },
        workspace_dir: "/workspace",
        timeout: Duration::from_secs(60),
        max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
    };
    let error = Kernel::start(harness.backend.clone(), &harness.box_id, start).await.expect_err("no such module");
    assert_eq!(error.code(), "kernel_start_failed");
    assert!(error.to_string().contains("No module named no_such_kernel_module"), "{error}");
    assert_eq!(
        harness.sh(&format!("ls -A {KERNELS_DIR} 2>/dev/null | wc -l")).await.trim(),
        "0",
        "its directory is removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docker_backend_serves_kernels_over_the_same_protocol() {
    let test = "the_docker_backend_serves_kernels_over_the_same_protocol";
    if !require_root(test) {
        return;
    }
    let problem = bytesbox_docker::check_ready(DEFAULT_IMAGE).await.err().map(|e| e.to_string());
    if !require_prerequisite(test, "the Docker engine and the runtime images (scripts/images build)", problem) {
        return;
    }
    let docker = DockerBackend::start(DockerConfig::default()).await.expect("the docker backend starts");
    let harness = Harness::start_on(Arc::new(docker.clone())).await;
    let (kernel, mut events) = harness.kernel().await;
    assert_eq!(kernel.language_info["name"], "python");
    let cell =
        execute(&kernel, &mut events, "d1", "import sys\nprint('hello')\nprint('oops', file=sys.stderr)\n6 * 7").await;
    assert_eq!(cell.stream("stdout"), "hello\n");
    assert_eq!(cell.stream("stderr"), "oops\n");
    assert_eq!(cell.of_type("execute_result")[0].content["data"]["text/plain"], "42");
    let plot = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()";
    let cell = execute(&kernel, &mut events, "d2", plot).await;
    let png =
        cell.of_type("display_data").iter().find_map(|m| m.content["data"]["image/png"].as_str().map(str::to_string));
    assert!(png.is_some_and(|png| png.starts_with("iVBORw0KGgo")), "a PNG plot inline: {cell:?}");
    kernel.execute("d3", "name = input('Your name? ')\nprint('hi', name)".into(), true).await.expect("sent");
    let cell = collect(&kernel, &mut events, "d3", Some("Ada")).await;
    assert_eq!(cell.stream("stdout"), "hi Ada\n");
    kernel.execute("d5", "while True: pass".into(), true).await.expect("sent");
    tokio::time::sleep(Duration::from_millis(500)).await;
    kernel.interrupt().await.expect("interrupted");
    let cell = collect(&kernel, &mut events, "d5", None).await;
    assert_eq!(cell.of_type("error")[0].content["ename"], "KeyboardInterrupt", "{cell:?}");
    let mut attempt = 0;
    let cell = loop {
        attempt += 1;
        let code = "import os\nprint(os.getuid() != 0, os.getcwd())";
        let cell = execute(&kernel, &mut events, &format!("d4-{attempt}"), code).await;
        if cell.reply["status"] != "aborted" || attempt == 5 {
            break cell;
        }
    };
    assert_eq!(cell.stream("stdout"), "True /workspace\n");
    let kernel_dir = format!("{KERNELS_DIR}/{}", kernel.id);
    kernel.shutdown(Duration::from_secs(5)).await;
    assert_eq!(harness.sh(&format!("ls -A {kernel_dir} 2>/dev/null | wc -l")).await.trim(), "0", "no socket is left");

    // Past its memory: a clear end, and the box goes on.
    let (kernel, mut events) = harness.kernel_with(160 * MIB).await;
    kernel.execute("m1", "hog = b'x' * (400 << 20)".into(), true).await.expect("sent");
    let (status, _) = exit_of(&mut events).await;
    assert_eq!(status, "memory_limit");
    drop(kernel);
    let (kernel, mut events) = harness.kernel().await;
    kernel.execute("x1", "import os\nos._exit(3)".into(), true).await.expect("sent");
    let (status, code) = exit_of(&mut events).await;
    assert_eq!((status.as_str(), code), ("nonzero", Some(3)));

    harness.backend.destroy(&harness.box_id).await.expect("destroyed");
    docker.shutdown().await;
    let leftovers = docker.leftovers().await;
    assert!(leftovers.is_empty(), "leaked: {leftovers:#?}");
}
