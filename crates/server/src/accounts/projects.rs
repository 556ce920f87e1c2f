//! `/api/v1/projects`: a user's saved projects and their files
//! (`docs/api.md`, "Accounts, projects and admin"). Contents go through
//! `bytesbox_store::ProjectFiles`, which keeps the object store and the
//! file index consistent; quotas come from the caller's plan.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytesbox_store::{
    FileEntry, FilesError, NewFile, Project, ProjectFiles, ProjectId, ProjectSettings, Quota, RunRecord, SizeLimit,
    User,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Caller;
use crate::api_error::{ApiError, InputBytes, InputJson, InputQuery};
use crate::app::AppState;
use crate::protocol::{EncodedBytes, Encoding};

/// The header that carries a file's version on `GET …/files/{path}`.
pub const VERSION_HEADER: &str = "x-bytesbox-version";

/// A project as the API shows it.
#[derive(Debug, Serialize)]
pub struct ProjectView {
    /// Id.
    pub id: String,
    /// Name, unique among the owner's projects.
    pub name: String,
    /// Catalog language id.
    pub language: Option<String>,
    /// The file that runs.
    pub entry_file: Option<String>,
    /// Named by every write.
    pub version: i64,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    /// Unix milliseconds.
    pub updated_at_ms: i64,
}

impl From<&Project> for ProjectView {
    fn from(project: &Project) -> ProjectView {
        ProjectView {
            id: project.id.0.clone(),
            name: project.name.clone(),
            language: project.language.clone(),
            entry_file: project.entry_file.clone(),
            version: project.version,
            created_at_ms: project.created_at_ms,
            updated_at_ms: project.updated_at_ms,
        }
    }
}

/// A file as the API shows it (no object key: that is the server's).
#[derive(Debug, Serialize)]
pub struct FileView {
    /// Workspace-relative path.
    pub path: String,
    /// Size of the contents.
    pub size_bytes: i64,
    /// Named by every write of this file.
    pub version: i64,
    /// Unix milliseconds.
    pub updated_at_ms: i64,
}

impl From<&FileEntry> for FileView {
    fn from(file: &FileEntry) -> FileView {
        FileView {
            path: file.path.clone(),
            size_bytes: file.size_bytes,
            version: file.version,
            updated_at_ms: file.updated_at_ms,
        }
    }
}

fn project_with_files(project: &Project, files: &[FileEntry]) -> serde_json::Value {
    json!({
        "project": ProjectView::from(project),
        "files": files.iter().map(FileView::from).collect::<Vec<_>>(),
    })
}

/// One file of `POST /api/v1/projects`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewFileBody {
    /// Workspace-relative path.
    pub path: String,
    /// The contents, in `encoding`.
    pub content: String,
    /// `utf8` (the default) or `base64`.
    #[serde(default)]
    pub encoding: Encoding,
}

/// `POST /api/v1/projects`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    /// The project's name.
    pub name: String,
    /// Catalog language id.
    #[serde(default)]
    pub language: Option<String>,
    /// The file that runs.
    #[serde(default)]
    pub entry_file: Option<String>,
    /// The first files.
    #[serde(default)]
    pub files: Vec<NewFileBody>,
}

/// `PUT /api/v1/projects/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    /// The version this change is based on.
    pub version: i64,
    /// The new name.
    pub name: String,
    /// The new language (null clears it).
    #[serde(default)]
    pub language: Option<String>,
    /// The new entry file (null clears it).
    #[serde(default)]
    pub entry_file: Option<String>,
}

/// `POST /api/v1/projects/{id}/duplicate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuplicateBody {
    /// The copy's name.
    pub name: String,
}

/// `?version=N` of writes and deletions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    /// The version the write is based on (0: the file does not exist yet).
    pub version: Option<i64>,
}

/// `?name=NAME` of an import.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// The new project's name.
    pub name: Option<String>,
}

/// The caller's user, the project files service and the plan's quota.
fn context(state: &AppState, caller: &Caller) -> Result<(User, ProjectFiles, Quota), ApiError> {
    let user = caller.require_user()?.clone();
    let accounts = state.accounts()?;
    let files = accounts.files.clone().ok_or_else(|| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "accounts_unavailable", "this server has no project storage")
    })?;
    let plan = accounts.plans.get(&user.plan);
    let quota = Quota { max_projects: plan.max_projects, max_files: plan.max_files, max_bytes: plan.max_bytes };
    Ok((user, files, quota))
}

