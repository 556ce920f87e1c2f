//! How a stage ended, told the way Piston tells it: a signal by name and
//! isolate's status letters and messages.

use bytesbox_sandbox::{ExitReport, RunStatus};
use serde::Serialize;

/// The end of one stage, in Piston's fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Outcome {
    /// Exit code; `null` when a signal ended the stage.
    pub code: Option<i32>,
    /// Signal name (`SIGKILL`).
    pub signal: Option<String>,
    /// Why the stage did not succeed, in words.
    pub message: Option<String>,
    /// `RE`, `SG`, `TO`, `OL`, `EL` or `null` for success.
    pub status: Option<&'static str>,
}

/// Maps a report to Piston's fields; `output_cap` (the stage's per-stream
/// output limit) tells which stream ran over.
pub(crate) fn outcome(report: &ExitReport, output_cap: u64) -> Outcome {
    let signal = report.signal.map(signal_name);
    let killed = |status: &'static str, message: &str| Outcome {
        code: None,
        // Piston reports every limit kill as SIGKILL.
        signal: Some("SIGKILL".into()),
        message: Some(message.into()),
        status: Some(status),
    };
    match report.status {
        RunStatus::Ok => Outcome { code: report.exit_code, signal: None, message: None, status: None },
        RunStatus::Nonzero => Outcome {
            code: report.exit_code,
            signal: None,
            message: Some(format!("Exited with error status {}", report.exit_code.unwrap_or_default())),
            status: Some("RE"),
        },
        RunStatus::Signaled | RunStatus::Killed => Outcome {
            code: report.exit_code,
            message: Some(format!("Caught fatal signal {}", report.signal.unwrap_or(SIGKILL))),
            signal: signal.or_else(|| Some("SIGKILL".into())),
            status: Some("SG"),
        },
        RunStatus::MemoryLimit => Outcome {
            code: None,
            signal: signal.or_else(|| Some("SIGKILL".into())),
            message: Some("Memory limit exceeded".into()),
            status: Some("SG"),
        },
        RunStatus::Timeout => killed("TO", "Time limit exceeded (wall clock)"),
        RunStatus::InputTimeout => killed("TO", "Time limit exceeded (waiting for input)"),
        RunStatus::CpuLimit => killed("TO", "Time limit exceeded"),
        RunStatus::OutputLimit if report.stderr_bytes >= output_cap && report.stdout_bytes < output_cap => {
            killed("EL", "stderr length exceeded")
        }
        RunStatus::OutputLimit => killed("OL", "stdout length exceeded"),
    }
}

const SIGKILL: i32 = nix::sys::signal::Signal::SIGKILL as i32;

/// `SIGINT` for 2; `SIG<n>` for a number Linux does not name.
pub(crate) fn signal_name(number: i32) -> String {
    match nix::sys::signal::Signal::try_from(number) {
        Ok(signal) => signal.as_str().to_string(),
        Err(_) => format!("SIG{number}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(status: RunStatus, code: Option<i32>, signal: Option<i32>) -> ExitReport {
        ExitReport {
            exit_code: code,
            signal,
            status,
            wall_ms: 5,
            cpu_ms: 3,
            peak_memory_bytes: 1 << 20,
            stdout_bytes: 0,
            stderr_bytes: 0,
        }
    }

    #[test]
    fn statuses_map_to_piston_letters() {
        let ok = outcome(&report(RunStatus::Ok, Some(0), None), 10);
        assert_eq!((ok.code, ok.signal.as_deref(), ok.status), (Some(0), None, None));
        let failed = outcome(&report(RunStatus::Nonzero, Some(3), None), 10);
        assert_eq!((failed.status, failed.message.as_deref()), (Some("RE"), Some("Exited with error status 3")));
        let signaled = outcome(&report(RunStatus::Signaled, None, Some(2)), 10);
        assert_eq!((signaled.status, signaled.signal.as_deref()), (Some("SG"), Some("SIGINT")));
        let timeout = outcome(&report(RunStatus::Timeout, None, Some(9)), 10);
        assert_eq!((timeout.status, timeout.signal.as_deref(), timeout.code), (Some("TO"), Some("SIGKILL"), None));
        let mut flood = report(RunStatus::OutputLimit, None, Some(9));
        flood.stdout_bytes = 10;
        assert_eq!(outcome(&flood, 10).status, Some("OL"));
        flood.stdout_bytes = 1;
        flood.stderr_bytes = 10;
        assert_eq!(outcome(&flood, 10).status, Some("EL"));
    }

    #[test]
    fn signals_have_their_names() {
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(99), "SIG99");
    }
}
