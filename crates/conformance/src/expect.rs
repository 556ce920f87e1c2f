//! What a case expects: of the main run, of the workspace snapshot, and of
//! the follow-up runs in the same box.

use std::collections::BTreeMap;

use bytesbox_sandbox::RunStatus;
use serde::{Deserialize, Deserializer};

/// Decodes lowercase or uppercase hex; whitespace is ignored.
pub fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", digits.len()));
    }
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).map_err(|_| "non-ASCII hex".to_string())?;
            u8::from_str_radix(pair, 16).map_err(|_| format!("bad hex digits {pair:?}"))
        })
        .collect()
}

/// Accepts `x` or `[x, y]`.
fn one_or_many<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        One(T),
        Many(Vec<T>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(item) => vec![item],
        OneOrMany::Many(items) => items,
    })
}

/// What the main run must look like.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Allowed statuses (one or a list).
    #[serde(deserialize_with = "one_or_many")]
    pub status: Vec<RunStatus>,
    /// Required exit code.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Allowed terminating signals (one or a list); the report must name one.
    #[serde(default, deserialize_with = "one_or_many")]
    pub signal: Vec<i32>,
    /// Substrings stdout must contain.
    #[serde(default, deserialize_with = "one_or_many")]
    pub stdout_contains: Vec<String>,
    /// Substrings stdout must not contain.
    #[serde(default, deserialize_with = "one_or_many")]
    pub stdout_not_contains: Vec<String>,
    /// Substrings stderr must contain.
    #[serde(default, deserialize_with = "one_or_many")]
    pub stderr_contains: Vec<String>,
    /// Substrings stderr must not contain.
    #[serde(default, deserialize_with = "one_or_many")]
    pub stderr_not_contains: Vec<String>,
    /// Substrings neither stream may contain.
    #[serde(default, deserialize_with = "one_or_many")]
    pub output_not_contains: Vec<String>,
    /// stdout, exactly (UTF-8).
    #[serde(default)]
    pub stdout_exact: Option<String>,
    /// stdout, exactly, as hex (for binary output).
    #[serde(default)]
    pub stdout_exact_hex: Option<String>,
    /// stderr, exactly, as hex.
    #[serde(default)]
    pub stderr_exact_hex: Option<String>,
    /// Fewest stdout bytes.
    #[serde(default)]
    pub min_stdout_bytes: Option<u64>,
    /// Most stdout bytes.
    #[serde(default)]
    pub max_stdout_bytes: Option<u64>,
    /// Fewest stderr bytes.
    #[serde(default)]
    pub min_stderr_bytes: Option<u64>,
    /// Most stderr bytes.
    #[serde(default)]
    pub max_stderr_bytes: Option<u64>,
    /// A generous sanity bound on the run's wall time.
    #[serde(default)]
    pub max_wall_ms: Option<u64>,
    /// How many connections the host listeners may see during the main run.
    #[serde(default)]
    pub host_connections: Option<u64>,
    /// Checks on `get_files` right after the main run.
    #[serde(default)]
    pub snapshot: Option<SnapshotExpect>,
}

impl Expect {
    /// The same expectations for a main run under a terminal (a PTY), as a
    /// program started from one of the IDE's terminals runs: its stdout
    /// and stderr are one stream, and the terminal's line discipline turns
    /// each `\n` into `\r\n` (the runner turns them back before checking).
    /// What either stream must contain, that stream must; what either must
    /// not, it must not. Exact bytes and the upper bounds of a stream's
    /// size do not hold through a line discipline and are left out, and so
    /// is the lower bound of stderr's. Statuses, exit code, signal, the
    /// lower bound of stdout's size, wall time, host connections and the
    /// workspace snapshot are kept: they are what isolation is judged on.
    pub fn under_a_terminal(&self) -> Expect {
        let mut terminal = self.clone();
        terminal.stdout_contains.extend(std::mem::take(&mut terminal.stderr_contains));
        terminal.stdout_not_contains.extend(std::mem::take(&mut terminal.stderr_not_contains));
        terminal.stdout_exact = None;
        terminal.stdout_exact_hex = None;
        terminal.stderr_exact_hex = None;
        terminal.max_stdout_bytes = None;
        terminal.min_stderr_bytes = None;
        terminal.max_stderr_bytes = None;
        terminal
    }

