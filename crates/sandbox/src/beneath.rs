//! Paths beneath a directory descriptor, for the server's reach into a
//! box's workspace (the native backend's tmpfs, the Docker backend's
//! volume): `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)` and `O_NOFOLLOW`, one component
//! at a time, so a symlink planted by a program never redirects the server,
//! and no host path is used. These calls block; run them on a blocking
//! thread.

use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use bytes::Bytes;

use rustix::fs::{openat2, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::paths::{validate_relative, MAX_DEPTH};
use crate::{FileEntry, SandboxError, SkippedEntry, WorkspaceSnapshot};

/// Most directory entries a walk visits, against hostile trees.
pub const MAX_WALK_ENTRIES: usize = 20_000;

/// How every path beneath the root is resolved.
pub const RESOLVE: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS)
    .union(ResolveFlags::NO_XDEV);

/// The error of a failed call on `path`.
pub fn io_error(path: &str, errno: Errno) -> SandboxError {
    match errno {
        Errno::NOSPC | Errno::DQUOT | Errno::FBIG => {
            SandboxError::WorkspaceFull(format!("no space left writing `{path}`"))
        }
        Errno::LOOP | Errno::XDEV => SandboxError::InvalidPath {
            path: path.to_string(),
            reason: "the path goes through a symlink or mount point",
        },
        Errno::NOTDIR => {
            SandboxError::InvalidPath { path: path.to_string(), reason: "a parent of the path is not a directory" }
        }
        Errno::ISDIR => SandboxError::InvalidPath { path: path.to_string(), reason: "the path is a directory" },
        other => SandboxError::Workspace { path: path.to_string(), source: other.into() },
    }
}

/// Opens directory `name` under `parent` for reading, never following
/// links.
pub fn open_dir<P: rustix::path::Arg>(parent: BorrowedFd<'_>, name: P) -> Result<OwnedFd, Errno> {
    openat2(
        parent,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        RESOLVE,
    )
}

/// Opens the Unix socket at `path` as `O_PATH`, never following a link on
/// the way or at its end: refused unless it is a socket owned by `uid`.
pub fn open_socket(root: BorrowedFd<'_>, path: &str, uid: u32) -> Result<OwnedFd, SandboxError> {
    let components = validate_relative(path)?;
    let Some((name, parents)) = components.split_last() else {
        return Err(SandboxError::InvalidPath { path: path.to_string(), reason: "path is empty" });
    };
    let mut dir = open_dir(root, ".").map_err(|e| io_error(path, e))?;
    for component in parents {
        dir = open_dir(dir.as_fd(), *component).map_err(|e| io_error(path, e))?;
    }
    let socket = openat2(&dir, *name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty(), RESOLVE)
        .map_err(|e| io_error(path, e))?;
    let stat = rustix::fs::fstat(&socket).map_err(|e| io_error(path, e))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::Socket || stat.st_uid != uid {
        return Err(SandboxError::InvalidPath { path: path.to_string(), reason: "not a socket of the box's" });
    }
    Ok(socket)
}

/// A directory entry's name: always its raw bytes, and its text when it is
/// valid UTF-8 (the API's paths are strings; other names are skipped when
/// reading and removed as bytes when clearing).
#[derive(Debug)]
pub struct Name {
    /// The raw bytes.
    pub raw: std::ffi::CString,
    /// The name as text, when it is UTF-8.
    pub text: Option<String>,
}

impl Name {
    /// The name as text, invalid UTF-8 replaced.
    pub fn display(&self) -> String {
        self.text.clone().unwrap_or_else(|| String::from_utf8_lossy(self.raw.as_bytes()).into_owned())
    }
}

/// Entries of a directory (without `.` and `..`), sorted, charged to the
/// walk budget.
pub fn list_dir(dir: BorrowedFd<'_>, path: &str, budget: &mut usize) -> Result<Vec<(Name, FileType)>, SandboxError> {
    let reopened = open_dir(dir, ".").map_err(|e| io_error(path, e))?;
    let mut entries = Vec::new();
    for entry in rustix::fs::Dir::read_from(&reopened).map_err(|e| io_error(path, e))? {
        let entry = entry.map_err(|e| io_error(path, e))?;
        let raw = entry.file_name().to_owned();
        if raw.as_bytes() == b"." || raw.as_bytes() == b".." {
            continue;
        }
        let name = Name { text: raw.to_str().ok().map(str::to_string), raw };
        if *budget == 0 {
            return Err(SandboxError::InvalidSpec("the workspace has too many entries to walk".into()));
        }
        *budget -= 1;
        let mut kind = entry.file_type();
        if kind == FileType::Unknown {
            let stat =
                rustix::fs::statat(dir, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW).map_err(|e| io_error(path, e))?;
            kind = FileType::from_raw_mode(stat.st_mode);
        }
        entries.push((name, kind));
    }
    entries.sort_by(|a, b| a.0.raw.cmp(&b.0.raw));
    Ok(entries)
}

