//! The box's root filesystem: a plan made of data, and its executor.
//!
//! [`plan_rootfs`] is a pure function from parameters and a view of the
//! host to a list of [`MountOp`]s, so the layout is unit-tested without
//! root. [`execute`] performs a plan through the [`MountSyscalls`] seam;
//! the real implementation is [`RealSyscalls`].
//!
//! All `path`s in ops are absolute in-box paths; the executor prefixes the
//! new root. Bind `source`s are host paths, resolved before `pivot_root`.

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use serde::{Deserialize, Serialize};

use crate::error::SetupError;

/// One step of building a root filesystem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountOp {
    /// A directory (and missing parents) in the new root.
    Mkdir { path: String, mode: u32 },
    /// A size-capped tmpfs.
    Tmpfs { path: String, size_bytes: u64, nr_inodes: u64, mode: u32, uid: u32, gid: u32 },
    /// A host file or directory, bind-mounted read-only, nosuid, nodev.
    BindReadOnly { source: String, path: String },
    /// A host device node, bind-mounted nosuid, noexec (devices allowed).
    BindDevice { source: String, path: String },
    /// A symbolic link.
    Symlink { path: String, target: String },
    /// A generated file.
    WriteFile { path: String, contents: String, mode: u32 },
    /// A fresh procfs for the box's pid namespace, hiding other users'
    /// processes (the box init).
    Proc { path: String },
    /// A private devpts instance.
    Devpts { path: String },
    /// Hides a path: `/dev/null` over a file; over a directory, a read-only
    /// bind of an empty directory of the root that is then removed (empty
    /// and unwritable, like an empty read-only tmpfs, without a
    /// superblock of its own). Missing paths are skipped.
    Mask { path: String },
    /// Makes an existing path read-only by binding it over itself.
    ReadOnly { path: String },
}

/// What kind of thing a host path is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// Nothing there.
    Missing,
    /// A directory.
    Dir,
    /// A regular file or anything else bindable as a file.
    File,
    /// A symbolic link with this target.
    Symlink(String),
}

/// Read-only questions about the host, answered for real by [`RealHost`].
pub trait HostProbe {
    /// What `path` is, without following a final symlink.
    fn kind(&self, path: &Path) -> EntryKind;
    /// Names in a directory, sorted.
    fn list(&self, path: &Path) -> Vec<String>;
}

/// The real host.
#[derive(Debug, Default)]
pub struct RealHost;

impl HostProbe for RealHost {
    fn kind(&self, path: &Path) -> EntryKind {
        match std::fs::symlink_metadata(path) {
            Err(_) => EntryKind::Missing,
            Ok(meta) if meta.file_type().is_symlink() => match std::fs::read_link(path) {
                Ok(target) => EntryKind::Symlink(target.to_string_lossy().into_owned()),
                Err(_) => EntryKind::Missing,
            },
            Ok(meta) if meta.is_dir() => EntryKind::Dir,
            Ok(_) => EntryKind::File,
        }
    }

