//! Small file-system helpers with the quirks of cgroupfs baked in.
//!
//! cgroupfs files exist as soon as their directory does and cannot be
//! created, so writers open without `O_CREAT`: a missing interface file then
//! fails with a clear ENOENT instead of a confusing EACCES. `O_TRUNC` is
//! harmless on cgroupfs and keeps the plain-directory fakes used by the unit
//! tests byte-exact.

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{self, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use nix::libc;

use crate::error::{CgroupError, Result};

/// How often state files are re-read while waiting for the kernel. Freezing
/// or killing a small cgroup takes well under a millisecond, so a coarser
/// interval would only add latency to every run.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(1);

/// Writes `value` in one `write(2)`, which is what cgroupfs expects.
pub(crate) fn write_raw(path: &Path, value: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).truncate(true).open(path)?;
    file.write_all(value.as_bytes())
}

pub(crate) fn write(path: &Path, value: &str) -> Result<()> {
    write_raw(path, value).map_err(|source| CgroupError::Write {
        path: path.to_path_buf(),
        value: value.to_owned(),
        source,
    })
}

pub(crate) fn read(path: &Path) -> Result<String> {
    read_generated(path).map_err(|source| CgroupError::Read { path: path.to_path_buf(), source })
}

/// Reads a cgroupfs file of one record (a number, a few `key value`
/// lines) in as few calls as it takes: open, one `read(2)`, close.
/// `fs::read_to_string` adds a `statx` for a size hint (0 on cgroupfs) and
/// reads in 32-byte steps until one returns 0; every run's exit report
/// reads several of these files, so the calls add up. cgroupfs makes the
/// text of a record on read and hands out the whole record if the buffer
/// holds it, so a read that returns less than asked for is the end (as it
/// is for the regular files of the unit tests' fakes). Not for listings
/// such as `cgroup.procs`: there a read may stop short at the kernel's
/// page-sized buffer with more lines to come ([`read_listing`]).
fn read_generated(path: &Path) -> io::Result<String> {
    const FIRST_READ: usize = 4096;
    let mut file = fs::File::open(path)?;
    let mut bytes = vec![0; FIRST_READ];
    let mut filled = 0;
    loop {
        match file.read(&mut bytes[filled..]) {
            Ok(read) => {
                filled += read;
                if filled < bytes.len() {
                    break;
                }
                bytes.resize(bytes.len() * 2, 0);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    bytes.truncate(filled);
    String::from_utf8(bytes).map_err(|e| io::Error::new(ErrorKind::InvalidData, e))
}

/// Reads a file that may legitimately be absent (older kernels, swap
/// accounting off): `Ok(None)` for ENOENT.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>> {
    match read_generated(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read { path: path.to_path_buf(), source }),
    }
}

/// Reads a listing (`cgroup.procs`) to its end.
fn read_listing(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read { path: path.to_path_buf(), source }),
    }
}

/// Whether the cgroup directory `dir` holds a process: one read of
/// `cgroup.procs`, whose first byte is enough to know.
pub(crate) fn has_procs(dir: &Path) -> Result<bool> {
    Ok(!read(&dir.join("cgroup.procs"))?.is_empty())
}

/// Parses a `cgroup.procs` listing: one decimal pid per line.
pub(crate) fn parse_procs(path: &Path, text: &str) -> Result<Vec<i32>> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            line.trim().parse::<i32>().ok().filter(|pid| *pid > 0).ok_or_else(|| CgroupError::Parse {
                path: path.to_path_buf(),
                reason: format!("{line:?} is not a process id"),
            })
        })
        .collect()
}

/// The processes directly in the cgroup directory `dir`.
pub(crate) fn read_procs(dir: &Path) -> Result<Vec<i32>> {
    let path = dir.join("cgroup.procs");
    let text = read_listing(&path)?
        .ok_or_else(|| CgroupError::Read { path: path.clone(), source: io::Error::from(ErrorKind::NotFound) })?;
    parse_procs(&path, &text)
}

