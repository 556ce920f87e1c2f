//! Comparing what a backend did with what a case expects. Every check that
//! fails becomes one [`Mismatch`] naming the check, the expectation and what
//! was seen, with output excerpts, so a failure can be diagnosed from the
//! message alone.

use bytesbox_sandbox::{CollectedRun, ExitReport, RunLimits, RunStatus, WorkspaceSnapshot};

use crate::expect::{decode_hex, Expect, ResolvedAfter, SnapshotExpect};

/// One failed check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Which check (`status`, `stdout_contains`, `after[1] no_survivors`, …).
    pub check: String,
    /// What was expected.
    pub expected: String,
    /// What was seen.
    pub got: String,
}

impl Mismatch {
    /// A mismatch.
    pub fn new(check: impl Into<String>, expected: impl Into<String>, got: impl Into<String>) -> Self {
        Mismatch { check: check.into(), expected: expected.into(), got: got.into() }
    }

    fn prefixed(mut self, prefix: &str) -> Self {
        self.check = format!("{prefix}.{}", self.check);
        self
    }
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: expected {}; got {}", self.check, self.expected, self.got)
    }
}

const EXCERPT_HALF: usize = 300;

/// A readable, escaped excerpt of output: all of it when short, else its
/// head and tail.
pub fn excerpt(bytes: &[u8]) -> String {
    if bytes.len() <= 2 * EXCERPT_HALF {
        return format!("{:?}", String::from_utf8_lossy(bytes));
    }
    let head = String::from_utf8_lossy(&bytes[..EXCERPT_HALF]);
    let tail = String::from_utf8_lossy(&bytes[bytes.len() - EXCERPT_HALF..]);
    format!("{head:?} …[{} bytes omitted]… {tail:?}", bytes.len() - 2 * EXCERPT_HALF)
}

/// The bytes around `at`, escaped.
fn context(bytes: &[u8], at: usize, len: usize) -> String {
    let start = at.saturating_sub(60);
    let end = (at + len + 60).min(bytes.len());
    format!("at byte {at}: …{:?}…", String::from_utf8_lossy(&bytes[start..end]))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One line summing up an exit report.
pub fn describe_report(report: &ExitReport) -> String {
    let opt = |v: Option<i32>| v.map_or_else(|| "none".to_string(), |v| v.to_string());
    format!(
        "status={} exit_code={} signal={} wall_ms={} cpu_ms={} peak_memory_bytes={} stdout_bytes={} stderr_bytes={}",
        report.status,
        opt(report.exit_code),
        opt(report.signal),
        report.wall_ms,
        report.cpu_ms,
        report.peak_memory_bytes,
        report.stdout_bytes,
        report.stderr_bytes
    )
}

fn status_list(statuses: &[RunStatus]) -> String {
    let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
    format!("status in [{}]", names.join(", "))
}

/// Checks that hold for every run whatever the case: the report agrees with
/// the delivered output and with itself, and no stream exceeds its cap.
pub fn check_consistency(limits: &RunLimits, run: &CollectedRun) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let report = &run.report;
    for (stream, delivered, reported) in
        [("stdout", run.stdout.len(), report.stdout_bytes), ("stderr", run.stderr.len(), report.stderr_bytes)]
    {
        let delivered = delivered as u64;
        if delivered != reported {
            out.push(Mismatch::new(
                format!("report.{stream}_bytes"),
                format!("the {delivered} bytes of {stream} actually delivered"),
                reported.to_string(),
            ));
        }
        if delivered > limits.output_bytes {
            out.push(Mismatch::new(
                format!("{stream}_cap"),
                format!("at most output_bytes={} bytes of {stream}", limits.output_bytes),
                format!("{delivered} bytes"),
            ));
        }
    }
    let coherent = match report.status {
        RunStatus::Ok => report.exit_code == Some(0),
        RunStatus::Nonzero => matches!(report.exit_code, Some(code) if code != 0),
        RunStatus::Signaled => report.signal.is_some(),
        _ => true,
    };
    if !coherent {
        out.push(Mismatch::new(
            "report.coherence",
            "ok ⇒ exit_code 0, nonzero ⇒ exit_code ≠ 0, signaled ⇒ a signal",
            describe_report(report),
        ));
    }
    out
}

/// Compares the main run with `expect`; `limits` are the run's limits.
pub fn check_run(expect: &Expect, limits: &RunLimits, run: &CollectedRun) -> Vec<Mismatch> {
    let mut out = check_consistency(limits, run);
    out.extend(check_expectations(expect, run));
    out
}

