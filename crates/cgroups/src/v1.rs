//! The cgroup v1 interface: one directory per hierarchy, memory+swap limit,
//! CFS quota, and the freezer for race-free killing.

use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::libc;

use crate::cgfs;
use crate::error::{CgroupError, Result};
use crate::kill::{self, SETTLE};
use crate::layout::V1Index;
use crate::limits::{CgroupLimits, CPU_PERIOD_US};
use crate::stats::{parse_u64, read_key, read_u64, CgroupStats};

pub(crate) fn apply(dirs: &[PathBuf], index: V1Index, limits: &CgroupLimits) -> Result<()> {
    if let Some(bytes) = limits.memory_bytes {
        set_memory(&dirs[index.memory], bytes)?;
    }
    if let Some(pids) = limits.pids {
        cgfs::write(&dirs[index.pids].join("pids.max"), &pids.to_string())?;
    }
    if let Some(quota) = limits.cpu_quota_us()? {
        let cpu = &dirs[index.cpu];
        cgfs::write(&cpu.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
        cgfs::write(&cpu.join("cpu.cfs_quota_us"), &quota.to_string())?;
    }
    Ok(())
}

/// Sets the memory limit with swap off: memory+swap gets the same value, so
/// nothing can be swapped out to dodge the limit. Kernel memory the box
/// causes is capped too (see [`set_tcp_memory`]).
fn set_memory(dir: &Path, bytes: u64) -> Result<()> {
    let value = bytes.to_string();
    let limit = dir.join("memory.limit_in_bytes");
    match cgfs::write_raw(&limit, &value) {
        Ok(()) => set_memsw(dir, &value)?,
        // The kernel keeps limit <= memsw limit, so raising an existing
        // limit needs the memsw limit raised first.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            set_memsw(dir, &value)?;
            cgfs::write(&limit, &value)?;
        }
        Err(source) => return Err(CgroupError::Write { path: limit, value, source }),
    }
    set_tcp_memory(dir, &value)
}

/// Caps the cgroup's TCP socket buffers at `value` bytes. On v1, slab,
/// pipe buffers and other `__GFP_ACCOUNT` kernel memory are charged to
/// `memory.usage_in_bytes` (so the memory limit covers them), but TCP
/// buffers are charged only to their own counter, and only once a TCP
/// limit has been written: without this, a box can queue gigabytes in
/// loopback send buffers to itself while its memory use looks small.
/// When the cap is reached, sends wait (or fail with `EAGAIN`). The old
/// `memory.kmem.limit_in_bytes` is not written: kernels since 5.16 ignore
/// it, and the memory limit already covers that memory.
fn set_tcp_memory(dir: &Path, value: &str) -> Result<()> {
    let tcp = dir.join("memory.kmem.tcp.limit_in_bytes");
    match cgfs::write_raw(&tcp, value) {
        Ok(()) => Ok(()),
        // A kernel without kernel-memory accounting (`cgroup.memory=nokmem`
        // or built without it) has no such file, and no TCP accounting to
        // turn on.
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(source) => Err(CgroupError::Write { path: tcp, value: value.to_owned(), source }),
    }
}

fn set_memsw(dir: &Path, value: &str) -> Result<()> {
    let memsw = dir.join("memory.memsw.limit_in_bytes");
    match cgfs::write_raw(&memsw, value) {
        Ok(()) => Ok(()),
        // No swap accounting (swapaccount=0): the best we can do is tell
        // reclaim not to swap this cgroup's anonymous memory.
        Err(e) if e.kind() == ErrorKind::NotFound => cgfs::write(&dir.join("memory.swappiness"), "0"),
        Err(source) => Err(CgroupError::Write { path: memsw, value: value.to_owned(), source }),
    }
}

/// CPU time of the subtree, in nanoseconds: one read.
pub(crate) fn cpu_usage_ns(dirs: &[PathBuf], index: V1Index) -> Result<u64> {
    read_u64(&dirs[index.cpuacct].join("cpuacct.usage"))
}

/// Sets the memory high-water mark to the current use.
pub(crate) fn reset_memory_peak(dirs: &[PathBuf], index: V1Index) -> Result<()> {
    cgfs::write(&dirs[index.memory].join("memory.max_usage_in_bytes"), "0")
}

pub(crate) fn memory_current_bytes(dirs: &[PathBuf], index: V1Index) -> Result<u64> {
    read_u64(&dirs[index.memory].join("memory.usage_in_bytes"))
}

pub(crate) fn stats(dirs: &[PathBuf], index: V1Index) -> Result<CgroupStats> {
    let memory = &dirs[index.memory];
    Ok(CgroupStats {
        cpu_usage_ns: cpu_usage_ns(dirs, index)?,
        memory_peak_bytes: read_u64(&memory.join("memory.max_usage_in_bytes"))?,
        memory_current_bytes: memory_current_bytes(dirs, index)?,
        oom_kills: read_key(&memory.join("memory.oom_control"), "oom_kill")?,
    })
}

