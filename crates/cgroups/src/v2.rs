//! The cgroup v2 interface: one unified directory per cgroup, controllers
//! delegated through `cgroup.subtree_control`, `cgroup.kill` for killing.

use std::io::{ErrorKind, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cgfs;
use crate::error::{CgroupError, Result};
use crate::kill::{self, SETTLE};
use crate::limits::{CgroupLimits, CPU_PERIOD_US};
use crate::stats::{parse_u64, read_key, read_u64, CgroupStats, CounterStart};

/// Makes `controllers` available to the children of `dir`. Controllers
/// already enabled are left out of the write, so a parent that already
/// delegates everything costs one read.
pub(crate) fn enable_controllers(dir: &Path, controllers: &[&str]) -> Result<()> {
    let path = dir.join("cgroup.subtree_control");
    let current = cgfs::read(&path)?;
    let enabled: Vec<&str> = current.split_whitespace().collect();
    let missing: Vec<String> = controllers.iter().filter(|c| !enabled.contains(c)).map(|c| format!("+{c}")).collect();
    if missing.is_empty() {
        return Ok(());
    }
    // One write for all: the kernel applies a space-separated list at once.
    cgfs::write(&path, &missing.join(" "))
}

/// On v2, `memory.max` covers kernel memory as well: slab, pipe buffers
/// and socket buffers (`sock` in `memory.stat`) are all charged to
/// `memory.current`, so no separate kernel-memory limit exists or is needed.
pub(crate) fn apply(dir: &Path, limits: &CgroupLimits) -> Result<()> {
    if let Some(bytes) = limits.memory_bytes {
        cgfs::write(&dir.join("memory.max"), &bytes.to_string())?;
        let swap = dir.join("memory.swap.max");
        match cgfs::write_raw(&swap, "0") {
            Ok(()) => {}
            // Kernels built without swap accounting have no swap files.
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(source) => return Err(CgroupError::Write { path: swap, value: "0".to_owned(), source }),
        }
    }
    if let Some(pids) = limits.pids {
        cgfs::write(&dir.join("pids.max"), &pids.to_string())?;
    }
    if let Some(quota) = limits.cpu_quota_us()? {
        cgfs::write(&dir.join("cpu.max"), &format!("{quota} {CPU_PERIOD_US}"))?;
    }
    Ok(())
}

/// CPU time of the subtree, in nanoseconds: one read.
pub(crate) fn cpu_usage_ns(dir: &Path) -> Result<u64> {
    Ok(read_key(&dir.join("cpu.stat"), "usage_usec")?.saturating_mul(1000))
}

/// Opens `memory.peak` and resets it to the current use for reads through
/// the returned descriptor (Linux 6.12+; older kernels refuse the write).
pub(crate) fn reset_memory_peak(dir: &Path) -> Result<std::fs::File> {
    let path = dir.join("memory.peak");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|source| CgroupError::Write { path: path.clone(), value: "reset".into(), source })?;
    file.write_all(b"reset\n").map_err(|source| CgroupError::Write { path, value: "reset".into(), source })?;
    Ok(file)
}

pub(crate) fn memory_current_bytes(dir: &Path) -> Result<u64> {
    read_u64(&dir.join("memory.current"))
}

pub(crate) fn stats(dir: &Path, from: Option<&CounterStart>) -> Result<CgroupStats> {
    let current = memory_current_bytes(dir)?;
    // memory.peak arrived in 5.19; before that the current use is the best
    // lower bound we have. A reused cgroup reads its own reset peak.
    let peak_path = dir.join("memory.peak");
    let peak = match from.and_then(|f| f.peak.as_ref()) {
        Some(reset) => {
            let mut text = [0u8; 32];
            let n =
                reset.read_at(&mut text, 0).map_err(|source| CgroupError::Read { path: peak_path.clone(), source })?;
            parse_u64(&peak_path, &String::from_utf8_lossy(&text[..n]))?
        }
        None => match cgfs::read_optional(&peak_path)? {
            Some(text) => parse_u64(&peak_path, &text)?,
            None => current,
        },
    };
    Ok(CgroupStats {
        cpu_usage_ns: cpu_usage_ns(dir)?,
        memory_peak_bytes: peak,
        memory_current_bytes: current,
        oom_kills: read_key(&dir.join("memory.events"), "oom_kill")?,
    })
}

/// Kills everything in the cgroup `dir` and below. `cgroup.kill` (5.14+)
/// does it atomically in the kernel, forks in flight included; older kernels
/// get the freeze, list, kill, thaw loop.
pub(crate) fn kill_all(dir: &Path, timeout: Duration) -> Result<()> {
    let events = dir.join("cgroup.events");
    // Fast path for the usual case, a run whose programs have all exited.
    if !populated(&events)?.unwrap_or(false) {
        return Ok(());
    }
    let deadline = Instant::now() + timeout;
    let kill_file = dir.join("cgroup.kill");
    match cgfs::write_raw(&kill_file, "1") {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => return kill_frozen(dir, deadline, timeout),
        Err(source) => return Err(CgroupError::Write { path: kill_file, value: "1".to_owned(), source }),
    }
    if cgfs::poll_until(deadline, || Ok(!populated(&events)?.unwrap_or(false)))? {
        return Ok(());
    }
    Err(timeout_error(dir, timeout))
}