    /// How many separate expectations this holds.
    pub fn expectation_count(&self) -> usize {
        let lists = self.status.len()
            + self.signal.len()
            + self.stdout_contains.len()
            + self.stdout_not_contains.len()
            + self.stderr_contains.len()
            + self.stderr_not_contains.len()
            + self.output_not_contains.len();
        let options = [
            self.exit_code.is_some(),
            self.stdout_exact.is_some(),
            self.stdout_exact_hex.is_some(),
            self.stderr_exact_hex.is_some(),
            self.min_stdout_bytes.is_some(),
            self.max_stdout_bytes.is_some(),
            self.min_stderr_bytes.is_some(),
            self.max_stderr_bytes.is_some(),
            self.max_wall_ms.is_some(),
            self.host_connections.is_some(),
        ]
        .into_iter()
        .filter(|set| *set)
        .count();
        let snapshot = self
            .snapshot
            .as_ref()
            .map_or(0, |s| s.present.len() + s.absent.len() + s.skipped.len() + s.content_not_contains.len());
        lists + options + snapshot
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.status.is_empty() {
            return Err("expect.status lists no status".into());
        }
        if self.stdout_exact.is_some() && self.stdout_exact_hex.is_some() {
            return Err("expect.stdout_exact and expect.stdout_exact_hex exclude each other".into());
        }
        for (field, hex) in
            [("expect.stdout_exact_hex", &self.stdout_exact_hex), ("expect.stderr_exact_hex", &self.stderr_exact_hex)]
        {
            if let Some(hex) = hex {
                decode_hex(hex).map_err(|e| format!("{field}: {e}"))?;
            }
        }
        for (field, min, max) in [
            ("stdout", self.min_stdout_bytes, self.max_stdout_bytes),
            ("stderr", self.min_stderr_bytes, self.max_stderr_bytes),
        ] {
            if let (Some(min), Some(max)) = (min, max) {
                if min > max {
                    return Err(format!("expect.min_{field}_bytes {min} > max_{field}_bytes {max}"));
                }
            }
        }
        let empty = self
            .stdout_contains
            .iter()
            .chain(&self.stdout_not_contains)
            .chain(&self.stderr_contains)
            .chain(&self.stderr_not_contains)
            .chain(&self.output_not_contains)
            .any(String::is_empty);
        if empty {
            return Err("an expected substring is empty".into());
        }
        if let Some(snapshot) = &self.snapshot {
            snapshot.validate()?;
        }
        Ok(())
    }
}

/// Checks on the workspace snapshot (`get_files` of everything).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotExpect {
    /// Files the snapshot must return.
    #[serde(default, deserialize_with = "one_or_many")]
    pub present: Vec<String>,
    /// Paths the snapshot must not return as a file, nor anything under them.
    #[serde(default, deserialize_with = "one_or_many")]
    pub absent: Vec<String>,
    /// Entries that must be listed as skipped: path → reason.
    #[serde(default)]
    pub skipped: BTreeMap<String, String>,
    /// Substrings no returned file may contain.
    #[serde(default, deserialize_with = "one_or_many")]
    pub content_not_contains: Vec<String>,
    /// The `max_total_bytes` passed to `get_files`.
    #[serde(default = "default_snapshot_bytes")]
    pub max_total_bytes: u64,
}

fn default_snapshot_bytes() -> u64 {
    16 * 1024 * 1024
}

impl SnapshotExpect {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.present.len() + self.absent.len() + self.skipped.len() + self.content_not_contains.len() == 0 {
            return Err("expect.snapshot checks nothing".into());
        }
        Ok(())
    }
}

/// Ready-made follow-up checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterPreset {
    /// `/bin/echo alive` prints `alive`: the box still starts programs.
    Alive,
    /// No process other than pid 1 and the checker is left in the box.
    NoSurvivors,
    /// A file can be written, read back and removed in the workspace.
    WorkspaceWritable,
}

/// The checker behind [`AfterPreset::NoSurvivors`]. It retries for up to
/// five seconds so that a tree being torn down is not reported, and lists
/// every survivor's command line.
const NO_SURVIVORS_PY: &str = "import os, time
def others():
    me = os.getpid()
    found = []
    for entry in os.listdir('/proc'):
        if entry.isdigit() and int(entry) not in (1, me):
            try:
                with open('/proc/%s/cmdline' % entry, 'rb') as f:
                    cmd = f.read().replace(b'\\0', b' ').decode('utf-8', 'replace').strip()
            except OSError:
                continue
            found.append('%s[%s]' % (entry, cmd))
    return found
survivors = others()
for _ in range(50):
    if not survivors:
        break
    time.sleep(0.1)
    survivors = others()