/// How [`kill_all`] decides that there is nothing to kill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EmptyCheck {
    /// Trust `pids.current`: one small read instead of listing
    /// `cgroup.procs` in every hierarchy (which costs ~30 µs each on v1).
    /// It counts the whole subtree and zombies too, so it never says 0 while
    /// a process is in the pids hierarchy; it would only miss a process that
    /// joined some hierarchies but not the pids one.
    PidsCounter,
    /// List every hierarchy: for `remove` after EBUSY, where "busy" may come
    /// from exactly such a half-joined process.
    EveryHierarchy,
}

/// Kills every process in the cgroup trees `dirs`: freeze (so nothing can
/// fork), list, SIGKILL, thaw (so the signals are delivered), and repeat
/// until every hierarchy is empty or the timeout passes.
pub(crate) fn kill_all(dirs: &[PathBuf], index: V1Index, timeout: Duration, check: EmptyCheck) -> Result<()> {
    let mut pids = Vec::new();
    // Fast path for the usual case, a run whose programs have all exited:
    // nothing is inside, so nothing can fork its way back in.
    let empty = match check {
        EmptyCheck::PidsCounter => {
            let current = dirs[index.pids].join("pids.current");
            match cgfs::read_optional(&current)? {
                Some(text) => parse_u64(&current, &text)? == 0,
                // Not in the pids hierarchy (half created): look properly.
                None => false,
            }
        }
        EmptyCheck::EveryHierarchy => false,
    };
    if empty {
        return Ok(());
    }
    kill::procs_in_trees(dirs, &mut pids)?;
    if pids.is_empty() {
        return Ok(());
    }
    let deadline = Instant::now() + timeout;
    let freezer = &dirs[index.freezer];
    // One descriptor for freezing, watching and thawing: a thaw must never
    // need a new one (a server out of descriptors would leave the cgroup
    // frozen, its processes hung and the cgroup unremovable for good).
    let state = FreezerState::open(freezer)?;
    loop {
        let frozen = match &state {
            Some(state) => state.freeze(deadline)?,
            None => false,
        };
        let listed = kill::procs_in_trees(dirs, &mut pids);
        if listed.is_ok() {
            kill::sigkill(&pids);
        }
        if let (true, Some(state)) = (frozen, &state) {
            state.thaw()?;
        }
        listed?;
        if pids.is_empty() {
            return Ok(());
        }
        let settle = deadline.min(Instant::now() + SETTLE);
        if cgfs::poll_until(settle, || {
            kill::procs_in_trees(dirs, &mut pids)?;
            Ok(pids.is_empty())
        })? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(CgroupError::KillTimeout { path: freezer.clone(), timeout, pids });
        }
    }
}

/// A cgroup's `freezer.state`, open for the whole kill.
struct FreezerState {
    path: PathBuf,
    file: std::fs::File,
}

impl FreezerState {
    /// None if the cgroup has no freezer directory (partly created or
    /// removed), in which case we kill unfrozen.
    fn open(freezer: &Path) -> Result<Option<FreezerState>> {
        let path = freezer.join("freezer.state");
        match std::fs::OpenOptions::new().read(true).write(true).open(&path) {
            Ok(file) => Ok(Some(FreezerState { path, file })),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(source) => Err(CgroupError::Read { path, source }),
        }
    }

    fn write(&self, value: &str) -> Result<()> {
        self.file.write_at(value.as_bytes(), 0).map(drop).map_err(|source| CgroupError::Write {
            path: self.path.clone(),
            value: value.to_owned(),
            source,
        })
    }

    fn is_frozen(&self) -> Result<bool> {
        let mut text = [0u8; 16];
        let n =
            self.file.read_at(&mut text, 0).map_err(|source| CgroupError::Read { path: self.path.clone(), source })?;
        Ok(text[..n].trim_ascii() == b"FROZEN")
    }

    /// Freezes the cgroup and waits (until `deadline` at most) for the
    /// kernel to report `FROZEN`; if it does not, we kill what we see
    /// anyway and the loop in [`kill_all`] comes back. Once the freeze is
    /// asked for, every way out of here leaves the cgroup to be thawed:
    /// true is returned even when watching it failed.
    fn freeze(&self, deadline: Instant) -> Result<bool> {
        self.write("FROZEN")?;
        if let Err(e) = cgfs::poll_until(deadline, || self.is_frozen()) {
            self.thaw()?;
            return Err(e);
        }
        Ok(true)
    }

