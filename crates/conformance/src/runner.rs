//! Running corpus cases against a backend.

use std::time::{Duration, Instant};

use bytesbox_sandbox::{Backend, BoxId, BoxSpec, CollectedRun, FileEntry, PutMode, RunLimits, RunSpec, StdioMode};

use crate::case::{Case, ResolvedCase};
use crate::host::HostContext;
use crate::verdict::{self, describe_report, excerpt, Mismatch};

/// Extra time the runner waits for an exit report beyond a run's own
/// wall-time limit before declaring the backend stuck.
pub const RUNNER_GRACE: Duration = Duration::from_secs(30);

/// The label every corpus box carries, with the case name as value.
pub const CASE_LABEL: &str = "conformance_case";

/// The verdict on one case.
#[derive(Clone, Debug)]
pub struct CaseOutcome {
    /// The case.
    pub name: String,
    /// The backend's name.
    pub backend: String,
    /// The reason of the backend difference applied, if any.
    pub difference: Option<String>,
    /// Every failed check; empty when the case passed.
    pub mismatches: Vec<Mismatch>,
    /// The main run's output and report, when it ran to the end.
    pub main_run: Option<CollectedRun>,
    /// The box, when the case asked to keep it (the caller destroys it).
    pub kept_box: Option<BoxId>,
    /// How long the whole case took.
    pub duration: Duration,
    /// Why the case was passed over without running (a case that cannot
    /// run under a terminal).
    pub skipped: Option<&'static str>,
}

impl CaseOutcome {
    fn new(name: &str, backend: &str) -> Self {
        CaseOutcome {
            name: name.to_string(),
            backend: backend.to_string(),
            difference: None,
            mismatches: Vec::new(),
            main_run: None,
            kept_box: None,
            duration: Duration::ZERO,
            skipped: None,
        }
    }

    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }

    fn fail(&mut self, check: &str, expected: impl Into<String>, got: impl Into<String>) {
        self.mismatches.push(Mismatch::new(check, expected, got));
    }
}

impl std::fmt::Display for CaseOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.passed() { "PASS" } else { "FAIL" };
        write!(f, "{verdict} {} [{}] in {} ms", self.name, self.backend, self.duration.as_millis())?;
        if let Some(reason) = &self.difference {
            write!(f, " (backend difference applied: {reason})")?;
        }
        if self.passed() {
            return Ok(());
        }
        writeln!(f, " — {} mismatch(es):", self.mismatches.len())?;
        for mismatch in &self.mismatches {
            writeln!(f, "  - {mismatch}")?;
        }
        match &self.main_run {
            Some(run) => {
                writeln!(f, "  main run: {}", describe_report(&run.report))?;
                writeln!(f, "  stdout ({} bytes): {}", run.stdout.len(), excerpt(&run.stdout))?;
                write!(f, "  stderr ({} bytes): {}", run.stderr.len(), excerpt(&run.stderr))
            }
            None => write!(f, "  main run: no exit report"),
        }
    }
}

/// Runs one run to its end, bounded by its wall limit plus [`RUNNER_GRACE`].
pub(crate) async fn run_to_end(backend: &dyn Backend, id: &BoxId, spec: RunSpec) -> Result<CollectedRun, String> {
    let bound = Duration::from_millis(spec.limits.wall_time_ms) + RUNNER_GRACE;
    let argv = spec.argv.join(" ");
    let handle = backend.run(id, spec).await.map_err(|e| format!("backend.run({argv:?}) failed: {e}"))?;
    match tokio::time::timeout(bound, handle.collect()).await {
        Ok(Ok(run)) => Ok(run),
        Ok(Err(e)) => Err(format!("collecting {argv:?} failed: {e}")),
        Err(_) => Err(format!(
            "no exit report for {argv:?} within {} ms (wall limit + runner grace); the backend looks stuck",
            bound.as_millis()
        )),
    }
}

/// How a case's main run is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attachment {
    /// Three pipes, as a run of the execute APIs.
    Pipes,
    /// A terminal (a PTY), as a program started from a terminal in the
    /// IDE: the corpus run this way checks that the terminal path holds
    /// a hostile program as the pipe path does
    /// ([`crate::ResolvedCase::under_a_terminal`]).
    Terminal,
}

/// Terminal size of [`Attachment::Terminal`] runs.
const TERMINAL_SIZE: (u16, u16) = (24, 80);

/// Runs one case in a fresh box and returns the verdict. Never panics; every
/// failure, including setup errors, is a mismatch in the outcome.
pub async fn run_case(backend: &dyn Backend, case: &Case, ctx: &HostContext) -> CaseOutcome {
    run_case_attached(backend, case, ctx, Attachment::Pipes).await
}

