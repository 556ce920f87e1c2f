//! Paths beneath a directory descriptor, for the server's reach into a
//! box's workspace (the native backend's tmpfs, the Docker backend's
//! volume): `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
//! RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)` and `O_NOFOLLOW`, one component
//! at a time, so a symlink planted by a program never redirects the server,
//! and no host path is used. These calls block; run them on a blocking
//! thread.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{openat2, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::paths::validate_relative;
use crate::SandboxError;

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
