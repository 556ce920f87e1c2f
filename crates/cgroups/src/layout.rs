//! Which cgroup hierarchies exist on this host, detected once at start-up
//! from `/proc/self/mountinfo`.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{CgroupError, Result};

/// The controllers a v2 layout delegates into the Bytesbox subtree.
pub(crate) const V2_CONTROLLERS: &[&str] = &["memory", "pids", "cpu"];

/// The v1 controllers Bytesbox needs, each in some mounted hierarchy.
const V1_CONTROLLERS: &[&str] = &["memory", "pids", "cpu", "cpuacct", "freezer"];

pub(crate) const MOUNTINFO: &str = "/proc/self/mountinfo";

/// The cgroup interface in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CgroupVersion {
    /// One hierarchy per controller (or per co-mounted group of controllers).
    V1,
    /// The single unified hierarchy.
    V2,
}

/// Mount points of the v1 hierarchies Bytesbox uses. Two fields may name the
/// same directory when controllers are co-mounted (`cpu,cpuacct`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V1Paths {
    /// The hierarchy with the `memory` controller.
    pub memory: PathBuf,
    /// The hierarchy with the `pids` controller.
    pub pids: PathBuf,
    /// The hierarchy with the `cpu` controller.
    pub cpu: PathBuf,
    /// The hierarchy with the `cpuacct` controller.
    pub cpuacct: PathBuf,
    /// The hierarchy with the `freezer` controller.
    pub freezer: PathBuf,
}

/// The detected (or explicitly given) cgroup mounts. Cheap to clone: every
/// [`crate::Cgroup`] keeps one.
#[derive(Clone, Debug)]
pub struct CgroupLayout {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    /// Distinct hierarchy roots. On v1 the freezer comes first, so a process
    /// joining through [`crate::Cgroup::procs_files`] in order becomes
    /// freezable (and so killable by `kill_all`) before anything else.
    pub(crate) hierarchies: Vec<PathBuf>,
    pub(crate) kind: Kind,
}

/// Indexes into [`Inner::hierarchies`] per v1 controller.
#[derive(Debug, Clone, Copy)]
pub(crate) struct V1Index {
    pub(crate) memory: usize,
    pub(crate) pids: usize,
    pub(crate) cpu: usize,
    pub(crate) cpuacct: usize,
    pub(crate) freezer: usize,
}

#[derive(Debug)]
pub(crate) enum Kind {
    V1(V1Index),
    V2 {
        /// Controllers to enable in `cgroup.subtree_control` of ancestors.
        controllers: &'static [&'static str],
    },
}

impl CgroupLayout {
    /// Detects the layout of this host from `/proc/self/mountinfo`.
    pub fn detect() -> Result<CgroupLayout> {
        let text = fs::read_to_string(MOUNTINFO)
            .map_err(|source| CgroupError::Mountinfo { path: PathBuf::from(MOUNTINFO), source })?;
        Self::from_mountinfo(&text)
    }

    /// Chooses a layout from a mountinfo text. Prefers v2 when a cgroup2
    /// mount offers `memory`, `pids` and `cpu` (read from its
    /// `cgroup.controllers`), else v1 when `memory`, `pids`, `cpu`, `cpuacct`
    /// and `freezer` are all mounted. Hybrid hosts, whose cgroup2 mount has
    /// no controllers, therefore get v1. The error names what is missing.
    pub fn from_mountinfo(text: &str) -> Result<CgroupLayout> {
        from_mountinfo_with(text, &mut |mount| fs::read_to_string(mount.join("cgroup.controllers")))
    }