    /// Thaws the cgroup (so the SIGKILLs are delivered), retrying briefly:
    /// a cgroup left frozen would hang its processes forever.
    fn thaw(&self) -> Result<()> {
        let mut last = Ok(());
        for _ in 0..THAW_ATTEMPTS {
            last = self.write("THAWED");
            if last.is_ok() {
                return last;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        last
    }
}

/// How often a failed thaw is retried.
const THAW_ATTEMPTS: usize = 20;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::fs;

    use super::*;

    fn index() -> V1Index {
        V1Index { memory: 0, pids: 0, cpu: 0, cpuacct: 0, freezer: 0 }
    }

    #[test]
    fn memory_without_swap_accounting_sets_swappiness() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for f in ["memory.limit_in_bytes", "memory.swappiness"] {
            fs::write(d.join(f), "60\n").unwrap();
        }
        let limits = CgroupLimits { memory_bytes: Some(1 << 20), ..CgroupLimits::default() };
        apply(&[d.to_path_buf()], index(), &limits).unwrap();
        assert_eq!(fs::read_to_string(d.join("memory.limit_in_bytes")).unwrap(), "1048576");
        assert_eq!(fs::read_to_string(d.join("memory.swappiness")).unwrap(), "0");
        assert!(!d.join("memory.memsw.limit_in_bytes").exists());
        assert!(!d.join("memory.kmem.tcp.limit_in_bytes").exists(), "no TCP accounting, nothing to turn on");
    }

    #[test]
    fn memory_limit_also_caps_tcp_buffers() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for f in ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.kmem.tcp.limit_in_bytes"] {
            fs::write(d.join(f), "9223372036854771712\n").unwrap();
        }
        let limits = CgroupLimits { memory_bytes: Some(128 << 20), ..CgroupLimits::default() };
        apply(&[d.to_path_buf()], index(), &limits).unwrap();
        for f in ["memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.kmem.tcp.limit_in_bytes"] {
            assert_eq!(fs::read_to_string(d.join(f)).unwrap(), "134217728", "{f}");
        }
    }

    #[test]
    fn stats_read_the_v1_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("cpuacct.usage"), "123456789\n").unwrap();
        fs::write(d.join("memory.max_usage_in_bytes"), "67108864\n").unwrap();
        fs::write(d.join("memory.usage_in_bytes"), "4096\n").unwrap();
        fs::write(d.join("memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n").unwrap();
        let stats = stats(&[d.to_path_buf()], index()).unwrap();
        assert_eq!(
            stats,
            CgroupStats {
                cpu_usage_ns: 123_456_789,
                memory_peak_bytes: 64 << 20,
                memory_current_bytes: 4096,
                oom_kills: 2,
            }
        );
    }

    #[test]
    fn kill_all_on_an_empty_tree_touches_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("cgroup.procs"), "").unwrap();
        fs::write(d.join("freezer.state"), "THAWED\n").unwrap();
        fs::create_dir(d.join("child")).unwrap();
        fs::write(d.join("child/cgroup.procs"), "").unwrap();
        fs::write(d.join("pids.current"), "0\n").unwrap();
        for check in [EmptyCheck::PidsCounter, EmptyCheck::EveryHierarchy] {
            kill_all(&[d.to_path_buf()], index(), Duration::from_millis(10), check).unwrap();
        }
        // The cgroup was never frozen.
        assert_eq!(fs::read_to_string(d.join("freezer.state")).unwrap(), "THAWED\n");
    }

    #[test]
    fn kill_all_with_only_zombies_counted_lists_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        // pids.current also counts unreaped zombies; cgroup.procs does not.
        fs::write(d.join("pids.current"), "3\n").unwrap();
        fs::write(d.join("cgroup.procs"), "").unwrap();
        fs::write(d.join("freezer.state"), "THAWED\n").unwrap();
        let check = EmptyCheck::PidsCounter;
        kill_all(&[d.to_path_buf()], index(), Duration::from_millis(10), check).unwrap();
        assert_eq!(fs::read_to_string(d.join("freezer.state")).unwrap(), "THAWED\n");
    }

    #[test]
    fn kill_all_freezes_kills_thaws_and_reports_survivors() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let mut child = std::process::Command::new("sleep").arg("60").spawn().unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        // A fake cgroup that keeps listing the pid after it died.
        fs::write(d.join("cgroup.procs"), format!("{pid}\n")).unwrap();
        fs::write(d.join("pids.current"), "1\n").unwrap();
        fs::write(d.join("freezer.state"), "THAWED\n").unwrap();
        let timeout = Duration::from_millis(100);
        let err = kill_all(&[d.to_path_buf()], index(), timeout, EmptyCheck::PidsCounter).unwrap_err();
        match err {
            CgroupError::KillTimeout { pids, timeout: t, .. } => {
                assert_eq!(pids, vec![pid]);
                assert_eq!(t, timeout);
            }
            other => panic!("unexpected {other}"),
        }
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(child.wait().unwrap().signal(), Some(9));
        // Never left frozen, even on error.
        assert_eq!(fs::read_to_string(d.join("freezer.state")).unwrap().trim(), "THAWED");
    }
}
