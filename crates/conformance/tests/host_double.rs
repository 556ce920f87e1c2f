//! End-to-end checks of the runner, the verdicts and the generic tests
//! against the host test double (real processes, no isolation). Only
//! harmless corpus programs run here; escape attempts that succeed on an
//! unisolated host are used to prove the runner *detects* them.

#![allow(clippy::unwrap_used)]

use bytesbox_conformance::{
    corpus_dir, load_corpus, load_corpus_from, run_case, run_conformance_tests_named, run_corpus, Case, CaseOutcome,
    HostContext, SHARED_DIR,
};
use bytesbox_sandbox::Backend;
use bytesbox_testkit::host_double::HostDouble;

fn cases(names: &[&str]) -> Vec<Case> {
    let all = load_corpus().unwrap();
    let picked: Vec<Case> = all.into_iter().filter(|c| names.contains(&c.name.as_str())).collect();
    assert_eq!(picked.len(), names.len(), "unknown case names in {names:?}");
    picked
}

fn only_host_limitations(outcome: &CaseOutcome) -> bool {
    // The double has no pid namespace: the host's processes are "survivors".
    outcome.mismatches.iter().all(|m| m.check.contains("(no_survivors)"))
}

/// Harmless cases behave as the corpus expects on real processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harmless_cases_pass_on_real_processes() {
    let ctx = HostContext::start().await.unwrap();
    let backend = HostDouble::default();
    let report = run_corpus(
        &backend,
        &cases(&[
            "binary_output_exact",
            "stdin_echo_text",
            "stdin_echo_binary",
            "close_stdout_early",
            "sleep_then_exit_ok",
            "nonzero_exit_code",
            "huge_argv_env",
            "loopback_server_client",
            "stdout_flood",
            "stderr_flood",
            "tiny_output_cap",
            "cpu_spin_timeout",
        ]),
        &ctx,
    )
    .await;
    let unexpected: Vec<&CaseOutcome> = report.outcomes.iter().filter(|o| !only_host_limitations(o)).collect();
    assert!(unexpected.is_empty(), "{report}");
    assert!(backend.list_is_empty().await, "run_case must destroy its boxes");
    assert_eq!(ctx.connections(), 0);
}

/// Escapes that work on an unisolated host are reported, with the exact
/// checks that caught them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escapes_on_an_unisolated_host_are_detected() {
    let ctx = HostContext::start().await.unwrap();
    let backend = HostDouble::default();

    let host = &cases(&["host_loopback_unreachable"])[0];
    let outcome = run_case(&backend, host, &ctx).await;
    let text = outcome.to_string();
    assert!(!outcome.passed(), "{text}");
    let checks: Vec<&str> = outcome.mismatches.iter().map(|m| m.check.as_str()).collect();
    assert!(checks.contains(&"host_connections"), "{text}");
    assert!(checks.contains(&"stdout_not_contains"), "{text}");
    assert!(text.contains("VIOLATION: connected to 127.0.0.1"), "{text}");
    assert!(text.contains("the box reached the host"), "{text}");
    assert!(ctx.connections() >= 2, "TCP and abstract socket connections are counted");

    let environ = &cases(&["environ_secret_search"])[0];
    let outcome = run_case(&backend, environ, &ctx).await;
    let text = outcome.to_string();
    assert!(text.contains("VIOLATION: the host secret is visible in os.environ"), "{text}");
    assert!(!text.contains(ctx.secret()), "the report must not print the secret itself: {text}");

    let links = &cases(&["workspace_symlinks"])[0];
    let outcome = run_case(&backend, links, &ctx).await;
    let text = outcome.to_string();
    assert!(text.contains("VIOLATION: the host secret file is reachable through the root symlink"), "{text}");
    // The double's get_files does not follow symlinks; only the hard link
    // (possible on an unisolated host, as root, on one filesystem) leaks.
    let snapshot: Vec<String> =
        outcome.mismatches.iter().filter(|m| m.check.starts_with("snapshot")).map(|m| m.to_string()).collect();
    assert!(snapshot.iter().all(|m| m.contains("\"hard\"")), "{snapshot:?}");
}