/// What `expect` asks of a run, without [`check_consistency`]'s checks of
/// the report against the bytes delivered (a terminal run's output is
/// checked as read back from the terminal, its report against the bytes
/// as they came).
pub(crate) fn check_expectations(expect: &Expect, run: &CollectedRun) -> Vec<Mismatch> {
    let mut out = Vec::new();
    check_outcome(expect, &run.report, &mut out);
    check_substrings(expect, run, &mut out);
    check_exact(expect, run, &mut out);
    check_sizes(expect, run, &mut out);
    if let Some(max) = expect.max_wall_ms.filter(|max| run.report.wall_ms > *max) {
        out.push(Mismatch::new(
            "max_wall_ms",
            format!("wall_ms <= {max}"),
            format!("{} ({})", run.report.wall_ms, describe_report(&run.report)),
        ));
    }
    out
}

/// Status, exit code and signal.
fn check_outcome(expect: &Expect, report: &ExitReport, out: &mut Vec<Mismatch>) {
    if !expect.status.contains(&report.status) {
        out.push(Mismatch::new("status", status_list(&expect.status), describe_report(report)));
    }
    if let Some(code) = expect.exit_code.filter(|code| report.exit_code != Some(*code)) {
        out.push(Mismatch::new("exit_code", code.to_string(), format!("{:?}", report.exit_code)));
    }
    if !expect.signal.is_empty() && !report.signal.is_some_and(|s| expect.signal.contains(&s)) {
        out.push(Mismatch::new("signal", format!("one of {:?}", expect.signal), format!("{:?}", report.signal)));
    }
}

/// `*_contains`, `*_not_contains` and `output_not_contains`.
fn check_substrings(expect: &Expect, run: &CollectedRun, out: &mut Vec<Mismatch>) {
    let streams = [
        ("stdout", &run.stdout, &expect.stdout_contains, &expect.stdout_not_contains),
        ("stderr", &run.stderr, &expect.stderr_contains, &expect.stderr_not_contains),
    ];
    for (stream, bytes, wanted, unwanted) in streams {
        for needle in wanted.iter().filter(|n| find(bytes, n.as_bytes()).is_none()) {
            out.push(Mismatch::new(
                format!("{stream}_contains"),
                format!("{stream} to contain {needle:?}"),
                format!("{stream} ({} bytes): {}", bytes.len(), excerpt(bytes)),
            ));
        }
        for needle in unwanted {
            if let Some(at) = find(bytes, needle.as_bytes()) {
                out.push(Mismatch::new(
                    format!("{stream}_not_contains"),
                    format!("{stream} not to contain {needle:?}"),
                    context(bytes, at, needle.len()),
                ));
            }
        }
    }
    for needle in &expect.output_not_contains {
        for (stream, bytes) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            if let Some(at) = find(bytes, needle.as_bytes()) {
                out.push(Mismatch::new(
                    "output_not_contains",
                    format!("no stream to contain {needle:?}"),
                    format!("found in {stream} {}", context(bytes, at, needle.len())),
                ));
            }
        }
    }
}

/// `stdout_exact`, `stdout_exact_hex` and `stderr_exact_hex`.
fn check_exact(expect: &Expect, run: &CollectedRun, out: &mut Vec<Mismatch>) {
    let hex = |h: &Option<String>| h.as_deref().and_then(|h| decode_hex(h).ok());
    let stdout = expect.stdout_exact.as_ref().map(|s| s.clone().into_bytes()).or_else(|| hex(&expect.stdout_exact_hex));
    for (stream, wanted, got) in
        [("stdout", stdout, &run.stdout), ("stderr", hex(&expect.stderr_exact_hex), &run.stderr)]
    {
        if let Some(wanted) = wanted.filter(|w| w.as_slice() != got.as_ref()) {
            out.push(exact_mismatch(stream, &wanted, got));
        }
    }
}

/// `min_*_bytes` and `max_*_bytes`.
fn check_sizes(expect: &Expect, run: &CollectedRun, out: &mut Vec<Mismatch>) {
    let sizes = [
        ("stdout", &run.stdout, expect.min_stdout_bytes, expect.max_stdout_bytes),
        ("stderr", &run.stderr, expect.min_stderr_bytes, expect.max_stderr_bytes),
    ];
    for (stream, bytes, min, max) in sizes {
        let len = bytes.len() as u64;
        if let Some(min) = min.filter(|min| len < *min) {
            out.push(Mismatch::new(
                format!("min_{stream}_bytes"),
                format!("at least {min} bytes of {stream}"),
                format!("{len} bytes: {}", excerpt(bytes)),
            ));
        }
        if let Some(max) = max.filter(|max| len > *max) {
            out.push(Mismatch::new(
                format!("max_{stream}_bytes"),
                format!("at most {max} bytes of {stream}"),
                format!("{len} bytes"),
            ));
        }
    }
}

