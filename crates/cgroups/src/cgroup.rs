//! One cgroup, present at the same relative path in every hierarchy of the
//! layout.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cgfs;
use crate::error::{CgroupError, Result};
use crate::layout::{CgroupLayout, Kind};
use crate::stats::CounterStart;
use crate::v1::EmptyCheck;
use crate::{v1, v2, CgroupLimits, CgroupStats, CpuWeight, ROOT_NAME};

/// How long [`Cgroup::remove`] spends killing leftovers after EBUSY.
const REMOVE_KILL_TIMEOUT: Duration = Duration::from_secs(2);

/// How long [`Cgroup::remove`] retries rmdir once the cgroup is empty: the
/// kernel drops a dead process from the populated count at exit, so this is
/// only for stragglers.
const REMOVE_RETRY: Duration = Duration::from_millis(200);

/// Longest accepted cgroup name (a directory name on cgroupfs).
const MAX_NAME_LEN: usize = 255;

/// A cgroup at `<hierarchy>/<relative>` in each hierarchy of a layout.
/// Dropping it does nothing; call [`Cgroup::remove`].
#[derive(Clone, Debug)]
pub struct Cgroup {
    layout: CgroupLayout,
    relative: PathBuf,
    /// `<hierarchy>/<relative>`, in the order of `layout.hierarchies()`.
    dirs: Vec<PathBuf>,
    /// v2: every ancestor delegates our controllers (true when this crate
    /// created the cgroup), so a child only has to enable them here.
    ancestors_ready: bool,
    /// Set when the cgroup was reused: where its counters stood when its
    /// new tenant began.
    counters_from: Option<Arc<CounterStart>>,
}

/// Whether making a cgroup may make its missing ancestors.
#[derive(Clone, Copy, Debug)]
enum Ancestors {
    Create,
    MustExist,
}

impl Cgroup {
    /// Creates the cgroup `relative` (which must start with `bytesbox/`) in
    /// every hierarchy, with any missing ancestors. On v2, enables the
    /// layout's controllers in `cgroup.subtree_control` of every ancestor,
    /// from the mount root down to the parent. An existing cgroup is
    /// accepted. On failure, the directories this call made are removed.
    pub fn create(layout: &CgroupLayout, relative: &Path) -> Result<Cgroup> {
        let mut cgroup = Cgroup::open_existing(layout, relative)?;
        cgroup.make(false, Ancestors::Create)?;
        cgroup.ancestors_ready = true;
        Ok(cgroup)
    }

    /// A handle to a cgroup that already exists (a reaper looking at another
    /// instance's leftovers). Touches nothing; the path is only validated.
    pub fn open_existing(layout: &CgroupLayout, relative: &Path) -> Result<Cgroup> {
        validate_relative(relative)?;
        Ok(Cgroup::at(layout.clone(), relative.to_path_buf()))
    }

    fn at(layout: CgroupLayout, relative: PathBuf) -> Cgroup {
        let dirs = layout.hierarchies().iter().map(|root| root.join(&relative)).collect();
        Cgroup { layout, relative, dirs, ancestors_ready: false, counters_from: None }
    }

    /// Creates the child cgroup `name` (ASCII letters, digits, `-`, `_`).
    /// This cgroup must exist: a child never brings a removed parent back
    /// (a run starting as its box is torn down would otherwise leave the
    /// box's cgroup behind). On v2 this enables the controllers in this
    /// cgroup's `cgroup.subtree_control`, which fails if this cgroup holds
    /// processes: see the `init` leaf convention in the crate docs.
    pub fn child(&self, name: &str) -> Result<Cgroup> {
        validate_name(name.as_ref())?;
        let mut child = Cgroup::at(self.layout.clone(), self.relative.join(name));
        child.make(self.ancestors_ready, Ancestors::MustExist)?;
        child.ancestors_ready = true;
        Ok(child)
    }