/// [`run_case`] with the main run attached as asked. A case that cannot
/// run under a terminal is passed over: its outcome has no main run and
/// says why in `skipped`.
pub async fn run_case_attached(
    backend: &dyn Backend,
    case: &Case,
    ctx: &HostContext,
    attachment: Attachment,
) -> CaseOutcome {
    let started = Instant::now();
    let mut outcome = CaseOutcome::new(&case.name, backend.name());
    let resolved = match case.resolve(backend.name(), &ctx.vars()) {
        Ok(resolved) => resolved,
        Err(e) => {
            outcome.fail("setup.resolve", "the case to resolve", e.to_string());
            return outcome;
        }
    };
    let resolved = match attachment {
        Attachment::Pipes => resolved,
        Attachment::Terminal => match resolved.under_a_terminal() {
            Ok(resolved) => resolved,
            Err(why) => {
                outcome.skipped = Some(why);
                return outcome;
            }
        },
    };
    outcome.difference.clone_from(&resolved.difference);
    let spec = BoxSpec {
        limits: resolved.spec.box_limits.clone(),
        labels: vec![(CASE_LABEL.to_string(), case.name.clone())],
        ..BoxSpec::default()
    };
    let id = match backend.create(spec).await {
        Ok(id) => id,
        Err(e) => {
            outcome.fail("setup.create", "a fresh box", format!("create failed: {e}"));
            outcome.duration = started.elapsed();
            return outcome;
        }
    };
    exercise(backend, &id, &resolved, ctx, &mut outcome).await;
    if resolved.spec.keep_box {
        outcome.kept_box = Some(id);
    } else if let Err(e) = backend.destroy(&id).await {
        outcome.fail("teardown.destroy", "the box to be destroyed", format!("destroy failed: {e}"));
    }
    outcome.duration = started.elapsed();
    outcome
}

async fn exercise(
    backend: &dyn Backend,
    id: &BoxId,
    case: &ResolvedCase,
    ctx: &HostContext,
    outcome: &mut CaseOutcome,
) {
    let files = case.files.iter().map(|f| FileEntry::new(f.path.clone(), f.content.clone())).collect();
    if let Err(e) = backend.put_files(id, files, PutMode::Merge).await {
        outcome.fail("setup.put_files", "the sources to be written", e.to_string());
        return;
    }
    if let Some(argv) = case.spec.language.compile_argv() {
        let spec = RunSpec::command(argv.clone());
        match run_to_end(backend, id, spec).await {
            Ok(run) if run.report.status == bytesbox_sandbox::RunStatus::Ok => {}
            Ok(run) => {
                outcome.fail(
                    "setup.compile",
                    format!("{:?} to succeed", argv.join(" ")),
                    format!(
                        "{}; stdout: {}; stderr: {}",
                        describe_report(&run.report),
                        excerpt(&run.stdout),
                        excerpt(&run.stderr)
                    ),
                );
                return;
            }
            Err(e) => {
                outcome.fail("setup.compile", format!("{:?} to succeed", argv.join(" ")), e);
                return;
            }
        }
    }

    let limits: RunLimits = case.spec.limits.clone();
    let spec = RunSpec {
        argv: case.spec.language.run_argv(&case.spec.args),
        env: Vec::new(),
        cwd: String::new(),
        limits: limits.clone(),
        stdio: if case.terminal { StdioMode::terminal(TERMINAL_SIZE.0, TERMINAL_SIZE.1) } else { StdioMode::Pipes },
        stdin: case.stdin.clone(),
        close_stdin: true,
        // The box of a case without later runs is destroyed next: the
        // corpus runs the one-shot path's hint on both backends too.
        last_in_box: case.after.is_empty() && !case.spec.keep_box,
    };
    let connections_before = ctx.connections();
    match run_to_end(backend, id, spec).await {
        Ok(mut run) => {
            if case.terminal {
                // The report is checked against the bytes as they came,
                // the expectations against the text as a pipe would have
                // carried it.
                outcome.mismatches.extend(verdict::check_consistency(&limits, &run));
                run.stdout = undo_line_discipline(&run.stdout);
                outcome.mismatches.extend(verdict::check_expectations(&case.spec.expect, &run));
            } else {
                outcome.mismatches.extend(verdict::check_run(&case.spec.expect, &limits, &run));
            }
            outcome.main_run = Some(run);
        }
        Err(e) => outcome.fail("main_run", "an exit report", e),
    }
    if let Some(allowed) = case.spec.expect.host_connections {
        // Give a connection that raced the exit a moment to be accepted.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let seen = ctx.connections().saturating_sub(connections_before);
        if seen != allowed {
            outcome.fail(
                "host_connections",
                format!(
                    "{allowed} connection(s) to the host listeners (127.0.0.1:{} and @{})",
                    ctx.port(),
                    ctx.abstract_socket()
                ),
                format!("{seen} connection(s): the box reached the host"),
            );
        }
    }

    if let Some(expect) = &case.spec.expect.snapshot {
        match backend.get_files(id, Vec::new(), expect.max_total_bytes).await {
            Ok(snapshot) => outcome.mismatches.extend(verdict::check_snapshot(expect, &snapshot)),
            Err(e) => outcome.fail("snapshot", "get_files of the whole workspace to succeed", e.to_string()),
        }
    }

    for (index, after) in case.after.iter().enumerate() {
        if after.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(after.delay_ms)).await;
        }
        match run_to_end(backend, id, RunSpec::command(after.argv.clone())).await {
            Ok(run) => outcome.mismatches.extend(verdict::check_after(index, after, &run)),
            Err(e) => outcome.fail(&format!("after[{index}] ({})", after.label), "an exit report", e),
        }
    }
}