print('survivors=%d' % len(survivors))
for s in survivors:
    print('survivor ' + s)
";

/// A follow-up run in the same box after the main run.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AfterCheck {
    /// A ready-made check (excludes `argv`).
    #[serde(default)]
    pub preset: Option<AfterPreset>,
    /// The program to run (workspace as cwd, default limits).
    #[serde(default)]
    pub argv: Vec<String>,
    /// Substrings stdout must contain.
    #[serde(default, deserialize_with = "one_or_many")]
    pub stdout_contains: Vec<String>,
    /// Substrings stdout must not contain.
    #[serde(default, deserialize_with = "one_or_many")]
    pub stdout_not_contains: Vec<String>,
    /// Allowed statuses; `ok` when empty.
    #[serde(default, deserialize_with = "one_or_many")]
    pub status: Vec<RunStatus>,
    /// Milliseconds to wait before running.
    #[serde(default)]
    pub delay_ms: u64,
    /// What this proves, for messages.
    #[serde(default)]
    pub description: Option<String>,
}

/// An [`AfterCheck`] with its preset expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedAfter {
    /// A short label for messages.
    pub label: String,
    /// The program to run.
    pub argv: Vec<String>,
    /// Substrings stdout must contain.
    pub stdout_contains: Vec<String>,
    /// Substrings stdout must not contain.
    pub stdout_not_contains: Vec<String>,
    /// Allowed statuses.
    pub status: Vec<RunStatus>,
    /// Milliseconds to wait before running.
    pub delay_ms: u64,
}

impl AfterCheck {
    pub(crate) fn validate(&self) -> Result<(), String> {
        match (self.preset, self.argv.is_empty()) {
            (Some(_), false) => Err("an [[after]] check has both preset and argv".into()),
            (None, true) => Err("an [[after]] check has neither preset nor argv".into()),
            (None, false) if self.stdout_contains.is_empty() => {
                Err("a custom [[after]] check needs stdout_contains".into())
            }
            _ if self.argv.iter().any(|a| a.contains('\0')) => Err("an [[after]] argv has a NUL byte".into()),
            _ => Ok(()),
        }
    }

    /// Expands presets into a runnable check.
    pub fn resolve(&self) -> ResolvedAfter {
        let mut resolved = match self.preset {
            Some(AfterPreset::Alive) => ResolvedAfter {
                label: "alive".into(),
                argv: vec!["/bin/echo".into(), "alive".into()],
                stdout_contains: vec!["alive".into()],
                stdout_not_contains: Vec::new(),
                status: vec![RunStatus::Ok],
                delay_ms: 0,
            },
            Some(AfterPreset::NoSurvivors) => ResolvedAfter {
                label: "no_survivors".into(),
                argv: vec!["python3".into(), "-c".into(), NO_SURVIVORS_PY.into()],
                stdout_contains: vec!["survivors=0".into()],
                stdout_not_contains: Vec::new(),
                status: vec![RunStatus::Ok],
                delay_ms: 0,
            },
            Some(AfterPreset::WorkspaceWritable) => ResolvedAfter {
                label: "workspace_writable".into(),
                argv: vec![
                    "/bin/sh".into(),
                    "-c".into(),
                    "echo writable > .conformance_probe && cat .conformance_probe && rm .conformance_probe".into(),
                ],
                stdout_contains: vec!["writable".into()],
                stdout_not_contains: Vec::new(),
                status: vec![RunStatus::Ok],
                delay_ms: 0,
            },
            None => ResolvedAfter {
                label: self.argv.join(" ").chars().take(60).collect(),
                argv: self.argv.clone(),
                stdout_contains: Vec::new(),
                stdout_not_contains: Vec::new(),
                status: vec![RunStatus::Ok],
                delay_ms: 0,
            },
        };
        resolved.stdout_contains.extend(self.stdout_contains.iter().cloned());
        resolved.stdout_not_contains.extend(self.stdout_not_contains.iter().cloned());
        if !self.status.is_empty() {
            resolved.status.clone_from(&self.status);
        }
        resolved.delay_ms = self.delay_ms;
        if let Some(description) = &self.description {
            resolved.label = description.clone();
        }
        resolved
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hex_decoding() {
        assert_eq!(decode_hex("00 ff\nAb").unwrap(), vec![0, 255, 0xab]);
        assert!(decode_hex("0").is_err());
        assert!(decode_hex("zz").is_err());
    }
}
