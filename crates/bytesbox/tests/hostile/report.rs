//! The suite's report: each attack records what it measured (server
//! memory over idle, a victim's latency, what was left behind) as one line
//! of `hostile-report.txt` in Cargo's test scratch directory; the test
//! command prints the file after the suite. Figures are printed, never
//! asserted as timings.

use std::io::Write;
use std::path::PathBuf;

/// Where the report is written.
pub fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hostile-report.txt")
}

/// Appends one figure: which attack, what was measured, its value.
pub fn record(attack: &str, what: &str, value: impl std::fmt::Display) {
    let line = format!("{attack:<28} {what:<52} {value}\n");
    eprint!("{line}");
    let opened = std::fs::OpenOptions::new().create(true).append(true).open(path());
    if let Ok(mut file) = opened {
        let _ = file.write_all(line.as_bytes());
    }
}
