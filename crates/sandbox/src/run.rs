//! A started run: its event stream and its controls.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::{ExitReport, SandboxError};

/// Which output stream a chunk came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// Standard output (and, under a PTY, everything the terminal shows).
    Stdout,
    /// Standard error (never used under a PTY).
    Stderr,
}

/// Something that happened to a run. A run yields any number of `Output`
/// events, then exactly one `Exit`, then nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunEvent {
    /// Bytes the program wrote. Chunks are coalesced by the backend.
    Output {
        /// Which stream.
        stream: Stream,
        /// The bytes, unmodified (binary-safe).
        data: Bytes,
    },
    /// Something the backend tells the person about the run, not written
    /// by the program (a run waiting for input is about to be ended).
    Notice(String),
    /// The run is over.
    Exit(ExitReport),
}

/// Signals a client may deliver to a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Signal {
    /// SIGINT (Ctrl+C).
    Sigint,
    /// SIGTERM.
    Sigterm,
    /// SIGKILL: same as `kill`.
    Sigkill,
    /// SIGHUP.
    Sighup,
    /// SIGQUIT.
    Sigquit,
    /// SIGUSR1.
    Sigusr1,
    /// SIGUSR2.
    Sigusr2,
    /// SIGSTOP.
    Sigstop,
    /// SIGCONT.
    Sigcont,
}

impl Signal {
    /// The Linux signal number.
    pub fn number(self) -> i32 {
        match self {
            Signal::Sigint => 2,
            Signal::Sigterm => 15,
            Signal::Sigkill => 9,
            Signal::Sighup => 1,
            Signal::Sigquit => 3,
            Signal::Sigusr1 => 10,
            Signal::Sigusr2 => 12,
            Signal::Sigstop => 19,
            Signal::Sigcont => 18,
        }
    }

    /// Parses `SIGINT`, `INT`, `sigint` or a number such as `2`.
    pub fn parse(name: &str) -> Option<Signal> {
        let all = [
            Signal::Sigint,
            Signal::Sigterm,
            Signal::Sigkill,
            Signal::Sighup,
            Signal::Sigquit,
            Signal::Sigusr1,
            Signal::Sigusr2,
            Signal::Sigstop,
            Signal::Sigcont,
        ];
        if let Ok(number) = name.parse::<i32>() {
            return all.into_iter().find(|s| s.number() == number);
        }
        let upper = name.to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        all.into_iter().find(|s| format!("{s:?}").to_ascii_uppercase() == format!("SIG{bare}"))
    }
}

/// Controls of a running program. Every method fails with
/// [`SandboxError::RunFinished`] once the run is over.
#[async_trait]
pub trait RunControl: Send + Sync + std::fmt::Debug {
    /// Writes to the program's stdin (the terminal, under a PTY).
    async fn write_stdin(&self, data: Bytes) -> Result<(), SandboxError>;
    /// Ends stdin (under a PTY: sends the terminal's end-of-file character).
    async fn close_stdin(&self) -> Result<(), SandboxError>;
    /// Changes the PTY size; an error for pipe runs.
    async fn resize(&self, rows: u16, cols: u16) -> Result<(), SandboxError>;
    /// Delivers a signal to the run's process group.
    async fn signal(&self, signal: Signal) -> Result<(), SandboxError>;
    /// Kills the run's whole process tree now; the report says `killed`.
    async fn kill(&self) -> Result<(), SandboxError>;
}

/// Writes a run's initial input, then ends it when asked, in the
/// background: the program may read slowly, and the caller must not wait.
pub fn feed_initial_input(control: std::sync::Arc<dyn RunControl>, data: Vec<u8>, close: bool) {
    if data.is_empty() && !close {
        return;
    }
    tokio::spawn(async move {
        if !data.is_empty() {
            let _ = control.write_stdin(Bytes::from(data)).await;
        }
        if close {
            let _ = control.close_stdin().await;
        }
    });
}

/// A started run. Dropping the handle kills the run.
#[derive(Debug)]
pub struct RunHandle {
    events: mpsc::Receiver<RunEvent>,
    control: Arc<dyn RunControl>,
}

/// Output and report of a run, gathered by [`RunHandle::collect`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollectedRun {
    /// Everything written to stdout, up to the output limit.
    pub stdout: Bytes,
    /// Everything written to stderr, up to the output limit.
    pub stderr: Bytes,
    /// The backend's notices about the run, in order.
    pub notices: Vec<String>,
    /// The exit report.
    pub report: ExitReport,
}

impl CollectedRun {
    /// stdout, lossily decoded.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr, lossily decoded.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

impl RunHandle {
    /// Builds a handle; for backends.
    pub fn new(events: mpsc::Receiver<RunEvent>, control: Arc<dyn RunControl>) -> Self {
        RunHandle { events, control }
    }

    /// The next event, or `None` after the exit report was delivered (or
    /// the backend vanished).
    pub async fn next_event(&mut self) -> Option<RunEvent> {
        self.events.recv().await
    }

    /// A shareable control for stdin, resize, signals and kill.
    pub fn control(&self) -> Arc<dyn RunControl> {
        Arc::clone(&self.control)
    }

    /// Reads every event until the exit report.
    pub async fn collect(mut self) -> Result<CollectedRun, SandboxError> {
        let mut stdout = BytesMut::new();
        let mut stderr = BytesMut::new();
        let mut notices = Vec::new();
        while let Some(event) = self.next_event().await {
            match event {
                RunEvent::Output { stream: Stream::Stdout, data } => stdout.extend_from_slice(&data),
                RunEvent::Output { stream: Stream::Stderr, data } => stderr.extend_from_slice(&data),
                RunEvent::Notice(text) => notices.push(text),
                RunEvent::Exit(report) => {
                    return Ok(CollectedRun { stdout: stdout.freeze(), stderr: stderr.freeze(), notices, report })
                }
            }
        }
        Err(SandboxError::Internal("the run ended without an exit report".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_in_every_spelling() {
        assert_eq!(Signal::parse("SIGINT"), Some(Signal::Sigint));
        assert_eq!(Signal::parse("int"), Some(Signal::Sigint));
        assert_eq!(Signal::parse("15"), Some(Signal::Sigterm));
        assert_eq!(Signal::parse("SIGKILL").map(Signal::number), Some(9));
        assert_eq!(Signal::parse("SIGSEGV"), None);
        assert_eq!(Signal::parse("99"), None);
    }
}
