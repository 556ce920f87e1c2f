//! A session's database servers: started in the session's box before its
//! first run of a language that has one (the catalog's `session_server`),
//! kept running there and used by the session's later runs, so that their
//! state and warm caches last and no run pays for a server start.
//!
//! A server is a run of its own in the box (the run command in `serve`
//! mode), with the box's uid and limits and the plan's longest wall and
//! CPU time, and it dies with the box. Nothing here is needed for
//! correctness: a run that finds no server answering starts one of its
//! own for its length, so a server that failed to start, died at a limit,
//! or belongs to a box that was replaced only costs time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytesbox_sandbox::{Backend, BoxId, PutMode, RunEvent, RunHandle, Stream};

use crate::planner::ServerPlan;
use crate::server_template::ServerTemplates;

/// How long a new server may take to say `ready` (its first start makes
/// the data directory) before it is given up and the run starts its own.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// What a server's command prints once it answers.
const READY_LINE: &[u8] = b"ready\n";

/// The servers of one session, by language.
#[derive(Debug, Default)]
pub struct SessionServers {
    /// Held while a server is started, so that two runs of the session
    /// never start two servers on one data directory.
    running: tokio::sync::Mutex<HashMap<String, ServerRun>>,
}

/// The server a run wants.
#[derive(Clone, Copy, Debug)]
pub struct Server<'a> {
    /// Its language.
    pub language: &'a str,
    /// The language's version (templates are made per version).
    pub version: &'a str,
    /// How it starts.
    pub plan: &'a ServerPlan,
    /// The host's templates of its state.
    pub templates: &'a ServerTemplates,
}

/// A server started in a box.
#[derive(Debug)]
struct ServerRun {
    box_id: BoxId,
    /// Cleared when the server's run ends.
    alive: Arc<AtomicBool>,
}

impl SessionServers {
    /// Makes sure `language`'s server runs in `box_id`: nothing to do when
    /// it does, else puts the host's template of its state into the box
    /// (when there is one), starts the server and waits until it is ready.
    /// A server that cannot start is killed and forgotten; the run then
    /// starts one of its own and reports why that failed.
    pub async fn ensure(&self, backend: &dyn Backend, box_id: &BoxId, server: Server<'_>) {
        let Server { language, version, plan, templates } = server;
        let mut running = self.running.lock().await;
        if let Some(server) = running.get(language) {
            if server.box_id == *box_id && server.alive.load(Ordering::Acquire) {
                return;
            }
        }
        running.remove(language);
        // The server unpacks it only into a box without data of its own.
        if let Some(file) = templates.workspace_file(backend, language, version, plan).await {
            if backend.put_files(box_id, vec![file], PutMode::Merge).await.is_err() {
                return;
            }
        }
        let Ok(mut handle) = backend.run(box_id, plan.serve.clone()).await else { return };
        match tokio::time::timeout(READY_TIMEOUT, until_ready(&mut handle)).await {
            Ok(true) => {
                let alive = Arc::new(AtomicBool::new(true));
                tokio::spawn(drain_until_exit(handle, alive.clone()));
                running.insert(language.to_string(), ServerRun { box_id: box_id.clone(), alive });
            }
            Ok(false) | Err(_) => {
                let _ = handle.control().kill().await;
                tokio::spawn(drain_until_exit(handle, Arc::new(AtomicBool::new(true))));
            }
        }
    }
}

impl SessionServers {
    /// How many of the session's servers run in `box_id`: runs of the box
    /// that leave it idle (no program of the session's is going). `None`
    /// while a server is being started.
    pub fn running_in(&self, box_id: &BoxId) -> Option<usize> {
        let running = self.running.try_lock().ok()?;
        Some(running.values().filter(|s| s.box_id == *box_id && s.alive.load(Ordering::Acquire)).count())
    }
}

/// Reads the server's output until it says `ready` (true) or its run ends
/// (false).
async fn until_ready(handle: &mut RunHandle) -> bool {
    let mut stdout = Vec::new();
    while let Some(event) = handle.next_event().await {
        match event {
            RunEvent::Output { stream: Stream::Stdout, data } => {
                stdout.extend_from_slice(&data);
                if stdout.ends_with(READY_LINE) {
                    return true;
                }
            }
            RunEvent::Output { .. } | RunEvent::Notice(_) => {}
            RunEvent::Exit(_) => return false,
        }
    }
    false
}

/// Takes the server's events (so its output never blocks it) until its
/// run ends, then marks it gone.
async fn drain_until_exit(mut handle: RunHandle, alive: Arc<AtomicBool>) {
    while let Some(event) = handle.next_event().await {
        if matches!(event, RunEvent::Exit(_)) {
            break;
        }
    }
    alive.store(false, Ordering::Release);
}
