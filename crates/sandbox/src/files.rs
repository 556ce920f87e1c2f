//! Files moving in and out of a box's workspace.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// One regular file, addressed by a workspace-relative path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Workspace-relative path, validated with [`crate::paths::validate_relative`].
    pub path: String,
    /// The file's bytes.
    pub content: Bytes,
    /// Whether the file is executable.
    #[serde(default)]
    pub executable: bool,
}

impl FileEntry {
    /// A non-executable file.
    pub fn new(path: impl Into<String>, content: impl Into<Bytes>) -> Self {
        FileEntry { path: path.into(), content: content.into(), executable: false }
    }
}

/// How `put_files` treats what is already in the workspace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PutMode {
    /// Add or overwrite the given files; leave the rest.
    #[default]
    Merge,
    /// Make the workspace hold exactly the given files, except the
    /// workspace-relative paths in `keep` (state kept on purpose, such as a
    /// session's SQLite database).
    Replace {
        /// Paths that survive the replacement.
        keep: Vec<String>,
    },
}

/// A workspace entry that `get_files` did not return, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedEntry {
    /// Workspace-relative path.
    pub path: String,
    /// Why it was skipped: `symlink` (never followed), `special_file`
    /// (FIFO, socket, device), `too_large` (past the byte budget),
    /// `too_deep` (nested deeper than the path limit) or `non_utf8_name`
    /// (API paths are UTF-8 strings).
    pub reason: String,
}

/// What `get_files` returns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceSnapshot {
    /// Regular files, in path order.
    pub files: Vec<FileEntry>,
    /// Entries that were not returned.
    pub skipped: Vec<SkippedEntry>,
}