    /// mkdir in every hierarchy, then (v2) delegate controllers; undo the
    /// mkdirs if anything fails.
    fn make(&self, parent_ancestors_ready: bool, ancestors: Ancestors) -> Result<()> {
        let mut created = Vec::new();
        let result = self.make_steps(parent_ancestors_ready, ancestors, &mut created);
        if result.is_err() {
            cgfs::undo_mkdirs(&created);
        }
        result
    }

    fn make_steps(&self, parent_ancestors_ready: bool, ancestors: Ancestors, created: &mut Vec<PathBuf>) -> Result<()> {
        for (root, dir) in self.layout.hierarchies().iter().zip(&self.dirs) {
            match ancestors {
                Ancestors::Create => cgfs::mkdir_under(root, dir, created)?,
                Ancestors::MustExist => cgfs::mkdir_leaf(dir, created)?,
            }
        }
        let Kind::V2 { controllers } = self.layout.inner.kind else {
            return Ok(());
        };
        if controllers.is_empty() {
            return Ok(());
        }
        let root = &self.layout.hierarchies()[0];
        let parent = self.relative.parent().unwrap_or(Path::new(""));
        if parent_ancestors_ready {
            return v2::enable_controllers(&root.join(parent), controllers);
        }
        // `ancestors()` yields parent, grandparent, ..., "" (the root);
        // delegation has to go top-down.
        let mut ancestors: Vec<&Path> = parent.ancestors().collect();
        ancestors.reverse();
        for ancestor in ancestors {
            v2::enable_controllers(&root.join(ancestor), controllers)?;
        }
        Ok(())
    }

    /// Writes the given limits; `None` fields are left alone. On v1 a run's
    /// CPU quota may not exceed its box's (the kernel says EINVAL).
    pub fn apply(&self, limits: &CgroupLimits) -> Result<()> {
        limits.validate()?;
        match self.layout.inner.kind {
            Kind::V1(index) => v1::apply(&self.dirs, index, limits),
            Kind::V2 { .. } => v2::apply(&self.dirs[0], limits),
        }
    }