/// Adds the processes of `dir` and of every cgroup below it to `out`. A
/// directory that vanishes meanwhile (a concurrent `remove`) simply has no
/// processes.
pub(crate) fn collect_procs_tree(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    let path = dir.join("cgroup.procs");
    let text = match read_listing(&path)? {
        Some(text) => text,
        None => return Ok(()),
    };
    out.extend(parse_procs(&path, &text)?);
    for sub in subdirs(dir)? {
        collect_procs_tree(&dir.join(sub), out)?;
    }
    Ok(())
}

/// Names of the child cgroups of `dir` (its subdirectories); empty if `dir`
/// does not exist.
pub(crate) fn subdirs(dir: &Path) -> Result<Vec<OsString>> {
    let read_err = |source| CgroupError::Read { path: dir.to_path_buf(), source };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(read_err(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(read_err)?;
        // kernfs fills in d_type, so this costs no extra stat.
        if entry.file_type().map_err(read_err)?.is_dir() {
            names.push(entry.file_name());
        }
    }
    Ok(names)
}

/// Makes `dir` (which lies strictly below the hierarchy root `root`) and
/// every missing ancestor up to `root`, recording each directory this call
/// created so a failure can be undone. An existing directory is accepted.
///
/// The common case (parent exists) costs one `mkdir(2)`; ancestors are only
/// looked at after ENOENT.
pub(crate) fn mkdir_under(root: &Path, dir: &Path, created: &mut Vec<PathBuf>) -> Result<()> {
    let create_err = |path: &Path, source| CgroupError::Create { path: path.to_path_buf(), source };
    match fs::create_dir(dir) {
        Ok(()) => {
            created.push(dir.to_path_buf());
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => ensure_dir(dir),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            // Never create the hierarchy root itself: if it is missing the
            // mount is gone and that is the error to report.
            let parent = match dir.parent() {
                Some(parent) if parent != root && parent.starts_with(root) => parent,
                _ => return Err(create_err(dir, e)),
            };
            mkdir_under(root, parent, created)?;
            match fs::create_dir(dir) {
                Ok(()) => {
                    created.push(dir.to_path_buf());
                    Ok(())
                }
                // Another thread made it between our two attempts.
                Err(e) if e.kind() == ErrorKind::AlreadyExists => ensure_dir(dir),
                Err(e) => Err(create_err(dir, e)),
            }
        }
        Err(e) => Err(create_err(dir, e)),
    }
}

/// Makes `dir` whose parent must exist (ENOENT otherwise), recording it if
/// this call created it. An existing directory is accepted.
pub(crate) fn mkdir_leaf(dir: &Path, created: &mut Vec<PathBuf>) -> Result<()> {
    match fs::create_dir(dir) {
        Ok(()) => {
            created.push(dir.to_path_buf());
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => ensure_dir(dir),
        Err(e) => Err(CgroupError::Create { path: dir.to_path_buf(), source: e }),
    }
}

/// EEXIST for a name like `tasks` means an interface file, not a cgroup.
fn ensure_dir(path: &Path) -> Result<()> {
    if path.is_dir() {
        Ok(())
    } else {
        Err(CgroupError::Create { path: path.to_path_buf(), source: io::Error::from_raw_os_error(libc::ENOTDIR) })
    }
}

/// Removes directories made by [`mkdir_under`], newest first, after a later
/// step failed. Best effort: the original error is what the caller reports.
pub(crate) fn undo_mkdirs(created: &[PathBuf]) {
    for dir in created.iter().rev() {
        if let Err(e) = fs::remove_dir(dir) {
            tracing::warn!(path = %dir.display(), error = %e, "could not undo cgroup mkdir");
        }
    }
}

/// EBUSY is what cgroupfs returns for a cgroup with processes or children;
/// ENOTEMPTY is what a plain directory returns, and is treated alike so the
/// directory-tree fakes behave the same.
pub(crate) fn is_busy(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EBUSY) | Some(libc::ENOTEMPTY))
}

