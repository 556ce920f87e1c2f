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
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};

use crate::model::ProjectId;
use crate::project_files::FilesError;

/// The first segment of every object key.
pub const OBJECTS_ROOT: &str = "projects";

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
    /// Process memory: for tests only, gone when the process ends.
    InMemory,
}

impl ObjectsConfig {
    /// The default: `<data_dir>/objects`.
    pub fn local_in_data_dir(data_dir: &FsPath) -> ObjectsConfig {
        ObjectsConfig::Local { dir: data_dir.join("objects") }
    }

    /// Reads a configuration value: empty means the default under
    /// `data_dir`, `s3://bucket/optional/prefix` a bucket, `memory:` process
    /// memory, and anything else (an absolute path, or `file:///path`) a
    /// local directory.
    pub fn parse(value: &str, data_dir: &FsPath) -> Result<ObjectsConfig, FilesError> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(ObjectsConfig::local_in_data_dir(data_dir));
        }
        if value == "memory:" {
            return Ok(ObjectsConfig::InMemory);
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
                "object storage is an absolute directory, file:///dir, s3://bucket/prefix or memory:".to_owned(),
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
                Ok(Objects { store: Arc::new(store), local_root: Some(root) })
            }
            ObjectsConfig::S3 { bucket, prefix } => open_s3(bucket, prefix),
            ObjectsConfig::InMemory => Ok(Objects::in_memory()),
        }
    }

    /// A store in process memory (tests).
    pub fn in_memory() -> Objects {
        Objects { store: Arc::new(InMemory::new()), local_root: None }
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
        self.store.put(key, PutPayload::from_bytes(content)).await?;
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

#[cfg(feature = "s3")]
fn open_s3(bucket: &str, prefix: &str) -> Result<Objects, FilesError> {
    let store = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket).build()?;
    let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
        Arc::new(store)
    } else {
        let prefix =
            ObjectPath::parse(prefix).map_err(|error| FilesError::Config(format!("invalid S3 key prefix: {error}")))?;
        Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
    };
    Ok(Objects { store, local_root: None })
}

#[cfg(not(feature = "s3"))]
fn open_s3(_bucket: &str, _prefix: &str) -> Result<Objects, FilesError> {
    Err(FilesError::Config("this build has no S3 support (the `s3` feature of bytesbox-store)".to_owned()))
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
        assert_eq!(ObjectsConfig::parse("memory:", data).unwrap(), ObjectsConfig::InMemory);
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
