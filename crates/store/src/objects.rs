//! Where file contents live: an object store (`object_store`) holding one
//! immutable object per saved version of a file. The file index in the
//! database points at the current object; see [`crate::ProjectFiles`] for
//! the write protocol and `docs/accounts.md` ("File contents").
//!
//! Object keys are `projects/<project id>/<random id>`: they are built from
//! two UUIDs only, never from anything a user typed, so no path a user
//! chooses can reach outside a project's prefix, and no two writes share a
//! key.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload, WriteMultipart};

use crate::model::ProjectId;
use crate::project_files::FilesError;

/// The first segment of every object key.
pub const OBJECTS_ROOT: &str = "projects";

/// The part size of a streamed write to a local directory (or memory):
/// what an [`ObjectWriter`] buffers before handing a part on.
const LOCAL_PART_BYTES: usize = 1024 * 1024;
/// The part size of a streamed write to S3: its multipart uploads need
/// parts of at least 5 MiB (all but the last).
const S3_PART_BYTES: usize = 5 * 1024 * 1024;

/// Where file contents are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectsConfig {
    /// A directory on the local disk (the default: `<data dir>/objects`).
    Local {
        /// Created when missing.
        dir: PathBuf,
    },
    /// An S3-compatible bucket. Credentials, region and endpoint come from
    /// the usual `AWS_*` environment variables (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT` for
    /// S3-compatible services, `AWS_ALLOW_HTTP` for a plain-HTTP one).
    S3 {
        /// The bucket's name.
        bucket: String,
        /// A key prefix inside the bucket (may be empty), so one bucket can
        /// serve several deployments.
        prefix: String,
    },
}

impl ObjectsConfig {
    /// The default: `<data_dir>/objects`.
    pub fn local_in_data_dir(data_dir: &FsPath) -> ObjectsConfig {
        ObjectsConfig::Local { dir: data_dir.join("objects") }
    }

    /// Reads a configuration value: empty means the default under
    /// `data_dir`, `s3://bucket/optional/prefix` a bucket, and anything else
    /// (an absolute path, or `file:///path`) a local directory. `memory:`
    /// is refused: files kept in process memory would all be lost at the
    /// next restart (tests have `Objects::in_memory`).
    pub fn parse(value: &str, data_dir: &FsPath) -> Result<ObjectsConfig, FilesError> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(ObjectsConfig::local_in_data_dir(data_dir));
        }
        if value == "memory:" {
            return Err(FilesError::Config(
                "memory: is not object storage for a server: every saved file would be lost at the next restart; \
                 use a directory or s3://bucket/prefix"
                    .to_owned(),
            ));
        }
        if let Some(rest) = value.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(FilesError::Config("an s3:// URL needs a bucket: s3://bucket/prefix".to_owned()));
            }
            return Ok(ObjectsConfig::S3 { bucket: bucket.to_owned(), prefix: prefix.trim_matches('/').to_owned() });
        }
        let path = value.strip_prefix("file://").unwrap_or(value);
        if !path.starts_with('/') {
            return Err(FilesError::Config(
                "object storage is an absolute directory, file:///dir or s3://bucket/prefix".to_owned(),
            ));
        }
        Ok(ObjectsConfig::Local { dir: PathBuf::from(path) })
    }
}

/// The object store for file contents, with what [`crate::ProjectFiles`]
/// needs on top: durable local writes and the local staging-file sweep.
#[derive(Debug, Clone)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    /// The directory of a local store: its writes are fsynced and its
    /// crash leftovers swept through the file system.
    local_root: Option<PathBuf>,
    /// What a streamed write buffers before handing a part on.
    part_bytes: usize,
}

impl Objects {
    /// Opens the store `config` names (creating a local directory).
    pub fn open(config: &ObjectsConfig) -> Result<Objects, FilesError> {
        match config {
            ObjectsConfig::Local { dir } => {
                std::fs::create_dir_all(dir)
                    .map_err(|error| FilesError::Config(format!("cannot create the objects directory: {error}")))?;
                let root = std::fs::canonicalize(dir)
                    .map_err(|error| FilesError::Config(format!("cannot open the objects directory: {error}")))?;
                let store = LocalFileSystem::new_with_prefix(&root)?;
                Ok(Objects { store: Arc::new(store), local_root: Some(root), part_bytes: LOCAL_PART_BYTES })
            }
            ObjectsConfig::S3 { bucket, prefix } => open_s3(bucket, prefix),
        }
    }

