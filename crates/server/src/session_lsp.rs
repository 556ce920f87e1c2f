//! A session's language servers (`docs/language-servers.md`): one per
//! language the IDE edits, started on demand as long-lived runs of the
//! session's box, their JSON-RPC messages relayed over the session's
//! queue as `lsp_message` frames.
//!
//! A server belongs to its session, not to a connection: its messages
//! wait on the session's bounded queue (so a server that talks faster than
//! its client reads blocks on its stdout), it survives a reconnect within
//! the grace period, is shut down after `idle_timeout` with nothing either
//! way, and dies with the session's box.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytesbox_lsp::{LanguageServer, LspEvent, SendRefused, DEFAULT_MAX_MESSAGE_BYTES};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::protocol::ServerMessage;
use crate::session::Session;

/// Language server settings (`[sessions]` in the config file).
#[derive(Clone, Debug)]
pub struct LspConfig {
    /// A server that got and sent nothing this long is shut down.
    pub idle_timeout: Duration,
    /// Servers one session may have at once (0 turns them off).
    pub max_per_session: usize,
    /// Largest message a server may send.
    pub max_message_bytes: usize,
}

impl Default for LspConfig {
    fn default() -> Self {
        LspConfig {
            idle_timeout: Duration::from_secs(30 * 60),
            max_per_session: 4,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// Why a language server request was refused: the `lsp_error` code and
/// message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LspRefusal {
    /// Stable code.
    pub code: String,
    /// What happened, for people.
    pub message: String,
}

impl LspRefusal {
    /// A refusal with `code`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> LspRefusal {
        LspRefusal { code: code.into(), message: message.into() }
    }

    fn unknown(id: &str) -> LspRefusal {
        LspRefusal::new("unknown_language_server", format!("no language server {id:?} in this session"))
    }

    /// The refusal as a frame.
    pub fn frame(&self, id: &str) -> ServerMessage {
        ServerMessage::LspError { id: id.to_string(), code: self.code.clone(), message: self.message.clone() }
    }
}

/// One open server of the session.
struct OpenServer {
    /// `None` while it starts.
    server: Option<Arc<LanguageServer>>,
    forwarder: Option<JoinHandle<()>>,
    last_active: Arc<Mutex<Instant>>,
}

fn touch(last_active: &Mutex<Instant>) {
    if let Ok(mut at) = last_active.lock() {
        *at = Instant::now();
    }
}

/// A session's language servers.
#[derive(Default)]
pub struct SessionLanguageServers {
    open: Mutex<HashMap<String, OpenServer>>,
}

impl std::fmt::Debug for SessionLanguageServers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLanguageServers").field("open", &self.count()).finish()
    }
}

impl SessionLanguageServers {
    /// Servers open (or starting).
    pub fn count(&self) -> usize {
        self.open.lock().map(|open| open.len()).unwrap_or(0)
    }

    /// Takes a place for server `id` before it starts.
    pub fn reserve(&self, id: &str, max: usize) -> Result<(), LspRefusal> {
        let mut open = self.open.lock().map_err(|_| LspRefusal::new("internal", "language server table"))?;
        if open.contains_key(id) {
            return Err(LspRefusal::new("duplicate_language_server_id", format!("language server {id:?} is open")));
        }
        if open.len() >= max {
            return Err(LspRefusal::new(
                "too_many_language_servers",
                format!("a session may have {max} language servers at once; stop one first"),
            ));
        }
        let entry = OpenServer { server: None, forwarder: None, last_active: Arc::new(Mutex::new(Instant::now())) };
        open.insert(id.to_string(), entry);
        Ok(())
    }

    /// Gives up a place whose server did not start.
    pub fn unreserve(&self, id: &str) {
        if let Ok(mut open) = self.open.lock() {
            if open.get(id).is_some_and(|entry| entry.server.is_none()) {
                open.remove(id);
            }
        }
    }

    /// Queues a client's JSON-RPC message for server `id`.
    pub fn send(&self, id: &str, message: &serde_json::Value) -> Result<(), LspRefusal> {
        let server = {
            let open = self.open.lock().map_err(|_| LspRefusal::new("internal", "language server table"))?;
            let entry = open.get(id).ok_or_else(|| LspRefusal::unknown(id))?;
            touch(&entry.last_active);
            entry.server.clone().ok_or_else(|| {
                LspRefusal::new(
                    "language_server_starting",
                    format!("language server {id:?} is starting; wait for lsp_ready"),
                )
            })?
        };
        match server.send(message) {
            Ok(()) => Ok(()),
            Err(SendRefused::Full) => Err(LspRefusal::new(
                "input_overflow",
                "the language server is not reading its input; this message was dropped",
            )),
            // Its `lsp_exited` is on its way.
            Err(SendRefused::Ended) => Ok(()),
        }
    }