/// The pre-5.14 fallback: with the cgroup frozen nothing inside can fork, so
/// the list we kill is complete. SIGKILL reaches frozen v2 tasks, but we
/// unfreeze anyway so nothing is left frozen if the kill fails.
fn kill_frozen(dir: &Path, deadline: Instant, timeout: Duration) -> Result<()> {
    let events = dir.join("cgroup.events");
    let freeze = dir.join("cgroup.freeze");
    let tree = [dir.to_path_buf()];
    let mut pids = Vec::new();
    loop {
        cgfs::write(&freeze, "1")?;
        let waited = cgfs::poll_until(deadline, || Ok(cgfs::keyed_value(&cgfs::read(&events)?, "frozen") == Some(1)));
        let listed = waited.and_then(|_| kill::procs_in_trees(&tree, &mut pids));
        if listed.is_ok() {
            kill::sigkill(&pids);
        }
        cgfs::write(&freeze, "0")?;
        listed?;
        let settle = deadline.min(Instant::now() + SETTLE);
        if cgfs::poll_until(settle, || Ok(!populated(&events)?.unwrap_or(false)))? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(timeout_error(dir, timeout));
        }
    }
}

/// `cgroup.events` says whether any live process is in the subtree; `None`
/// if the cgroup does not exist.
fn populated(events: &Path) -> Result<Option<bool>> {
    let Some(text) = cgfs::read_optional(events)? else {
        return Ok(None);
    };
    match cgfs::keyed_value(&text, "populated") {
        Some(value) => Ok(Some(value != 0)),
        None => Err(CgroupError::Parse { path: events.to_path_buf(), reason: "no `populated <0|1>` line".to_owned() }),
    }
}

fn timeout_error(dir: &Path, timeout: Duration) -> CgroupError {
    let mut pids = Vec::new();
    // Best effort: the error is about the timeout, the list is a hint.
    let _ = kill::procs_in_trees(&[dir.to_path_buf()], &mut pids);
    CgroupError::KillTimeout { path: dir.to_path_buf(), timeout, pids }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::fs;

    use super::*;

    #[test]
    fn enable_controllers_writes_only_the_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cgroup.subtree_control");
        fs::write(&file, "cpu memory\n").unwrap();
        enable_controllers(dir.path(), &["memory", "pids", "cpu"]).unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "+pids");

        fs::write(&file, "cpu io memory pids\n").unwrap();
        enable_controllers(dir.path(), &["memory", "pids", "cpu"]).unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "cpu io memory pids\n");
    }

    #[test]
    fn stats_fall_back_to_memory_current_without_memory_peak() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("cpu.stat"), "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n").unwrap();
        fs::write(d.join("memory.current"), "8192\n").unwrap();
        fs::write(d.join("memory.events"), "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\noom_group_kill 0\n").unwrap();
        let without_peak = stats(d, None).unwrap();
        assert_eq!(
            without_peak,
            CgroupStats { cpu_usage_ns: 2_500_000, memory_peak_bytes: 8192, memory_current_bytes: 8192, oom_kills: 1 }
        );
        fs::write(d.join("memory.peak"), "1048576\n").unwrap();
        assert_eq!(stats(d, None).unwrap().memory_peak_bytes, 1 << 20);
    }

    #[test]
    fn kill_all_writes_cgroup_kill_and_waits_for_unpopulated() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("cgroup.kill"), "").unwrap();
        fs::write(d.join("cgroup.procs"), "").unwrap();
        // Not populated: the fast path writes nothing.
        fs::write(d.join("cgroup.events"), "populated 0\nfrozen 0\n").unwrap();
        kill_all(d, Duration::from_millis(10)).unwrap();
        assert_eq!(fs::read_to_string(d.join("cgroup.kill")).unwrap(), "");

        // A fake never becomes unpopulated: cgroup.kill is written, then the
        // wait times out with a precise error.
        fs::write(d.join("cgroup.events"), "populated 1\nfrozen 0\n").unwrap();
        let err = kill_all(d, Duration::from_millis(20)).unwrap_err();
        assert_eq!(fs::read_to_string(d.join("cgroup.kill")).unwrap(), "1");
        assert!(matches!(err, CgroupError::KillTimeout { .. }), "{err}");
    }

    #[test]
    fn kill_all_without_cgroup_kill_freezes_and_always_thaws() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("cgroup.procs"), "").unwrap();
        fs::write(d.join("cgroup.freeze"), "0\n").unwrap();
        // Populated and frozen forever (a fake): the loop freezes, finds no
        // pid, unfreezes and finally reports the timeout.
        fs::write(d.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
        let err = kill_all(d, Duration::from_millis(30)).unwrap_err();
        assert!(matches!(err, CgroupError::KillTimeout { .. }), "{err}");
        assert_eq!(fs::read_to_string(d.join("cgroup.freeze")).unwrap(), "0");
    }

    #[test]
    fn missing_cgroup_has_nothing_to_kill() {
        let dir = tempfile::tempdir().unwrap();
        kill_all(&dir.path().join("gone"), Duration::from_millis(10)).unwrap();
    }
}
