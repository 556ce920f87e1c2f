//! Zip import of a project, streamed: each entry is decompressed in
//! chunks and written to the object store as it comes out, so an import
//! holds the archive (bounded by the request's body limit) and a few
//! chunks, never a whole entry. The archive is treated as hostile: it is
//! checked whole (entries, names, paths, declared sizes) before anything
//! is decompressed, and the decompressed bytes are counted as they come
//! out — the sizes the archive declares are not trusted — and refused as
//! soon as one file or the whole passes its limit.

use std::io::{Cursor, Read as _};

use bytes::Bytes;
use tokio::sync::mpsc;
use zip::ZipArchive;

use crate::model::{FileEntry, NewFileEntry, Project, ProjectId, ProjectSettings, UserId};
use crate::objects::{self, ObjectWriter};
use crate::project_files::{check_path, check_paths, FilesError, NewFile, ProjectFiles, Quota, QuotaKind, SizeLimit};

/// Most entries (files and folders) an imported archive may have,
/// whatever the quota says.
pub const MAX_ARCHIVE_ENTRIES: usize = 100_000;

/// How much decompressed data one chunk carries.
const CHUNK_BYTES: usize = 64 * 1024;

/// Chunks in flight between the decompressing thread and the object
/// store writer.
const CHUNKS_IN_FLIGHT: usize = 4;

/// What an imported archive may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Files (folders do not count).
    pub max_files: u64,
    /// Decompressed bytes, all files together.
    pub max_bytes: u64,
    /// Decompressed bytes of one file.
    pub max_file_bytes: u64,
}

/// Where [`unpack_zip`] hands the files: for each one `start`, its
/// chunks, then `end`. An error stops the unpacking.
pub trait EntrySink {
    /// A file begins.
    fn start(&mut self, path: &str) -> Result<(), FilesError>;
    /// The next chunk of its contents.
    fn chunk(&mut self, chunk: Bytes) -> Result<(), FilesError>;
    /// It is complete.
    fn end(&mut self) -> Result<(), FilesError>;
}

/// Checks an archive whole, then decompresses its files one by one into
/// `sink` in chunks, within `limits`. Folders are skipped (empty folders
/// are not stored). Blocking: run it on a blocking thread.
pub fn unpack_zip(archive: &[u8], limits: &ArchiveLimits, sink: &mut dyn EntrySink) -> Result<(), FilesError> {
    let mut zip = ZipArchive::new(Cursor::new(archive)).map_err(|error| invalid(&error))?;
    let files = check_archive(&mut zip, archive, limits)?;
    let mut total: u64 = 0;
    let mut buffer = vec![0u8; CHUNK_BYTES];
    for index in files {
        let mut entry = zip.by_index(index).map_err(|error| invalid(&error))?;
        let name = entry.name().to_owned();
        sink.start(&name)?;
        let mut size: u64 = 0;
        loop {
            let read = entry
                .read(&mut buffer)
                .map_err(|error| FilesError::InvalidArchive(format!("cannot decompress {name:?}: {error}")))?;
            if read == 0 {
                break;
            }
            size += read as u64;
            total += read as u64;
            if size > limits.max_file_bytes {
                return Err(FilesError::TooLarge { what: SizeLimit::FileBytes, limit: limits.max_file_bytes });
            }
            if total > limits.max_bytes {
                return Err(FilesError::QuotaExceeded { quota: QuotaKind::Bytes, limit: limits.max_bytes });
            }
            sink.chunk(Bytes::copy_from_slice(&buffer[..read]))?;
        }
        sink.end()?;
    }
    Ok(())
}