fn exact_mismatch(stream: &str, wanted: &[u8], got: &[u8]) -> Mismatch {
    let first_diff = wanted.iter().zip(got).position(|(a, b)| a != b).unwrap_or(wanted.len().min(got.len()));
    let window = |bytes: &[u8]| {
        let start = first_diff.saturating_sub(8);
        let end = (first_diff + 16).min(bytes.len());
        hex(&bytes[start.min(end)..end])
    };
    Mismatch::new(
        format!("{stream}_exact"),
        format!("{} bytes, hex around offset {first_diff}: {}", wanted.len(), window(wanted)),
        format!(
            "{} bytes, first difference at offset {first_diff}, hex there: {}; {stream}: {}",
            got.len(),
            window(got),
            excerpt(got)
        ),
    )
}

/// Compares a follow-up run with its check.
pub fn check_after(index: usize, after: &ResolvedAfter, run: &CollectedRun) -> Vec<Mismatch> {
    let prefix = format!("after[{index}] ({})", after.label);
    let mut out = Vec::new();
    if !after.status.contains(&run.report.status) {
        out.push(Mismatch::new(
            "status",
            status_list(&after.status),
            format!(
                "{}; stdout: {}; stderr: {}",
                describe_report(&run.report),
                excerpt(&run.stdout),
                excerpt(&run.stderr)
            ),
        ));
    }
    for needle in &after.stdout_contains {
        if find(&run.stdout, needle.as_bytes()).is_none() {
            out.push(Mismatch::new(
                "stdout_contains",
                format!("stdout to contain {needle:?}"),
                format!("stdout: {}; stderr: {}", excerpt(&run.stdout), excerpt(&run.stderr)),
            ));
        }
    }
    for needle in &after.stdout_not_contains {
        if let Some(at) = find(&run.stdout, needle.as_bytes()) {
            out.push(Mismatch::new(
                "stdout_not_contains",
                format!("stdout not to contain {needle:?}"),
                context(&run.stdout, at, needle.len()),
            ));
        }
    }
    out.into_iter().map(|m| m.prefixed(&prefix)).collect()
}

