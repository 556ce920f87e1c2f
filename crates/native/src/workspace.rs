//! Files in a box's workspace, reached only through the workspace's
//! directory descriptor.
//!
//! The box init hands the server an `O_PATH` descriptor of its workspace
//! tmpfs. Every operation here resolves paths relative to it with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS |
//! RESOLVE_NO_XDEV)` and `O_NOFOLLOW`, one component at a time, so a
//! symlink planted by a program can never redirect a server write or read,
//! and no host path is ever used. These calls block; run them on a
//! blocking thread.

use std::collections::BTreeSet;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

pub use bytesbox_sandbox::beneath::get_files;
use bytesbox_sandbox::beneath::{io_error, list_dir, open_dir, remove_tree, MAX_WALK_ENTRIES, RESOLVE};
use bytesbox_sandbox::paths::{validate_relative, validate_unique, MAX_DEPTH};
use bytesbox_sandbox::{FileEntry, PutMode, SandboxError};
use rustix::fs::{openat2, FileType, Mode, OFlags};
use rustix::io::Errno;

/// Owner given to everything the server writes.
#[derive(Clone, Copy, Debug)]
pub struct Owner {
    /// uid.
    pub uid: u32,
    /// gid.
    pub gid: u32,
}

/// Walks to (and creates, owned by `owner`) the parent directories of a
/// validated path; returns the innermost directory.
fn make_parents(root: BorrowedFd<'_>, components: &[&str], owner: Owner, path: &str) -> Result<OwnedFd, SandboxError> {
    let mut dir = open_dir(root, ".").map_err(|e| io_error(path, e))?;
    for component in components {
        match rustix::fs::mkdirat(&dir, *component, Mode::from_raw_mode(0o755)) {
            Ok(()) => {
                let created = open_dir(dir.as_fd(), *component).map_err(|e| io_error(path, e))?;
                rustix::fs::fchown(
                    &created,
                    Some(rustix::fs::Uid::from_raw(owner.uid)),
                    Some(rustix::fs::Gid::from_raw(owner.gid)),
                )
                .map_err(|e| io_error(path, e))?;
                dir = created;
            }
            Err(Errno::EXIST) => dir = open_dir(dir.as_fd(), *component).map_err(|e| io_error(path, e))?,
            Err(e) => return Err(io_error(path, e)),
        }
    }
    Ok(dir)
}

/// Writes files into the workspace. All paths are validated before
/// anything is written.
pub fn put_files(root: BorrowedFd<'_>, files: &[FileEntry], mode: &PutMode, owner: Owner) -> Result<(), SandboxError> {
    validate_unique(files.iter().map(|f| f.path.as_str()))?;
    if let PutMode::Replace { keep } = mode {
        for path in keep {
            validate_relative(path)?;
        }
        let keep: BTreeSet<&str> = keep.iter().map(String::as_str).collect();
        let wanted: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
        let dir = open_dir(root, ".").map_err(|e| io_error(".", e))?;
        let mut budget = MAX_WALK_ENTRIES;
        clear_except(dir.as_fd(), "", &keep, &wanted, 0, &mut budget)?;
    }
    for file in files {
        let components = validate_relative(&file.path)?;
        let (name, parents) = components.split_last().ok_or_else(|| SandboxError::InvalidSpec("empty path".into()))?;
        let dir = make_parents(root, parents, owner, &file.path)?;
        let permissions = if file.executable { 0o755 } else { 0o644 };
        write_replacing(dir.as_fd(), name, &file.content, permissions, owner, &file.path)?;
    }
    Ok(())
}

