//! Generic conformance tests: plain async functions over `&dyn Backend`
//! that a backend's own integration tests loop over.
//!
//! ```no_run
//! # async fn check(backend: &dyn bytesbox_sandbox::Backend) {
//! let report = bytesbox_conformance::run_conformance_tests(backend).await;
//! assert!(report.all_passed(), "{report}");
//! # }
//! ```

mod boxes;
mod files;
mod runs;
mod util;

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytesbox_sandbox::Backend;

pub use util::TestResult;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One generic conformance test.
pub type ConformanceTest = for<'a> fn(&'a dyn Backend) -> BoxFuture<'a, TestResult>;

/// The longest one test may take before it counts as failed.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(180);

macro_rules! tests {
    ($($name:ident => $path:path),* $(,)?) => {
        vec![$((stringify!($name), {
            fn test(backend: &dyn Backend) -> BoxFuture<'_, TestResult> {
                Box::pin($path(backend))
            }
            test as ConformanceTest
        })),*]
    };
}

/// Every generic test, by name.
pub fn conformance_tests() -> Vec<(&'static str, ConformanceTest)> {
    tests![
        hello_world => runs::hello_world,
        stdin_pipes => runs::stdin_pipes,
        stdin_interactive_pty => runs::stdin_interactive_pty,
        pty_resize => runs::pty_resize,
        pty_stderr_apart => runs::pty_stderr_apart,
        signal_delivery => runs::signal_delivery,
        kill_mid_run => runs::kill_mid_run,
        timeout_keeps_partial_output => runs::timeout_keeps_partial_output,
        input_waits_do_not_count => runs::input_waits_do_not_count,
        exit_code_propagation => runs::exit_code_propagation,
        env_and_cwd => runs::env_and_cwd,
        run_environment => runs::run_environment,
        concurrent_runs_over_loopback => runs::concurrent_runs_over_loopback,
        exit_report_plausible => runs::exit_report_plausible,
        files_round_trip => files::files_round_trip,
        put_files_replace => files::put_files_replace,
        get_files_budget => files::get_files_budget,
        put_files_hostile_paths => files::put_files_hostile_paths,
        put_files_planted_symlink => files::put_files_planted_symlink,
        workspace_root_lists_beneath => files::workspace_root_lists_beneath,
        workspace_root_deletes_beneath => files::workspace_root_deletes_beneath,
        boxes_isolated => boxes::boxes_isolated,
        process_limit_is_per_box => boxes::process_limit_is_per_box,
        destroy_while_running => boxes::destroy_while_running,
        destroyed_box_rejects_use => boxes::destroyed_box_rejects_use,
        box_listing => boxes::box_listing,
    ]
}

/// The result of one generic test.
#[derive(Clone, Debug)]
pub struct TestOutcome {
    /// The test's name.
    pub name: &'static str,
    /// `Err` holds the diagnosis.
    pub result: TestResult,
    /// How long it took.
    pub duration: Duration,
}

/// The results of the generic tests.
#[derive(Clone, Debug)]
pub struct SuiteReport {
    /// The backend's name.
    pub backend: String,
    /// One outcome per test, in run order.
    pub outcomes: Vec<TestOutcome>,
}

impl SuiteReport {
    /// Whether every test passed.
    pub fn all_passed(&self) -> bool {
        self.outcomes.iter().all(|o| o.result.is_ok())
    }

    /// The failed tests.
    pub fn failures(&self) -> impl Iterator<Item = &TestOutcome> {
        self.outcomes.iter().filter(|o| o.result.is_err())
    }
}

impl std::fmt::Display for SuiteReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for outcome in &self.outcomes {
            let ms = outcome.duration.as_millis();
            match &outcome.result {
                Ok(()) => writeln!(f, "PASS {} [{}] in {ms} ms", outcome.name, self.backend)?,
                Err(e) => writeln!(f, "FAIL {} [{}] in {ms} ms: {e}", outcome.name, self.backend)?,
            }
        }
        let failed = self.failures().count();
        write!(
            f,
            "conformance suite on {}: {} of {} tests passed, {failed} failed",
            self.backend,
            self.outcomes.len() - failed,
            self.outcomes.len()
        )
    }
}

/// Runs the tests whose names are in `only` (all when empty), one after the
/// other, each bounded by [`TEST_TIMEOUT`].
pub async fn run_conformance_tests_named(backend: &dyn Backend, only: &[&str]) -> SuiteReport {
    let mut outcomes = Vec::new();
    for (name, test) in conformance_tests() {
        if !only.is_empty() && !only.contains(&name) {
            continue;
        }
        let started = Instant::now();
        let result = match tokio::time::timeout(TEST_TIMEOUT, test(backend)).await {
            Ok(result) => result,
            Err(_) => Err(format!("did not finish within {} s", TEST_TIMEOUT.as_secs())),
        };
        outcomes.push(TestOutcome { name, result, duration: started.elapsed() });
    }
    SuiteReport { backend: backend.name().to_string(), outcomes }
}

/// Runs every generic test.
pub async fn run_conformance_tests(backend: &dyn Backend) -> SuiteReport {
    run_conformance_tests_named(backend, &[]).await
}