    /// A v1 layout with explicit mount points (tests use a temp directory).
    pub fn v1(paths: V1Paths) -> CgroupLayout {
        let mut hierarchies: Vec<PathBuf> = Vec::with_capacity(5);
        let mut index_of = |path: PathBuf| match hierarchies.iter().position(|h| *h == path) {
            Some(i) => i,
            None => {
                hierarchies.push(path);
                hierarchies.len() - 1
            }
        };
        // Order matters: see `Inner::hierarchies`.
        let freezer = index_of(paths.freezer);
        let pids = index_of(paths.pids);
        let memory = index_of(paths.memory);
        let cpu = index_of(paths.cpu);
        let cpuacct = index_of(paths.cpuacct);
        CgroupLayout {
            inner: Arc::new(Inner { hierarchies, kind: Kind::V1(V1Index { memory, pids, cpu, cpuacct, freezer }) }),
        }
    }

    /// A v2 layout rooted at `root` (normally `/sys/fs/cgroup`) that enables
    /// `memory`, `pids` and `cpu` for the Bytesbox subtree.
    pub fn v2(root: PathBuf) -> CgroupLayout {
        Self::v2_with(root, V2_CONTROLLERS)
    }

    /// A v2 layout that enables no controllers: cgroups can be created,
    /// joined, listed, killed and removed, but [`crate::Cgroup::apply`] and
    /// [`crate::Cgroup::stats`] fail for lack of interface files. Meant for
    /// the controller-less cgroup2 mount of hybrid hosts (tests).
    pub fn v2_grouping_only(root: PathBuf) -> CgroupLayout {
        Self::v2_with(root, &[])
    }

    fn v2_with(root: PathBuf, controllers: &'static [&'static str]) -> CgroupLayout {
        CgroupLayout { inner: Arc::new(Inner { hierarchies: vec![root], kind: Kind::V2 { controllers } }) }
    }

    /// Which interface this layout drives.
    pub fn version(&self) -> CgroupVersion {
        match self.inner.kind {
            Kind::V1(_) => CgroupVersion::V1,
            Kind::V2 { .. } => CgroupVersion::V2,
        }
    }

    /// The distinct hierarchy roots (mount points) in use: five or fewer on
    /// v1, exactly one on v2.
    pub fn hierarchies(&self) -> &[PathBuf] {
        &self.inner.hierarchies
    }
}

/// One cgroup-related line of mountinfo.
pub(crate) struct Mount {
    pub(crate) point: PathBuf,
    /// `cgroup` or `cgroup2`.
    pub(crate) fstype: String,
    pub(crate) super_options: String,
}

