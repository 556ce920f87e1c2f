//! The corpus itself: every case parses, follows the rules, and its sources
//! are valid programs. No backend needed.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};

use bytesbox_conformance::{
    conformance_tests, corpus_dir, load_corpus, placeholders, select_cases, Case, CorpusError, Language, TemplateVars,
    CASES_ENV, KNOWN_BACKENDS, PLACEHOLDERS, SHARED_DIR,
};

fn corpus() -> Vec<Case> {
    load_corpus().unwrap_or_else(|e| panic!("the corpus does not load: {e}"))
}

#[test]
fn corpus_has_at_least_36_cases() {
    let cases = corpus();
    assert!(cases.len() >= 36, "only {} cases", cases.len());
}

#[test]
fn names_are_unique_and_match_directories() {
    let cases = corpus();
    let names: BTreeSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), cases.len(), "duplicate names");
    for case in &cases {
        assert_eq!(case.dir.file_name().and_then(|n| n.to_str()), Some(case.name.as_str()));
    }
}

#[test]
fn every_case_has_a_description_and_expectations() {
    for case in corpus() {
        assert!(!case.description.trim().is_empty(), "{}: empty description", case.name);
        assert!(case.description.len() >= 20, "{}: description too short to say what it attacks", case.name);
        assert!(
            case.spec().expect.expectation_count() >= 2,
            "{}: a case needs a status and at least one more expectation",
            case.name
        );
    }
}

#[test]
fn every_source_says_what_it_attacks() {
    for case in corpus() {
        let main = case.files.iter().find(|f| f.path == case.language.main_file()).unwrap();
        let head = String::from_utf8_lossy(&main.content[..main.content.len().min(600)]).to_string();
        assert!(
            head.contains("Attack") || head.contains("Sanity"),
            "{}: {} should open with a comment naming the attack",
            case.name,
            main.path
        );
        assert!(head.contains("Expect"), "{}: {} should say what is expected", case.name, main.path);
    }
}

#[test]
fn backend_differences_name_known_backends_and_carry_reasons() {
    for case in corpus() {
        for (backend, difference) in &case.spec().backend_differences {
            assert!(KNOWN_BACKENDS.contains(&backend.as_str()), "{}: unknown backend {backend}", case.name);
            assert!(!difference.reason.trim().is_empty(), "{}: {backend} without reason", case.name);
        }
    }
}

#[test]
fn every_case_resolves_for_every_backend() {
    let vars = TemplateVars::new(41_234, "S3CR3T", "/tmp/secret-file", "abstract-name");
    for case in corpus() {
        for backend in KNOWN_BACKENDS {
            let resolved = case.resolve(backend, &vars).unwrap_or_else(|e| panic!("{} for {backend}: {e}", case.name));
            for file in &resolved.files {
                let text = String::from_utf8_lossy(&file.content);
                assert!(placeholders(&text).is_empty(), "{}: unrendered placeholder", case.name);
            }
        }
    }
}

#[test]
fn templated_values_reach_sources_and_expectations() {
    let cases = corpus();
    let vars = TemplateVars::new(41_234, "S3CR3T", "/tmp/secret-file", "abstract-name");
    let host = cases.iter().find(|c| c.name == "host_loopback_unreachable").unwrap();
    let resolved = host.resolve("native", &vars).unwrap();
    let main = resolved.files.iter().find(|f| f.path == "main.py").unwrap();
    let source = String::from_utf8_lossy(&main.content).to_string();
    assert!(source.contains("PORT = 41234"), "{source}");
    assert!(source.contains("\\0abstract-name"), "{source}");
    assert!(resolved.spec.expect.stdout_contains.contains(&"tcp 127.0.0.1:41234: ECONNREFUSED".to_string()));
    let environ = cases.iter().find(|c| c.name == "environ_secret_search").unwrap();
    let resolved = environ.resolve("native", &vars).unwrap();
    assert_eq!(resolved.spec.expect.output_not_contains, vec!["S3CR3T"]);
}

