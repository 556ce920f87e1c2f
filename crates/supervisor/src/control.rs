//! A run's controls, as every backend hands them out with the run handle.
//!
//! What is the same everywhere lives here: once the run is over every call
//! is refused (`RunFinished`), a terminal size is checked before it is
//! set, and SIGKILL and Kill are the supervisor's kill of the whole tree
//! (so the report says `killed` and the tree dies once). What differs,
//! how stdin is written and closed, how a terminal is resized, how any
//! other signal reaches the run's processes, comes through [`RunIo`].

use async_trait::async_trait;
use bytes::Bytes;
use bytesbox_sandbox::{RunControl, SandboxError, Signal};

use crate::supervisor::RunSwitch;

/// What a backend does with a run's input, terminal and signals.
#[async_trait]
pub trait RunIo: Send + Sync + std::fmt::Debug + 'static {
    /// Writes to the program's stdin (the terminal, under a PTY).
    async fn write_stdin(&self, data: Bytes) -> Result<(), SandboxError>;

    /// Ends stdin (under a PTY: the terminal's end-of-file character).
    async fn close_stdin(&self) -> Result<(), SandboxError>;

    /// Sets the size, checked already, of the run's terminal; an error for
    /// a run without one.
    async fn resize(&self, rows: u16, cols: u16) -> Result<(), SandboxError>;

    /// Delivers a signal other than SIGKILL to the run.
    async fn signal(&self, signal: Signal) -> Result<(), SandboxError>;
}

/// The controls of one supervised run: a backend's [`RunIo`] behind the
/// supervisor's [`RunSwitch`].
#[derive(Debug)]
pub struct SupervisedControl<I> {
    io: I,
    switch: RunSwitch,
}

impl<I: RunIo> SupervisedControl<I> {
    /// The controls of the run that `switch` belongs to.
    pub fn new(io: I, switch: RunSwitch) -> SupervisedControl<I> {
        SupervisedControl { io, switch }
    }
}

#[async_trait]
impl<I: RunIo> RunControl for SupervisedControl<I> {
    async fn write_stdin(&self, data: Bytes) -> Result<(), SandboxError> {
        self.switch.check_running()?;
        self.io.write_stdin(data).await
    }

    async fn close_stdin(&self) -> Result<(), SandboxError> {
        self.switch.check_running()?;
        self.io.close_stdin().await
    }

    async fn resize(&self, rows: u16, cols: u16) -> Result<(), SandboxError> {
        self.switch.check_running()?;
        bytesbox_sandbox::validate_pty_size(rows, cols)?;
        self.io.resize(rows, cols).await
    }

    async fn signal(&self, signal: Signal) -> Result<(), SandboxError> {
        self.switch.check_running()?;
        if signal == Signal::Sigkill {
            return self.switch.kill();
        }
        self.io.signal(signal).await
    }

    async fn kill(&self) -> Result<(), SandboxError> {
        self.switch.kill()
    }
}