/// Writes `content` to a new file beside `name`, then renames it over
/// `name`. A program still running from the old file (a shell reading its
/// script as it goes, say) keeps the old inode, and a failed write leaves
/// the old file whole. `rename` replaces a symlink itself, never its
/// target.
fn write_replacing(
    dir: BorrowedFd<'_>,
    name: &str,
    content: &[u8],
    permissions: u32,
    owner: Owner,
    path: &str,
) -> Result<(), SandboxError> {
    if let Ok(existing) = rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW) {
        if FileType::from_raw_mode(existing.st_mode) == FileType::Directory {
            return Err(SandboxError::InvalidPath { path: path.to_string(), reason: "the path is not a regular file" });
        }
    }
    let temporary = format!(".bytesbox-write-{}", uuid_like());
    let fd = openat2(
        dir,
        temporary.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::from_raw_mode(permissions),
        RESOLVE,
    )
    .map_err(|e| io_error(path, e))?;
    let written = (|| {
        rustix::fs::fchown(&fd, Some(rustix::fs::Uid::from_raw(owner.uid)), Some(rustix::fs::Gid::from_raw(owner.gid)))
            .map_err(|e| io_error(path, e))?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(permissions)).map_err(|e| io_error(path, e))?;
        let mut out = std::fs::File::from(fd);
        out.write_all(content).map_err(|e| match e.raw_os_error() {
            Some(code) => io_error(path, Errno::from_raw_os_error(code)),
            None => SandboxError::Workspace { path: path.to_string(), source: e },
        })?;
        rustix::fs::renameat(dir, temporary.as_str(), dir, name).map_err(|e| io_error(path, e))
    })();
    if written.is_err() {
        let _ = rustix::fs::unlinkat(dir, temporary.as_str(), rustix::fs::AtFlags::empty());
    }
    written
}

/// A name part no program in the box can predict in advance (it could
/// otherwise plant a symlink or directory there; `O_EXCL` makes that a
/// clean error anyway).
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{}-{}-{nanos:x}", std::process::id(), SERIAL.fetch_add(1, Ordering::Relaxed))
}

