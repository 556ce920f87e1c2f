//! Generic tests of runs: streams, terminals, signals, limits and reports.

use bytes::Bytes;
use bytesbox_sandbox::{Backend, RunLimits, RunSpec, RunStatus, SandboxError, Signal, StdioMode};

use super::util::{command, ensure, expect_status, expect_stdout, TestBox, TestResult};

fn pty(argv: &[&str], rows: u16, cols: u16) -> RunSpec {
    RunSpec { stdio: StdioMode::terminal(rows, cols), close_stdin: false, ..command(argv) }
}

fn interactive(argv: &[&str]) -> RunSpec {
    RunSpec { close_stdin: false, ..command(argv) }
}

/// stdout and stderr arrive separately over pipes; exit 0 is `ok`.
pub async fn hello_world(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "hello_world").await?;
    let result = async {
        let run = bx.sh("echo hello world; echo to-stderr >&2").await?;
        expect_status("hello world", &run, RunStatus::Ok)?;
        ensure(run.stdout.as_ref() == b"hello world\n", || {
            format!("stdout should be exactly \"hello world\\n\", got {:?}", run.stdout_text())
        })?;
        ensure(run.stderr.as_ref() == b"to-stderr\n", || {
            format!("stderr should be exactly \"to-stderr\\n\", got {:?}", run.stderr_text())
        })?;
        ensure(run.report.exit_code == Some(0) && run.report.signal.is_none(), || {
            format!("expected exit_code Some(0) and no signal, got {:?}", run.report)
        })
    }
    .await;
    bx.finish(result).await
}

/// Bytes written through the handle reach a piped stdin; closing it gives EOF.
pub async fn stdin_pipes(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "stdin_pipes").await?;
    let result = async {
        let mut live = bx.start(interactive(&["cat"])).await?;
        let control = live.control();
        control.write_stdin(Bytes::from_static(b"first\n")).await.map_err(|e| format!("write_stdin failed: {e}"))?;
        live.wait_for("first\n").await?;
        control
            .write_stdin(Bytes::from_static(b"second\x00\xff"))
            .await
            .map_err(|e| format!("write_stdin failed: {e}"))?;
        control.close_stdin().await.map_err(|e| format!("close_stdin failed: {e}"))?;
        live.expect_exit(RunStatus::Ok).await?;
        ensure(live.stdout == b"first\nsecond\x00\xff", || {
            format!("cat should echo stdin byte for byte, got {:?}", live.stdout)
        })?;
        // Batch form: RunSpec.stdin with close_stdin.
        let batch = RunSpec { stdin: b"batch input\n".to_vec(), ..command(&["cat"]) };
        let run = bx.run(batch).await?;
        expect_status("cat with RunSpec.stdin", &run, RunStatus::Ok)?;
        ensure(run.stdout.as_ref() == b"batch input\n", || {
            format!("RunSpec.stdin should reach cat, got {:?}", run.stdout_text())
        })
    }
    .await;
    bx.finish(result).await
}

/// Under a PTY a prompt appears before any input is sent, and the answer
/// typed afterwards is read.
pub async fn stdin_interactive_pty(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "stdin_interactive_pty").await?;
    let result = async {
        let script = "import sys\nname = input('name? ')\nprint('hello ' + name)\nprint('isatty', sys.stdin.isatty(), sys.stdout.isatty())";
        let mut live = bx.start(pty(&["python3", "-c", script], 24, 80)).await?;
        live.wait_for("name? ")
            .await
            .map_err(|e| format!("the prompt must appear before any input is sent: {e}"))?;
        live.control()
            .write_stdin(Bytes::from_static(b"bob\n"))
            .await
            .map_err(|e| format!("write_stdin failed: {e}"))?;
        live.wait_for("hello bob").await?;
        live.wait_for("isatty True True").await?;
        live.expect_exit(RunStatus::Ok).await?;
        ensure(live.stderr.is_empty(), || {
            format!("under a PTY everything goes to stdout, but stderr got {:?}", live.stderr)
        })
    }
    .await;
    bx.finish(result).await
}

