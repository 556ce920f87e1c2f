//! The host's templates of the session servers' state: a database server's
//! data directory, made once per host (per language and version) in a box
//! of its own by the catalog's template command, kept as a file in the
//! server's data directory, and put into each new session box before its
//! server starts, which then unpacks it instead of running the server's
//! initialiser (`docs/sql.md`).
//!
//! Nothing depends on a template: without one (none configured, or making
//! it failed) the server initialises its data directory itself.

use std::collections::HashMap;
use std::path::PathBuf;

use bytes::Bytes;
use bytesbox_sandbox::{Backend, BoxSpec, FileEntry, RunStatus};

use crate::planner::ServerPlan;

/// The largest template accepted from a box.
const MAX_TEMPLATE_BYTES: u64 = 32 * 1024 * 1024;

/// Templates by language and version: in memory once read or made, and on
/// disk in `dir`.
#[derive(Debug)]
pub struct ServerTemplates {
    dir: Option<PathBuf>,
    /// Held while one is read or made, so each is made once.
    known: tokio::sync::Mutex<HashMap<String, Option<Bytes>>>,
}

impl ServerTemplates {
    /// Templates kept in `dir` (made on first use); `None`: none are made,
    /// and every new box's server initialises its own data.
    pub fn new(dir: Option<PathBuf>) -> ServerTemplates {
        ServerTemplates { dir, known: tokio::sync::Mutex::new(HashMap::new()) }
    }

    /// The template of `language` at `version`: read from the directory,
    /// or made in a box of its own the first time. `None` when there is no
    /// directory or making it failed (logged, and not tried again by this
    /// process).
    pub async fn get(&self, backend: &dyn Backend, language: &str, version: &str, plan: &ServerPlan) -> Option<Bytes> {
        let dir = self.dir.as_ref()?;
        let name = file_name(language, version);
        let mut known = self.known.lock().await;
        if let Some(template) = known.get(&name) {
            return template.clone();
        }
        let path = dir.join(&name);
        let template = match tokio::fs::read(&path).await {
            Ok(bytes) => Some(Bytes::from(bytes)),
            Err(_) => match make(backend, plan).await {
                Ok(bytes) => {
                    if let Err(error) = write_atomically(&path, &bytes).await {
                        tracing::warn!(%error, path = %path.display(), "could not keep a server template");
                    }
                    tracing::info!(language, version, bytes = bytes.len(), "made a server template");
                    Some(bytes)
                }
                Err(error) => {
                    tracing::warn!(language, version, %error, "could not make a server template");
                    None
                }
            },
        };
        known.insert(name, template.clone());
        template
    }
}

impl ServerTemplates {
    /// The template as the workspace file the server's command looks for
    /// (`ServerPlan::TEMPLATE` in its state directory), when there is one.
    pub async fn workspace_file(
        &self,
        backend: &dyn Backend,
        language: &str,
        version: &str,
        plan: &ServerPlan,
    ) -> Option<FileEntry> {
        let content = self.get(backend, language, version, plan).await?;
        Some(FileEntry { path: format!("{}/{}", plan.state_dir, ServerPlan::TEMPLATE), content, executable: false })
    }
}

/// `mysql-MariaDB_10.11.19.tar.zst`: the language and its version, in
/// characters any file system takes.
fn file_name(language: &str, version: &str) -> String {
    let safe = |text: &str| -> String {
        text.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' }).collect()
    };
    format!("{}-{}.tar.zst", safe(language), safe(version))
}

/// Runs the template command in a box of its own and takes its file out.
async fn make(backend: &dyn Backend, plan: &ServerPlan) -> Result<Bytes, String> {
    let id = backend.create(BoxSpec::default()).await.map_err(|e| e.to_string())?;
    let made = async {
        let handle = backend.run(&id, plan.template.clone()).await.map_err(|e| e.to_string())?;
        let run = handle.collect().await.map_err(|e| e.to_string())?;
        if run.report.status != RunStatus::Ok {
            return Err(format!("the template command ended {:?}: {}", run.report.status, run.stderr_text()));
        }
        let path = format!("{}/{}", plan.state_dir, ServerPlan::TEMPLATE);
        let snapshot =
            backend.get_files(&id, vec![path.clone()], MAX_TEMPLATE_BYTES).await.map_err(|e| e.to_string())?;
        let file = snapshot.files.into_iter().find(|f| f.path == path);
        file.map(|f| f.content).ok_or_else(|| format!("the template command left no {path}"))
    }
    .await;
    let _ = backend.destroy(&id).await;
    made
}

/// Writes `path` whole or not at all (a crash leaves no half template).
async fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let partial = path.with_extension("partial");
    tokio::fs::write(&partial, bytes).await?;
    tokio::fs::rename(&partial, path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_file_names_hold_only_safe_characters() {
        assert_eq!(file_name("mysql", "MariaDB 10.11.19"), "mysql-MariaDB_10.11.19.tar.zst");
        assert_eq!(file_name("postgresql", "15.18/../x"), "postgresql-15.18_.._x.tar.zst");
    }
}