    /// Sets how this cgroup weighs against its siblings for CPU time. A
    /// layout without the CPU controller here (v2 grouping only) has
    /// nothing to weigh: that is not an error.
    pub fn set_cpu_weight(&self, weight: CpuWeight) -> Result<()> {
        let (file, value) = match self.layout.inner.kind {
            Kind::V1(index) => (self.dirs[index.cpu].join("cpu.shares"), weight.v1_shares()),
            Kind::V2 { .. } => (self.dirs[0].join("cpu.weight"), weight.v2_weight()),
        };
        match cgfs::write_raw(&file, value) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(CgroupError::Write { path: file, value: value.to_owned(), source }),
        }
    }

    /// The `cgroup.procs` file of this cgroup in each distinct hierarchy. A
    /// process joins the cgroup by writing `0` to each of them (in this
    /// order: on v1 the freezer comes first, so a half-joined process is
    /// already killable).
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// Moves the process `pid` (all its threads) into this cgroup.
    pub fn add_pid(&self, pid: i32) -> Result<()> {
        if pid <= 0 {
            return Err(CgroupError::InvalidPid(pid));
        }
        let value = pid.to_string();
        for file in self.procs_files() {
            cgfs::write(&file, &value)?;
        }
        Ok(())
    }

    /// The processes directly in this cgroup (not in its children).
    pub fn pids(&self) -> Result<Vec<i32>> {
        cgfs::read_procs(self.procs_dir())
    }

    /// Whether a process is directly in this cgroup: cheaper than
    /// [`Cgroup::pids`] (one read of its first bytes), for the check after
    /// every run.
    pub fn has_processes(&self) -> Result<bool> {
        cgfs::has_procs(self.procs_dir())
    }

    /// Where the processes directly in this cgroup are listed: the freezer
    /// hierarchy on v1 (every joined process is there, see
    /// [`Cgroup::procs_files`]), the unified one on v2.
    fn procs_dir(&self) -> &Path {
        match self.layout.inner.kind {
            Kind::V1(index) => &self.dirs[index.freezer],
            Kind::V2 { .. } => &self.dirs[0],
        }
    }

    /// CPU time (user + system) of this cgroup and its descendants, in
    /// nanoseconds: one file read, for frequent budget checks.
    pub fn cpu_usage_ns(&self) -> Result<u64> {
        let used = self.raw_cpu_usage_ns()?;
        Ok(used.saturating_sub(self.counters_from.as_ref().map_or(0, |from| from.cpu_usage_ns)))
    }

    fn raw_cpu_usage_ns(&self) -> Result<u64> {
        match self.layout.inner.kind {
            Kind::V1(index) => v1::cpu_usage_ns(&self.dirs, index),
            Kind::V2 { .. } => v2::cpu_usage_ns(&self.dirs[0]),
        }
    }

    /// Memory in use now by this cgroup and its descendants: one read, for
    /// callers that look at many cgroups often.
    pub fn memory_current_bytes(&self) -> Result<u64> {
        match self.layout.inner.kind {
            Kind::V1(index) => v1::memory_current_bytes(&self.dirs, index),
            Kind::V2 { .. } => v2::memory_current_bytes(&self.dirs[0]),
        }
    }

    /// CPU, memory and OOM numbers of this cgroup and its descendants
    /// (since [`Cgroup::restart_counters`], if it was called).
    pub fn stats(&self) -> Result<CgroupStats> {
        let mut stats = match self.layout.inner.kind {
            Kind::V1(index) => v1::stats(&self.dirs, index)?,
            Kind::V2 { .. } => v2::stats(&self.dirs[0], self.counters_from.as_deref())?,
        };
        if let Some(from) = &self.counters_from {
            stats.cpu_usage_ns = stats.cpu_usage_ns.saturating_sub(from.cpu_usage_ns);
            stats.oom_kills = stats.oom_kills.saturating_sub(from.oom_kills);
        }
        Ok(stats)
    }

    /// Starts this handle's counters afresh, for a reused (empty) cgroup
    /// handed to a new tenant: from now on [`Cgroup::stats`] and
    /// [`Cgroup::cpu_usage_ns`] through this handle and its clones count
    /// only what comes after, and the memory peak starts from the current
    /// use. Errors where the kernel cannot reset the peak (cgroup v2 before
    /// Linux 6.12); such a cgroup is not for reuse.
    pub fn restart_counters(&mut self) -> Result<()> {
        let peak = match self.layout.inner.kind {
            Kind::V1(index) => {
                v1::reset_memory_peak(&self.dirs, index)?;
                None
            }
            Kind::V2 { .. } => Some(v2::reset_memory_peak(&self.dirs[0])?),
        };
        self.counters_from = None;
        let raw = self.stats()?;
        self.counters_from =
            Some(Arc::new(CounterStart { cpu_usage_ns: raw.cpu_usage_ns, oom_kills: raw.oom_kills, peak }));
        Ok(())
    }

    /// SIGKILLs every process in this cgroup and all cgroups below it,
    /// including processes forking as fast as they can, and waits until
    /// they are gone (from every hierarchy, on v1). An empty or missing
    /// cgroup returns at once. Errors with [`CgroupError::KillTimeout`] if
    /// processes are still there after `timeout`.
    pub fn kill_all(&self, timeout: Duration) -> Result<()> {
        self.kill_all_checked(timeout, EmptyCheck::PidsCounter)
    }

    fn kill_all_checked(&self, timeout: Duration, check: EmptyCheck) -> Result<()> {
        match self.layout.inner.kind {
            Kind::V1(index) => v1::kill_all(&self.dirs, index, timeout, check),
            // cgroup.events is already a single read covering the subtree.
            Kind::V2 { .. } => v2::kill_all(&self.dirs[0], timeout),
        }
    }

    /// Removes this cgroup and every cgroup below it from every hierarchy,
    /// deepest first. Already-removed directories are fine. If processes
    /// are left (EBUSY), kills them and retries briefly.
    pub fn remove(&self) -> Result<()> {
        match self.rmdir_all() {
            Err(CgroupError::Remove { source, .. }) if cgfs::is_busy(&source) => {}
            other => return other,
        }
        self.kill_all_checked(REMOVE_KILL_TIMEOUT, EmptyCheck::EveryHierarchy)?;
        let deadline = Instant::now() + REMOVE_RETRY;
        let mut last_error = None;
        let removed = cgfs::poll_until(deadline, || match self.rmdir_all() {
            Ok(()) => Ok(true),
            Err(CgroupError::Remove { path, source }) if cgfs::is_busy(&source) => {
                last_error = Some(CgroupError::Remove { path, source });
                Ok(false)
            }
            Err(e) => Err(e),
        })?;
        match (removed, last_error) {
            (false, Some(e)) => Err(e),
            _ => Ok(()),
        }
    }

    fn rmdir_all(&self) -> Result<()> {
        for dir in &self.dirs {
            cgfs::rmdir_tree(dir)?;
        }
        Ok(())
    }

    /// Names of the child cgroups, in any hierarchy (a half-created child
    /// shows up too), sorted. Empty if this cgroup does not exist.
    pub fn list_children(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        for dir in &self.dirs {
            for name in cgfs::subdirs(dir)? {
                // We only ever create ASCII names; anything else is not ours.
                if let Ok(name) = name.into_string() {
                    names.push(name);
                }
            }
        }
        names.sort_unstable();
        names.dedup();
        Ok(names)
    }

    /// The path below each hierarchy root, e.g. `bytesbox/i42-7/box1/run3`.
    pub fn relative(&self) -> &Path {
        &self.relative
    }

    /// This cgroup's directory in each hierarchy, in the order of
    /// [`CgroupLayout::hierarchies`].
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The layout this cgroup lives in.
    pub fn layout(&self) -> &CgroupLayout {
        &self.layout
    }
}