/// The cgroup and cgroup2 mounts of a mountinfo text, in its order.
pub(crate) fn mounts(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

/// [`CgroupLayout::from_mountinfo`] with the `cgroup.controllers` reader
/// injected, so fixtures need no real mounts.
pub(crate) fn from_mountinfo_with(
    text: &str,
    read_controllers: &mut dyn FnMut(&Path) -> io::Result<String>,
) -> Result<CgroupLayout> {
    let mounts = mounts(text);

    let mut v2_problem = String::from("cgroup v2 is not mounted");
    for mount in mounts.iter().filter(|m| m.fstype == "cgroup2") {
        let available: BTreeSet<String> = match read_controllers(&mount.point) {
            Ok(list) => list.split_whitespace().map(str::to_owned).collect(),
            Err(e) => {
                v2_problem = format!("cannot read {:?}: {e}", mount.point.join("cgroup.controllers"));
                continue;
            }
        };
        let missing: Vec<&str> = V2_CONTROLLERS.iter().copied().filter(|c| !available.contains(*c)).collect();
        if missing.is_empty() {
            return Ok(CgroupLayout::v2(mount.point.clone()));
        }
        let available = available.into_iter().collect::<Vec<_>>().join(", ");
        v2_problem = format!(
            "cgroup v2 at {} lacks controllers {} (available: {})",
            mount.point.display(),
            missing.join(", "),
            if available.is_empty() { "none" } else { &available },
        );
    }

    // The first mount of each v1 controller wins; later ones are bind
    // mounts or leftovers of the same hierarchy.
    let find_v1 = |controller: &str| {
        mounts
            .iter()
            .filter(|m| m.fstype == "cgroup")
            .find(|m| m.super_options.split(',').any(|o| o == controller))
            .map(|m| m.point.clone())
    };
    if let (Some(memory), Some(pids), Some(cpu), Some(cpuacct), Some(freezer)) =
        (find_v1("memory"), find_v1("pids"), find_v1("cpu"), find_v1("cpuacct"), find_v1("freezer"))
    {
        return Ok(CgroupLayout::v1(V1Paths { memory, pids, cpu, cpuacct, freezer }));
    }
    let missing: Vec<&str> = V1_CONTROLLERS.iter().copied().filter(|c| find_v1(c).is_none()).collect();
    Err(CgroupError::NoUsableSetup {
        reason: format!("{v2_problem}; cgroup v1 lacks controllers {}", missing.join(", ")),
    })
}

/// Parses `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw`:
/// the mount point is field 5, and after the `-` separator (there may be any
/// number of optional fields before it) come fstype, source, super options.
fn parse_line(line: &str) -> Option<Mount> {
    let mut fields = line.split(' ');
    let point = fields.nth(4)?;
    let mut after_separator = fields.skip_while(|f| *f != "-").skip(1);
    let fstype = after_separator.next()?;
    if fstype != "cgroup" && fstype != "cgroup2" {
        return None;
    }
    let _source = after_separator.next()?;
    let super_options = after_separator.next().unwrap_or("");
    Some(Mount {
        point: PathBuf::from(unescape(point)),
        fstype: fstype.to_owned(),
        super_options: super_options.to_owned(),
    })
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo` octal.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let octal = bytes
                .get(i + 1..i + 4)
                .and_then(|digits| std::str::from_utf8(digits).ok())
                .and_then(|digits| u8::from_str_radix(digits, 8).ok());
            if let Some(byte) = octal {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// This development machine: v1 controllers mounted one per hierarchy
    /// under a tmpfs, plus a cgroup2 mount that only offers hugetlb.
    const HYBRID: &str = "\
22 1 0:20 / / rw,relatime - overlay overlay rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    /// A systemd v1 host (e.g. CentOS 7): optional `shared:N` fields and
    /// `cpu,cpuacct` co-mounted.
    const V1_ONLY: &str = "\
18 60 0:17 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw
24 18 0:20 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:7 - tmpfs tmpfs ro,mode=755
25 24 0:21 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:8 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
28 24 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
29 24 0:25 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,memory
30 24 0:26 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,pids
31 24 0:27 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,freezer
32 24 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,net_cls,net_prio
";

    /// A modern systemd host: only the unified hierarchy.
    const PURE_V2: &str = "\
22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw
26 22 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
30 26 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

    fn controllers(list: &'static str) -> impl FnMut(&Path) -> io::Result<String> {
        move |_| Ok(list.to_owned())
    }

    fn v1_index(layout: &CgroupLayout) -> V1Index {
        match layout.inner.kind {
            Kind::V1(index) => index,
            Kind::V2 { .. } => panic!("expected v1"),
        }
    }

    #[test]
    fn hybrid_host_with_empty_unified_mount_uses_v1() {
        let mut asked = Vec::new();
        let layout = from_mountinfo_with(HYBRID, &mut |p: &Path| {
            asked.push(p.to_path_buf());
            Ok("hugetlb\n".to_owned())
        })
        .unwrap();
        assert_eq!(asked, vec![PathBuf::from("/sys/fs/cgroup/unified")]);
        assert_eq!(layout.version(), CgroupVersion::V1);
        let h = layout.hierarchies();
        let paths: Vec<&str> = h.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(
            paths,
            [
                "/sys/fs/cgroup/freezer",
                "/sys/fs/cgroup/pids",
                "/sys/fs/cgroup/memory",
                "/sys/fs/cgroup/cpu",
                "/sys/fs/cgroup/cpuacct",
            ]
        );
        let i = v1_index(&layout);
        assert_eq!(h[i.memory], Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(h[i.cpuacct], Path::new("/sys/fs/cgroup/cpuacct"));
        assert_eq!(h[i.freezer], Path::new("/sys/fs/cgroup/freezer"));
    }

    #[test]
    fn hybrid_host_whose_unified_mount_has_the_controllers_uses_v2() {
        let layout = from_mountinfo_with(HYBRID, &mut controllers("cpuset cpu io memory pids\n")).unwrap();
        assert_eq!(layout.version(), CgroupVersion::V2);
        assert_eq!(layout.hierarchies(), [PathBuf::from("/sys/fs/cgroup/unified")]);
    }

    #[test]
    fn v1_host_with_comounted_cpu_cpuacct_shares_one_hierarchy() {
        let layout = from_mountinfo_with(V1_ONLY, &mut |_: &Path| -> io::Result<String> {
            panic!("no cgroup2 mount to ask about")
        })
        .unwrap();
        assert_eq!(layout.version(), CgroupVersion::V1);
        assert_eq!(layout.hierarchies().len(), 4);
        let i = v1_index(&layout);
        assert_eq!(i.cpu, i.cpuacct);
        assert_eq!(layout.hierarchies()[i.cpu], Path::new("/sys/fs/cgroup/cpu,cpuacct"));
    }

    #[test]
    fn pure_v2_host_uses_v2() {
        let layout =
            from_mountinfo_with(PURE_V2, &mut controllers("cpuset cpu io memory hugetlb pids rdma misc\n")).unwrap();
        assert_eq!(layout.version(), CgroupVersion::V2);
        assert_eq!(layout.hierarchies(), [PathBuf::from("/sys/fs/cgroup")]);
    }

    #[test]
    fn pure_v2_host_without_delegated_controllers_names_them() {
        let err = from_mountinfo_with(PURE_V2, &mut controllers("cpuset io\n")).unwrap_err().to_string();
        assert_eq!(
            err,
            "no usable cgroup setup: cgroup v2 at /sys/fs/cgroup lacks controllers \
             memory, pids, cpu (available: cpuset, io); cgroup v1 lacks controllers \
             memory, pids, cpu, cpuacct, freezer"
        );
    }

    #[test]
    fn hybrid_host_without_freezer_names_both_problems() {
        let text: String = HYBRID.lines().filter(|l| !l.contains("freezer")).map(|l| format!("{l}\n")).collect();
        let err = from_mountinfo_with(&text, &mut controllers("")).unwrap_err().to_string();
        assert_eq!(
            err,
            "no usable cgroup setup: cgroup v2 at /sys/fs/cgroup/unified lacks controllers \
             memory, pids, cpu (available: none); cgroup v1 lacks controllers freezer"
        );
    }

    #[test]
    fn unreadable_controllers_file_is_reported() {
        let err = from_mountinfo_with(PURE_V2, &mut |_: &Path| -> io::Result<String> {
            Err(io::Error::from(io::ErrorKind::PermissionDenied))
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("cannot read \"/sys/fs/cgroup/cgroup.controllers\""), "{err}");
    }

    #[test]
    fn no_cgroups_at_all() {
        let err = from_mountinfo_with("22 1 0:20 / / rw - overlay overlay rw\n", &mut controllers(""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cgroup v2 is not mounted"), "{err}");
        assert!(err.contains("memory, pids, cpu, cpuacct, freezer"), "{err}");
    }

    #[test]
    fn escaped_mount_points_are_decoded() {
        let text = HYBRID.replace("/sys/fs/cgroup/memory ", "/sys/fs/cgroup/my\\040memory ");
        let layout = from_mountinfo_with(&text, &mut controllers("")).unwrap();
        let i = v1_index(&layout);
        assert_eq!(layout.hierarchies()[i.memory], Path::new("/sys/fs/cgroup/my memory"));
        assert_eq!(unescape("a\\134b\\011"), "a\\b\t");
        assert_eq!(unescape("trailing\\"), "trailing\\");
    }
}