/// Removes everything under `dir` except kept paths, the parents of kept
/// paths and files about to be rewritten (their parents stay too).
fn clear_except(
    dir: BorrowedFd<'_>,
    prefix: &str,
    keep: &BTreeSet<&str>,
    wanted: &BTreeSet<&str>,
    depth: usize,
    budget: &mut usize,
) -> Result<(), SandboxError> {
    for (name, kind) in list_dir(dir, prefix, budget)? {
        let shown = name.display();
        let path = if prefix.is_empty() { shown.clone() } else { format!("{prefix}/{shown}") };
        let is_text = name.text.is_some();
        // A file about to be written is replaced by a rename over it (a
        // symlink itself, never its target), so removing it first is
        // wasted work on every run.
        let replaced_by_write = kind != FileType::Directory && wanted.contains(path.as_str());
        if is_text && (keep.contains(path.as_str()) || replaced_by_write) {
            continue;
        }
        let is_parent_of = |set: &BTreeSet<&str>| set.iter().any(|p| p.starts_with(&format!("{path}/")));
        if is_text && kind == FileType::Directory && depth < MAX_DEPTH && (is_parent_of(keep) || is_parent_of(wanted)) {
            let child = open_dir(dir, name.raw.as_c_str()).map_err(|e| io_error(&path, e))?;
            clear_except(child.as_fd(), &path, keep, wanted, depth + 1, budget)?;
        } else {
            remove_tree(dir, name.raw.as_c_str(), kind, &path, depth, budget, &|_| false)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use bytesbox_sandbox::beneath::open_socket;
    use std::io::Read;

    fn owner() -> Owner {
        Owner { uid: nix::unistd::getuid().as_raw(), gid: nix::unistd::getgid().as_raw() }
    }

    fn root_fd(dir: &std::path::Path) -> OwnedFd {
        rustix::fs::open(dir, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).unwrap()
    }

    #[test]
    fn round_trip_with_nested_dirs_binary_and_exec_bit() {
        let dir = tempfile::tempdir().unwrap();
        let root = root_fd(dir.path());
        let files = vec![
            FileEntry::new("main.py", "print(1)"),
            FileEntry::new("pkg/sub/mod.py", "x = 1"),
            FileEntry { path: "bin/run".into(), content: Bytes::from_static(b"\x00\xff\xfe"), executable: true },
        ];
        put_files(root.as_fd(), &files, &PutMode::Merge, owner()).unwrap();
        let snapshot = get_files(root.as_fd(), &[], 1 << 20).unwrap();
        assert_eq!(snapshot.files.len(), 3);
        let run = snapshot.files.iter().find(|f| f.path == "bin/run").unwrap();
        assert!(run.executable);
        assert_eq!(&run.content[..], b"\x00\xff\xfe");
        assert!(!snapshot.files.iter().find(|f| f.path == "main.py").unwrap().executable);
    }

    #[test]
    fn rewrites_replace_the_file_so_open_readers_keep_their_version() {
        let dir = tempfile::tempdir().unwrap();
        let root = root_fd(dir.path());
        let script = FileEntry::new("main.sh", "echo started; sleep 1; echo finished\n");
        put_files(root.as_fd(), std::slice::from_ref(&script), &PutMode::Merge, owner()).unwrap();
        let mut running = std::fs::File::open(dir.path().join("main.sh")).unwrap();
        let next = FileEntry::new("main.sh", "echo started; sleep 600\n");
        put_files(root.as_fd(), &[next], &PutMode::Replace { keep: vec![] }, owner()).unwrap();
        let mut seen = String::new();
        running.read_to_string(&mut seen).unwrap();
        assert_eq!(seen, "echo started; sleep 1; echo finished\n", "the open file is untouched");
        assert_eq!(std::fs::read_to_string(dir.path().join("main.sh")).unwrap(), "echo started; sleep 600\n");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["main.sh"], "no temporary file is left");
    }

    #[test]
    fn replace_removes_stale_files_but_keeps_what_is_asked() {
        let dir = tempfile::tempdir().unwrap();
        let root = root_fd(dir.path());
        let first = vec![
            FileEntry::new("old.cpp", "int main(){}"),
            FileEntry::new("src/a.h", "a"),
            FileEntry::new("state.db", "db"),
        ];
        put_files(root.as_fd(), &first, &PutMode::Merge, owner()).unwrap();
        // A wanted file's path holding a directory, a symlink or an older
        // version of the file: each ends as the sent file.
        std::fs::create_dir_all(dir.path().join("out/deep")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link.txt")).unwrap();
        let second = vec![
            FileEntry::new("main.cpp", "int main(){}"),
            FileEntry::new("src/b.h", "b"),
            FileEntry::new("src/a.h", "a2"),
            FileEntry::new("out", "now a file"),
            FileEntry::new("link.txt", "now a file too"),
        ];
        put_files(root.as_fd(), &second, &PutMode::Replace { keep: vec!["state.db".into()] }, owner()).unwrap();
        let files = get_files(root.as_fd(), &[], 1 << 20).unwrap().files;
        let names: Vec<_> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(names, ["link.txt", "main.cpp", "out", "src/a.h", "src/b.h", "state.db"]);
        let content = |path: &str| files.iter().find(|f| f.path == path).map(|f| f.content.to_vec()).unwrap();
        assert_eq!(content("src/a.h"), b"a2");
        assert_eq!(content("out"), b"now a file");
        assert_eq!(content("link.txt"), b"now a file too");
        assert!(std::fs::symlink_metadata(dir.path().join("link.txt")).unwrap().file_type().is_file());

        // A kept folder keeps everything in it (a session's `.git`, or a
        // build its `.bytesboxignore` excludes).
        std::fs::create_dir_all(dir.path().join("build/deep")).unwrap();
        std::fs::write(dir.path().join("build/deep/x.o"), "obj").unwrap();
        put_files(root.as_fd(), &second, &PutMode::Replace { keep: vec!["build".into()] }, owner()).unwrap();
        assert_eq!(std::fs::read(dir.path().join("build/deep/x.o")).unwrap(), b"obj");
        assert!(!dir.path().join("state.db").exists(), "what is not kept goes");
    }

    #[test]
    fn sockets_are_opened_only_when_they_are_the_boxs_own_sockets_reached_without_links() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let uid = nix::unistd::getuid().as_raw();
        std::fs::create_dir_all(dir.path().join("k")).unwrap();
        let _listener = std::os::unix::net::UnixListener::bind(dir.path().join("k/shell")).unwrap();
        let _host = std::os::unix::net::UnixListener::bind(outside.path().join("host.sock")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("host.sock"), dir.path().join("k/planted")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("via")).unwrap();
        std::fs::write(dir.path().join("k/file"), "not a socket").unwrap();
        let root = root_fd(dir.path());
        let socket = open_socket(root.as_fd(), "k/shell", uid).unwrap();
        let through = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&socket));
        std::os::unix::net::UnixStream::connect(through).expect("connects through the descriptor");
        for refused in ["k/planted", "via/host.sock", "k/file", "k", "../k/shell", "k/missing"] {
            assert!(open_socket(root.as_fd(), refused, uid).is_err(), "{refused}");
        }
        let err = open_socket(root.as_fd(), "k/shell", uid.wrapping_add(1)).unwrap_err();
        assert!(err.to_string().contains("not a socket of the box's"), "another uid's socket: {err}");
    }

    #[test]
    fn writes_never_follow_planted_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("evil")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("target"), dir.path().join("link")).unwrap();
        let root = root_fd(dir.path());
        let err = put_files(root.as_fd(), &[FileEntry::new("evil/passwd", "x")], &PutMode::Merge, owner()).unwrap_err();
        assert!(matches!(err, SandboxError::InvalidPath { .. }), "{err}");
        // A planted symlink at the file's own path is replaced, not
        // followed.
        put_files(root.as_fd(), &[FileEntry::new("link", "x")], &PutMode::Merge, owner()).unwrap();
        let link = std::fs::symlink_metadata(dir.path().join("link")).unwrap();
        assert!(link.file_type().is_file(), "the symlink became the sent file");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0, "nothing may be written outside");
    }

    #[test]
    fn hostile_paths_are_rejected_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let root = root_fd(dir.path());
        for bad in ["../x", "/etc/x", "a/../../b", "a/./b"] {
            let files = vec![FileEntry::new("good.txt", "ok"), FileEntry::new(bad, "x")];
            assert!(put_files(root.as_fd(), &files, &PutMode::Merge, owner()).is_err(), "{bad}");
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn non_utf8_names_are_skipped_on_read_and_removed_on_replace() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::tempdir().unwrap();
        let odd = std::ffi::OsStr::from_bytes(b"bad\xffname");
        std::fs::write(dir.path().join(odd), b"x").unwrap();
        std::fs::create_dir(dir.path().join(std::ffi::OsStr::from_bytes(b"dir\xfe"))).unwrap();
        std::fs::write(dir.path().join("ok.txt"), b"fine").unwrap();
        let root = root_fd(dir.path());
        let snapshot = get_files(root.as_fd(), &[], 1 << 20).unwrap();
        assert_eq!(snapshot.files.len(), 1);
        assert_eq!(snapshot.files[0].path, "ok.txt");
        assert_eq!(snapshot.skipped.iter().filter(|s| s.reason == "non_utf8_name").count(), 2);
        put_files(root.as_fd(), &[FileEntry::new("new.txt", "n")], &PutMode::Replace { keep: vec![] }, owner())
            .unwrap();
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, [std::ffi::OsString::from("new.txt")]);
    }

    #[test]
    fn reads_skip_symlinks_fifos_and_oversized_files() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("passwd")).unwrap();
        nix::unistd::mkfifo(&dir.path().join("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        std::fs::write(dir.path().join("big"), vec![b'x'; 1000]).unwrap();
        std::fs::write(dir.path().join("small"), b"hi").unwrap();
        let root = root_fd(dir.path());
        let snapshot = get_files(root.as_fd(), &[], 100).unwrap();
        assert_eq!(snapshot.files.len(), 1);
        assert_eq!(snapshot.files[0].path, "small");
        let reasons: Vec<_> = snapshot.skipped.iter().map(|s| (s.path.as_str(), s.reason.as_str())).collect();
        assert!(reasons.contains(&("passwd", "symlink")));
        assert!(reasons.contains(&("fifo", "special_file")));
        assert!(reasons.contains(&("big", "too_large")));
        let by_name = get_files(root.as_fd(), &["passwd".to_string()], 100).unwrap();
        assert!(by_name.files.is_empty());
        assert_eq!(by_name.skipped[0].reason, "symlink");
    }
}