/// For a session that says which project its box holds (`docs/git.md`,
/// "Saved with the project"): the caller's user, the project files
/// service and the plan's quota, if the project is the caller's own
/// (someone else's is `not_found`, a guest gets `sign_in_required`).
pub(crate) async fn owned_project(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(User, ProjectFiles, Quota, ProjectId), ApiError> {
    let (user, files, quota) = context(state, caller)?;
    let id = project_id(id.to_owned());
    files.store().project(&user.id, &id).await?;
    Ok((user, files, quota, id))
}

fn required_version(query: Result<InputQuery<VersionQuery>, ApiError>) -> Result<i64, ApiError> {
    let InputQuery(query) = query?;
    match query.version {
        Some(version) if version >= 0 => Ok(version),
        Some(_) => Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", "a version is 0 or more")),
        None => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            "name the version this change is based on: ?version=N (0 for a new file)",
        )),
    }
}

/// An entry file follows the run rules like every path (it need not
/// exist yet: the IDE may set it before saving the file).
fn check_entry_file(entry_file: Option<&str>) -> Result<(), ApiError> {
    match entry_file {
        Some(path) => bytesbox_store::check_path(path).map_err(ApiError::from),
        None => Ok(()),
    }
}

/// A project id as the store wants it; anything that is not a canonical
/// UUID cannot be one of ours, so it is simply not found.
fn project_id(id: String) -> ProjectId {
    ProjectId(id)
}

impl From<FilesError> for ApiError {
    fn from(error: FilesError) -> ApiError {
        let message = error.to_string();
        match error {
            FilesError::Store(error) => ApiError::from(error),
            FilesError::QuotaExceeded { quota, limit } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "quota_exceeded", message)
                    .with_detail("quota", quota.as_str())
                    .with_detail("limit", limit)
            }
            FilesError::TooLarge { what, limit } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
                .with_detail("limit", limit)
                .with_detail("what", size_limit_name(what)),
            FilesError::InvalidPath(_) | FilesError::InvalidArchive(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", message)
            }
            // Not a key the store made: not one of the caller's projects.
            FilesError::InvalidKey => ApiError::new(StatusCode::NOT_FOUND, "not_found", "not found"),
            FilesError::MissingObject { .. } => {
                tracing::error!(%error, "a file's contents are missing from object storage");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
            }
            FilesError::Objects(_) | FilesError::Io(_) | FilesError::Config(_) => {
                tracing::error!(%error, "object storage failure");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "accounts_unavailable",
                    "file storage is unavailable; try again",
                )
                .server_fault(format!("object storage failure: {error}"))
            }
        }
    }
}

fn size_limit_name(what: SizeLimit) -> &'static str {
    match what {
        SizeLimit::FileBytes => "file_bytes",
        SizeLimit::ProjectFiles => "project_files",
        SizeLimit::ProjectBytes => "project_bytes",
    }
}

/// `GET /api/v1/projects`.
pub async fn list(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Json<serde_json::Value>, ApiError> {
    let (user, files, _) = context(&state, &caller)?;
    let projects = files.store().list_projects(&user.id).await?;
    Ok(Json(json!({ "projects": projects.iter().map(ProjectView::from).collect::<Vec<_>>() })))
}

/// `POST /api/v1/projects`.
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Result<InputJson<CreateBody>, ApiError>,
) -> Result<Response, ApiError> {
    let (user, files, quota) = context(&state, &caller)?;
    let InputJson(body) = body?;
    let mut new_files = Vec::with_capacity(body.files.len());
    for file in body.files {
        let EncodedBytes(content) = EncodedBytes::decode(&file.content, file.encoding).map_err(|error| {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", format!("{}: {error}", file.path))
        })?;
        new_files.push(NewFile { path: file.path, content });
    }
    check_entry_file(body.entry_file.as_deref())?;
    let settings = ProjectSettings { name: body.name, language: body.language, entry_file: body.entry_file };
    let (project, entries) = files.create_project(&user.id, &settings, new_files, &quota).await?;
    Ok((StatusCode::CREATED, Json(project_with_files(&project, &entries))).into_response())
}