/// `bytesbox` followed by valid names: everything this crate touches lies
/// under the Bytesbox root, so a bug elsewhere cannot freeze, kill or remove
/// a system cgroup.
fn validate_relative(relative: &Path) -> Result<()> {
    let invalid = |reason| CgroupError::InvalidPath { path: relative.to_path_buf(), reason };
    let mut components = relative.components();
    match components.next() {
        Some(Component::Normal(first)) if first == ROOT_NAME => {}
        _ => return Err(invalid("must be relative and start with `bytesbox`")),
    }
    for component in components {
        match component {
            Component::Normal(name) => validate_name(name)?,
            _ => return Err(invalid("may only contain plain names")),
        }
    }
    Ok(())
}

/// ASCII letters, digits, `-` and `_`. No `.` means no clash with interface
/// files (`memory.max`, `cgroup.procs`); the dot-less v1 files are
/// refused explicitly.
fn validate_name(name: &std::ffi::OsStr) -> Result<()> {
    let invalid = |reason| CgroupError::InvalidPath { path: PathBuf::from(name), reason };
    let bytes = name.as_encoded_bytes();
    if bytes.is_empty() || bytes.len() > MAX_NAME_LEN {
        return Err(invalid("names must be 1 to 255 bytes long"));
    }
    if !bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_') {
        return Err(invalid("names may only contain ASCII letters, digits, `-` and `_`"));
    }
    if ["tasks", "notify_on_release", "release_agent"].iter().any(|reserved| name == *reserved) {
        return Err(invalid("name is a cgroup v1 interface file"));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! Against plain directories that mimic cgroupfs. A plain mkdir does not
    //! conjure interface files, so each test writes the files it needs.

    use std::fs;

    use super::*;
    use crate::{CgroupVersion, V1Paths};

    fn v1_fake(root: &Path, comounted_cpu: bool) -> CgroupLayout {
        let cpuacct = if comounted_cpu { "cpu,cpuacct" } else { "cpuacct" };
        let paths = V1Paths {
            memory: root.join("memory"),
            pids: root.join("pids"),
            cpu: root.join(if comounted_cpu { "cpu,cpuacct" } else { "cpu" }),
            cpuacct: root.join(cpuacct),
            freezer: root.join("freezer"),
        };
        for dir in [&paths.memory, &paths.pids, &paths.cpu, &paths.cpuacct, &paths.freezer] {
            fs::create_dir_all(dir).unwrap();
        }
        CgroupLayout::v1(paths)
    }

    fn touch(dir: &Path, files: &[(&str, &str)]) {
        for (name, content) in files {
            fs::write(dir.join(name), content).unwrap();
        }
    }

    fn read(path: PathBuf) -> String {
        fs::read_to_string(path).unwrap()
    }

    #[test]
    fn v1_create_apply_and_join() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let layout = v1_fake(root, true);
        assert_eq!(layout.version(), CgroupVersion::V1);
        let sandbox = Cgroup::create(&layout, Path::new("bytesbox/t1/box")).unwrap();
        let names = ["freezer", "pids", "memory", "cpu,cpuacct"];
        let expected: Vec<PathBuf> = names.iter().map(|h| root.join(h).join("bytesbox/t1/box/cgroup.procs")).collect();
        assert_eq!(sandbox.procs_files(), expected);
        for h in names {
            assert!(root.join(h).join("bytesbox/t1/box").is_dir(), "{h}");
        }

        let run = sandbox.child("run-1").unwrap();
        let mem = root.join("memory/bytesbox/t1/box/run-1");
        let cpu = root.join("cpu,cpuacct/bytesbox/t1/box/run-1");
        let pids = root.join("pids/bytesbox/t1/box/run-1");
        touch(
            &mem,
            &[
                ("memory.limit_in_bytes", "9223372036854771712\n"),
                ("memory.memsw.limit_in_bytes", "9223372036854771712\n"),
                ("memory.swappiness", "60\n"),
            ],
        );
        touch(&cpu, &[("cpu.cfs_period_us", "100000\n"), ("cpu.cfs_quota_us", "-1\n")]);
        touch(&pids, &[("pids.max", "max\n")]);
        run.apply(&CgroupLimits { memory_bytes: Some(64 << 20), pids: Some(32), cpu_millicores: Some(1500) }).unwrap();
        assert_eq!(read(mem.join("memory.limit_in_bytes")), "67108864");
        assert_eq!(read(mem.join("memory.memsw.limit_in_bytes")), "67108864");
        // Swap accounting is on, so swappiness is not touched.
        assert_eq!(read(mem.join("memory.swappiness")), "60\n");
        assert_eq!(read(cpu.join("cpu.cfs_period_us")), "100000");
        assert_eq!(read(cpu.join("cpu.cfs_quota_us")), "150000");
        assert_eq!(read(pids.join("pids.max")), "32");

        // Only the given limits are written.
        run.apply(&CgroupLimits { pids: Some(7), ..CgroupLimits::default() }).unwrap();
        assert_eq!(read(pids.join("pids.max")), "7");
        assert_eq!(read(mem.join("memory.limit_in_bytes")), "67108864");

        // A limit the kernel would refuse is refused before any write.
        let err =
            run.apply(&CgroupLimits { pids: Some(1), cpu_millicores: Some(5), ..CgroupLimits::default() }).unwrap_err();
        assert!(matches!(err, CgroupError::InvalidLimit(_)), "{err}");
        assert_eq!(read(pids.join("pids.max")), "7");

        for file in run.procs_files() {
            fs::write(file, "").unwrap();
        }
        run.add_pid(4242).unwrap();
        for file in run.procs_files() {
            assert_eq!(read(file), "4242");
        }
        assert_eq!(run.pids().unwrap(), vec![4242]);
        assert!(matches!(run.add_pid(0), Err(CgroupError::InvalidPid(0))));
        assert!(matches!(run.add_pid(-1), Err(CgroupError::InvalidPid(-1))));
    }

    #[test]
    fn v1_stats_come_from_the_memory_and_cpuacct_hierarchies() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let layout = v1_fake(root, false);
        assert_eq!(layout.hierarchies().len(), 5);
        let cg = Cgroup::create(&layout, Path::new("bytesbox/t2/box/run")).unwrap();
        let mem = root.join("memory/bytesbox/t2/box/run");
        touch(
            &mem,
            &[
                ("memory.max_usage_in_bytes", "2097152\n"),
                ("memory.usage_in_bytes", "1048576\n"),
                ("memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"),
            ],
        );
        touch(&root.join("cpuacct/bytesbox/t2/box/run"), &[("cpuacct.usage", "5000000\n")]);
        assert_eq!(
            cg.stats().unwrap(),
            CgroupStats {
                cpu_usage_ns: 5_000_000,
                memory_peak_bytes: 2 << 20,
                memory_current_bytes: 1 << 20,
                oom_kills: 1,
            }
        );
    }

    #[test]
    fn a_child_never_brings_a_removed_parent_back() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let layout = v1_fake(root, false);
        let sandbox = Cgroup::create(&layout, Path::new("bytesbox/t6/box")).unwrap();
        assert!(sandbox.child("run1").is_ok());
        // The box is torn down (its directories removed) while a run of it
        // is starting.
        for h in ["memory", "pids", "cpu", "cpuacct", "freezer"] {
            fs::remove_dir_all(root.join(h).join("bytesbox/t6/box")).unwrap();
        }
        let err = sandbox.child("run2").unwrap_err();
        assert!(matches!(err, CgroupError::Create { .. }), "{err}");
        for h in ["memory", "pids", "cpu", "cpuacct", "freezer"] {
            assert!(!root.join(h).join("bytesbox/t6/box").exists(), "{h}: the removed box came back");
        }
    }

    #[test]
    fn v1_failure_in_a_later_hierarchy_undoes_earlier_mkdirs() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let layout = v1_fake(root, false);
        // Pre-existing instance dir in the memory hierarchy must survive.
        fs::create_dir_all(root.join("memory/bytesbox/t3")).unwrap();
        // cpuacct is last in the hierarchy order; a file where the
        // instance directory should be makes its mkdir fail.
        fs::create_dir_all(root.join("cpuacct/bytesbox")).unwrap();
        fs::write(root.join("cpuacct/bytesbox/t3"), "").unwrap();

        let err = Cgroup::create(&layout, Path::new("bytesbox/t3/box")).unwrap_err();
        assert!(matches!(err, CgroupError::Create { .. }), "{err}");
        assert!(err.to_string().contains("cpuacct/bytesbox/t3"), "{err}");
        for h in ["freezer", "pids", "cpu"] {
            assert!(!root.join(h).join("bytesbox").exists(), "{h} left behind");
        }
        assert!(root.join("memory/bytesbox/t3").is_dir());
        assert!(!root.join("memory/bytesbox/t3/box").exists());
    }

    #[test]
    fn remove_takes_the_whole_subtree_from_every_hierarchy() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let layout = v1_fake(root, false);
        let instance = Cgroup::create(&layout, Path::new("bytesbox/t4")).unwrap();
        let sandbox = instance.child("box").unwrap();
        sandbox.child(crate::INIT_LEAF).unwrap();
        sandbox.child("run1").unwrap();
        // A child present in one hierarchy only (half-created) still counts.
        fs::create_dir(root.join("pids/bytesbox/t4/box/stray")).unwrap();
        assert_eq!(sandbox.list_children().unwrap(), ["init", "run1", "stray"]);
        assert_eq!(instance.list_children().unwrap(), ["box"]);

        instance.remove().unwrap();
        for h in layout.hierarchies() {
            assert!(h.is_dir());
            assert!(!h.join("bytesbox/t4").exists(), "{h:?}");
        }
        // Removing again, killing and listing a vanished cgroup are no-ops.
        sandbox.remove().unwrap();
        sandbox.kill_all(Duration::from_millis(10)).unwrap();
        assert!(sandbox.list_children().unwrap().is_empty());
    }

    #[test]
    fn v2_create_delegates_controllers_top_down_and_child_only_at_parent() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        touch(root, &[("cgroup.subtree_control", "cpu memory\n")]);
        // The instance already exists (made by an earlier box).
        fs::create_dir_all(root.join("bytesbox/t5")).unwrap();
        touch(&root.join("bytesbox"), &[("cgroup.subtree_control", "\n")]);
        touch(&root.join("bytesbox/t5"), &[("cgroup.subtree_control", "cpu memory pids\n")]);
        let layout = CgroupLayout::v2(root.to_path_buf());
        assert_eq!(layout.version(), CgroupVersion::V2);
        let sandbox = Cgroup::create(&layout, Path::new("bytesbox/t5/box")).unwrap();
        assert_eq!(read(root.join("cgroup.subtree_control")), "+pids");
        assert_eq!(read(root.join("bytesbox/cgroup.subtree_control")), "+memory +pids +cpu");
        assert_eq!(read(root.join("bytesbox/t5/cgroup.subtree_control")), "cpu memory pids\n");
        assert_eq!(sandbox.procs_files(), [root.join("bytesbox/t5/box/cgroup.procs")]);

        // child(): only the box itself is touched; prove it by making the
        // ancestors unreadable.
        fs::remove_file(root.join("cgroup.subtree_control")).unwrap();
        touch(&root.join("bytesbox/t5/box"), &[("cgroup.subtree_control", "")]);
        let run = sandbox.child("run").unwrap();
        assert_eq!(read(root.join("bytesbox/t5/box/cgroup.subtree_control")), "+memory +pids +cpu");

        let dir = root.join("bytesbox/t5/box/run");
        touch(
            &dir,
            &[
                ("memory.max", "max\n"),
                ("memory.swap.max", "max\n"),
                ("pids.max", "max\n"),
                ("cpu.max", "max 100000\n"),
            ],
        );
        run.apply(&CgroupLimits { memory_bytes: Some(128 << 20), pids: Some(64), cpu_millicores: Some(500) }).unwrap();
        assert_eq!(read(dir.join("memory.max")), "134217728");
        assert_eq!(read(dir.join("memory.swap.max")), "0");
        assert_eq!(read(dir.join("pids.max")), "64");
        assert_eq!(read(dir.join("cpu.max")), "50000 100000");

        // Without swap accounting there is no memory.swap.max: skipped.
        fs::remove_file(dir.join("memory.swap.max")).unwrap();
        run.apply(&CgroupLimits { memory_bytes: Some(1 << 20), ..CgroupLimits::default() }).unwrap();
        assert_eq!(read(dir.join("memory.max")), "1048576");
        assert!(!dir.join("memory.swap.max").exists());

        // pids() reads the unified cgroup.procs.
        touch(&dir, &[("cgroup.procs", "10\n11\n")]);
        assert_eq!(run.pids().unwrap(), vec![10, 11]);
    }

    #[test]
    fn v2_delegation_failure_undoes_the_new_directories() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        touch(root, &[("cgroup.subtree_control", "")]);
        let layout = CgroupLayout::v2(root.to_path_buf());
        // The fresh `bytesbox` dir has no cgroup.subtree_control in a fake,
        // just as a missing controller would fail on a real host.
        let err = Cgroup::create(&layout, Path::new("bytesbox/t6/box/run")).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("bytesbox/cgroup.subtree_control"), "{message}");
        assert!(!root.join("bytesbox").exists());
        assert_eq!(read(root.join("cgroup.subtree_control")), "+memory +pids +cpu");
    }

    #[test]
    fn v2_grouping_only_touches_no_subtree_control() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let layout = CgroupLayout::v2_grouping_only(root.to_path_buf());
        let cg = Cgroup::create(&layout, Path::new("bytesbox/t7/box")).unwrap();
        cg.child("run").unwrap();
        assert!(root.join("bytesbox/t7/box/run").is_dir());
        assert!(!root.join("cgroup.subtree_control").exists());
        cg.remove().unwrap();
        assert!(!root.join("bytesbox/t7/box").exists());
        // Removing a cgroup leaves its ancestors alone.
        assert!(root.join("bytesbox/t7").is_dir());
    }

    #[test]
    fn cpu_weight_is_shares_on_v1_and_weight_on_v2_and_nothing_without_the_controller() {
        let tmp = tempfile::tempdir().unwrap();
        let v1 = Cgroup::create(&v1_fake(&tmp.path().join("v1"), false), Path::new("bytesbox/t8/box")).unwrap();
        let shares = tmp.path().join("v1/cpu/bytesbox/t8/box/cpu.shares");
        touch(shares.parent().unwrap(), &[("cpu.shares", "1024\n")]);
        v1.set_cpu_weight(CpuWeight::Background).unwrap();
        assert_eq!(read(shares.clone()), "128");
        v1.set_cpu_weight(CpuWeight::Normal).unwrap();
        assert_eq!(read(shares), "1024");

        let root = tmp.path().join("v2");
        fs::create_dir(&root).unwrap();
        let layout = CgroupLayout::v2_grouping_only(root.clone());
        let v2 = Cgroup::create(&layout, Path::new("bytesbox/t8/box")).unwrap();
        // No CPU controller in this cgroup: no file, nothing to weigh.
        v2.set_cpu_weight(CpuWeight::Background).unwrap();
        assert!(!root.join("bytesbox/t8/box/cpu.weight").exists());
        touch(&root.join("bytesbox/t8/box"), &[("cpu.weight", "100\n")]);
        v2.set_cpu_weight(CpuWeight::Background).unwrap();
        assert_eq!(read(root.join("bytesbox/t8/box/cpu.weight")), "12");
        v2.set_cpu_weight(CpuWeight::Normal).unwrap();
        assert_eq!(read(root.join("bytesbox/t8/box/cpu.weight")), "100");
    }

    #[test]
    fn paths_outside_bytesbox_or_with_odd_names_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let layout = CgroupLayout::v2_grouping_only(root.to_path_buf());
        for bad in [
            "",
            "/bytesbox/x",
            "system.slice",
            "other/bytesbox",
            "bytesbox/../x",
            "bytesbox/a.b",
            "bytesbox/tasks",
            "bytesbox/a b",
        ] {
            let err = Cgroup::create(&layout, Path::new(bad)).unwrap_err();
            assert!(matches!(err, CgroupError::InvalidPath { .. }), "{bad}: {err}");
            assert!(Cgroup::open_existing(&layout, Path::new(bad)).is_err(), "{bad}");
        }
        let cg = Cgroup::create(&layout, Path::new("bytesbox/ok_1-2")).unwrap();
        for bad in ["", "a/b", "..", ".", "cgroup.procs", "notify_on_release"] {
            assert!(cg.child(bad).is_err(), "{bad:?}");
        }
        let long = "x".repeat(256);
        assert!(cg.child(&long).is_err());
        let err = cg.child("a/b").unwrap_err().to_string();
        assert_eq!(err, "invalid cgroup path \"a/b\": names may only contain ASCII letters, digits, `-` and `_`");
        // Nothing but the valid cgroup was created.
        assert_eq!(fs::read_dir(root.join("bytesbox")).unwrap().count(), 1, "stray directories");
        cg.remove().unwrap();
    }
}