/// Under a terminal with stderr apart, stdin and stdout are the terminal
/// and stderr a stream of its own, before and after input; nothing of the
/// plumbing is left in the box.
pub async fn pty_stderr_apart(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "pty_stderr_apart").await?;
    let result = async {
        let script = "if [ -t 0 ] && [ -t 1 ]; then echo terminal-out; fi; echo first-err >&2; \
                      read line; echo \"got $line\"; echo second-err >&2; sh -c 'echo child-err >&2'";
        let spec = RunSpec {
            stdio: StdioMode::terminal_with_stderr_apart(24, 80),
            close_stdin: false,
            ..command(&["/bin/sh", "-c", script])
        };
        let mut live = bx.start(spec).await?;
        live.wait_for("terminal-out")
            .await
            .map_err(|e| format!("stdin and stdout must be the terminal, stderr not: {e}"))?;
        live.control().write_stdin(Bytes::from_static(b"x\n")).await.map_err(|e| format!("write_stdin failed: {e}"))?;
        live.wait_for("got x").await?;
        let report = live.expect_exit(RunStatus::Ok).await?;
        ensure(report.exit_code == Some(0), || format!("the script should exit 0, got {report:?}"))?;
        // A backend may give stderr a terminal of its own (CRLF) or a pipe.
        let stderr = String::from_utf8_lossy(&live.stderr).replace("\r\n", "\n");
        ensure(stderr.starts_with("first-err\nsecond-err\n") && stderr.contains("child-err\n"), || {
            format!("stderr should come apart, in order, a child's too: got {stderr:?}")
        })?;
        let stdout = String::from_utf8_lossy(&live.stdout).into_owned();
        ensure(!stdout.contains("-err"), || format!("stderr must not reach the terminal: stdout was {stdout:?}"))?;
        let listing = bx.sh("ls -a /tmp").await?;
        ensure(!listing.stdout_text().contains("bytesbox"), || {
            format!("the run left its plumbing in /tmp: {:?}", listing.stdout_text())
        })
    }
    .await;
    bx.finish(result).await
}

/// `resize` changes what `stty size` reports; pipe runs refuse `resize`.
pub async fn pty_resize(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "pty_resize").await?;
    let result = async {
        let mut live = bx.start(pty(&["/bin/sh", "-c", "stty size; read line; stty size"], 24, 80)).await?;
        live.wait_for("24 80").await?;
        let mark = live.stdout.len();
        live.control().resize(40, 100).await.map_err(|e| format!("resize failed: {e}"))?;
        live.control().write_stdin(Bytes::from_static(b"\n")).await.map_err(|e| format!("write_stdin failed: {e}"))?;
        live.wait_for_after("40 100", mark).await?;
        live.expect_exit(RunStatus::Ok).await?;

        let mut piped = bx.start(interactive(&["sleep", "30"])).await?;
        let resized = piped.control().resize(10, 10).await;
        piped.control().kill().await.map_err(|e| format!("kill failed: {e}"))?;
        piped.wait_exit().await?;
        ensure(resized.is_err(), || "resize of a pipe run must be an error".into())
    }
    .await;
    bx.finish(result).await
}

/// SIGINT reaches a program that handles it.
pub async fn signal_delivery(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "signal_delivery").await?;
    let result = async {
        let script = "import signal, sys, time\n\
def handler(sig, frame):\n    print('got SIGINT', flush=True)\n    sys.exit(0)\n\
signal.signal(signal.SIGINT, handler)\n\
print('ready', flush=True)\n\
for _ in range(300):\n    time.sleep(0.1)\n\
print('no signal arrived', flush=True)\nsys.exit(3)\n";
        let mut live = bx.start(command(&["python3", "-u", "-c", script])).await?;
        live.wait_for("ready").await?;
        live.control().signal(Signal::Sigint).await.map_err(|e| format!("signal(SIGINT) failed: {e}"))?;
        live.wait_for("got SIGINT").await?;
        let report = live.expect_exit(RunStatus::Ok).await?;
        ensure(report.exit_code == Some(0), || format!("expected exit 0, got {report:?}"))
    }
    .await;
    bx.finish(result).await
}

/// `kill` ends a run with status `killed`; afterwards the controls say the
/// run is finished.
pub async fn kill_mid_run(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "kill_mid_run").await?;
    let result = async {
        let mut live = bx.start(interactive(&["/bin/sh", "-c", "echo started; exec sleep 60"])).await?;
        live.wait_for("started").await?;
        let control = live.control();
        control.kill().await.map_err(|e| format!("kill failed: {e}"))?;
        let report = live.expect_exit(RunStatus::Killed).await?;
        ensure(report.wall_ms < 30_000, || {
            format!("the kill should end the run promptly, wall_ms={}", report.wall_ms)
        })?;
        let after = control.write_stdin(Bytes::from_static(b"x")).await;
        ensure(matches!(after, Err(SandboxError::RunFinished)), || {
            format!("write_stdin after the exit must fail with RunFinished, got {after:?}")
        })?;
        let after = control.signal(Signal::Sigterm).await;
        ensure(matches!(after, Err(SandboxError::RunFinished)), || {
            format!("signal after the exit must fail with RunFinished, got {after:?}")
        })
    }
    .await;
    bx.finish(result).await
}