/// Reads files from the workspace: `paths`, or every file when empty, up to
/// `max_total_bytes` in all. Symlinks and special files are listed as
/// skipped and never followed or opened.
pub fn get_files(
    root: BorrowedFd<'_>,
    paths: &[String],
    max_total_bytes: u64,
) -> Result<WorkspaceSnapshot, SandboxError> {
    let mut snapshot = WorkspaceSnapshot::default();
    let mut remaining = max_total_bytes;
    if paths.is_empty() {
        let dir = open_dir(root, ".").map_err(|e| io_error(".", e))?;
        let mut budget = MAX_WALK_ENTRIES;
        collect_tree(dir.as_fd(), "", 0, &mut budget, &mut remaining, &mut snapshot)?;
    } else {
        for path in paths {
            let components = validate_relative(path)?;
            let (name, parents) =
                components.split_last().ok_or_else(|| SandboxError::InvalidSpec("empty path".into()))?;
            let mut dir = open_dir(root, ".").map_err(|e| io_error(path, e))?;
            for component in parents {
                dir = open_dir(dir.as_fd(), *component).map_err(|e| io_error(path, e))?;
            }
            read_entry(dir.as_fd(), name, path, &mut remaining, &mut snapshot)?;
        }
    }
    Ok(snapshot)
}

fn collect_tree(
    dir: BorrowedFd<'_>,
    prefix: &str,
    depth: usize,
    budget: &mut usize,
    remaining: &mut u64,
    snapshot: &mut WorkspaceSnapshot,
) -> Result<(), SandboxError> {
    for (name, kind) in list_dir(dir, prefix, budget)? {
        let shown = name.display();
        let path = if prefix.is_empty() { shown } else { format!("{prefix}/{shown}") };
        let Some(name) = name.text else {
            snapshot.skipped.push(SkippedEntry { path, reason: "non_utf8_name".into() });
            continue;
        };
        match kind {
            FileType::Directory if depth + 1 < MAX_DEPTH => {
                let child = open_dir(dir, &name).map_err(|e| io_error(&path, e))?;
                collect_tree(child.as_fd(), &path, depth + 1, budget, remaining, snapshot)?;
            }
            FileType::Directory => snapshot.skipped.push(SkippedEntry { path, reason: "too_deep".into() }),
            FileType::Symlink => snapshot.skipped.push(SkippedEntry { path, reason: "symlink".into() }),
            FileType::RegularFile => read_entry(dir, &name, &path, remaining, snapshot)?,
            _ => snapshot.skipped.push(SkippedEntry { path, reason: "special_file".into() }),
        }
    }
    Ok(())
}

fn read_entry(
    dir: BorrowedFd<'_>,
    name: &str,
    path: &str,
    remaining: &mut u64,
    snapshot: &mut WorkspaceSnapshot,
) -> Result<(), SandboxError> {
    // O_NONBLOCK so that opening a FIFO cannot hang us; O_NOFOLLOW so a
    // final symlink fails with ELOOP instead of being followed.
    let opened = openat2(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
        RESOLVE,
    );
    let fd = match opened {
        Ok(fd) => fd,
        Err(Errno::LOOP) => {
            snapshot.skipped.push(SkippedEntry { path: path.to_string(), reason: "symlink".into() });
            return Ok(());
        }
        Err(e) => return Err(io_error(path, e)),
    };
    let stat = rustix::fs::fstat(&fd).map_err(|e| io_error(path, e))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        snapshot.skipped.push(SkippedEntry { path: path.to_string(), reason: "special_file".into() });
        return Ok(());
    }
    let size = u64::try_from(stat.st_size).unwrap_or(u64::MAX);
    if size > *remaining {
        snapshot.skipped.push(SkippedEntry { path: path.to_string(), reason: "too_large".into() });
        return Ok(());
    }
    let mut content = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    // The file may grow while we read; never read past the budget.
    std::fs::File::from(fd)
        .take(*remaining)
        .read_to_end(&mut content)
        .map_err(|e| SandboxError::Workspace { path: path.to_string(), source: e })?;
    *remaining -= content.len() as u64;
    snapshot.files.push(FileEntry {
        path: path.to_string(),
        content: Bytes::from(content),
        executable: stat.st_mode & 0o111 != 0,
    });
    Ok(())
}

