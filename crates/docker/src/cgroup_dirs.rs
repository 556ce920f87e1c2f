//! The instance's cgroup directories in every hierarchy of the host.
//!
//! The engine (runc, cgroupfs driver) creates a container's cgroup, and so
//! its parent `/bytesbox/<instance>`, in every cgroup hierarchy it knows —
//! on a v1 host also `cpuset`, `devices`, `blkio`, the named `systemd`
//! hierarchy and the hybrid `unified` one, which the backend's own
//! [`bytesbox_cgroups::CgroupLayout`] (memory, cpu, cpuacct, pids, freezer)
//! does not cover. It removes each container's directory with the
//! container, not the parent; this module finds the parent wherever a
//! cgroup filesystem is mounted and removes it once empty.

use std::io;
use std::path::{Path, PathBuf};

/// Mount points of every cgroup (v1) and cgroup2 filesystem in
/// `/proc/self/mountinfo`; empty when it cannot be read.
pub fn cgroup_mounts() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo").map(|text| parse_cgroup_mounts(&text)).unwrap_or_default()
}

/// The cgroup mount points of a mountinfo text.
fn parse_cgroup_mounts(mountinfo: &str) -> Vec<PathBuf> {
    let mut mounts = Vec::new();
    for line in mountinfo.lines() {
        // `id parent dev root mountpoint options [optional...] - fstype source super`
        let Some((fields, after_separator)) = line.split_once(" - ") else { continue };
        let fstype = after_separator.split_whitespace().next();
        if !matches!(fstype, Some("cgroup" | "cgroup2")) {
            continue;
        }
        if let Some(mount_point) = fields.split_whitespace().nth(4) {
            let path = PathBuf::from(unescape_octal(mount_point));
            if !mounts.contains(&path) {
                mounts.push(path);
            }
        }
    }
    mounts
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let octal = bytes.get(at + 1..at + 4).filter(|digits| digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match (bytes[at], octal) {
            (b'\\', Some(digits)) => {
                out.push(digits.iter().fold(0u8, |value, digit| value.wrapping_mul(8) + (digit - b'0')));
                at += 4;
            }
            (byte, _) => {
                out.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `relative` below each of `mounts`, where it exists.
pub fn existing_dirs(mounts: &[PathBuf], relative: &Path) -> Vec<PathBuf> {
    mounts.iter().map(|mount| mount.join(relative)).filter(|dir| dir.exists()).collect()
}

/// Removes `relative` below each of `mounts`, deepest directories first.
/// Only empty cgroups can go (a cgroup directory's control files need no
/// removing; one with processes answers `EBUSY`), so a cgroup still in use
/// stays; what could not be removed is returned.
pub fn remove_empty(mounts: &[PathBuf], relative: &Path) -> Vec<PathBuf> {
    existing_dirs(mounts, relative).into_iter().filter(|dir| remove_tree(dir).is_err()).collect()
}

fn remove_tree(dir: &Path) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            remove_tree(&entry.path())?;
        }
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_V1: &str = "\
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
33 25 0:28 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
34 33 0:29 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw
35 33 0:30 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
38 33 0:33 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpu,cpuacct
39 33 0:34 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory
40 33 0:35 / /sys/fs/cgroup/odd\\040name rw shared:17 - cgroup cgroup rw,blkio
41 33 0:35 / /sys/fs/cgroup/memory rw shared:16 - cgroup cgroup rw,memory
";

    #[test]
    fn every_cgroup_and_cgroup2_mount_is_found_once() {
        let mounts = parse_cgroup_mounts(HYBRID_V1);
        let expected: Vec<PathBuf> = [
            "/sys/fs/cgroup/unified",
            "/sys/fs/cgroup/systemd",
            "/sys/fs/cgroup/cpu,cpuacct",
            "/sys/fs/cgroup/memory",
            "/sys/fs/cgroup/odd name",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(mounts, expected);
    }

    #[test]
    fn empty_instance_trees_are_removed_from_every_mount_and_busy_ones_reported() {
        let root = tempfile::tempdir().expect("tempdir");
        let mounts: Vec<PathBuf> = ["memory", "blkio", "devices"].iter().map(|h| root.path().join(h)).collect();
        let relative = Path::new("bytesbox/i1-2-0");
        // memory: an empty tree with a control file; blkio: nested empty
        // children; devices: nothing at all.
        std::fs::create_dir_all(mounts[0].join(relative)).expect("mkdir");
        std::fs::create_dir_all(mounts[1].join(relative).join("abc/init")).expect("mkdir");
        // A regular file stands for a cgroup that cannot be removed (a real
        // cgroup with processes answers EBUSY; here rmdir finds the dir not empty).
        std::fs::create_dir_all(mounts[1].join(relative).join("busy")).expect("mkdir");
        std::fs::write(mounts[1].join(relative).join("busy/cgroup.procs"), "42\n").expect("write");
        assert_eq!(existing_dirs(&mounts, relative).len(), 2);
        let left = remove_empty(&mounts, relative);
        assert_eq!(left, vec![mounts[1].join(relative)]);
        assert!(!mounts[0].join(relative).exists());
        assert!(!mounts[1].join(relative).join("abc").exists());
        assert!(mounts[0].join("bytesbox").exists(), "the shared root stays");
        std::fs::remove_file(mounts[1].join(relative).join("busy/cgroup.procs")).expect("rm");
        assert!(remove_empty(&mounts, relative).is_empty());
        assert!(existing_dirs(&mounts, relative).is_empty());
    }
}
