//! The environment every run starts with, the same on every backend.
//!
//! `HOME` is the box's `/tmp`, not the workspace: tools write their caches
//! and settings there (pip's and npm's caches, `.gitconfig`, shell and
//! REPL histories), and in the workspace those would show up among the
//! user's project files, be saved with them and count against the
//! workspace quota. Every backend mounts a writable, size-capped `/tmp`.
//! See `docs/native-sandbox.md` ("The run environment").

use crate::{RunSpec, StdioMode};

/// `PATH` when the spec sets none.
pub const RUN_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// `HOME` when the spec sets none: writable on every backend, outside the
/// project's files.
pub const RUN_HOME: &str = "/tmp";
/// `USER` when the spec sets none; the box uid has no name of its own.
pub const RUN_USER: &str = "runner";

/// The full environment of a run as `KEY=value` strings: the spec's own
/// variables, then each default the spec does not set.
pub fn run_env(spec: &RunSpec) -> Vec<String> {
    let terminal = matches!(spec.stdio, StdioMode::Pty { .. });
    let defaults = [
        ("PATH", RUN_PATH),
        ("HOME", RUN_HOME),
        ("LANG", "C.UTF-8"),
        ("USER", RUN_USER),
        ("TERM", if terminal { "xterm-256color" } else { "dumb" }),
    ];
    let mut env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for (key, value) in defaults {
        if !spec.env.iter().any(|(k, _)| k == key) {
            env.push(format!("{key}={value}"));
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_what_the_spec_lacks() {
        let spec = RunSpec { env: vec![("HOME".into(), "/workspace".into())], ..RunSpec::command(["true"]) };
        let env = run_env(&spec);
        assert_eq!(env[0], "HOME=/workspace", "the caller's variables come first and win");
        assert!(!env.contains(&"HOME=/tmp".to_string()));
        for expected in ["USER=runner", "LANG=C.UTF-8", "TERM=dumb", &format!("PATH={RUN_PATH}")] {
            assert!(env.iter().any(|e| e == expected), "{expected} missing from {env:?}");
        }
        let pty = RunSpec { stdio: StdioMode::terminal(24, 80), ..RunSpec::command(["true"]) };
        assert!(run_env(&pty).contains(&"TERM=xterm-256color".to_string()));
    }
}
