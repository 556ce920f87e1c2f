//! Zip export and import of a project's files. Import treats the archive as
//! hostile: it caps entries and uncompressed bytes by what the user's quota
//! has left (whatever sizes the archive claims), and refuses traversal,
//! absolute paths, symlinks, encrypted entries and duplicates.

use std::io::{Cursor, Read as _, Write as _};

use bytes::Bytes;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use crate::model::{FileEntry, Project, ProjectId, ProjectSettings, UserId};
use crate::project_files::{check_path, check_paths, FilesError, NewFile, ProjectFiles, Quota, QuotaKind};

/// Most entries (files and folders) an imported archive may have,
/// whatever the quota says.
pub const MAX_ARCHIVE_ENTRIES: usize = 100_000;

/// The files of an archive, checked against `max_files` files and
/// `max_bytes` uncompressed bytes in all. Folders are skipped (empty
/// folders are not stored).
pub fn read_zip(archive: &[u8], max_files: u64, max_bytes: u64) -> Result<Vec<NewFile>, FilesError> {
    let mut zip = ZipArchive::new(Cursor::new(archive)).map_err(|error| invalid(&error))?;
    // Folder entries do not count as files, but they cost work: allow a
    // folder per file and then some.
    let entry_cap =
        usize::try_from(max_files.saturating_mul(2).saturating_add(64)).unwrap_or(usize::MAX).min(MAX_ARCHIVE_ENTRIES);
    if zip.len() > entry_cap {
        return Err(FilesError::InvalidArchive(format!(
            "it has {} entries; at most {entry_cap} are accepted",
            zip.len()
        )));
    }
    // The reader keeps one entry per name: count the central directory's
    // records ourselves to see duplicates it merged away.
    let records = central_directory_records(archive, zip.central_directory_start(), zip.offset());
    if records != Some(zip.len()) {
        return Err(FilesError::InvalidArchive("it has duplicate or unreadable entries".to_owned()));
    }
    let mut files = Vec::new();
    let mut total: u64 = 0;
    for index in 0..zip.len() {
        // The raw entry first: its metadata without decrypting anything.
        {
            let raw = zip.by_index_raw(index).map_err(|error| invalid(&error))?;
            if raw.encrypted() {
                return Err(FilesError::InvalidArchive(format!("{:?} is encrypted", raw.name())));
            }
            if raw.is_symlink() {
                return Err(FilesError::InvalidArchive(format!("{:?} is a symbolic link", raw.name())));
            }
        }
        let mut entry = zip.by_index(index).map_err(|error| invalid(&error))?;
        let name = entry.name().to_owned();
        if entry.is_dir() {
            check_entry_name(name.trim_end_matches('/'))?;
            continue;
        }
        check_entry_name(&name)?;
        if files.len() as u64 >= max_files {
            return Err(FilesError::QuotaExceeded { quota: QuotaKind::Files, limit: max_files });
        }
        // Read at most one byte past what is left: the claimed size may
        // lie, the decompressor's output is what counts.
        let left = max_bytes.saturating_sub(total);
        let mut content = Vec::new();
        (&mut entry)
            .take(left.saturating_add(1))
            .read_to_end(&mut content)
            .map_err(|error| FilesError::InvalidArchive(format!("cannot decompress {name:?}: {error}")))?;
        if content.len() as u64 > left {
            return Err(FilesError::QuotaExceeded { quota: QuotaKind::Bytes, limit: max_bytes });
        }
        total += content.len() as u64;
        files.push(NewFile { path: name, content: Bytes::from(content) });
    }
    check_paths(files.iter().map(|file| file.path.as_str())).map_err(|error| match error {
        FilesError::InvalidPath(reason) => FilesError::InvalidArchive(reason),
        other => other,
    })?;
    Ok(files)
}