    /// A store in process memory, for tests only (the `memory-objects`
    /// feature): everything in it is lost when the process ends.
    #[cfg(any(test, feature = "memory-objects"))]
    pub fn in_memory() -> Objects {
        Objects {
            store: Arc::new(object_store::memory::InMemory::new()),
            local_root: None,
            part_bytes: LOCAL_PART_BYTES,
        }
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The directory of a local store.
    pub fn local_root(&self) -> Option<&FsPath> {
        self.local_root.as_deref()
    }

    /// Writes a whole object and returns once it is durable: every store
    /// makes a put visible all at once (S3 by nature, `LocalFileSystem` by
    /// writing a staging file `<key>#<n>` and renaming it), and for a local
    /// store we then fsync the file and the directories whose entries the
    /// put created, so the index never points at an object that a power
    /// cut could still lose.
    pub(crate) async fn put_durable(&self, key: &ObjectPath, content: Bytes) -> Result<(), FilesError> {
        self.put_payload_durable(key, PutPayload::from_bytes(content)).await
    }

    async fn put_payload_durable(&self, key: &ObjectPath, payload: PutPayload) -> Result<(), FilesError> {
        self.store.put(key, payload).await?;
        self.sync_local(key).await
    }

    /// A writer of a new object under `key` from chunks as they come: see
    /// [`ObjectWriter`].
    pub(crate) fn writer(&self, key: ObjectPath) -> ObjectWriter {
        ObjectWriter { objects: self.clone(), key, pending: Vec::new(), pending_bytes: 0, upload: None, size: 0 }
    }

    /// Copies the object `from` to the new key `to` without reading it
    /// here (a hard link on a local store, a server-side copy on S3), and
    /// returns once the copy is durable. `Ok(false)` if `from` does not
    /// exist.
    pub(crate) async fn copy_durable(&self, from: &ObjectPath, to: &ObjectPath) -> Result<bool, FilesError> {
        match self.store.copy(from, to).await {
            Ok(()) => {}
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(error) => return Err(error.into()),
        }
        self.sync_local(to).await?;
        Ok(true)
    }

    /// For a local store, fsyncs the object's file and the directories a
    /// put may have created; nothing for the others.
    async fn sync_local(&self, key: &ObjectPath) -> Result<(), FilesError> {
        if let Some(root) = &self.local_root {
            let file = root.join(key.as_ref());
            tokio::task::spawn_blocking(move || sync_file_and_parents(&file, 3))
                .await
                .map_err(|error| FilesError::Io(std::io::Error::other(error)))??;
        }
        Ok(())
    }

    /// An object's contents; `None` if it does not exist.
    pub(crate) async fn get(&self, key: &ObjectPath) -> Result<Option<Bytes>, FilesError> {
        match self.store.get(key).await {
            Ok(result) => Ok(Some(result.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// An object's contents, if it is at most `max_bytes` long (its size
    /// is known before reading it): `Ok(None)` if it does not exist,
    /// `Err(size)` inside if it is longer.
    pub(crate) async fn get_within(
        &self,
        key: &ObjectPath,
        max_bytes: u64,
    ) -> Result<Option<Result<Bytes, u64>>, FilesError> {
        match self.store.get(key).await {
            Ok(result) if result.meta.size > max_bytes => Ok(Some(Err(result.meta.size))),
            Ok(result) => Ok(Some(Ok(result.bytes().await?))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// An object's contents as a stream of chunks; `None` if it does not
    /// exist.
    pub(crate) async fn get_stream(
        &self,
        key: &ObjectPath,
    ) -> Result<Option<BoxStream<'static, object_store::Result<Bytes>>>, FilesError> {
        match self.store.get(key).await {
            Ok(result) => Ok(Some(match result.payload {
                // `into_stream` reads a local file 8 KiB per blocking
                // task; read bigger chunks.
                object_store::GetResultPayload::File(file, _) => local_file_chunks(file),
                object_store::GetResultPayload::Stream(stream) => stream,
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Deletes an object, logging (not returning) a failure: used once the
    /// index no longer points at it, where a leftover is only an orphan
    /// for the sweep.
    pub(crate) async fn delete_best_effort(&self, key: &str) {
        let Ok(path) = ObjectPath::parse(key) else {
            tracing::warn!(key, "not deleting an object with a malformed key");
            return;
        };
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => tracing::warn!(key, %error, "could not delete an object; the orphan sweep will"),
        }
    }
}

/// Writes one new object from chunks as they come, holding at most about
/// two parts in memory whatever the object's size: a small object (up to
/// one part) is one ordinary put; a larger one becomes a multipart upload
/// (on a local store, a staging file renamed into place at the end, as an
/// ordinary put does), with at most one part in flight. Like
/// [`Objects::put_durable`], [`ObjectWriter::finish`] returns once the
/// object is durable and visible all at once. A writer dropped or aborted
/// before it finishes leaves no object (a local staging file is removed
/// on drop; an S3 upload is aborted by [`ObjectWriter::abort`]).
#[derive(Debug)]
pub(crate) struct ObjectWriter {
    objects: Objects,
    key: ObjectPath,
    /// Chunks not handed on yet (before the upload starts).
    pending: Vec<Bytes>,
    pending_bytes: usize,
    upload: Option<WriteMultipart>,
    size: u64,
}

impl ObjectWriter {
    /// The object's key.
    pub(crate) fn key(&self) -> &ObjectPath {
        &self.key
    }

    /// Appends `chunk`, waiting while a part is still being written.
    pub(crate) async fn write(&mut self, chunk: Bytes) -> Result<(), FilesError> {
        self.size += chunk.len() as u64;
        if let Some(upload) = &mut self.upload {
            // At most one part in flight and one filling: memory stays
            // bounded however fast the chunks come.
            upload.wait_for_capacity(1).await?;
            upload.put(chunk);
            return Ok(());
        }
        self.pending_bytes += chunk.len();
        self.pending.push(chunk);
        if self.pending_bytes >= self.objects.part_bytes {
            let upload = self.objects.store.put_multipart(&self.key).await?;
            let mut upload = WriteMultipart::new_with_chunk_size(upload, self.objects.part_bytes);
            for pending in self.pending.drain(..) {
                upload.put(pending);
            }
            self.pending_bytes = 0;
            self.upload = Some(upload);
        }
        Ok(())
    }

    /// Completes the object and waits until it is durable; its size.
    pub(crate) async fn finish(self) -> Result<u64, FilesError> {
        match self.upload {
            Some(upload) => {
                upload.finish().await?;
                self.objects.sync_local(&self.key).await?;
            }
            None => {
                let payload: PutPayload = self.pending.into_iter().collect();
                self.objects.put_payload_durable(&self.key, payload).await?;
            }
        }
        Ok(self.size)
    }

    /// Gives up: nothing of the object remains (a failure to abort an S3
    /// upload is logged; its parts are the bucket's lifecycle rule's).
    pub(crate) async fn abort(self) {
        if let Some(upload) = self.upload {
            if let Err(error) = upload.abort().await {
                tracing::warn!(key = %self.key, %error, "could not abort an upload");
            }
        }
    }
}

#[cfg(feature = "s3")]
impl Objects {
    /// Opens the bucket `bucket` under the key prefix `prefix` (may be
    /// empty) with an S3 client configured by `builder`. [`Objects::open`]
    /// passes `AmazonS3Builder::from_env()`; tests pass their own endpoint
    /// and credentials, so they exercise the same code without touching
    /// the process environment.
    pub fn open_s3_with(
        builder: object_store::aws::AmazonS3Builder,
        bucket: &str,
        prefix: &str,
    ) -> Result<Objects, FilesError> {
        let store = builder.with_bucket_name(bucket).build()?;
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(store)
        } else {
            let prefix = ObjectPath::parse(prefix)
                .map_err(|error| FilesError::Config(format!("invalid S3 key prefix: {error}")))?;
            Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
        };
        Ok(Objects { store, local_root: None, part_bytes: S3_PART_BYTES })
    }
}

#[cfg(feature = "s3")]
fn open_s3(bucket: &str, prefix: &str) -> Result<Objects, FilesError> {
    Objects::open_s3_with(object_store::aws::AmazonS3Builder::from_env(), bucket, prefix)
}

#[cfg(not(feature = "s3"))]
fn open_s3(_bucket: &str, _prefix: &str) -> Result<Objects, FilesError> {
    Err(FilesError::Config("this build has no S3 support (the `s3` feature of bytesbox-store)".to_owned()))
}

/// How much of a local object one blocking read takes.
const LOCAL_READ_BYTES: usize = 256 * 1024;

/// A local object's file as a stream of chunks, each read on a blocking
/// thread.
fn local_file_chunks(file: std::fs::File) -> BoxStream<'static, object_store::Result<Bytes>> {
    use futures_util::StreamExt as _;
    let read = futures_util::stream::try_unfold(file, |mut file| async move {
        let (file, chunk) = tokio::task::spawn_blocking(move || {
            use std::io::Read as _;
            let mut chunk = Vec::with_capacity(LOCAL_READ_BYTES);
            (&mut file).take(LOCAL_READ_BYTES as u64).read_to_end(&mut chunk)?;
            Ok::<_, std::io::Error>((file, chunk))
        })
        .await
        .map_err(std::io::Error::other)??;
        Ok::<_, std::io::Error>((!chunk.is_empty()).then(|| (Bytes::from(chunk), file)))
    });
    read.map(|chunk| chunk.map_err(|source| object_store::Error::Generic { store: "local", source: Box::new(source) }))
        .boxed()
}

/// fsyncs `file` and its `levels` nearest parent directories.
fn sync_file_and_parents(file: &FsPath, levels: usize) -> Result<(), FilesError> {
    std::fs::File::open(file)?.sync_all()?;
    let mut dir = file.parent();
    for _ in 0..levels {
        let Some(current) = dir else { break };
        std::fs::File::open(current)?.sync_all()?;
        dir = current.parent();
    }
    Ok(())
}

/// A project's id in its canonical form, or an error: only canonical
/// UUIDs go into keys.
fn canonical_project(project: &ProjectId) -> Result<String, FilesError> {
    let parsed = uuid::Uuid::parse_str(&project.0).map_err(|_| FilesError::InvalidKey)?;
    let canonical = parsed.hyphenated().to_string();
    if canonical != project.0 {
        return Err(FilesError::InvalidKey);
    }
    Ok(canonical)
}

/// The prefix under which all of a project's objects live:
/// `projects/<project id>`.
pub fn project_prefix(project: &ProjectId) -> Result<ObjectPath, FilesError> {
    let canonical = canonical_project(project)?;
    Ok(ObjectPath::from_iter([OBJECTS_ROOT, canonical.as_str()]))
}

/// A new, never used key for one version of a file of `project`:
/// `projects/<project id>/<random 128-bit id>`.
pub fn new_object_key(project: &ProjectId) -> Result<ObjectPath, FilesError> {
    let canonical = canonical_project(project)?;
    let object = uuid::Uuid::new_v4().simple().to_string();
    Ok(ObjectPath::from_iter([OBJECTS_ROOT, canonical.as_str(), object.as_str()]))
}

/// The project a key belongs to, if it has the shape [`new_object_key`]
/// makes.
pub(crate) fn key_project(key: &ObjectPath) -> Option<ProjectId> {
    let parts: Vec<_> = key.parts().collect();
    match parts.as_slice() {
        [root, project, object]
            if root.as_ref() == OBJECTS_ROOT
                && uuid::Uuid::parse_str(object.as_ref()).is_ok()
                && canonical_project(&ProjectId(project.as_ref().to_owned())).is_ok() =>
        {
            Some(ProjectId(project.as_ref().to_owned()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_values_are_read_strictly() {
        let data = FsPath::new("/srv/data");
        assert_eq!(ObjectsConfig::parse("", data).unwrap(), ObjectsConfig::Local { dir: "/srv/data/objects".into() });
        assert_eq!(ObjectsConfig::parse(" /mnt/o ", data).unwrap(), ObjectsConfig::Local { dir: "/mnt/o".into() });
        assert_eq!(ObjectsConfig::parse("file:///mnt/o", data).unwrap(), ObjectsConfig::Local { dir: "/mnt/o".into() });
        let memory = ObjectsConfig::parse("memory:", data).unwrap_err().to_string();
        assert!(memory.contains("lost at the next restart"), "{memory}");
        assert_eq!(
            ObjectsConfig::parse("s3://bucket/a/b/", data).unwrap(),
            ObjectsConfig::S3 { bucket: "bucket".into(), prefix: "a/b".into() }
        );
        assert_eq!(
            ObjectsConfig::parse("s3://bucket", data).unwrap(),
            ObjectsConfig::S3 { bucket: "bucket".into(), prefix: String::new() }
        );
        for bad in ["s3://", "s3:///prefix", "relative/dir", "gs://bucket"] {
            assert!(matches!(ObjectsConfig::parse(bad, data), Err(FilesError::Config(_))), "{bad}");
        }
    }

    #[cfg(feature = "s3")]
    #[test]
    fn an_s3_store_is_built_from_the_environment_without_contacting_it() {
        // Building checks the configuration only; credentials and the
        // endpoint are used on the first request.
        let objects = Objects::open(&ObjectsConfig::S3 { bucket: "bytesbox-test".into(), prefix: "a/b".into() });
        let objects = objects.unwrap();
        assert!(objects.local_root().is_none(), "S3 writes are not fsynced locally");
        assert!(format!("{:?}", objects.store()).contains("bytesbox-test"));
    }

    #[test]
    fn keys_name_their_project() {
        let project = ProjectId(uuid::Uuid::new_v4().to_string());
        let key = new_object_key(&project).unwrap();
        assert_eq!(key_project(&key), Some(project));
        assert_eq!(key_project(&ObjectPath::from_iter([OBJECTS_ROOT, "README"])), None);
        let not_uuid = ObjectPath::from_iter([OBJECTS_ROOT, "x", "y"]);
        assert_eq!(key_project(&not_uuid), None);
    }
}