#[test]
fn placeholders_used_are_known() {
    // load_corpus already rejects unknown ones; check the other direction:
    // every placeholder is exercised by some case.
    let mut used = BTreeSet::new();
    for case in corpus() {
        for file in &case.files {
            for name in placeholders(&String::from_utf8_lossy(&file.content)) {
                used.insert(name.to_string());
            }
        }
    }
    for name in PLACEHOLDERS {
        assert!(used.contains(name), "no case uses {{{{{name}}}}}");
    }
}

#[test]
fn required_attacks_are_covered() {
    let names: BTreeSet<String> = corpus().into_iter().map(|c| c.name).collect();
    for required in [
        "fork_bomb_c",
        "fork_bomb_shell",
        "memory_bomb_python",
        "memory_bomb_malloc_c",
        "cpu_spin_timeout",
        "cpu_time_limit_c",
        "cpu_burn_multiprocess_c",
        "disk_fill_workspace",
        "disk_fill_tmp",
        "stdout_flood",
        "stderr_flood",
        "tiny_output_cap",
        "read_etc_shadow",
        "read_host_secret_file",
        "environ_secret_search",
        "proc1_environ_denied",
        "write_outside_workspace",
        "ptrace_denied_c",
        "syscall_mount_family",
        "syscall_unshare_setns",
        "syscall_clone_namespaces_c",
        "syscall_keyring",
        "syscall_io_uring",
        "syscall_bpf_perf_userfaultfd",
        "network_egress_public",
        "network_egress_private",
        "host_loopback_unreachable",
        "kill_all_minus_one",
        "double_fork_escape",
        "setsid_daemon",
        "workspace_symlinks",
        "binary_output_exact",
        "close_stdout_early",
        "stdin_echo_text",
        "open_files_exhaustion",
        "core_dump_attempt",
        "huge_argv_env",
        "thread_bomb_c",
        "dev_mem_and_mknod",
        "hostname_change",
        "loopback_server_client",
        "sleep_then_exit_ok",
        "hostile_filenames",
    ] {
        assert!(names.contains(required), "missing case {required}");
    }
}

#[test]
fn selecting_cases_by_name() {
    let all = corpus();
    let count = all.len();
    assert_eq!(select_cases(all.clone(), None).expect("no selection is every case").len(), count);
    let picked = select_cases(all, Some("stdout_flood, fork_bomb_c,")).expect("both are cases");
    let names: Vec<&str> = picked.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["fork_bomb_c", "stdout_flood"]);
}

#[test]
fn a_selection_that_names_no_case_is_refused() {
    for empty in ["", " ", " , ,"] {
        let refused = select_cases(corpus(), Some(empty)).expect_err("an empty selection runs nothing");
        assert!(matches!(refused, CorpusError::EmptySelection { .. }), "{refused}");
        assert!(refused.to_string().contains(CASES_ENV), "{refused}");
    }
}

#[test]
fn a_selection_with_a_mistyped_name_is_refused_and_names_it() {
    let refused = select_cases(corpus(), Some("stdout_flood, fork_bomb")).expect_err("fork_bomb is no case");
    let CorpusError::UnknownCases { unknown, known, .. } = &refused else {
        panic!("{refused}");
    };
    assert_eq!(unknown, "fork_bomb");
    assert!(known.contains("fork_bomb_c"), "the message lists the cases: {refused}");
}

#[test]
fn generic_test_names_are_unique() {
    let tests = conformance_tests();
    let names: BTreeSet<&str> = tests.iter().map(|(n, _)| *n).collect();
    assert_eq!(names.len(), tests.len());
    assert!(tests.len() >= 18, "{}", tests.len());
}