/// How many central directory file headers follow the directory's start
/// (tried as an absolute position, then relative to prepended data).
fn central_directory_records(archive: &[u8], start: u64, offset: u64) -> Option<usize> {
    const SIGNATURE: [u8; 4] = [0x50, 0x4b, 0x01, 0x02];
    const FIXED: usize = 46;
    [start, start.saturating_add(offset)].into_iter().find_map(|start| {
        let mut at = usize::try_from(start).ok()?;
        if archive.get(at..at + 4)? != SIGNATURE {
            return None;
        }
        let mut count = 0;
        while archive.get(at..at + 4) == Some(&SIGNATURE[..]) {
            let header = archive.get(at..at + FIXED)?;
            let length = |field: usize| usize::from(u16::from_le_bytes([header[field], header[field + 1]]));
            at += FIXED + length(28) + length(30) + length(32);
            count += 1;
        }
        Some(count)
    })
}

fn check_entry_name(name: &str) -> Result<(), FilesError> {
    check_path(name).map_err(|error| match error {
        FilesError::InvalidPath(reason) => FilesError::InvalidArchive(reason),
        other => other,
    })
}

fn invalid(error: &zip::result::ZipError) -> FilesError {
    FilesError::InvalidArchive(error.to_string())
}

/// A zip of `files` (deflated, mode 0644).
pub fn write_zip(files: &[(String, Bytes)]) -> Result<Vec<u8>, FilesError> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .unix_permissions(0o644)
        .large_file(false);
    for (path, content) in files {
        let options = if content.len() as u64 >= u64::from(u32::MAX) { options.large_file(true) } else { options };
        zip.start_file(path.as_str(), options).map_err(|error| FilesError::Io(std::io::Error::other(error)))?;
        zip.write_all(content)?;
    }
    let cursor = zip.finish().map_err(|error| FilesError::Io(std::io::Error::other(error)))?;
    Ok(cursor.into_inner())
}

impl ProjectFiles {
    /// A zip of the project's files.
    pub async fn export_zip(&self, owner: &UserId, project: &ProjectId) -> Result<Vec<u8>, FilesError> {
        let files: Vec<_> =
            self.read_all(owner, project).await?.into_iter().map(|(entry, content)| (entry.path, content)).collect();
        tokio::task::spawn_blocking(move || write_zip(&files))
            .await
            .map_err(|error| FilesError::Io(std::io::Error::other(error)))?
    }

    /// Creates the project `name` from a zip, within `quota`: the archive
    /// may use no more files and bytes than the quota has left.
    pub async fn import_zip(
        &self,
        owner: &UserId,
        name: &str,
        archive: Bytes,
        quota: &Quota,
    ) -> Result<(Project, Vec<FileEntry>), FilesError> {
        let usage = self.usage(owner).await?;
        let count = |value: i64| u64::try_from(value).unwrap_or(0);
        if count(usage.projects) >= quota.max_projects {
            return Err(FilesError::QuotaExceeded { quota: QuotaKind::Projects, limit: quota.max_projects });
        }
        let (max_files, max_bytes) = (quota.max_files, quota.max_bytes);
        let files_left = max_files.saturating_sub(count(usage.files));
        let bytes_left = max_bytes.saturating_sub(count(usage.bytes));
        let files = tokio::task::spawn_blocking(move || read_zip(&archive, files_left, bytes_left))
            .await
            .map_err(|error| FilesError::Io(std::io::Error::other(error)))?
            .map_err(|error| match error {
                // Report the plan's limit, not what was left of it.
                FilesError::QuotaExceeded { quota: QuotaKind::Files, .. } => {
                    FilesError::QuotaExceeded { quota: QuotaKind::Files, limit: max_files }
                }
                FilesError::QuotaExceeded { quota: QuotaKind::Bytes, .. } => {
                    FilesError::QuotaExceeded { quota: QuotaKind::Bytes, limit: max_bytes }
                }
                other => other,
            })?;
        let settings = ProjectSettings { name: name.to_owned(), language: None, entry_file: None };
        self.create_project(owner, &settings, files, quota).await
    }
}