/// The files of an archive, in memory (tests, small archives): the same
/// checks as [`unpack_zip`], with no limit on one file's size.
pub fn read_zip(archive: &[u8], max_files: u64, max_bytes: u64) -> Result<Vec<NewFile>, FilesError> {
    #[derive(Default)]
    struct Collect(Vec<NewFile>, Vec<u8>);
    impl EntrySink for Collect {
        fn start(&mut self, path: &str) -> Result<(), FilesError> {
            self.0.push(NewFile { path: path.to_owned(), content: Bytes::new() });
            Ok(())
        }
        fn chunk(&mut self, chunk: Bytes) -> Result<(), FilesError> {
            self.1.extend_from_slice(&chunk);
            Ok(())
        }
        fn end(&mut self) -> Result<(), FilesError> {
            if let Some(file) = self.0.last_mut() {
                file.content = Bytes::from(std::mem::take(&mut self.1));
            }
            Ok(())
        }
    }
    let limits = ArchiveLimits { max_files, max_bytes, max_file_bytes: u64::MAX };
    let mut collect = Collect::default();
    unpack_zip(archive, &limits, &mut collect)?;
    Ok(collect.0)
}

/// Checks everything that can be checked without decompressing: the
/// number of entries, duplicates, encryption, symlinks, each name and the
/// set of paths, the number of files, and the declared sizes (a lie is
/// caught while decompressing). Returns the indexes of the file entries.
fn check_archive(
    zip: &mut ZipArchive<Cursor<&[u8]>>,
    archive: &[u8],
    limits: &ArchiveLimits,
) -> Result<Vec<usize>, FilesError> {
    // Folder entries do not count as files, but they cost work: allow a
    // folder per file and then some.
    let entry_cap = usize::try_from(limits.max_files.saturating_mul(2).saturating_add(64))
        .unwrap_or(usize::MAX)
        .min(MAX_ARCHIVE_ENTRIES);
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
    let mut paths = Vec::new();
    let mut declared: u64 = 0;
    for index in 0..zip.len() {
        // The raw entry: its metadata without decrypting anything.
        let raw = zip.by_index_raw(index).map_err(|error| invalid(&error))?;
        if raw.encrypted() {
            return Err(FilesError::InvalidArchive(format!("{:?} is encrypted", raw.name())));
        }
        if raw.is_symlink() {
            return Err(FilesError::InvalidArchive(format!("{:?} is a symbolic link", raw.name())));
        }
        if raw.is_dir() {
            check_entry_name(raw.name().trim_end_matches('/'))?;
            continue;
        }
        check_entry_name(raw.name())?;
        if files.len() as u64 >= limits.max_files {
            return Err(FilesError::QuotaExceeded { quota: QuotaKind::Files, limit: limits.max_files });
        }
        if raw.size() > limits.max_file_bytes {
            return Err(FilesError::TooLarge { what: SizeLimit::FileBytes, limit: limits.max_file_bytes });
        }
        declared = declared.saturating_add(raw.size());
        if declared > limits.max_bytes {
            return Err(FilesError::QuotaExceeded { quota: QuotaKind::Bytes, limit: limits.max_bytes });
        }
        paths.push(raw.name().to_owned());
        files.push(index);
    }
    check_paths(paths.iter().map(String::as_str)).map_err(|error| match error {
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

/// What the decompressing thread sends the object store writer.
enum Piece {
    Start(String),
    Chunk(Bytes),
    End,
}

/// Hands the pieces to the writer, waiting while it is behind.
struct ChannelSink(mpsc::Sender<Piece>);

impl ChannelSink {
    fn send(&self, piece: Piece) -> Result<(), FilesError> {
        // The writer stopped (it failed): its error is the one reported.
        self.0.blocking_send(piece).map_err(|_| FilesError::Io(std::io::Error::other("the import was stopped")))
    }
}

impl EntrySink for ChannelSink {
    fn start(&mut self, path: &str) -> Result<(), FilesError> {
        self.send(Piece::Start(path.to_owned()))
    }
    fn chunk(&mut self, chunk: Bytes) -> Result<(), FilesError> {
        self.send(Piece::Chunk(chunk))
    }
    fn end(&mut self) -> Result<(), FilesError> {
        self.send(Piece::End)
    }
}

impl ProjectFiles {
    /// Creates the project `name` from a zip, within `quota` (the archive
    /// may use no more files and bytes than the quota has left) and with
    /// no file over `max_file_bytes`. Each file is streamed into a new
    /// object; the project and its index are then created in one
    /// transaction, so it appears whole or not at all, and a refused
    /// import deletes what it wrote. The import runs to its end (success
    /// or clean-up) even if the caller stops waiting for it.
    pub async fn import_zip(
        &self,
        owner: &UserId,
        name: &str,
        archive: Bytes,
        quota: &Quota,
        max_file_bytes: u64,
    ) -> Result<(Project, Vec<FileEntry>), FilesError> {
        let files = self.clone();
        let (owner, name, quota) = (owner.clone(), name.to_owned(), *quota);
        tokio::spawn(async move { files.import_zip_to_end(&owner, &name, archive, &quota, max_file_bytes).await })
            .await
            .map_err(|error| FilesError::Io(std::io::Error::other(error)))?
    }

    async fn import_zip_to_end(
        &self,
        owner: &UserId,
        name: &str,
        archive: Bytes,
        quota: &Quota,
        max_file_bytes: u64,
    ) -> Result<(Project, Vec<FileEntry>), FilesError> {
        let usage = self.usage(owner).await?;
        let count = |value: i64| u64::try_from(value).unwrap_or(0);
        if count(usage.projects) >= quota.max_projects {
            return Err(FilesError::QuotaExceeded { quota: QuotaKind::Projects, limit: quota.max_projects });
        }
        let limits = ArchiveLimits {
            max_files: quota.max_files.saturating_sub(count(usage.files)),
            max_bytes: quota.max_bytes.saturating_sub(count(usage.bytes)),
            max_file_bytes,
        };
        let id = ProjectId::random();
        let (sender, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let unpacking = tokio::task::spawn_blocking(move || unpack_zip(&archive, &limits, &mut ChannelSink(sender)));
        let mut written = Vec::new();
        let stored = self.store_pieces(&id, receiver, &mut written).await;
        let unpacked = unpacking.await.map_err(|error| FilesError::Io(std::io::Error::other(error)));
        // The writer's failure stops the unpacking (and is the cause);
        // otherwise the unpacking's refusal is the answer.
        let outcome = stored.and(unpacked.and_then(|unpacked| unpacked)).map_err(|error| match error {
            // Report the plan's limit, not what was left of it.
            FilesError::QuotaExceeded { quota: kind @ (QuotaKind::Files | QuotaKind::Bytes), .. } => quota.error(kind),
            other => other,
        });
        if let Err(error) = outcome {
            self.discard(&written).await;
            return Err(error);
        }
        let settings = ProjectSettings { name: name.to_owned(), language: None, entry_file: None };
        self.commit_new_project(owner, &id, &settings, written, quota).await
    }

    /// Writes the files the unpacking sends, each into a new object of the
    /// project `id`, appending each complete one to `written`. Stops at
    /// the first failure; a file cut short (the unpacking refused it)
    /// leaves no object.
    async fn store_pieces(
        &self,
        id: &ProjectId,
        mut pieces: mpsc::Receiver<Piece>,
        written: &mut Vec<NewFileEntry>,
    ) -> Result<(), FilesError> {
        let mut current: Option<(String, ObjectWriter)> = None;
        let result = async {
            while let Some(piece) = pieces.recv().await {
                match piece {
                    Piece::Start(path) => {
                        current = Some((path, self.objects().writer(objects::new_object_key(id)?)));
                    }
                    Piece::Chunk(chunk) => {
                        if let Some((_, writer)) = &mut current {
                            writer.write(chunk).await?;
                        }
                    }
                    Piece::End => {
                        if let Some((path, writer)) = current.take() {
                            let key = writer.key().to_string();
                            let size = writer.finish().await?;
                            let size_bytes = i64::try_from(size).unwrap_or(i64::MAX);
                            written.push(NewFileEntry { path, size_bytes, object_key: key });
                        }
                    }
                }
            }
            Ok(())
        }
        .await;
        if let Some((_, writer)) = current {
            writer.abort().await;
        }
        result
    }
}