/// Compares a workspace snapshot with the case's snapshot expectations.
pub fn check_snapshot(expect: &SnapshotExpect, snapshot: &WorkspaceSnapshot) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let files: Vec<&str> = snapshot.files.iter().map(|f| f.path.as_str()).collect();
    let skipped: Vec<String> = snapshot.skipped.iter().map(|s| format!("{} ({})", s.path, s.reason)).collect();
    let listing = || format!("files {files:?}, skipped {skipped:?}");
    for path in &expect.present {
        if !files.contains(&path.as_str()) {
            out.push(Mismatch::new("snapshot.present", format!("file {path:?} in the snapshot"), listing()));
        }
    }
    for path in &expect.absent {
        let under = format!("{path}/");
        let leaked: Vec<&&str> = files.iter().filter(|f| **f == path.as_str() || f.starts_with(&under)).collect();
        if !leaked.is_empty() {
            out.push(Mismatch::new(
                "snapshot.absent",
                format!("no file at or under {path:?} (it must not be followed)"),
                format!("returned {leaked:?}"),
            ));
        }
    }
    for (path, reason) in &expect.skipped {
        let found = snapshot.skipped.iter().find(|s| &s.path == path);
        match found {
            Some(entry) if &entry.reason == reason => {}
            Some(entry) => out.push(Mismatch::new(
                "snapshot.skipped",
                format!("{path:?} skipped as {reason:?}"),
                format!("skipped as {:?}", entry.reason),
            )),
            None => out.push(Mismatch::new("snapshot.skipped", format!("{path:?} skipped as {reason:?}"), listing())),
        }
    }
    for needle in &expect.content_not_contains {
        for file in &snapshot.files {
            if let Some(at) = find(&file.content, needle.as_bytes()) {
                out.push(Mismatch::new(
                    "snapshot.content_not_contains",
                    format!("no returned file to contain {needle:?}"),
                    format!("{:?} {}", file.path, context(&file.content, at, needle.len())),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use bytes::Bytes;
    use bytesbox_sandbox::{FileEntry, SkippedEntry};

    use super::*;
    use crate::expect::{AfterCheck, AfterPreset};

    fn report(status: RunStatus, exit_code: Option<i32>, signal: Option<i32>) -> ExitReport {
        ExitReport {
            exit_code,
            signal,
            status,
            wall_ms: 100,
            cpu_ms: 10,
            peak_memory_bytes: 1 << 20,
            stdout_bytes: 0,
            stderr_bytes: 0,
        }
    }

    fn run(status: RunStatus, exit_code: Option<i32>, stdout: &[u8], stderr: &[u8]) -> CollectedRun {
        let mut report = report(status, exit_code, None);
        report.stdout_bytes = stdout.len() as u64;
        report.stderr_bytes = stderr.len() as u64;
        CollectedRun {
            stdout: Bytes::copy_from_slice(stdout),
            stderr: Bytes::copy_from_slice(stderr),
            notices: Vec::new(),
            report,
        }
    }

    fn expect(toml_text: &str) -> Expect {
        toml::from_str(toml_text).unwrap()
    }

    fn checks(mismatches: &[Mismatch]) -> Vec<&str> {
        mismatches.iter().map(|m| m.check.as_str()).collect()
    }

    #[test]
    fn a_matching_run_has_no_mismatch() {
        let e = expect(
            "status = ['ok', 'nonzero']\nexit_code = 0\nstdout_contains = 'hello'\nstdout_not_contains = 'VIOLATION'\n\
             stderr_contains = 'warn'\noutput_not_contains = 'secret'\nmin_stdout_bytes = 3\nmax_stdout_bytes = 100\nmax_wall_ms = 1000",
        );
        let r = run(RunStatus::Ok, Some(0), b"hello world\n", b"warn\n");
        assert_eq!(check_run(&e, &RunLimits::default(), &r), vec![]);
    }

    #[test]
    fn every_failed_expectation_is_listed() {
        let e = expect(
            "status = 'timeout'\nexit_code = 3\nsignal = 9\nstdout_contains = ['needle', 'hello']\n\
             stdout_not_contains = 'VIOLATION'\nstderr_contains = 'err'\nstderr_not_contains = 'panic'\n\
             output_not_contains = 'secret'\nmin_stdout_bytes = 1000\nmax_stderr_bytes = 2\nmax_wall_ms = 50",
        );
        let r = run(RunStatus::Ok, Some(0), b"hello VIOLATION secret", b"panic!");
        let m = check_run(&e, &RunLimits::default(), &r);
        assert_eq!(
            checks(&m),
            vec![
                "status",
                "exit_code",
                "signal",
                "stdout_contains",
                "stdout_not_contains",
                "stderr_contains",
                "stderr_not_contains",
                "output_not_contains",
                "min_stdout_bytes",
                "max_stderr_bytes",
                "max_wall_ms",
            ]
        );
        let status = m[0].to_string();
        assert!(status.contains("status in [timeout]"), "{status}");
        assert!(status.contains("got status=ok exit_code=0"), "{status}");
        let contains = m[3].to_string();
        assert!(contains.contains("\"needle\""), "{contains}");
        assert!(contains.contains("hello VIOLATION secret"), "output excerpt: {contains}");
        assert!(m[4].got.contains("at byte 6"), "{}", m[4].got);
        assert!(m[7].got.contains("found in stdout"), "{}", m[7].got);
    }

    #[test]
    fn exact_bytes_are_compared_with_the_first_difference() {
        let e = expect("status = 'ok'\nstdout_exact_hex = '00ff0102'\nstderr_exact_hex = ''");
        let ok = run(RunStatus::Ok, Some(0), &[0, 0xff, 1, 2], b"");
        assert_eq!(check_run(&e, &RunLimits::default(), &ok), vec![]);
        let bad = run(RunStatus::Ok, Some(0), &[0, 0xfd, 1, 2, 3], b"x");
        let m = check_run(&e, &RunLimits::default(), &bad);
        assert_eq!(checks(&m), vec!["stdout_exact", "stderr_exact"]);
        assert!(m[0].got.contains("5 bytes, first difference at offset 1"), "{}", m[0].got);
        assert!(m[0].got.contains("00fd010203"), "{}", m[0].got);
        assert!(m[0].expected.contains("00ff0102"), "{}", m[0].expected);
        let text = expect("status = 'ok'\nstdout_exact = \"a\\nb\"");
        assert_eq!(check_run(&text, &RunLimits::default(), &run(RunStatus::Ok, Some(0), b"a\nb", b"")), vec![]);
        assert_eq!(
            checks(&check_run(&text, &RunLimits::default(), &run(RunStatus::Ok, Some(0), b"a\nb\n", b""))),
            vec!["stdout_exact"]
        );
    }

    #[test]
    fn report_inconsistencies_are_always_checked() {
        let e = expect("status = ['ok', 'nonzero', 'signaled', 'output_limit']");
        let mut r = run(RunStatus::Ok, Some(1), b"abc", b"");
        r.report.stdout_bytes = 7;
        let limits = RunLimits { output_bytes: 2, ..RunLimits::default() };
        let m = check_run(&e, &limits, &r);
        assert_eq!(checks(&m), vec!["report.stdout_bytes", "stdout_cap", "report.coherence"]);
        let signaled = CollectedRun {
            report: report(RunStatus::Signaled, None, None),
            stdout: Bytes::new(),
            stderr: Bytes::new(),
            notices: Vec::new(),
        };
        assert_eq!(checks(&check_run(&e, &limits, &signaled)), vec!["report.coherence"]);
        let nonzero_zero = run(RunStatus::Nonzero, Some(0), b"", b"");
        assert_eq!(checks(&check_run(&e, &limits, &nonzero_zero)), vec!["report.coherence"]);
    }

    #[test]
    fn signals_must_be_reported_when_expected() {
        let e = expect("status = 'signaled'\nsignal = [11, 6]");
        let mut r = run(RunStatus::Signaled, None, b"", b"");
        r.report.signal = Some(6);
        assert_eq!(check_run(&e, &RunLimits::default(), &r), vec![]);
        r.report.signal = Some(9);
        assert_eq!(checks(&check_run(&e, &RunLimits::default(), &r)), vec!["signal"]);
    }

    #[test]
    fn after_checks_are_labelled() {
        let after = AfterCheck {
            preset: Some(AfterPreset::NoSurvivors),
            argv: vec![],
            stdout_contains: vec![],
            stdout_not_contains: vec!["survivor ".into()],
            status: vec![],
            delay_ms: 0,
            description: None,
        }
        .resolve();
        let r = run(RunStatus::Ok, Some(0), b"survivors=1\nsurvivor 7[sleep 100]\n", b"");
        let m = check_after(2, &after, &r);
        assert_eq!(
            checks(&m),
            vec!["after[2] (no_survivors).stdout_contains", "after[2] (no_survivors).stdout_not_contains"]
        );
        assert!(m[0].got.contains("sleep 100"), "{}", m[0].got);
        let crashed = run(RunStatus::Nonzero, Some(1), b"", b"Traceback");
        let m = check_after(0, &after, &crashed);
        assert_eq!(m[0].check, "after[0] (no_survivors).status");
        assert!(m[0].got.contains("Traceback"), "{}", m[0].got);
    }

    #[test]
    fn snapshot_checks() {
        let e: SnapshotExpect = toml::from_str(
            "present = ['regular.txt', 'missing.txt']\nabsent = ['root', 'x']\ncontent_not_contains = 'SECRET'\n\
             [skipped]\nx = 'symlink'\nroot = 'symlink'\nfifo = 'special_file'",
        )
        .unwrap();
        let snapshot = WorkspaceSnapshot {
            files: vec![FileEntry::new("regular.txt", "fine"), FileEntry::new("root/etc/passwd", "root:SECRET")],
            skipped: vec![
                SkippedEntry { path: "x".into(), reason: "symlink".into() },
                SkippedEntry { path: "fifo".into(), reason: "too_large".into() },
            ],
        };
        let m = check_snapshot(&e, &snapshot);
        assert_eq!(
            checks(&m),
            vec![
                "snapshot.present",
                "snapshot.absent",
                "snapshot.skipped",
                "snapshot.skipped",
                "snapshot.content_not_contains",
            ]
        );
        assert!(m[1].got.contains("root/etc/passwd"), "{}", m[1].got);
        assert!(m[2].got.contains("too_large"), "{}", m[2].got);
        assert!(m[3].expected.contains("\"root\""), "{}", m[3].expected);
    }

    #[test]
    fn excerpts_are_bounded_and_escaped() {
        assert_eq!(excerpt(b"a\nb\0"), "\"a\\nb\\0\"");
        let long = vec![b'x'; 5000];
        let e = excerpt(&long);
        assert!(e.len() < 700, "{}", e.len());
        assert!(e.contains("4400 bytes omitted"), "{e}");
    }
}