/// A wall-time timeout gives status `timeout` and delivers the output
/// written before it.
pub async fn timeout_keeps_partial_output(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "timeout_keeps_partial_output").await?;
    let result = async {
        let spec = RunSpec {
            limits: RunLimits { wall_time_ms: 1500, ..RunLimits::default() },
            ..command(&["/bin/sh", "-c", "echo before-timeout; echo err-before >&2; exec sleep 60"])
        };
        let run = bx.run(spec).await?;
        expect_status("sleep past a 1500 ms wall limit", &run, RunStatus::Timeout)?;
        expect_stdout("partial output before the timeout", &run, "before-timeout")?;
        ensure(run.stderr_text().contains("err-before"), || {
            format!("stderr before the timeout must be delivered, got {:?}", run.stderr_text())
        })?;
        ensure((1000..20_000).contains(&run.report.wall_ms), || {
            format!("wall_ms should be near the 1500 ms limit, got {}", run.report.wall_ms)
        })
    }
    .await;
    bx.finish(result).await
}

/// A program at a prompt does not spend its wall time: answered after
/// longer than its wall limit, it goes on; a wait longer than
/// `input_wait_ms` ends it as `input_timeout`, after a notice.
pub async fn input_waits_do_not_count(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "input_waits_do_not_count").await?;
    let result = async {
        let script = "name = input('name? ')\nprint('hello ' + name)";
        let prompt = RunSpec {
            limits: RunLimits { wall_time_ms: 3000, input_wait_ms: 60_000, ..RunLimits::default() },
            ..pty(&["python3", "-c", script], 24, 80)
        };
        let mut live = bx.start(prompt).await?;
        live.wait_for("name? ").await?;
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        live.control()
            .write_stdin(Bytes::from_static(b"bob\n"))
            .await
            .map_err(|e| format!("write_stdin failed: {e}"))?;
        live.wait_for("hello bob")
            .await
            .map_err(|e| format!("5 s at a prompt must not use up a 3 s wall limit: {e}"))?;
        let report = live.expect_exit(RunStatus::Ok).await?;
        ensure(report.wall_ms >= 5000, || format!("wall_ms is the whole run's, got {}", report.wall_ms))?;

        // Over a pipe, and past the longest wait allowed.
        let waiting = RunSpec {
            limits: RunLimits { wall_time_ms: 20_000, input_wait_ms: 2000, ..RunLimits::default() },
            ..interactive(&["python3", "-c", "input()"])
        };
        let mut live = bx.start(waiting).await?;
        let report = live.expect_exit(RunStatus::InputTimeout).await?;
        ensure((2000..15_000).contains(&report.wall_ms), || {
            format!("the wait should end after about 2 s, got wall_ms {}", report.wall_ms)
        })?;
        // The checks come every 250 ms and may come late, so the time the
        // notice names is about a second, not exactly one.
        ensure(live.notices.len() == 1 && live.notices[0].contains("will be stopped in"), || {
            format!("one notice should come before the end, got {:?}", live.notices)
        })
    }
    .await;
    bx.finish(result).await
}

/// Exit codes and terminating signals reach the report.
pub async fn exit_code_propagation(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "exit_code_propagation").await?;
    let result = async {
        for (script, status, code) in [
            ("exit 0", RunStatus::Ok, Some(0)),
            ("exit 42", RunStatus::Nonzero, Some(42)),
            ("exit 255", RunStatus::Nonzero, Some(255)),
        ] {
            let run = bx.sh(script).await?;
            expect_status(script, &run, status)?;
            ensure(run.report.exit_code == code && run.report.signal.is_none(), || {
                format!("{script}: expected exit_code {code:?} and no signal, got {:?}", run.report)
            })?;
        }
        let run = bx.sh("kill -TERM $$; sleep 5").await?;
        expect_status("a shell killing itself with SIGTERM", &run, RunStatus::Signaled)?;
        ensure(run.report.signal == Some(15) && run.report.exit_code.is_none(), || {
            format!("expected signal Some(15) and no exit code, got {:?}", run.report)
        })?;
        // A missing program is either refused by `run` or reported as a failure.
        match bx.run(command(&["/nonexistent/program"])).await {
            Err(_) => Ok(()),
            Ok(run) => ensure(run.report.status != RunStatus::Ok, || {
                format!("running a missing program must not be ok, got {:?}", run.report)
            }),
        }
    }
    .await;
    bx.finish(result).await
}