/// A case that lists a shared file gets it next to main.py, where
/// `python3 main.py` imports it: the real syscall harness of
/// `corpus/_shared/probe.py`, probing harmless calls, reports a denied call,
/// an allowed one (a VIOLATION) and the summary exactly as the corpus
/// expects, and leaves no `__pycache__` behind (`python3 -B`; this host
/// may also set PYTHONDONTWRITEBYTECODE, which the double passes on).
#[tokio::test]
async fn shared_files_reach_the_workspace_of_the_cases_listing_them() {
    let root = tempfile::tempdir().unwrap();
    let shared = root.path().join(SHARED_DIR);
    std::fs::create_dir(&shared).unwrap();
    std::fs::copy(corpus_dir().join(SHARED_DIR).join("probe.py"), shared.join("probe.py")).unwrap();
    let dir = root.path().join("shared_probe");
    std::fs::create_dir(&dir).unwrap();
    let expected = "close(-1): EBADF\\ngetpid: ALLOWED\\nVIOLATION: getpid was allowed\\n\
                    1 harmless call(s) not denied as expected\\n";
    let toml = format!(
        "name = 'shared_probe'\ndescription = 'the shared probe harness on harmless syscalls'\n\
         language = 'python'\nshared = ['probe.py']\nkeep_box = true\n\
         [expect]\nstatus = 'nonzero'\nexit_code = 1\nstdout_exact = \"{expected}\"\n"
    );
    std::fs::write(dir.join("case.toml"), toml).unwrap();
    let main = "from probe import SyscallProbe\n\
                probe = SyscallProbe({'x86_64': {'close': 3, 'getpid': 39}, 'aarch64': {'close': 57, 'getpid': 172}})\n\
                probe.expect('close(-1)', 'close', -1, want='EBADF')\n\
                probe.expect('getpid', 'getpid')\n\
                probe.finish('harmless')\n";
    std::fs::write(dir.join("main.py"), main).unwrap();
    let cases = load_corpus_from(root.path()).unwrap();
    assert_eq!(cases.len(), 1, "{SHARED_DIR} is not a case");

    let ctx = HostContext::start().await.unwrap();
    let backend = HostDouble::default();
    let outcome = run_case(&backend, &cases[0], &ctx).await;
    assert!(outcome.passed(), "{outcome}");
    let id = outcome.kept_box.unwrap();
    let snapshot = backend.get_files(&id, Vec::new(), 1 << 20).await.unwrap();
    let paths: Vec<&str> = snapshot.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["main.py", "probe.py"], "the shared file next to main.py, and no __pycache__");
    backend.destroy(&id).await.unwrap();
}

/// A case whose box cannot be created fails with a setup mismatch instead
/// of panicking.
#[tokio::test]
async fn setup_failures_are_mismatches() {
    let ctx = HostContext::start().await.unwrap();
    let backend = HostDouble::default();
    let text = "name = 'bad_box'\ndescription = 'a box spec the backend refuses'\nlanguage = 'shell'\n\
                [box_limits]\nmemory_bytes = 4096\n[expect]\nstatus = 'ok'\n";
    // BoxLimits.validate() rejects < 8 MiB at load time already.
    let err = Case::from_parts(
        "bad_box",
        text,
        vec![bytesbox_conformance::SourceFile { path: "main.sh".into(), content: b"true".to_vec() }],
    )
    .unwrap_err();
    assert!(err.to_string().contains("box_limits"), "{err}");

    let good = "name = 'missing_program'\ndescription = 'the shell script runs a missing program'\n\
                language = 'shell'\n[expect]\nstatus = 'ok'\nstdout_contains = 'never printed'\n";
    let case = Case::from_parts(
        "missing_program",
        good,
        vec![bytesbox_conformance::SourceFile { path: "main.sh".into(), content: b"/nonexistent/x\n".to_vec() }],
    )
    .unwrap();
    let outcome = run_case(&backend, &case, &ctx).await;
    let text = outcome.to_string();
    let checks: Vec<&str> = outcome.mismatches.iter().map(|m| m.check.as_str()).collect();
    assert_eq!(checks, vec!["status", "stdout_contains"], "{text}");
    assert!(text.contains("status in [ok]"), "{text}");
    assert!(text.contains("status=nonzero exit_code=127"), "{text}");
    assert!(text.contains("/nonexistent/x"), "stderr excerpt: {text}");
}

/// The generic tests that need no isolation, PTY or resource accounting
/// pass against real processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_tests_pass_on_real_processes() {
    let backend = HostDouble::default();
    let report = run_conformance_tests_named(
        &backend,
        &[
            "hello_world",
            "stdin_pipes",
            "signal_delivery",
            "kill_mid_run",
            "timeout_keeps_partial_output",
            "exit_code_propagation",
            "concurrent_runs_over_loopback",
            "files_round_trip",
            "put_files_replace",
            "get_files_budget",
            "put_files_hostile_paths",
            "put_files_planted_symlink",
            "workspace_root_deletes_beneath",
            "destroy_while_running",
            "destroyed_box_rejects_use",
            "box_listing",
        ],
    )
    .await;
    assert_eq!(report.outcomes.len(), 16);
    assert!(report.all_passed(), "{report}");
    assert!(backend.list_is_empty().await, "every test destroys its boxes");
}

/// Tests that need what the double lacks fail with precise messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_tests_explain_failures() {
    let backend = HostDouble::default();
    let report =
        run_conformance_tests_named(&backend, &["stdin_interactive_pty", "env_and_cwd", "exit_report_plausible"]).await;
    let failures: Vec<String> =
        report.outcomes.iter().map(|o| format!("{}: {}", o.name, o.result.clone().err().unwrap_or_default())).collect();
    assert!(failures[0].contains("has no PTY"), "{failures:?}");
    assert!(failures[1].contains("the default cwd must be the workspace /workspace"), "{failures:?}");
    assert!(failures[2].contains("cpu_ms >= 500"), "{failures:?}");
    let text = report.to_string();
    assert!(text.contains("0 of 3 tests passed, 3 failed"), "{text}");
    assert!(backend.list_is_empty().await, "failed tests destroy their boxes too");
}