fn tool_available(tool: &str) -> bool {
    Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// Runs `tool` in `dir`; its stderr is the error.
fn check_in(dir: &Path, tool: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Run in a Python case's workspace: every `.py` file compiles, and every
/// module one imports is found from there (the standard library, or a file
/// put next to main.py such as a shared one), as for `python3 main.py`.
const PYTHON_CHECK: &str = r#"
import ast, glob, importlib.util, sys
missing = []
for path in sorted(glob.glob("*.py")):
    source = open(path, "rb").read()
    compile(source, path, "exec")
    for node in ast.walk(ast.parse(source, path)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            if importlib.util.find_spec(name.split(".")[0]) is None:
                missing.append(f"{path}:{node.lineno}: no module {name} in the workspace or the standard library")
sys.exit("\n".join(missing) or None)
"#;

/// Every case's workspace, exactly as the runner fills it (own and shared
/// files, templated), holds valid programs: C compiles without warnings
/// (syntax and semantics, nothing is run), every Python file compiles and
/// its imports resolve, shell parses.
#[test]
fn sources_are_valid_programs() {
    let vars = TemplateVars::example();
    let (gcc, python, sh) = (tool_available("gcc"), tool_available("python3"), tool_available("sh"));
    let mut failures = Vec::new();
    for case in corpus() {
        let resolved = case.resolve("native", &vars).unwrap();
        let workspace = tempfile::tempdir().unwrap();
        for file in &resolved.files {
            std::fs::write(workspace.path().join(&file.path), &file.content).unwrap();
        }
        let dir = workspace.path();
        let result = match case.language {
            Language::C if gcc => {
                check_in(dir, "gcc", &["-O2", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "main.c"])
            }
            Language::Python if python => check_in(dir, "python3", &["-B", "-c", PYTHON_CHECK]),
            Language::Shell if sh => check_in(dir, "sh", &["-n", "main.sh"]),
            _ => {
                eprintln!("note: no {:?} toolchain here; {} not compiled", case.language, case.name);
                Ok(())
            }
        };
        if let Err(e) = result {
            failures.push(format!("{}: {e}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every file of `corpus/_shared` is used, and each case that lists one
/// gets it, byte for byte, next to its main program; the syscall probes
/// share one harness.
#[test]
fn shared_files_are_used_and_delivered() {
    let mut shared = BTreeMap::new();
    for entry in std::fs::read_dir(corpus_dir().join(SHARED_DIR)).unwrap() {
        let entry = entry.unwrap();
        assert!(entry.file_type().unwrap().is_file(), "{SHARED_DIR} is flat: {:?}", entry.path());
        shared.insert(entry.file_name().into_string().unwrap(), std::fs::read(entry.path()).unwrap());
    }
    let cases = corpus();
    assert!(cases.iter().all(|c| c.name != SHARED_DIR), "{SHARED_DIR} is not a case");
    let vars = TemplateVars::example();
    for (name, content) in &shared {
        let users: Vec<&Case> = cases.iter().filter(|c| c.spec().shared.contains(name)).collect();
        assert!(!users.is_empty(), "no case uses {SHARED_DIR}/{name}");
        for case in users {
            for backend in KNOWN_BACKENDS {
                let resolved = case.resolve(backend, &vars).unwrap();
                let file = resolved.files.iter().find(|f| &f.path == name);
                let file = file.unwrap_or_else(|| panic!("{} lists {name} but does not get it", case.name));
                assert_eq!(&file.content, content, "{}: {name} differs from {SHARED_DIR}/{name}", case.name);
            }
        }
    }
    for name in [
        "syscall_bpf_perf_userfaultfd",
        "syscall_io_uring",
        "syscall_kernel_admin",
        "syscall_keyring",
        "syscall_mount_family",
        "syscall_unshare_setns",
    ] {
        let case = cases.iter().find(|c| c.name == name).unwrap();
        assert_eq!(case.spec().shared, ["probe.py"], "{name}");
        let main = case.files.iter().find(|f| f.path == "main.py").unwrap();
        let main = String::from_utf8_lossy(&main.content);
        assert!(main.contains("from probe import SyscallProbe"), "{name} uses the shared harness");
        assert!(!main.contains("def expect"), "{name} has its own copy of the harness again");
    }
}
