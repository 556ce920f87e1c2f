//! The WebSocket frames of language servers (`docs/protocol.md`,
//! "Language servers"): `lsp_start`, `lsp_message`, `lsp_stop`.

use std::sync::Arc;

use bytesbox_lsp::{language_server_limits, LanguageServer, LanguageServerStart};
use bytesbox_runtimes::LanguageServerTemplate;
use bytesbox_sandbox::{FileEntry, SandboxError};

use crate::accounts::Caller;
use crate::api_error::ApiError;
use crate::app::AppState;
use crate::metrics::BoxOrigin;
use crate::protocol::{valid_run_id, LspReadyFrame, ServerMessage, WireFile};
use crate::rate_limit::Client;
use crate::runs::decode_files;
use crate::session::Session;
use crate::session_lsp::{self, LspRefusal};

const MIB: u64 = 1024 * 1024;

/// `lsp_start`: checks what can be checked at once, then starts the server
/// in the background; `lsp_ready` or `lsp_error` follows on the queue.
pub(crate) async fn start(
    state: &Arc<AppState>,
    session: &Arc<Session>,
    client: Client,
    caller: &Caller,
    request: (String, String, Vec<WireFile>),
) -> Option<ServerMessage> {
    let (id, language, files) = request;
    let refused = |e: LspRefusal| Some(e.frame(&id));
    if !valid_run_id(&id) {
        return refused(LspRefusal::new("invalid_spec", "a language server id is 1-64 of [A-Za-z0-9_.-]"));
    }
    // A server costs what a run's start does.
    if let Err(retry_after_secs) = state.rate_limits.check(client.0) {
        return refused(LspRefusal::new("rate_limited", ApiError::rate_limited_message(retry_after_secs)));
    }
    let (language, template) = match state.planner.language_server(&language) {
        Ok(found) => found,
        Err(e) => return refused(LspRefusal::new(e.code, e.message)),
    };
    let policy = state.run_policy(caller);
    // A server is the toolchain's, as a compiler is: it gets the memory it
    // needs even above the plan's runs' (the box's memory still holds for
    // everything in it).
    let mut limits = language_server_limits(&policy.max_limits);
    limits.memory_bytes = limits.memory_bytes.max(template.min_memory_mb * MIB);
    let files = match decode_files(state, files) {
        Ok(files) => files,
        Err(e) => return refused(LspRefusal::new(e.code(), e.message.clone())),
    };
    let config = state.sessions.config().language_servers.clone();
    if let Err(e) = session.language_servers().reserve(&id, config.max_per_session) {
        return refused(e);
    }
    let task = StartTask {
        state: state.clone(),
        session: session.clone(),
        boxes: policy.boxes,
        id,
        language,
        template,
        start_limits: limits,
        max_message_bytes: config.max_message_bytes,
        files,
    };
    tokio::spawn(task.run());
    None
}

/// A server to start in the session's box.
struct StartTask {
    state: Arc<AppState>,
    session: Arc<Session>,
    boxes: crate::session::BoxCaps,
    id: String,
    language: String,
    template: LanguageServerTemplate,
    start_limits: bytesbox_sandbox::RunLimits,
    max_message_bytes: usize,
    files: Vec<FileEntry>,
}

impl StartTask {
    async fn run(self) {
        let frame = match self.start().await {
            Ok(Some(ready)) => ready,
            // Stopped while starting: its `lsp_exited` was the answer.
            Ok(None) => return,
            Err(e) => {
                self.session.language_servers().unreserve(&self.id);
                e.frame(&self.id)
            }
        };
        let _ = self.session.send(frame).await;
    }

    /// The box (made now if the session has none), the files, the server.
    async fn start(&self) -> Result<Option<ServerMessage>, LspRefusal> {
        let backend = self.state.sessions.engine().backend();
        let mut retried = false;
        let (server, events) = loop {
            let acquired = self
                .state
                .sessions
                .sandbox(&self.session, self.boxes)
                .await
                .map_err(|e| LspRefusal::new(e.code(), e.to_string()))?;
            // Held until the server runs (a run keeps the box in use itself).
            let (box_id, _in_use) = (acquired.id, acquired.in_use);
            self.state.metrics.box_acquired(BoxOrigin::Session, acquired.created);
            let started = async {
                if !self.files.is_empty() {
                    self.session.files().put_client_files(backend.as_ref(), &box_id, self.files.clone()).await?;
                }
                let start = LanguageServerStart {
                    template: &self.template,
                    limits: self.start_limits.clone(),
                    max_message_bytes: self.max_message_bytes,
                };
                LanguageServer::start(backend.as_ref(), &box_id, start).await
            };
            match started.await {
                Ok(started) => break started,
                // The backend destroyed the idle box under us: a new one.
                Err(SandboxError::BoxGone(_) | SandboxError::NoSuchBox(_)) if !retried => {
                    retried = true;
                    self.session.forget_sandbox(&box_id).await;
                }
                Err(e) => return Err(LspRefusal::new(e.code(), e.to_string())),
            }
        };
        if !session_lsp::install(&self.session, &self.id, server, events) {
            return Ok(None);
        }
        let workspace = &self.state.sessions.config().box_spec.workspace_dir;
        Ok(Some(ServerMessage::LspReady(Box::new(LspReadyFrame {
            id: self.id.clone(),
            language: self.language.clone(),
            language_id: self.template.language_id.clone(),
            root_uri: format!("file://{workspace}"),
            initialization_options: self.template.initialization_options(),
            settings: self.template.settings(),
        }))))
    }
}

/// `lsp_message`: a client's JSON-RPC message for server `id`.
pub(crate) fn message(session: &Session, id: &str, message: &serde_json::Value) -> Option<ServerMessage> {
    if !message.is_object() {
        return Some(LspRefusal::new("invalid_message", "an LSP message is a JSON object").frame(id));
    }
    session.language_servers().send(id, message).err().map(|e| e.frame(id))
}

/// `lsp_files`: writes files into the box of running server `id` (added
/// or replaced; the rest stays); only a failure is answered. Written
/// before the connection reads its next frame, so a client that floods
/// files waits for the box instead of piling writes up in the server.
pub(crate) async fn write_files(
    state: &Arc<AppState>,
    session: &Arc<Session>,
    id: String,
    files: Vec<WireFile>,
) -> Option<ServerMessage> {
    if !session.language_servers().is_running(&id) {
        return Some(
            LspRefusal::new("unknown_language_server", format!("no running language server {id:?}")).frame(&id),
        );
    }
    let files = match decode_files(state, files) {
        Ok(files) => files,
        Err(e) => return Some(LspRefusal::new(e.code(), e.message.clone()).frame(&id)),
    };
    let Some(box_id) = session.current_box() else {
        return Some(
            LspRefusal::new("box_gone", "the session's box is being made again; send the files later").frame(&id),
        );
    };
    let written = session.files().put_client_files(state.sessions.engine().backend().as_ref(), &box_id, files).await;
    written.err().map(|e| LspRefusal::new(e.code(), e.to_string()).frame(&id))
}

/// `lsp_stop`: ends server `id`; its `lsp_exited` follows.
pub(crate) fn stop(session: &Arc<Session>, id: String) -> Option<ServerMessage> {
    let session = session.clone();
    // On a task: the answer goes on the session's queue, which may be full.
    tokio::spawn(async move {
        if let Err(e) = session_lsp::stop(&session, &id, "stopped").await {
            let _ = session.send(e.frame(&id)).await;
        }
    });
    None
}