    fn list(&self, path: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(path)
            .map(|entries| {
                entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

/// Where the read-only runtime filesystem comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RootSource {
    /// The host's runtime directories plus an allow-list of `/etc` entries.
    Host {
        /// Names under `/etc` to expose when present.
        etc_allow: Vec<String>,
    },
    /// Every top-level entry of an unpacked image directory.
    Image {
        /// Absolute host path of the image.
        dir: PathBuf,
    },
}

/// The host directories that hold runtimes.
pub const HOST_RUNTIME_DIRS: &[&str] = &["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"];

/// `/etc` entries exposed by default: what dynamic linking, TLS, time
/// zones and the catalog's runtimes read. Never `shadow`, `ssh` and the like.
pub const DEFAULT_ETC_ALLOW: &[&str] = &[
    "alternatives",
    "bash.bashrc",
    "ca-certificates",
    "ca-certificates.conf",
    "debian_version",
    "environment",
    "fonts",
    "gai.conf",
    "host.conf",
    "inputrc",
    "java-17-openjdk",
    "java-21-openjdk",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "matplotlibrc",
    "mime.types",
    "nsswitch.conf",
    "os-release",
    "perl",
    "profile",
    "protocols",
    "python3",
    "python3.11",
    "python3.12",
    "python3.13",
    "services",
    "ssl",
    "timezone",
];

/// Files under `/etc` that the box always generates itself.
const GENERATED_ETC: &[&str] = &["passwd", "group", "hosts", "hostname", "resolv.conf", "shadow", "gshadow"];

/// Image entries never bound: the box provides its own.
const IMAGE_SKIP: &[&str] = &["proc", "dev", "sys", "tmp", "run", "etc"];

/// procfs files hidden behind `/dev/null` or an empty tmpfs: the masked
/// paths of the OCI runtimes, plus the world-readable files that describe
/// the host rather than the box — its kernel build (`config.gz`), symbols
/// and modules (`kallsyms`, `modules`), boot command line, hardware map
/// (`iomem`, `ioports`, `mtrr`), disks and swap, other users' key quotas
/// (`key-users`) and its physical memory layout (`buddyinfo`, `zoneinfo`).
/// They help an attacker pick a kernel exploit and tell boxes nothing
/// they need. Missing entries (a kernel without `config.gz`) are skipped.
/// The Docker backend masks the same list.
pub const PROC_MASKED: &[&str] = &[
    "acpi",
    "asound",
    "buddyinfo",
    "cmdline",
    "config.gz",
    "interrupts",
    "iomem",
    "ioports",
    "kallsyms",
    "kcore",
    "key-users",
    "keys",
    "latency_stats",
    "modules",
    "mtrr",
    "partitions",
    "sched_debug",
    "scsi",
    "swaps",
    "sysrq-trigger",
    "timer_list",
    "timer_stats",
    "zoneinfo",
];

/// procfs directories made read-only.
pub const PROC_READ_ONLY: &[&str] = &["bus", "fs", "irq", "sys"];

/// Inputs of [`plan_rootfs`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootfsParams {
    /// Runtime filesystem source.
    pub source: RootSource,
    /// Absolute in-box workspace directory.
    pub workspace_dir: String,
    /// Workspace tmpfs size.
    pub workspace_bytes: u64,
    /// `/tmp` tmpfs size.
    pub tmp_bytes: u64,
    /// `/dev/shm` tmpfs size.
    pub shm_bytes: u64,
    /// Owner of the workspace.
    pub uid: u32,
    /// Group of the workspace.
    pub gid: u32,
    /// Box hostname, for `/etc/hostname` and `/etc/hosts`.
    pub hostname: String,
}

/// Files per writable tmpfs: plenty for projects, bounded against inode
/// exhaustion.
const TMPFS_INODES: u64 = 16_384;

/// Builds the list of steps that make a box's root filesystem.
pub fn plan_rootfs(params: &RootfsParams, host: &dyn HostProbe) -> Vec<MountOp> {
    let mut ops = Vec::new();
    match &params.source {
        RootSource::Host { etc_allow } => {
            for name in HOST_RUNTIME_DIRS {
                add_entry(&mut ops, host, Path::new("/").join(name), format!("/{name}"));
            }
            ops.push(MountOp::Mkdir { path: "/etc".into(), mode: 0o755 });
            for name in etc_allow.iter().filter(|n| !GENERATED_ETC.contains(&n.as_str())) {
                add_entry(&mut ops, host, Path::new("/etc").join(name), format!("/etc/{name}"));
            }
        }
        RootSource::Image { dir } => {
            for name in host.list(dir) {
                if IMAGE_SKIP.contains(&name.as_str()) {
                    continue;
                }
                add_entry(&mut ops, host, dir.join(&name), format!("/{name}"));
            }
            ops.push(MountOp::Mkdir { path: "/etc".into(), mode: 0o755 });
            let etc = dir.join("etc");
            for name in host.list(&etc) {
                if !GENERATED_ETC.contains(&name.as_str()) {
                    add_entry(&mut ops, host, etc.join(&name), format!("/etc/{name}"));
                }
            }
        }
    }
    ops.extend(generated_etc(params));

    let workspace = params.workspace_dir.clone();
    ops.push(MountOp::Mkdir { path: workspace.clone(), mode: 0o755 });
    ops.push(MountOp::Tmpfs {
        path: workspace,
        size_bytes: params.workspace_bytes,
        nr_inodes: TMPFS_INODES,
        mode: 0o755,
        uid: params.uid,
        gid: params.gid,
    });
    ops.push(MountOp::Mkdir { path: "/tmp".into(), mode: 0o1777 });
    ops.push(MountOp::Tmpfs {
        path: "/tmp".into(),
        size_bytes: params.tmp_bytes,
        nr_inodes: TMPFS_INODES,
        mode: 0o1777,
        uid: 0,
        gid: 0,
    });
    ops.extend(dev_plan(params.shm_bytes));
    ops.extend(proc_plan());
    ops
}

/// Mirrors one host entry into the box: a symlink stays a symlink, a
/// directory or file is bound read-only, a missing one is skipped.
fn add_entry(ops: &mut Vec<MountOp>, host: &dyn HostProbe, source: PathBuf, path: String) {
    match host.kind(&source) {
        EntryKind::Missing => {}
        EntryKind::Symlink(target) => ops.push(MountOp::Symlink { path, target }),
        EntryKind::Dir => {
            ops.push(MountOp::Mkdir { path: path.clone(), mode: 0o755 });
            ops.push(MountOp::BindReadOnly { source: source.to_string_lossy().into_owned(), path });
        }
        EntryKind::File => {
            ops.push(MountOp::BindReadOnly { source: source.to_string_lossy().into_owned(), path });
        }
    }
}

fn generated_etc(params: &RootfsParams) -> Vec<MountOp> {
    let (uid, gid, host) = (params.uid, params.gid, &params.hostname);
    let passwd = format!(
        "root:x:0:0:root:/root:/usr/sbin/nologin\n\
         runner:x:{uid}:{gid}:Bytesbox runner:/tmp:/bin/bash\n\
         nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    );
    let group = format!("root:x:0:\nrunner:x:{gid}:\nnogroup:x:65534:\n");
    let hosts = format!("127.0.0.1\tlocalhost {host}\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    vec![
        MountOp::WriteFile { path: "/etc/passwd".into(), contents: passwd, mode: 0o644 },
        MountOp::WriteFile { path: "/etc/group".into(), contents: group, mode: 0o644 },
        MountOp::WriteFile { path: "/etc/hosts".into(), contents: hosts, mode: 0o644 },
        MountOp::WriteFile { path: "/etc/hostname".into(), contents: format!("{host}\n"), mode: 0o644 },
    ]
}

/// `/dev` is a directory of the root tmpfs, read-only with it: no
/// filesystem of its own, since every superblock costs each memory cgroup
/// of the host a slot in its shrinker map (docs/performance.md, "Live
/// boxes"). The device nodes are bind mounts, which carry their own flags.
fn dev_plan(shm_bytes: u64) -> Vec<MountOp> {
    let mut ops = vec![MountOp::Mkdir { path: "/dev".into(), mode: 0o755 }];
    for device in ["null", "zero", "full", "random", "urandom", "tty"] {
        ops.push(MountOp::BindDevice { source: format!("/dev/{device}"), path: format!("/dev/{device}") });
    }
    ops.push(MountOp::Mkdir { path: "/dev/pts".into(), mode: 0o755 });
    ops.push(MountOp::Devpts { path: "/dev/pts".into() });
    ops.push(MountOp::Symlink { path: "/dev/ptmx".into(), target: "pts/ptmx".into() });
    ops.push(MountOp::Mkdir { path: "/dev/shm".into(), mode: 0o1777 });
    ops.push(MountOp::Tmpfs {
        path: "/dev/shm".into(),
        size_bytes: shm_bytes,
        nr_inodes: 1024,
        mode: 0o1777,
        uid: 0,
        gid: 0,
    });
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        ops.push(MountOp::Symlink { path: format!("/dev/{link}"), target: target.into() });
    }
    ops
}

fn proc_plan() -> Vec<MountOp> {
    let mut ops = vec![MountOp::Mkdir { path: "/proc".into(), mode: 0o555 }, MountOp::Proc { path: "/proc".into() }];
    ops.extend(PROC_MASKED.iter().map(|name| MountOp::Mask { path: format!("/proc/{name}") }));
    ops.extend(PROC_READ_ONLY.iter().map(|name| MountOp::ReadOnly { path: format!("/proc/{name}") }));
    ops
}

/// The system calls the executor needs: the seam that lets tests record
/// what a plan would do without root.
pub trait MountSyscalls {
    /// `mount(2)`.
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()>;
    /// `mkdir -p` with a mode for the last component.
    fn mkdir_all(&mut self, path: &Path, mode: u32) -> std::io::Result<()>;
    /// Creates an empty file as a bind mount point (if missing).
    fn touch(&mut self, path: &Path) -> std::io::Result<()>;
    /// `symlink(2)`.
    fn symlink(&mut self, target: &str, path: &Path) -> std::io::Result<()>;
    /// Writes a new file.
    fn write_file(&mut self, path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()>;
    /// `rmdir(2)`.
    fn remove_dir(&mut self, path: &Path) -> std::io::Result<()>;
    /// What a path is, without following a final symlink.
    fn kind(&self, path: &Path) -> EntryKind;
}

/// The real system calls.
#[derive(Debug, Default)]
pub struct RealSyscalls;

impl MountSyscalls for RealSyscalls {
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> nix::Result<()> {
        nix::mount::mount(source, target, fstype, flags, data)
    }

    fn mkdir_all(&mut self, path: &Path, mode: u32) -> std::io::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new().recursive(true).mode(0o755).create(path)?;
        // DirBuilder's mode is filtered by the umask; set it exactly.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }

    fn touch(&mut self, path: &Path) -> std::io::Result<()> {
        std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path).map(drop)
    }

    fn symlink(&mut self, target: &str, path: &Path) -> std::io::Result<()> {
        std::os::unix::fs::symlink(target, path)
    }

    fn write_file(&mut self, path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, contents)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }

    fn remove_dir(&mut self, path: &Path) -> std::io::Result<()> {
        std::fs::remove_dir(path)
    }

    fn kind(&self, path: &Path) -> EntryKind {
        RealHost.kind(path)
    }
}

fn inside(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

fn mount_err<'a>(what: &'static str, path: &'a str) -> impl FnOnce(nix::Error) -> SetupError + 'a {
    move |errno| SetupError::Mount { what, path: path.to_string(), errno }
}

fn io_err<'a>(what: &'static str, path: &'a str) -> impl FnOnce(std::io::Error) -> SetupError + 'a {
    move |source| SetupError::Filesystem { what, path: path.to_string(), source }
}

/// The empty directory a directory mask binds, in the new root; removed
/// right after each bind.
const MASK_SOURCE: &str = ".mask";

/// Read-only bind flags for runtime files.
const RO_BIND: MsFlags = MsFlags::MS_BIND
    .union(MsFlags::MS_REMOUNT)
    .union(MsFlags::MS_RDONLY)
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV);

/// Performs `ops` under `root`, which must already be a fresh tmpfs in a
/// private mount namespace.
pub fn execute(sys: &mut dyn MountSyscalls, root: &Path, ops: &[MountOp]) -> Result<(), SetupError> {
    for op in ops {
        match op {
            MountOp::Mkdir { path, mode } => {
                sys.mkdir_all(&inside(root, path), *mode).map_err(io_err("mkdir", path))?
            }
            MountOp::Tmpfs { path, size_bytes, nr_inodes, mode, uid, gid } => {
                let data = format!("size={size_bytes},nr_inodes={nr_inodes},mode={mode:o},uid={uid},gid={gid}");
                sys.mount(
                    Some(Path::new("tmpfs")),
                    &inside(root, path),
                    Some("tmpfs"),
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                    Some(&data),
                )
                .map_err(mount_err("tmpfs", path))?;
            }
            MountOp::BindReadOnly { source, path } => {
                let target = inside(root, path);
                if sys.kind(Path::new(source)) != EntryKind::Dir {
                    sys.touch(&target).map_err(io_err("create mount point", path))?;
                }
                sys.mount(Some(Path::new(source)), &target, None, MsFlags::MS_BIND, None)
                    .map_err(mount_err("bind", path))?;
                sys.mount(None, &target, None, RO_BIND, None).map_err(mount_err("read-only remount", path))?;
            }
            MountOp::BindDevice { source, path } => {
                let target = inside(root, path);
                sys.touch(&target).map_err(io_err("create device node", path))?;
                sys.mount(Some(Path::new(source)), &target, None, MsFlags::MS_BIND, None)
                    .map_err(mount_err("device bind", path))?;
                let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
                sys.mount(None, &target, None, flags, None).map_err(mount_err("device remount", path))?;
            }
            MountOp::Symlink { path, target } => {
                sys.symlink(target, &inside(root, path)).map_err(io_err("symlink", path))?
            }
            MountOp::WriteFile { path, contents, mode } => {
                sys.write_file(&inside(root, path), contents.as_bytes(), *mode).map_err(io_err("write", path))?
            }
            MountOp::Proc { path } => {
                let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
                sys.mount(Some(Path::new("proc")), &inside(root, path), Some("proc"), flags, Some("hidepid=invisible"))
                    .map_err(mount_err("proc", path))?;
            }
            MountOp::Devpts { path } => {
                let flags = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
                let data = "newinstance,ptmxmode=0666,mode=0620";
                sys.mount(Some(Path::new("devpts")), &inside(root, path), Some("devpts"), flags, Some(data))
                    .map_err(mount_err("devpts", path))?;
            }
            MountOp::Mask { path } => {
                let target = inside(root, path);
                match sys.kind(&target) {
                    EntryKind::Missing | EntryKind::Symlink(_) => {}
                    EntryKind::Dir => {
                        // Every superblock costs each memory cgroup of the
                        // host a shrinker-map slot (docs/performance.md,
                        // "Live boxes"), so no tmpfs: a bind of an empty
                        // directory, removed once bound, so it stays empty
                        // (nothing can be made in a removed directory).
                        let empty = root.join(MASK_SOURCE);
                        sys.mkdir_all(&empty, 0o555).map_err(io_err("mask source", path))?;
                        sys.mount(Some(&empty), &target, None, MsFlags::MS_BIND, None)
                            .map_err(mount_err("mask", path))?;
                        sys.mount(None, &target, None, RO_BIND | MsFlags::MS_NOEXEC, None)
                            .map_err(mount_err("mask remount", path))?;
                        sys.remove_dir(&empty).map_err(io_err("remove the mask source", path))?;
                    }
                    EntryKind::File => {
                        sys.mount(Some(Path::new("/dev/null")), &target, None, MsFlags::MS_BIND, None)
                            .map_err(mount_err("mask", path))?;
                    }
                }
            }
            MountOp::ReadOnly { path } => {
                let target = inside(root, path);
                if sys.kind(&target) == EntryKind::Missing {
                    continue;
                }
                sys.mount(Some(&target), &target, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)
                    .map_err(mount_err("bind", path))?;
                sys.mount(None, &target, None, RO_BIND | MsFlags::MS_NOEXEC, None)
                    .map_err(mount_err("read-only remount", path))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A host with usrmerge (`/bin -> usr/bin`), like Debian 12.
    struct FakeHost(BTreeMap<String, EntryKind>);

    impl FakeHost {
        fn debian() -> FakeHost {
            let mut map = BTreeMap::new();
            map.insert("/usr".into(), EntryKind::Dir);
            map.insert("/bin".into(), EntryKind::Symlink("usr/bin".into()));
            map.insert("/lib".into(), EntryKind::Symlink("usr/lib".into()));
            map.insert("/lib64".into(), EntryKind::Symlink("usr/lib64".into()));
            map.insert("/sbin".into(), EntryKind::Symlink("usr/sbin".into()));
            map.insert("/etc/ld.so.cache".into(), EntryKind::File);
            map.insert("/etc/alternatives".into(), EntryKind::Dir);
            map.insert("/etc/localtime".into(), EntryKind::Symlink("/usr/share/zoneinfo/Etc/UTC".into()));
            map.insert("/etc/shadow".into(), EntryKind::File);
            map.insert("/img".into(), EntryKind::Dir);
            map.insert("/img/usr".into(), EntryKind::Dir);
            map.insert("/img/bin".into(), EntryKind::Symlink("usr/bin".into()));
            map.insert("/img/proc".into(), EntryKind::Dir);
            map.insert("/img/etc".into(), EntryKind::Dir);
            map.insert("/img/etc/passwd".into(), EntryKind::File);
            map.insert("/img/etc/ssl".into(), EntryKind::Dir);
            FakeHost(map)
        }
    }

    impl HostProbe for FakeHost {
        fn kind(&self, path: &Path) -> EntryKind {
            self.0.get(path.to_str().unwrap_or_default()).cloned().unwrap_or(EntryKind::Missing)
        }
        fn list(&self, path: &Path) -> Vec<String> {
            let prefix = format!("{}/", path.display());
            self.0
                .keys()
                .filter_map(|k| k.strip_prefix(&prefix))
                .filter(|rest| !rest.contains('/'))
                .map(str::to_string)
                .collect()
        }
    }

    fn params(source: RootSource) -> RootfsParams {
        RootfsParams {
            source,
            workspace_dir: "/workspace".into(),
            workspace_bytes: 1 << 20,
            tmp_bytes: 2 << 20,
            shm_bytes: 3 << 20,
            uid: 1234,
            gid: 1234,
            hostname: "box".into(),
        }
    }

    fn host_source(allow: &[&str]) -> RootSource {
        RootSource::Host { etc_allow: allow.iter().map(|s| s.to_string()).collect() }
    }

    #[test]
    fn host_plan_mirrors_runtime_dirs_and_allowed_etc_only() {
        let plan = plan_rootfs(
            &params(host_source(&["ld.so.cache", "alternatives", "localtime", "shadow", "missing"])),
            &FakeHost::debian(),
        );
        assert!(plan.contains(&MountOp::BindReadOnly { source: "/usr".into(), path: "/usr".into() }));
        assert!(plan.contains(&MountOp::Symlink { path: "/bin".into(), target: "usr/bin".into() }));
        assert!(plan
            .contains(&MountOp::BindReadOnly { source: "/etc/ld.so.cache".into(), path: "/etc/ld.so.cache".into() }));
        assert!(plan
            .contains(&MountOp::BindReadOnly { source: "/etc/alternatives".into(), path: "/etc/alternatives".into() }));
        assert!(plan.contains(&MountOp::Symlink {
            path: "/etc/localtime".into(),
            target: "/usr/share/zoneinfo/Etc/UTC".into()
        }));
        let text = format!("{plan:?}");
        assert!(!text.contains("/etc/shadow"), "shadow must never be exposed even when allowed by mistake");
        assert!(!text.contains("missing"));
        assert!(!text.contains("lib32"));
    }

    #[test]
    fn plan_caps_every_writable_filesystem() {
        let plan = plan_rootfs(&params(host_source(&[])), &FakeHost::debian());
        let tmpfs: Vec<_> = plan
            .iter()
            .filter_map(|op| match op {
                MountOp::Tmpfs { path, size_bytes, uid, .. } => Some((path.as_str(), *size_bytes, *uid)),
                _ => None,
            })
            .collect();
        assert!(tmpfs.contains(&("/workspace", 1 << 20, 1234)));
        assert!(tmpfs.contains(&("/tmp", 2 << 20, 0)));
        assert!(tmpfs.contains(&("/dev/shm", 3 << 20, 0)));
        assert!(tmpfs.iter().all(|(_, size, _)| *size > 0));
    }

    #[test]
    fn plan_masks_sensitive_proc_paths_after_mounting_proc() {
        let plan = plan_rootfs(&params(host_source(&[])), &FakeHost::debian());
        let proc_at = plan.iter().position(|op| matches!(op, MountOp::Proc { .. })).unwrap();
        for name in ["kcore", "sysrq-trigger", "keys", "timer_list", "kallsyms", "config.gz", "modules", "cmdline"] {
            let at = plan.iter().position(|op| *op == MountOp::Mask { path: format!("/proc/{name}") }).unwrap();
            assert!(at > proc_at);
        }
        assert!(plan.contains(&MountOp::ReadOnly { path: "/proc/sys".into() }));
    }

    #[test]
    fn dev_is_minimal_and_read_only() {
        let plan = plan_rootfs(&params(host_source(&[])), &FakeHost::debian());
        let devices: Vec<_> = plan
            .iter()
            .filter_map(|op| match op {
                MountOp::BindDevice { path, .. } => Some(path.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(devices, ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"]);
        // A directory of the root tmpfs (read-only with it), no tmpfs of its own.
        assert!(plan.contains(&MountOp::Mkdir { path: "/dev".into(), mode: 0o755 }));
        assert!(!plan.iter().any(|op| matches!(op, MountOp::Tmpfs { path, .. } if path == "/dev")));
        assert!(plan.contains(&MountOp::Devpts { path: "/dev/pts".into() }));
    }

    #[test]
    fn image_plan_binds_image_entries_and_generates_identity_files() {
        let plan = plan_rootfs(&params(RootSource::Image { dir: "/img".into() }), &FakeHost::debian());
        assert!(plan.contains(&MountOp::BindReadOnly { source: "/img/usr".into(), path: "/usr".into() }));
        assert!(plan.contains(&MountOp::Symlink { path: "/bin".into(), target: "usr/bin".into() }));
        assert!(plan.contains(&MountOp::BindReadOnly { source: "/img/etc/ssl".into(), path: "/etc/ssl".into() }));
        let text = format!("{plan:?}");
        assert!(!text.contains("/img/proc"));
        assert!(!text.contains("/img/etc/passwd"), "the image's passwd is replaced by a generated one");
        assert!(plan.iter().any(|op| matches!(op, MountOp::WriteFile { path, contents, .. } if path == "/etc/passwd" && contents.contains(":1234:1234:"))));
    }

    /// Records calls instead of making them.
    #[derive(Default)]
    struct Recorder {
        calls: Vec<String>,
    }

    impl MountSyscalls for Recorder {
        fn mount(
            &mut self,
            source: Option<&Path>,
            target: &Path,
            fstype: Option<&str>,
            flags: MsFlags,
            data: Option<&str>,
        ) -> nix::Result<()> {
            self.calls.push(format!("mount {source:?} {} {fstype:?} {flags:?} {data:?}", target.display()));
            Ok(())
        }
        fn mkdir_all(&mut self, path: &Path, mode: u32) -> std::io::Result<()> {
            self.calls.push(format!("mkdir {} {mode:o}", path.display()));
            Ok(())
        }
        fn touch(&mut self, path: &Path) -> std::io::Result<()> {
            self.calls.push(format!("touch {}", path.display()));
            Ok(())
        }
        fn symlink(&mut self, target: &str, path: &Path) -> std::io::Result<()> {
            self.calls.push(format!("symlink {} -> {target}", path.display()));
            Ok(())
        }
        fn write_file(&mut self, path: &Path, _: &[u8], mode: u32) -> std::io::Result<()> {
            self.calls.push(format!("write {} {mode:o}", path.display()));
            Ok(())
        }
        fn remove_dir(&mut self, path: &Path) -> std::io::Result<()> {
            self.calls.push(format!("rmdir {}", path.display()));
            Ok(())
        }
        fn kind(&self, path: &Path) -> EntryKind {
            if path.ends_with("usr") || path.ends_with("proc/acpi") {
                EntryKind::Dir
            } else {
                EntryKind::File
            }
        }
    }

    #[test]
    fn executor_prefixes_the_new_root_and_remounts_binds_read_only() {
        let mut recorder = Recorder::default();
        let ops = [
            MountOp::Mkdir { path: "/usr".into(), mode: 0o755 },
            MountOp::BindReadOnly { source: "/usr".into(), path: "/usr".into() },
            MountOp::BindReadOnly { source: "/etc/ld.so.cache".into(), path: "/etc/ld.so.cache".into() },
            MountOp::Mask { path: "/proc/acpi".into() },
            MountOp::Mask { path: "/proc/kcore".into() },
        ];
        execute(&mut recorder, Path::new("/new"), &ops).unwrap();
        let calls = recorder.calls.join("\n");
        assert!(calls.contains("mkdir /new/usr 755"));
        assert!(calls.contains("mount Some(\"/usr\") /new/usr None MsFlags(MS_BIND) None"), "{calls}");
        assert!(
            calls.contains("/new/usr None MsFlags(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_REMOUNT | MS_BIND)"),
            "{calls}"
        );
        assert!(calls.contains("touch /new/etc/ld.so.cache"), "file binds need a file mount point");
        // A directory is masked by a read-only bind of an empty directory
        // that is removed at once: no tmpfs (no superblock) of its own.
        let mask = [
            "mkdir /new/.mask 555",
            "mount Some(\"/new/.mask\") /new/proc/acpi None MsFlags(MS_BIND) None",
            "mount None /new/proc/acpi None MsFlags(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_REMOUNT | MS_BIND) None",
            "rmdir /new/.mask",
        ]
        .join("\n");
        assert!(calls.contains(&mask), "{calls}");
        assert!(!calls.contains("tmpfs"), "{calls}");
        assert!(calls.contains("mount Some(\"/dev/null\") /new/proc/kcore None MsFlags(MS_BIND) None"));
        assert!(!calls.contains("touch /new/usr"));
    }
}
