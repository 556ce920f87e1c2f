//! Which runtimes a host can serve, and their versions (`bytesbox runtimes`).
//!
//! Programs are looked up along the catalog's `search_path` (a box's PATH),
//! not the server's own PATH: a tool found only under `/root/.cargo/bin`
//! does not exist inside a box.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::catalog::{Catalog, Runtime};

/// How long a version command may take.
pub const VERSION_TIMEOUT: Duration = Duration::from_secs(5);

/// Output read from a version command, per stream.
const MAX_OUTPUT: u64 = 64 * 1024;

/// Whether a runtime can be used here, and its version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RuntimeStatus {
    /// Runtime id.
    pub id: String,
    /// Every required program exists and the version command succeeded.
    pub available: bool,
    /// `3.11.2`, or `gcc 12.2.0` when the catalog names the tool.
    pub version: Option<String>,
    /// Why the runtime is unavailable.
    pub reason: Option<String>,
}

impl Catalog {
    /// Runs every runtime's version command (in parallel, each with a
    /// [`VERSION_TIMEOUT`]) and reports, in catalog order.
    pub fn detect_versions(&self) -> Vec<RuntimeStatus> {
        self.detect_versions_with(VERSION_TIMEOUT)
    }

    /// [`Catalog::detect_versions`] with another timeout.
    pub fn detect_versions_with(&self, timeout: Duration) -> Vec<RuntimeStatus> {
        std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .runtimes
                .iter()
                .map(|runtime| (runtime, scope.spawn(move || detect(runtime, &self.search_path, timeout))))
                .collect();
            handles
                .into_iter()
                .map(|(runtime, handle)| {
                    handle.join().unwrap_or_else(|_| unavailable(runtime, "version detection panicked".into()))
                })
                .collect()
        })
    }
}

fn unavailable(runtime: &Runtime, reason: String) -> RuntimeStatus {
    RuntimeStatus { id: runtime.id.clone(), available: false, version: None, reason: Some(reason) }
}

fn detect(runtime: &Runtime, search_path: &str, timeout: Duration) -> RuntimeStatus {
    for program in &runtime.requires {
        if find_program(program, search_path).is_none() {
            return unavailable(
                runtime,
                // Not the search path: this reason reaches every client
                // (`/api/v1/runtimes`, a run's error), and the server's
                // directories are none of their business.
                format!("`{program}` is not installed on this server; {} needs it", runtime.name),
            );
        }
    }
    let command = runtime.version_command.join(" ");
    let Some(program) = find_program(&runtime.version_command[0], search_path) else {
        return unavailable(runtime, format!("`{}` is not installed", runtime.version_command[0]));
    };
    let (status, stdout, stderr) = match run_with_timeout(&program, &runtime.version_command[1..], search_path, timeout)
    {
        Ok(done) => done,
        Err(reason) => return unavailable(runtime, format!("`{command}` {reason}")),
    };
    let failure = (!status.success()).then(|| status.to_string());
    runtime.status_from_version_output(failure.as_deref(), &stdout, &stderr)
}

impl Runtime {
    /// The runtime's status from what its version command printed, wherever
    /// it ran (on this host, or in a container of its image). `failure`
    /// describes an unsuccessful end (`exit status: 1`).
    pub fn status_from_version_output(&self, failure: Option<&str>, stdout: &str, stderr: &str) -> RuntimeStatus {
        let line = first_line(stdout).or_else(|| first_line(stderr)).unwrap_or_default();
        if let Some(failure) = failure {
            let command = self.version_command.join(" ");
            let said = first_line(stderr).or_else(|| first_line(stdout)).unwrap_or_default();
            return unavailable(self, format!("`{command}` failed ({failure}): {said}"));
        }
        let version = match (version_number(&line), &self.version_name) {
            (Some(number), Some(name)) => format!("{name} {number}"),
            (Some(number), None) => number,
            (None, _) if line.is_empty() => "unknown".into(),
            (None, _) => line,
        };
        RuntimeStatus { id: self.id.clone(), available: true, version: Some(version), reason: None }
    }
}

/// `program` along `search_path`, or as given when it holds a `/`.
fn find_program(program: &str, search_path: &str) -> Option<PathBuf> {
    let is_executable =
        |path: &Path| std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if program.contains('/') {
        let path = PathBuf::from(program);
        return is_executable(&path).then_some(path);
    }
    search_path.split(':').map(|dir| Path::new(dir).join(program)).find(|p| is_executable(p))
}