/// One entry of a workspace listing ([`list_tree`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeEntry {
    /// Workspace-relative path.
    pub path: String,
    /// Whether it is a directory (else a regular file).
    pub dir: bool,
    /// Size in bytes (0 for a directory).
    pub size: u64,
    /// Last modification, nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// Inode number: a file replaced by a rename changes it.
    pub ino: u64,
    /// Whether a regular file is executable.
    pub executable: bool,
}

impl TreeEntry {
    fn of(path: String, stat: &rustix::fs::Stat) -> TreeEntry {
        let dir = FileType::from_raw_mode(stat.st_mode) == FileType::Directory;
        TreeEntry {
            path,
            dir,
            size: if dir { 0 } else { u64::try_from(stat.st_size).unwrap_or(0) },
            mtime_ns: i128::from(stat.st_mtime) * 1_000_000_000 + i128::from(stat.st_mtime_nsec),
            ino: stat.st_ino,
            executable: !dir && stat.st_mode & 0o111 != 0,
        }
    }
}

/// What [`list_tree`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeListing {
    /// Regular files and directories, parents before children.
    pub entries: Vec<TreeEntry>,
    /// Entries neither listed nor descended into: symlinks, special
    /// files, names that are not UTF-8, directories too deep.
    pub unlisted: usize,
    /// The walk stopped at its entry cap: entries past it are missing.
    pub truncated: bool,
}

/// Lists the workspace's regular files and directories without reading
/// them or following any link, visiting at most `max_entries` entries.
/// `skip(path, is_dir)` leaves an entry out (and a directory unvisited):
/// excluded trees cost nothing.
pub fn list_tree(
    root: BorrowedFd<'_>,
    max_entries: usize,
    skip: &dyn Fn(&str, bool) -> bool,
) -> Result<TreeListing, SandboxError> {
    let mut listing = TreeListing::default();
    let mut budget = max_entries;
    let dir = open_dir(root, ".").map_err(|e| io_error(".", e))?;
    list_into(dir.as_fd(), "", 0, &mut budget, skip, &mut listing)?;
    Ok(listing)
}

fn list_into(
    dir: BorrowedFd<'_>,
    prefix: &str,
    depth: usize,
    budget: &mut usize,
    skip: &dyn Fn(&str, bool) -> bool,
    listing: &mut TreeListing,
) -> Result<(), SandboxError> {
    // Within the budget: what a directory holds past it is left out.
    let mut names = Vec::new();
    let reopened = open_dir(dir, ".").map_err(|e| io_error(prefix, e))?;
    for entry in rustix::fs::Dir::read_from(&reopened).map_err(|e| io_error(prefix, e))? {
        let entry = entry.map_err(|e| io_error(prefix, e))?;
        let raw = entry.file_name().to_owned();
        if raw.as_bytes() == b"." || raw.as_bytes() == b".." {
            continue;
        }
        if *budget == 0 {
            listing.truncated = true;
            break;
        }
        *budget -= 1;
        let mut kind = entry.file_type();
        if kind == FileType::Unknown {
            let Ok(stat) = rustix::fs::statat(dir, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW) else { continue };
            kind = FileType::from_raw_mode(stat.st_mode);
        }
        names.push((Name { text: raw.to_str().ok().map(str::to_string), raw }, kind));
    }
    names.sort_by(|a, b| a.0.raw.cmp(&b.0.raw));
    for (name, kind) in names {
        let Some(text) = name.text else {
            listing.unlisted += 1;
            continue;
        };
        let path = if prefix.is_empty() { text.clone() } else { format!("{prefix}/{text}") };
        let is_dir = kind == FileType::Directory;
        if !is_dir && kind != FileType::RegularFile {
            listing.unlisted += 1;
            continue;
        }
        if skip(&path, is_dir) {
            continue;
        }
        if is_dir && depth + 1 >= MAX_DEPTH {
            listing.unlisted += 1;
            continue;
        }
        // Gone between the listing and now: skip it.
        let Ok(stat) = rustix::fs::statat(dir, name.raw.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) else { continue };
        if FileType::from_raw_mode(stat.st_mode) != kind {
            continue;
        }
        listing.entries.push(TreeEntry::of(path.clone(), &stat));
        if is_dir {
            let Ok(child) = open_dir(dir, name.raw.as_c_str()) else { continue };
            list_into(child.as_fd(), &path, depth + 1, budget, skip, listing)?;
        }
    }
    Ok(())
}