/// Variables the box may legitimately share with the runner.
const SHARED_ENV: [&str; 12] =
    ["PATH", "HOME", "LANG", "TERM", "USER", "LOGNAME", "SHELL", "PWD", "SHLVL", "HOSTNAME", "TZ", "_"];

/// `env` replaces the environment (with PATH etc. added), `cwd` is honoured,
/// the default cwd is the workspace, and nothing leaks from the runner's
/// environment.
pub async fn env_and_cwd(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "env_and_cwd").await?;
    let result = async {
        let spec = RunSpec {
            env: vec![("FOO".into(), "bar baz".into()), ("EMPTY".into(), String::new())],
            cwd: "/tmp".into(),
            ..command(&[
                "sh",
                "-c",
                "printf 'FOO=[%s]\\n' \"$FOO\"; printf 'EMPTY=[%s]\\n' \"${EMPTY-unset}\"; printf 'PATH=[%s]\\n' \"$PATH\"; printf 'CWD=[%s]\\n' \"$(pwd)\"",
            ])
        };
        let run = bx.run(spec).await?;
        expect_status("env and cwd", &run, RunStatus::Ok)?;
        for needle in ["FOO=[bar baz]", "EMPTY=[]", "CWD=[/tmp]"] {
            expect_stdout("env and cwd", &run, needle)?;
        }
        ensure(!run.stdout_text().contains("PATH=[]"), || {
            format!("a PATH must be added when the env lacks one, got {:?}", run.stdout_text())
        })?;

        let run = bx.run(command(&["pwd"])).await?;
        expect_status("pwd", &run, RunStatus::Ok)?;
        ensure(run.stdout_text().trim_end() == "/workspace", || {
            format!("the default cwd must be the workspace /workspace, got {:?}", run.stdout_text())
        })?;

        let run = bx.run(command(&["env"])).await?;
        expect_status("env", &run, RunStatus::Ok)?;
        let boxed = run.stdout_text();
        let leaked: Vec<String> = std::env::vars()
            .filter(|(k, v)| v.len() >= 8 && !SHARED_ENV.contains(&k.as_str()) && !k.starts_with("LC_"))
            .map(|(k, v)| format!("{k}={v}"))
            .filter(|pair| boxed.lines().any(|line| line == pair))
            .map(|pair| pair.split('=').next().unwrap_or_default().to_string())
            .collect();
        ensure(leaked.is_empty(), || {
            format!("the runner's environment leaked into the box: {leaked:?}")
        })
    }
    .await;
    bx.finish(result).await
}

/// Every backend starts a run with the same environment
/// (`bytesbox_sandbox::run_env`): its defaults, a writable `HOME`, a
/// terminal `TERM` with a PTY, and the caller's own variables winning.
pub async fn run_environment(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "run_environment").await?;
    let result = async {
        let report = "printf 'PATH=[%s]\\nHOME=[%s]\\nUSER=[%s]\\nLANG=[%s]\\nTERM=[%s]\\n' \
                      \"$PATH\" \"$HOME\" \"$USER\" \"$LANG\" \"$TERM\"; \
                      echo cached > \"$HOME/.bytesbox-probe\" && cat \"$HOME/.bytesbox-probe\"";
        let run = bx.run(command(&["/bin/sh", "-c", report])).await?;
        expect_status("the default environment", &run, RunStatus::Ok)?;
        let expected = [
            format!("PATH=[{}]", bytesbox_sandbox::RUN_PATH),
            format!("HOME=[{}]", bytesbox_sandbox::RUN_HOME),
            format!("USER=[{}]", bytesbox_sandbox::RUN_USER),
            "LANG=[C.UTF-8]".to_string(),
            "TERM=[dumb]".to_string(),
            "cached".to_string(),
        ];
        for line in &expected {
            ensure(run.stdout_text().lines().any(|l| l == line), || {
                format!(
                    "the default environment must have {line:?} (and HOME must be writable), got {:?}",
                    run.stdout_text()
                )
            })?;
        }

        let run = bx.run(pty(&["/bin/sh", "-c", "printf 'TERM=[%s]\\n' \"$TERM\""], 24, 80)).await?;
        expect_status("TERM with a terminal", &run, RunStatus::Ok)?;
        expect_stdout("TERM with a terminal", &run, "TERM=[xterm-256color]")?;

        let spec = RunSpec {
            env: vec![("HOME".into(), "/workspace".into()), ("USER".into(), "someone".into())],
            ..command(&["/bin/sh", "-c", "printf 'HOME=[%s] USER=[%s]\\n' \"$HOME\" \"$USER\""])
        };
        let run = bx.run(spec).await?;
        expect_status("the caller's environment", &run, RunStatus::Ok)?;
        expect_stdout("the caller's variables win over the defaults", &run, "HOME=[/workspace] USER=[someone]")
    }
    .await;
    bx.finish(result).await
}