/// The verdicts on a whole corpus.
#[derive(Clone, Debug)]
pub struct CorpusReport {
    /// The backend's name.
    pub backend: String,
    /// One outcome per case, in run order.
    pub outcomes: Vec<CaseOutcome>,
}

impl CorpusReport {
    /// Whether every case passed.
    pub fn all_passed(&self) -> bool {
        self.outcomes.iter().all(CaseOutcome::passed)
    }

    /// The failed cases.
    pub fn failures(&self) -> impl Iterator<Item = &CaseOutcome> {
        self.outcomes.iter().filter(|o| !o.passed())
    }
}

impl std::fmt::Display for CorpusReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for outcome in &self.outcomes {
            writeln!(f, "{outcome}")?;
        }
        let failed = self.failures().count();
        write!(
            f,
            "conformance corpus on {}: {} of {} cases passed, {failed} failed",
            self.backend,
            self.outcomes.len() - failed,
            self.outcomes.len()
        )
    }
}

/// Runs `cases` one after the other, each in its own box.
pub async fn run_corpus(backend: &dyn Backend, cases: &[Case], ctx: &HostContext) -> CorpusReport {
    let mut outcomes = Vec::with_capacity(cases.len());
    for case in cases {
        outcomes.push(run_case(backend, case, ctx).await);
    }
    CorpusReport { backend: backend.name().to_string(), outcomes }
}

/// Runs `cases` one after the other, each in its own box, printing a line
/// per case (name, time, verdict) as it goes, and asks `leftovers` after
/// each case what of the backend is still there beyond its live boxes.
/// The failures, one entry per failed case and per leak: empty when every
/// case passed and nothing leaked. Each main run is attached as asked;
/// under a terminal, a case that cannot run so is printed as passed over
/// with its reason.
pub async fn run_corpus_checking_leaks<L, F, T>(
    backend: &dyn Backend,
    cases: &[Case],
    ctx: &HostContext,
    attachment: Attachment,
    mut leftovers: L,
) -> Vec<String>
where
    L: FnMut() -> F,
    F: std::future::Future<Output = Vec<T>>,
    T: std::fmt::Debug,
{
    let mut failures = Vec::new();
    for case in cases {
        let started = Instant::now();
        let outcome = run_case_attached(backend, case, ctx, attachment).await;
        let verdict = match (outcome.skipped, outcome.passed()) {
            (Some(why), _) => format!("passed over: {why}"),
            (None, true) => "ok".to_string(),
            (None, false) => "FAILED".to_string(),
        };
        eprintln!("{:<32} {:>6} ms {verdict}", case.name, started.elapsed().as_millis());
        if !outcome.passed() {
            failures.push(outcome.to_string());
        }
        let left = leftovers().await;
        if !left.is_empty() {
            failures.push(format!("{}: leaked {left:#?}", case.name));
        }
    }
    failures
}

/// A terminal's output with the line discipline's `\r\n` turned back into
/// `\n` (`onlcr`), so that what a case expects of its output reads the
/// same through a terminal as through a pipe.
fn undo_line_discipline(output: &[u8]) -> bytes::Bytes {
    let mut text = Vec::with_capacity(output.len());
    let mut bytes = output.iter().peekable();
    while let Some(&byte) = bytes.next() {
        if byte == b'\r' && bytes.peek() == Some(&&b'\n') {
            continue;
        }
        text.push(byte);
    }
    text.into()
}

#[cfg(test)]
mod tests {
    use super::undo_line_discipline;

    #[test]
    fn a_terminals_crlf_reads_as_a_newline_and_nothing_else_changes() {
        assert_eq!(&undo_line_discipline(b"a\r\nb\r\n")[..], b"a\nb\n");
        assert_eq!(&undo_line_discipline(b"\r\r\n\rx\n\r")[..], b"\r\n\rx\n\r");
        assert_eq!(&undo_line_discipline(b"")[..], b"");
    }
}