/// The entry of the regular file `name` in the workspace's root, not
/// followed if it is a link: `None` when there is none.
pub fn root_file(root: BorrowedFd<'_>, name: &str) -> Option<TreeEntry> {
    let stat = rustix::fs::statat(root, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
    (FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile).then(|| TreeEntry::of(name.to_string(), &stat))
}

/// Removes the entry `name` of `parent` (a directory with everything in
/// it), never following a link: a symlink is removed itself. An entry for
/// which `spare(path)` is true stays, and so do the directories that hold
/// it. Every entry visited is charged to `budget`. Returns whether the
/// entry is gone.
pub fn remove_tree(
    parent: BorrowedFd<'_>,
    name: &std::ffi::CStr,
    kind: FileType,
    path: &str,
    depth: usize,
    budget: &mut usize,
    spare: &dyn Fn(&str) -> bool,
) -> Result<bool, SandboxError> {
    if spare(path) {
        return Ok(false);
    }
    if kind != FileType::Directory {
        rustix::fs::unlinkat(parent, name, AtFlags::empty()).map_err(|e| io_error(path, e))?;
        return Ok(true);
    }
    if depth >= MAX_DEPTH * 4 {
        return Err(SandboxError::InvalidPath {
            path: path.to_string(),
            reason: "the directory tree is too deep to clear",
        });
    }
    let child = open_dir(parent, name).map_err(|e| io_error(path, e))?;
    let mut emptied = true;
    for (inner, inner_kind) in list_dir(child.as_fd(), path, budget)? {
        let inner_path = format!("{path}/{}", inner.display());
        emptied &= remove_tree(child.as_fd(), inner.raw.as_c_str(), inner_kind, &inner_path, depth + 1, budget, spare)?;
    }
    if emptied {
        rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR).map_err(|e| io_error(path, e))?;
    }
    Ok(emptied)
}

/// Deletes files and folders (with everything in them) beneath `root`,
/// never following a link on the way (a path through one is refused) or at
/// its end (a link is removed itself). Every path is checked, and its
/// folder reached, before anything is deleted (so a refused call deletes
/// nothing, unless a program swaps a folder for a link meanwhile, which
/// the deletion refuses in turn); a path that is not there is no error.
/// What `spare(path)` names stays, with the folders holding it. Returns
/// how many of `paths` were there. Removing visits at most `max_entries`
/// entries in all.
pub fn delete_paths(
    root: BorrowedFd<'_>,
    paths: &[String],
    max_entries: usize,
    spare: &dyn Fn(&str) -> bool,
) -> Result<usize, SandboxError> {
    // Checked first, one at a time: no more descriptors open at once than
    // one path's folders.
    for path in paths {
        parent_of(root, path)?;
    }
    let mut budget = max_entries;
    let mut deleted = 0;
    for path in paths {
        let Some((dir, name)) = parent_of(root, path)? else { continue };
        let kind = match rustix::fs::statat(&dir, name.as_c_str(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => FileType::from_raw_mode(stat.st_mode),
            // Not there (or gone with a folder deleted before it).
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(io_error(path, e)),
        };
        remove_tree(dir.as_fd(), name.as_c_str(), kind, path, 0, &mut budget, spare)?;
        deleted += 1;
    }
    Ok(deleted)
}

/// The folder that holds `path` (reached without following a link) and the
/// path's last name; `None` when a folder on the way is not there.
fn parent_of(root: BorrowedFd<'_>, path: &str) -> Result<Option<(OwnedFd, std::ffi::CString)>, SandboxError> {
    let components = validate_relative(path)?;
    let (name, parents) = components.split_last().ok_or_else(|| SandboxError::InvalidSpec("empty path".into()))?;
    let name = std::ffi::CString::new(*name).map_err(|_| io_error(path, Errno::INVAL))?;
    let mut dir = open_dir(root, ".").map_err(|e| io_error(path, e))?;
    for component in parents {
        dir = match open_dir(dir.as_fd(), *component) {
            Ok(opened) => opened,
            Err(Errno::NOENT) => return Ok(None),
            Err(e) => return Err(io_error(path, e)),
        };
    }
    Ok(Some((dir, name)))
}