/// Two runs active at once in one box talk over the box's loopback.
pub async fn concurrent_runs_over_loopback(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "concurrent_runs_over_loopback").await?;
    let result = async {
        let server = "import socket\n\
s = socket.socket()\n\
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
s.bind(('127.0.0.1', 0))\ns.listen(1)\n\
print('port %d ready' % s.getsockname()[1], flush=True)\n\
c, _ = s.accept()\ndata = c.recv(100)\nc.sendall(b'pong:' + data)\nc.close()\n\
print('served ' + data.decode(), flush=True)\n";
        let mut live = bx.start(command(&["python3", "-u", "-c", server])).await?;
        live.wait_for(" ready").await?;
        let text = live.stdout_text();
        let port: u16 = text
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("the server printed no port: {text:?}"))?;
        let client = format!(
            "import socket\nc = socket.create_connection(('127.0.0.1', {port}), timeout=10)\nc.sendall(b'ping')\nprint(c.recv(100).decode())\n"
        );
        let run = bx.run(command(&["python3", "-c", &client])).await?;
        expect_status("loopback client", &run, RunStatus::Ok)?;
        expect_stdout("loopback client", &run, "pong:ping")?;
        live.wait_for("served ping").await?;
        live.expect_exit(RunStatus::Ok).await?;
        Ok(())
    }
    .await;
    bx.finish(result).await
}

/// wall_ms, cpu_ms and peak_memory_bytes are plausible.
pub async fn exit_report_plausible(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "exit_report_plausible").await?;
    let result = async {
        let sleep = bx.run(command(&["sleep", "0.2"])).await?;
        expect_status("sleep 0.2", &sleep, RunStatus::Ok)?;
        ensure((150..20_000).contains(&sleep.report.wall_ms), || {
            format!("sleep 0.2 should take about 200 ms of wall time, got wall_ms={}", sleep.report.wall_ms)
        })?;

        let idle = bx.run(command(&["true"])).await?;
        let spin = "import time\nwhile time.process_time() < 0.6:\n    pass\nprint('spun')";
        let spin = bx.run(command(&["python3", "-c", spin])).await?;
        expect_status("a 0.6 s CPU spin", &spin, RunStatus::Ok)?;
        ensure(spin.report.cpu_ms >= 500, || {
            format!("a 0.6 s CPU spin should report cpu_ms >= 500, got {}", spin.report.cpu_ms)
        })?;
        ensure(spin.report.cpu_ms > idle.report.cpu_ms, || {
            format!("cpu_ms should grow with CPU use: spin {} vs true {}", spin.report.cpu_ms, idle.report.cpu_ms)
        })?;
        ensure(spin.report.wall_ms >= spin.report.cpu_ms / 2, || {
            format!("wall_ms {} is implausibly small for cpu_ms {} at 0.5 CPU", spin.report.wall_ms, spin.report.cpu_ms)
        })?;

        let alloc = "b = b'x' * (50 * 1024 * 1024)\nprint(len(b))";
        let alloc = bx.run(command(&["python3", "-c", alloc])).await?;
        expect_status("a 50 MiB allocation", &alloc, RunStatus::Ok)?;
        ensure(alloc.report.peak_memory_bytes >= 50 * 1024 * 1024, || {
            format!(
                "peak_memory_bytes should be >= 50 MiB after a 50 MiB allocation, got {}",
                alloc.report.peak_memory_bytes
            )
        })?;
        ensure(alloc.report.peak_memory_bytes <= 128 * 1024 * 1024 + 16 * 1024 * 1024, || {
            format!("peak_memory_bytes {} exceeds the 128 MiB run limit", alloc.report.peak_memory_bytes)
        })
    }
    .await;
    bx.finish(result).await
}
