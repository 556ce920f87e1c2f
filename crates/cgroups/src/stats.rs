//! Usage numbers read back from a cgroup, and the parsers shared by the v1
//! and v2 readers.

use std::path::Path;

use crate::cgfs;
use crate::error::{CgroupError, Result};

/// Resource usage of a cgroup and everything below it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CgroupStats {
    /// CPU time used (user + system), in nanoseconds.
    pub cpu_usage_ns: u64,
    /// Highest memory use seen. On v2 kernels before 5.19 (no
    /// `memory.peak`) this is the current use instead.
    pub memory_peak_bytes: u64,
    /// Memory in use now (page cache included, so it can outlive processes).
    pub memory_current_bytes: u64,
    /// Processes the kernel OOM killer killed in this cgroup.
    pub oom_kills: u64,
}

/// Where a reused cgroup's counters stood when its new tenant began.
#[derive(Debug)]
pub(crate) struct CounterStart {
    pub(crate) cpu_usage_ns: u64,
    pub(crate) oom_kills: u64,
    /// v2: `memory.peak`, opened and reset: reads through this descriptor
    /// see the peak since the reset (the reset is per open file).
    pub(crate) peak: Option<std::fs::File>,
}

/// Reads a file holding one decimal number (`memory.current`,
/// `cpuacct.usage`, ...).
pub(crate) fn read_u64(path: &Path) -> Result<u64> {
    parse_u64(path, &cgfs::read(path)?)
}

pub(crate) fn parse_u64(path: &Path, text: &str) -> Result<u64> {
    text.trim().parse().map_err(|_| CgroupError::Parse {
        path: path.to_path_buf(),
        reason: format!("{:?} is not a number", text.trim()),
    })
}

/// Reads the value of `key` from a flat-keyed file such as `cpu.stat`.
pub(crate) fn read_key(path: &Path, key: &str) -> Result<u64> {
    let text = cgfs::read(path)?;
    cgfs::keyed_value(&text, key)
        .ok_or_else(|| CgroupError::Parse { path: path.to_path_buf(), reason: format!("no `{key} <number>` line") })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_keys_parse_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let number = dir.path().join("memory.current");
        std::fs::write(&number, "4096\n").unwrap();
        assert_eq!(read_u64(&number).unwrap(), 4096);

        let bad = dir.path().join("memory.peak");
        std::fs::write(&bad, "max\n").unwrap();
        let err = read_u64(&bad).unwrap_err().to_string();
        assert!(err.contains("\"max\" is not a number") && err.contains("memory.peak"), "{err}");

        let stat = dir.path().join("cpu.stat");
        std::fs::write(&stat, "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n").unwrap();
        assert_eq!(read_key(&stat, "usage_usec").unwrap(), 1500);
        let err = read_key(&stat, "nr_periods").unwrap_err().to_string();
        assert!(err.contains("no `nr_periods <number>` line"), "{err}");

        let missing = dir.path().join("nope");
        assert!(matches!(read_u64(&missing), Err(CgroupError::Read { .. })));
    }
}
