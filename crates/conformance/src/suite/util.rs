//! Helpers shared by the generic conformance tests.

use std::sync::Arc;
use std::time::Duration;

use bytesbox_sandbox::{
    Backend, BoxId, BoxSpec, CollectedRun, ExitReport, RunControl, RunEvent, RunHandle, RunSpec, RunStatus, Stream,
};
use tokio::time::Instant;

use crate::runner::run_to_end;
use crate::verdict::{describe_report, excerpt};

/// What every generic test returns: `Err` carries a precise diagnosis.
pub type TestResult = Result<(), String>;

/// How long a test waits for an expected event before failing.
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// Fails with `message` unless `condition` holds.
pub(crate) fn ensure(condition: bool, message: impl FnOnce() -> String) -> TestResult {
    if condition {
        Ok(())
    } else {
        Err(message())
    }
}

/// A one-line description of a finished run with output excerpts.
pub(crate) fn describe(run: &CollectedRun) -> String {
    format!("{}; stdout: {}; stderr: {}", describe_report(&run.report), excerpt(&run.stdout), excerpt(&run.stderr))
}

/// Fails unless the run ended with `status`.
pub(crate) fn expect_status(what: &str, run: &CollectedRun, status: RunStatus) -> TestResult {
    ensure(run.report.status == status, || format!("{what}: expected status {status}, got {}", describe(run)))
}

/// Fails unless stdout contains `needle`.
pub(crate) fn expect_stdout(what: &str, run: &CollectedRun, needle: &str) -> TestResult {
    ensure(run.stdout_text().contains(needle), || {
        format!("{what}: expected stdout to contain {needle:?}, got {}", describe(run))
    })
}

/// `argv` as a batch run with default limits.
pub(crate) fn command(argv: &[&str]) -> RunSpec {
    RunSpec::command(argv.iter().copied())
}

/// A box that a test owns; [`TestBox::finish`] destroys it whatever the
/// test's result.
pub(crate) struct TestBox<'a> {
    pub backend: &'a dyn Backend,
    pub id: BoxId,
}

impl<'a> TestBox<'a> {
    pub async fn create(backend: &'a dyn Backend, test: &str) -> Result<TestBox<'a>, String> {
        Self::create_with(backend, test, BoxSpec::default()).await
    }

    pub async fn create_with(backend: &'a dyn Backend, test: &str, mut spec: BoxSpec) -> Result<TestBox<'a>, String> {
        spec.labels.push(("conformance_test".into(), test.into()));
        let id = backend.create(spec).await.map_err(|e| format!("creating a box failed: {e}"))?;
        Ok(TestBox { backend, id })
    }

    /// Destroys the box and returns the test's result (or the destroy
    /// error when the test itself passed).
    pub async fn finish(self, result: TestResult) -> TestResult {
        let destroyed = self.backend.destroy(&self.id).await;
        match (result, destroyed) {
            (Err(e), _) => Err(e),
            (Ok(()), Err(e)) => Err(format!("destroying box {} failed: {e}", self.id)),
            (Ok(()), Ok(())) => Ok(()),
        }
    }

    /// Runs `spec` to its end.
    pub async fn run(&self, spec: RunSpec) -> Result<CollectedRun, String> {
        run_to_end(self.backend, &self.id, spec).await
    }

    /// Runs `/bin/sh -c script` to its end.
    pub async fn sh(&self, script: &str) -> Result<CollectedRun, String> {
        self.run(command(&["/bin/sh", "-c", script])).await
    }

    /// Runs `/bin/sh -c script` and requires status ok.
    pub async fn sh_ok(&self, script: &str) -> Result<CollectedRun, String> {
        let run = self.sh(script).await?;
        expect_status(&format!("sh -c {script:?}"), &run, RunStatus::Ok)?;
        Ok(run)
    }

    /// Starts `spec` and returns it live.
    pub async fn start(&self, spec: RunSpec) -> Result<Live, String> {
        let what = spec.argv.join(" ");
        let handle = self.backend.run(&self.id, spec).await.map_err(|e| format!("starting {what:?} failed: {e}"))?;
        Ok(Live { handle, stdout: Vec::new(), stderr: Vec::new(), notices: Vec::new(), exit: None, what })
    }
}

/// A run being watched event by event.
pub(crate) struct Live {
    handle: RunHandle,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub notices: Vec<String>,
    pub exit: Option<ExitReport>,
    what: String,
}

impl Live {
    pub fn control(&self) -> Arc<dyn RunControl> {
        self.handle.control()
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    fn state(&self) -> String {
        let exit = self.exit.as_ref().map_or_else(|| "still running".to_string(), describe_report);
        format!("{exit}; stdout so far: {}; stderr so far: {}", excerpt(&self.stdout), excerpt(&self.stderr))
    }

    /// Takes one event, failing at `deadline`.
    async fn next(&mut self, deadline: Instant, waiting_for: &str) -> TestResult {
        match tokio::time::timeout_at(deadline, self.handle.next_event()).await {
            Err(_) => Err(format!("{:?}: timed out waiting for {waiting_for}; {}", self.what, self.state())),
            Ok(None) => Err(format!(
                "{:?}: the event stream ended without an exit report while waiting for {waiting_for}; {}",
                self.what,
                self.state()
            )),
            Ok(Some(RunEvent::Output { stream, data })) => {
                match stream {
                    Stream::Stdout => self.stdout.extend_from_slice(&data),
                    Stream::Stderr => self.stderr.extend_from_slice(&data),
                }
                Ok(())
            }
            Ok(Some(RunEvent::Notice(text))) => {
                self.notices.push(text);
                Ok(())
            }
            Ok(Some(RunEvent::Exit(report))) => {
                self.exit = Some(report);
                Ok(())
            }
        }
    }

    /// Waits until stdout contains `needle` after byte `from`.
    pub async fn wait_for_after(&mut self, needle: &str, from: usize) -> TestResult {
        let deadline = Instant::now() + WAIT;
        let waiting_for = format!("stdout to show {needle:?}");
        loop {
            let seen = self.stdout.get(from..).unwrap_or_default();
            if String::from_utf8_lossy(seen).contains(needle) {
                return Ok(());
            }
            if self.exit.is_some() {
                return Err(format!(
                    "{:?}: the run ended before stdout showed {needle:?}; {}",
                    self.what,
                    self.state()
                ));
            }
            self.next(deadline, &waiting_for).await?;
        }
    }

    /// Waits until stdout contains `needle`.
    pub async fn wait_for(&mut self, needle: &str) -> TestResult {
        self.wait_for_after(needle, 0).await
    }

    /// Waits for the exit report.
    pub async fn wait_exit(&mut self) -> Result<ExitReport, String> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(report) = &self.exit {
                return Ok(report.clone());
            }
            self.next(deadline, "the exit report").await?;
        }
    }

    /// Waits for the exit and requires `status`.
    pub async fn expect_exit(&mut self, status: RunStatus) -> Result<ExitReport, String> {
        let report = self.wait_exit().await?;
        ensure(report.status == status, || format!("{:?}: expected status {status}, got {}", self.what, self.state()))?;
        Ok(report)
    }
}