/// Removes the cgroup `dir` and every cgroup below it, deepest first.
/// A leaf costs one `rmdir(2)`; children are only listed after EBUSY.
pub(crate) fn rmdir_tree(dir: &Path) -> Result<()> {
    let remove_err = |source| CgroupError::Remove { path: dir.to_path_buf(), source };
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) if is_busy(&e) => {
            let children = subdirs(dir)?;
            if children.is_empty() {
                // Busy because processes are left: the caller decides.
                return Err(remove_err(e));
            }
            for child in children {
                rmdir_tree(&dir.join(child))?;
            }
            match fs::remove_dir(dir) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                Err(e) => Err(remove_err(e)),
            }
        }
        Err(e) => Err(remove_err(e)),
    }
}

/// Calls `check` every [`POLL_INTERVAL`] until it returns true or `deadline`
/// passes; returns whether it succeeded. `check` runs at least once.
pub(crate) fn poll_until(deadline: Instant, mut check: impl FnMut() -> Result<bool>) -> Result<bool> {
    loop {
        if check()? {
            return Ok(true);
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(false);
        }
        thread::sleep(POLL_INTERVAL.min(deadline - now));
    }
}

/// Finds `key value` in flat-keyed files such as `memory.events`,
/// `cpu.stat` or v1 `memory.oom_control`.
pub(crate) fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        if fields.next()? == key {
            fields.next()?.parse().ok()
        } else {
            None
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keyed_value_matches_whole_keys_only() {
        let text = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(keyed_value(text, "oom_kill"), Some(3));
        assert_eq!(keyed_value(text, "oom_kill_disable"), Some(0));
        assert_eq!(keyed_value(text, "oom"), None);
    }

    #[test]
    fn parse_procs_rejects_garbage_and_non_positive_pids() {
        let path = Path::new("/x/cgroup.procs");
        assert_eq!(parse_procs(path, "12\n7\n\n").unwrap(), vec![12, 7]);
        assert_eq!(parse_procs(path, "").unwrap(), Vec::<i32>::new());
        // A 0 or negative pid must never reach kill(2), where it would mean
        // "my process group" or "everyone".
        assert!(parse_procs(path, "0\n").is_err());
        assert!(parse_procs(path, "-1\n").is_err());
        let err = parse_procs(path, "12\nabc\n").unwrap_err().to_string();
        assert!(err.contains("abc") && err.contains("/x/cgroup.procs"), "{err}");
    }

    #[test]
    fn mkdir_under_creates_missing_ancestors_and_records_them() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir(root.join("a")).unwrap();
        let mut created = Vec::new();
        mkdir_under(root, &root.join("a/b/c"), &mut created).unwrap();
        assert_eq!(created, vec![root.join("a/b"), root.join("a/b/c")]);

        // Existing leaf: accepted, nothing recorded.
        let mut again = Vec::new();
        mkdir_under(root, &root.join("a/b/c"), &mut again).unwrap();
        assert!(again.is_empty());

        undo_mkdirs(&created);
        assert!(root.join("a").is_dir());
        assert!(!root.join("a/b").exists());
    }

    #[test]
    fn mkdir_under_refuses_an_existing_file_and_a_missing_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::write(root.join("tasks"), "").unwrap();
        let mut created = Vec::new();
        let err = mkdir_under(root, &root.join("tasks"), &mut created).unwrap_err();
        assert!(matches!(err, CgroupError::Create { .. }), "{err}");

        let gone = root.join("not-mounted");
        let err = mkdir_under(&gone, &gone.join("x/y"), &mut created).unwrap_err();
        assert!(err.to_string().contains("not-mounted"), "{err}");
        assert!(created.is_empty());
        assert!(!gone.exists());
    }

    #[test]
    fn rmdir_tree_removes_deepest_first_and_tolerates_absence() {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().join("top");
        fs::create_dir_all(top.join("a/b")).unwrap();
        fs::create_dir_all(top.join("c")).unwrap();
        rmdir_tree(&top).unwrap();
        assert!(!top.exists());
        rmdir_tree(&top).unwrap();
    }
}