    /// Whether server `id` is running (started, not ended).
    pub fn is_running(&self, id: &str) -> bool {
        self.open.lock().map(|open| open.get(id).is_some_and(|entry| entry.server.is_some())).unwrap_or(false)
    }

    /// Removes server `id`: `None` if there was none, else its process
    /// unless it was still starting (the start then finds its place gone
    /// and drops, so kills, the new process).
    fn remove(&self, id: &str) -> Option<Option<Arc<LanguageServer>>> {
        let mut open = self.open.lock().ok()?;
        let entry = open.remove(id)?;
        if let Some(forwarder) = entry.forwarder {
            forwarder.abort();
        }
        Some(entry.server)
    }

    /// Ends every server (the session ends).
    pub async fn close_all(&self) {
        let all: Vec<OpenServer> =
            self.open.lock().map(|mut open| open.drain().map(|(_, e)| e).collect()).unwrap_or_default();
        for entry in all {
            if let Some(forwarder) = entry.forwarder {
                forwarder.abort();
            }
            if let Some(server) = entry.server {
                server.kill().await;
            }
        }
    }

    /// Ids of running servers idle longer than `timeout`.
    fn idle_longer_than(&self, timeout: Duration) -> Vec<String> {
        let Ok(open) = self.open.lock() else { return Vec::new() };
        open.iter()
            .filter(|(_, e)| {
                e.server.is_some() && e.last_active.lock().map(|at| at.elapsed() > timeout).unwrap_or(false)
            })
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// Puts a started server in its reserved place and forwards its events;
/// false (and the server dropped, so killed) when the place is gone
/// (stopped while starting).
pub fn install(session: &Arc<Session>, id: &str, server: LanguageServer, events: mpsc::Receiver<LspEvent>) -> bool {
    let Ok(mut open) = session.language_servers().open.lock() else { return false };
    let Some(entry) = open.get_mut(id) else { return false };
    touch(&entry.last_active);
    entry.server = Some(Arc::new(server));
    entry.forwarder = Some(tokio::spawn(forward(session.clone(), id.to_string(), events, entry.last_active.clone())));
    true
}

/// Turns a server's events into frames on the session's queue, waiting
/// while it is full.
async fn forward(
    session: Arc<Session>,
    id: String,
    mut events: mpsc::Receiver<LspEvent>,
    last_active: Arc<Mutex<Instant>>,
) {
    while let Some(event) = events.recv().await {
        touch(&last_active);
        let frame = match event {
            LspEvent::Message(message) => ServerMessage::LspMessage { id: id.clone(), message },
            LspEvent::Exited { status, exit_code, signal, memory_bytes, message } => {
                // Its place is free for a new server of the same id before
                // the client hears of the end. (This task is the entry's
                // forwarder: its handle is dropped, not aborted.)
                if let Ok(mut open) = session.language_servers().open.lock() {
                    open.remove(&id);
                }
                let frame =
                    ServerMessage::LspExited { id: id.clone(), status, exit_code, signal, memory_bytes, message };
                let _ = session.send(frame).await;
                return;
            }
        };
        if !session.send(frame).await {
            return;
        }
    }
}

/// Stops server `id` and reports it with `status` (`stopped`, `culled`).
pub async fn stop(session: &Session, id: &str, status: &str) -> Result<(), LspRefusal> {
    let server = session.language_servers().remove(id).ok_or_else(|| LspRefusal::unknown(id))?;
    if let Some(server) = server {
        server.kill().await;
    }
    let frame = ServerMessage::LspExited {
        id: id.to_string(),
        status: status.to_string(),
        exit_code: None,
        signal: None,
        memory_bytes: 0,
        message: String::new(),
    };
    let _ = session.send(frame).await;
    Ok(())
}

/// Stops the session's servers idle longer than `timeout`; returns how many.
pub async fn cull_idle(session: &Session, timeout: Duration) -> usize {
    let idle = session.language_servers().idle_longer_than(timeout);
    for id in &idle {
        let _ = stop(session, id, "culled").await;
    }
    idle.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_capped_and_ids_unique() {
        let servers = SessionLanguageServers::default();
        servers.reserve("python", 2).unwrap();
        assert_eq!(servers.reserve("python", 2).unwrap_err().code, "duplicate_language_server_id");
        servers.reserve("cpp", 2).unwrap();
        assert_eq!(servers.reserve("c", 2).unwrap_err().code, "too_many_language_servers");
        assert_eq!(servers.send("cpp", &serde_json::json!({})).unwrap_err().code, "language_server_starting");
        assert_eq!(servers.send("java", &serde_json::json!({})).unwrap_err().code, "unknown_language_server");
        servers.unreserve("cpp");
        assert_eq!(servers.count(), 1);
        assert!(servers.idle_longer_than(Duration::ZERO).is_empty(), "a server still starting is not culled");
    }
}