/// `GET /api/v1/projects/{id}`.
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (user, files, _) = context(&state, &caller)?;
    let id = project_id(id);
    let project = files.store().project(&user.id, &id).await?;
    let entries = files.list_files(&user.id, &id).await?;
    Ok(Json(project_with_files(&project, &entries)))
}

/// `PUT /api/v1/projects/{id}`.
pub async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<InputJson<UpdateBody>, ApiError>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (user, files, _) = context(&state, &caller)?;
    let InputJson(body) = body?;
    check_entry_file(body.entry_file.as_deref())?;
    let settings = ProjectSettings { name: body.name, language: body.language, entry_file: body.entry_file };
    let project = files.store().update_project(&user.id, &project_id(id), body.version, &settings).await?;
    Ok(Json(json!({ "project": ProjectView::from(&project) })))
}

/// `DELETE /api/v1/projects/{id}?version=N`.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    query: Result<InputQuery<VersionQuery>, ApiError>,
) -> Result<StatusCode, ApiError> {
    let (user, files, _) = context(&state, &caller)?;
    let version = required_version(query)?;
    files.delete_project(&user.id, &project_id(id), version).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/projects/{id}/duplicate`.
pub async fn duplicate(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    body: Result<InputJson<DuplicateBody>, ApiError>,
) -> Result<Response, ApiError> {
    let (user, files, quota) = context(&state, &caller)?;
    let InputJson(body) = body?;
    let (project, entries) = files.duplicate_project(&user.id, &project_id(id), &body.name, &quota).await?;
    Ok((StatusCode::CREATED, Json(project_with_files(&project, &entries))).into_response())
}

/// `GET /api/v1/projects/{id}/files/{path}`: the raw bytes.
pub async fn read_file(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((id, path)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (user, files, _) = context(&state, &caller)?;
    let (entry, content) = files.read_file(&user.id, &project_id(id), &path).await?;
    let mut response = content.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(VERSION_HEADER, HeaderValue::from(entry.version));
    // A download, never a page: an HTML file of a project opened from the
    // API must not run in the IDE's origin.
    let name = download_name(path.rsplit('/').next().unwrap_or_default());
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// `PUT /api/v1/projects/{id}/files/{path}?version=N`: the body is the
/// raw bytes.
pub async fn write_file(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((id, path)): Path<(String, String)>,
    query: Result<InputQuery<VersionQuery>, ApiError>,
    content: Result<InputBytes, ApiError>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (user, files, quota) = context(&state, &caller)?;
    let version = required_version(query)?;
    let InputBytes(content) = content?;
    let entry = files.write_file(&user.id, &project_id(id), &path, content, version, &quota).await?;
    Ok(Json(json!({ "file": FileView::from(&entry) })))
}

/// `DELETE /api/v1/projects/{id}/files/{path}?version=N`.
pub async fn delete_file(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((id, path)): Path<(String, String)>,
    query: Result<InputQuery<VersionQuery>, ApiError>,
) -> Result<StatusCode, ApiError> {
    let (user, files, _) = context(&state, &caller)?;
    let version = required_version(query)?;
    files.delete_file(&user.id, &project_id(id), &path, version).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/projects/{id}/export`: a zip of the files, streamed as
/// it is made (bounded memory whatever the project's size; a failure
/// midway cuts the response short).
pub async fn export(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (user, files, _) = context(&state, &caller)?;
    let id = project_id(id);
    let project = files.store().project(&user.id, &id).await?;
    let archive = files.export_zip_stream(&user.id, &id).await?;
    let mut response = axum::body::Body::from_stream(archive).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    let disposition = format!("attachment; filename=\"{}.zip\"", download_name(&project.name));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// A file name for a download: the project's name with anything outside
/// a safe ASCII set replaced.
fn download_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ') { c } else { '_' })
        .collect();
    let safe = safe.trim_matches(['.', ' ']);
    if safe.is_empty() {
        "project".to_owned()
    } else {
        safe.to_owned()
    }
}

/// `POST /api/v1/projects/import?name=NAME`: the body is a zip.
pub async fn import(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    query: Result<InputQuery<ImportQuery>, ApiError>,
    archive: Result<InputBytes, ApiError>,
) -> Result<Response, ApiError> {
    let (user, files, quota) = context(&state, &caller)?;
    let InputBytes(archive) = archive?;
    let InputQuery(query) = query?;
    let Some(name) = query.name else {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", "name the new project: ?name=NAME"));
    };
    // No single file larger than a project may be to run: a zip brings
    // nothing that could never run.
    let (project, entries) =
        files.import_zip(&user.id, &name, archive, &quota, state.config.projects.max_bytes).await?;
    Ok((StatusCode::CREATED, Json(project_with_files(&project, &entries))).into_response())
}

/// `GET /api/v1/projects/{id}/runs`: the last runs, newest first.
pub async fn runs(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (user, files, _) = context(&state, &caller)?;
    let runs = files.store().list_runs(&user.id, &project_id(id)).await?;
    let runs: Vec<_> = runs
        .iter()
        .map(|run| {
            json!({
                "started_at_ms": run.started_at_ms,
                "language": run.language,
                "status": run.status,
                "duration_ms": run.duration_ms,
            })
        })
        .collect();
    Ok(Json(json!({ "runs": runs })))
}

/// A run of a saved project, to record in its history when it ends.
#[derive(Debug)]
pub struct SavedRun {
    files: ProjectFiles,
    owner: bytesbox_store::UserId,
    project: ProjectId,
    started_at_ms: i64,
    started: std::time::Instant,
}

impl SavedRun {
    /// Records the run (language, status, duration) in the project's
    /// history; a failure is logged, never the run's problem.
    pub async fn record(self, language: &str, status: &str) {
        let duration_ms = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let run = RunRecord {
            started_at_ms: self.started_at_ms,
            language: language.to_owned(),
            status: status.to_owned(),
            duration_ms,
        };
        if let Err(error) = self.files.store().record_run(&self.owner, &self.project, &run).await {
            // The project may have been deleted meanwhile.
            tracing::debug!(project = %self.project, %error, "run not recorded");
        }
    }
}

/// For a run that names a saved project (`"project": "<id>"`), reads the
/// caller's saved files (returned, decoded, beside the history record) and
/// fills in the project's language and entry file as defaults. Only users have saved projects; naming one
/// together with `files` is an error.
pub async fn load_saved_project(
    state: &AppState,
    caller: &Caller,
    run: &mut crate::protocol::RunRequest,
) -> Result<Option<(SavedRun, Vec<bytesbox_sandbox::FileEntry>)>, ApiError> {
    let Some(id) = run.project.take() else {
        return Ok(None);
    };
    if !run.files.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_spec",
            "send either files or a saved project, not both",
        ));
    }
    let (user, files, _) = context(state, caller)?;
    let id = project_id(id);
    let project = files.store().project(&user.id, &id).await?;
    let started_at_ms = now_ms();
    let started = std::time::Instant::now();
    // The files go to the run as they are: no encoding for the frame's
    // sake only to decode them again. The run's caps on a project are
    // checked against the index before any content is read.
    let max_files = u64::try_from(state.config.projects.max_files).unwrap_or(u64::MAX);
    let saved_files = files
        .read_all_within(&user.id, &id, max_files, state.config.projects.max_bytes)
        .await
        .map_err(|error| match error {
            FilesError::TooLarge { what: SizeLimit::ProjectFiles, limit } => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_spec", format!("at most {limit} files per project"))
            }
            FilesError::TooLarge { limit, .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_spec", format!("a project is at most {limit} bytes"))
            }
            other => ApiError::from(other),
        })?
        .into_iter()
        .map(|(entry, content)| bytesbox_sandbox::FileEntry { path: entry.path, content, executable: false })
        .collect();
    if run.language.is_none() {
        run.language = project.language;
    }
    if run.entry.is_none() {
        run.entry = project.entry_file;
    }
    Ok(Some((SavedRun { files, owner: user.id, project: id, started_at_ms, started }, saved_files)))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_are_safe_header_values() {
        assert_eq!(download_name("my project-1.0"), "my project-1.0");
        assert_eq!(download_name("a\"b\r\nc/d"), "a_b__c_d");
        assert_eq!(download_name("..."), "project");
        assert_eq!(download_name("日本"), "__");
    }
}