/// Runs a command with an empty environment but `PATH`, and kills its
/// whole process group when it takes longer than `timeout`.
fn run_with_timeout(
    program: &Path,
    args: &[String],
    search_path: &str,
    timeout: Duration,
) -> Result<(ExitStatus, String, String), String> {
    let mut child = Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", search_path)
        .env("LANG", "C.UTF-8")
        .env("HOME", "/tmp")
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("could not start: {e}"))?;
    let (sender, receiver) = mpsc::channel();
    for (index, pipe) in [
        child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
        child.stderr.take().map(|p| Box::new(p) as _),
    ]
    .into_iter()
    .enumerate()
    {
        let sender = sender.clone();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(pipe) = pipe {
                let _ = pipe.take(MAX_OUTPUT).read_to_end(&mut bytes);
            }
            let _ = sender.send((index, String::from_utf8_lossy(&bytes).into_owned()));
        });
    }
    drop(sender);
    let deadline = Instant::now() + timeout;
    let kill_group = |pid: u32| {
        if let Ok(pid) = i32::try_from(pid) {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                kill_group(child.id());
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("did not finish within {} s", timeout.as_secs_f64()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("could not be waited for: {e}")),
        }
    };
    // Whatever the command left behind must not keep its pipes open.
    kill_group(child.id());
    let mut outputs = [String::new(), String::new()];
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
        match receiver.recv_timeout(left) {
            Ok((index, text)) => outputs[index] = text,
            Err(_) => break,
        }
    }
    let [stdout, stderr] = outputs;
    Ok((status, stdout, stderr))
}

fn first_line(text: &str) -> Option<String> {
    text.lines().map(str::trim).find(|l| !l.is_empty()).map(String::from)
}

/// The first dotted number in a version line: `Python 3.11.2` → `3.11.2`,
/// `v20.1.0` → `20.1.0`, `gcc (Debian 12.2.0-14) 12.2.0` → `12.2.0`,
/// `go version go1.22.1 linux/amd64` → `1.22.1`.
pub(crate) fn version_number(line: &str) -> Option<String> {
    let mut rest = line;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
        let run = &rest[start..];
        let len = run.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(run.len());
        let number = run[..len].trim_end_matches('.');
        if number.contains('.') {
            return Some(number.to_string());
        }
        rest = &run[len..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers_are_found_in_every_tool_s_format() {
        let cases = [
            ("Python 3.11.2", "3.11.2"),
            ("v20.20.2", "20.20.2"),
            ("openjdk version \"17.0.15\" 2025-04-15", "17.0.15"),
            ("gcc (Debian 12.2.0-14+deb12u1) 12.2.0", "12.2.0"),
            ("GNU bash, version 5.2.15(1)-release (x86_64-pc-linux-gnu)", "5.2.15"),
            ("3.40.1 2022-12-28 14:03:47 df5c253c0b3dd24916e4ec7cf77d3db5294cc9fd45ae7b9c5e82ad8197f3alt1", "3.40.1"),
            ("go version go1.22.1 linux/amd64", "1.22.1"),
            ("rustc 1.85.0 (4d91de4e4 2025-02-17)", "1.85.0"),
            ("ruby 3.1.2p20 (2022-04-12 revision 4491bb740a) [x86_64-linux-gnu]", "3.1.2"),
            ("Version 5.4.5", "5.4.5"),
        ];
        for (line, want) in cases {
            assert_eq!(version_number(line).as_deref(), Some(want), "{line}");
        }
        assert_eq!(version_number("no digits"), None);
        assert_eq!(version_number("build 21 2023-09-19"), None);
    }

    #[test]
    fn programs_are_found_along_the_given_path_only() {
        let dir = std::env::temp_dir().join(format!("bytesbox-runtimes-find-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let tool = dir.join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o644)).unwrap();
        let path = format!("/nonexistent:{}", dir.display());
        assert_eq!(find_program("tool", &path), None, "not executable");
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_program("tool", &path), Some(tool.clone()));
        assert_eq!(find_program("tool", "/nonexistent"), None);
        assert_eq!(find_program(tool.to_str().unwrap(), "/nonexistent"), Some(tool));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_tool_is_named_without_the_search_path() {
        let mut runtime = Catalog::builtin().runtimes()[0].clone();
        runtime.requires = vec!["bytesbox-no-such-tool".into()];
        let search_path = "/nonexistent/bytesbox-secret-dir:/usr/bin";
        let status = detect(&runtime, search_path, VERSION_TIMEOUT);
        assert!(!status.available);
        let reason = status.reason.expect("a reason");
        assert!(reason.contains("`bytesbox-no-such-tool` is not installed on this server"), "{reason}");
        assert!(!reason.contains("bytesbox-secret-dir") && !reason.contains("/usr/bin"), "{reason}");
    }

    #[test]
    fn slow_version_commands_time_out_and_are_killed() {
        let started = Instant::now();
        let err = run_with_timeout(
            Path::new("/bin/sh"),
            &["-c".into(), "sleep 30 & sleep 30".into()],
            "/usr/bin:/bin",
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(err.contains("did not finish within 0.3 s"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5), "the whole group was killed: {:?}", started.elapsed());
        let (status, stdout, stderr) = run_with_timeout(
            Path::new("/bin/sh"),
            &["-c".into(), "echo out; echo err >&2; echo \"$PATH\"".into()],
            "/usr/bin:/bin",
            VERSION_TIMEOUT,
        )
        .unwrap();
        assert!(status.success());
        assert_eq!(stdout, "out\n/usr/bin:/bin\n");
        assert_eq!(stderr, "err\n");
    }
}
