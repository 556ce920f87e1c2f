//! Sessions: one per WebSocket connection, surviving reconnects within a
//! grace period. A session owns one box (made on its first run) and one
//! bounded outbound queue that outlives connections, so a client that
//! reconnects gets the rest of its programs' output, and a client that
//! reads slowly (or is away) blocks its programs instead of growing the
//! server's memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytesbox_engine::{Engine, JobControl};
use bytesbox_sandbox::{BoxId, BoxSpec, SandboxError};
use tokio::sync::mpsc;

use crate::accounts::Principal;
use crate::protocol::ServerMessage;

/// Frames queued per session before its programs wait for the client.
pub const OUTBOX_FRAMES: usize = 64;

/// Session settings.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// How long a disconnected session waits for its client.
    pub grace: Duration,
    /// How each session's box is made.
    pub box_spec: BoxSpec,
    /// Runs one session may have going at once.
    pub max_runs: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig { grace: Duration::from_secs(30), box_spec: BoxSpec::default(), max_runs: 8 }
    }
}

/// One session.
#[derive(Debug)]
pub struct Session {
    /// Public id.
    pub id: String,
    /// Secret that lets a new connection take the session over.
    pub resume_token: String,
    /// Whose session it is: only the same caller may resume it.
    pub owner: Principal,
    /// The owner's username, for the admin page.
    pub owner_name: Option<String>,
    sandbox: tokio::sync::Mutex<Option<BoxId>>,
    runs: Mutex<HashMap<String, JobControl>>,
    outbox_tx: mpsc::Sender<ServerMessage>,
    outbox_rx: Mutex<Option<mpsc::Receiver<ServerMessage>>>,
    /// Bumped on every attach, so a stale grace timer knows it lost.
    generation: Mutex<u64>,
}

impl Session {
    fn new(owner: Principal, owner_name: Option<String>) -> Session {
        let (outbox_tx, outbox_rx) = mpsc::channel(OUTBOX_FRAMES);
        Session {
            id: format!("s-{}", uuid::Uuid::new_v4().simple()),
            resume_token: uuid::Uuid::new_v4().simple().to_string(),
            owner,
            owner_name,
            sandbox: tokio::sync::Mutex::new(None),
            runs: Mutex::new(HashMap::new()),
            outbox_tx,
            outbox_rx: Mutex::new(Some(outbox_rx)),
            generation: Mutex::new(0),
        }
    }

    /// Queues a frame for the client, waiting while the queue is full.
    pub async fn send(&self, message: ServerMessage) -> bool {
        self.outbox_tx.send(message).await.is_ok()
    }

    /// Takes the outbound queue for a connection; `None` if another
    /// connection holds it.
    pub fn attach(&self) -> Option<(mpsc::Receiver<ServerMessage>, u64)> {
        let receiver = self.outbox_rx.lock().ok()?.take()?;
        let generation = self.generation.lock().map(|mut g| {
            *g += 1;
            *g
        });
        Some((receiver, generation.unwrap_or(0)))
    }

    /// Gives the queue back when a connection ends.
    pub fn detach(&self, receiver: mpsc::Receiver<ServerMessage>) {
        if let Ok(mut slot) = self.outbox_rx.lock() {
            *slot = Some(receiver);
        }
    }

    fn generation(&self) -> u64 {
        self.generation.lock().map(|g| *g).unwrap_or(0)
    }

    /// Whether a connection holds the session now.
    pub fn is_connected(&self) -> bool {
        !self.is_detached()
    }

    /// Runs going now.
    pub fn active_runs(&self) -> usize {
        self.runs.lock().map(|runs| runs.len()).unwrap_or(0)
    }

    /// The session's box, unless one is being made right now.
    pub fn current_box(&self) -> Option<BoxId> {
        self.sandbox.try_lock().ok().and_then(|slot| slot.clone())
    }

    /// Whether `caller` may take this session over: its owner, or any
    /// guest for a guest session (a guest's address may change, and the
    /// resume token is itself a 128-bit secret).
    pub fn may_resume(&self, caller: &Principal) -> bool {
        match (&self.owner, caller) {
            (Principal::Guest(_), Principal::Guest(_)) => true,
            (owner, caller) => owner == caller,
        }
    }

    fn is_detached(&self) -> bool {
        self.outbox_rx.lock().map(|slot| slot.is_some()).unwrap_or(false)
    }

    /// The session's box, made now if it has none.
    pub async fn sandbox(&self, engine: &Engine, spec: &BoxSpec) -> Result<(BoxId, bool), SandboxError> {
        let mut slot = self.sandbox.lock().await;
        if let Some(id) = slot.as_ref() {
            return Ok((id.clone(), false));
        }
        let id = engine.backend().create(spec.clone()).await?;
        *slot = Some(id.clone());
        Ok((id, true))
    }

    /// Forgets a box the backend destroyed (idle TTL), if it is this one.
    pub async fn forget_sandbox(&self, id: &BoxId) {
        let mut slot = self.sandbox.lock().await;
        if slot.as_ref() == Some(id) {
            *slot = None;
        }
    }

    /// Registers a run; false if the id is taken or too many are going.
    pub fn add_run(&self, id: &str, control: JobControl, max_runs: usize) -> Result<(), &'static str> {
        let mut runs = self.runs.lock().map_err(|_| "internal")?;
        if runs.contains_key(id) {
            return Err("duplicate_run_id");
        }
        if runs.len() >= max_runs {
            return Err("too_many_runs");
        }
        runs.insert(id.to_string(), control);
        Ok(())
    }

    /// Whether a run id is in use.
    pub fn has_run(&self, id: &str) -> bool {
        self.runs.lock().map(|runs| runs.contains_key(id)).unwrap_or(false)
    }

    /// The controls of a run.
    pub fn run(&self, id: &str) -> Option<JobControl> {
        self.runs.lock().ok()?.get(id).cloned()
    }

    /// Forgets a finished run.
    pub fn remove_run(&self, id: &str) {
        if let Ok(mut runs) = self.runs.lock() {
            runs.remove(id);
        }
    }

    /// Kills every run and destroys the box.
    async fn end(&self, engine: &Engine) {
        let runs: Vec<JobControl> =
            self.runs.lock().map(|mut r| r.drain().map(|(_, c)| c).collect()).unwrap_or_default();
        for run in runs {
            run.kill().await;
        }
        if let Some(id) = self.sandbox.lock().await.take() {
            let _ = engine.backend().destroy(&id).await;
        }
    }
}

/// All sessions of a server.
#[derive(Debug)]
pub struct Sessions {
    engine: Engine,
    config: SessionConfig,
    by_token: Mutex<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    /// An empty registry.
    pub fn new(engine: Engine, config: SessionConfig) -> Arc<Sessions> {
        Arc::new(Sessions { engine, config, by_token: Mutex::new(HashMap::new()) })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The settings.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// A new session of `owner`.
    pub fn open(&self, owner: Principal, owner_name: Option<String>) -> Arc<Session> {
        let session = Arc::new(Session::new(owner, owner_name));
        if let Ok(mut sessions) = self.by_token.lock() {
            sessions.insert(session.resume_token.clone(), session.clone());
        }
        session
    }

    /// The session a resume token names, if it still exists.
    pub fn resume(&self, token: &str) -> Option<Arc<Session>> {
        self.by_token.lock().ok()?.get(token).cloned()
    }

    /// Every live session.
    pub fn list(&self) -> Vec<Arc<Session>> {
        self.by_token.lock().map(|s| s.values().cloned().collect()).unwrap_or_default()
    }

    /// A live session by its public id.
    pub fn find(&self, id: &str) -> Option<Arc<Session>> {
        self.by_token.lock().ok()?.values().find(|session| session.id == id).cloned()
    }

    /// Ends every session of `owner` (an account was disabled).
    pub async fn close_owned_by(&self, owner: &Principal) -> usize {
        let owned: Vec<Arc<Session>> = self.list().into_iter().filter(|s| &s.owner == owner).collect();
        for session in &owned {
            self.close(session).await;
        }
        owned.len()
    }

    /// Live sessions.
    pub fn count(&self) -> usize {
        self.by_token.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// Called when a connection of `session` ends: after the grace period,
    /// unless a new connection attached, the session ends for good.
    pub fn disconnected(self: &Arc<Self>, session: Arc<Session>, generation: u64) {
        let sessions = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(sessions.config.grace).await;
            if session.generation() == generation && session.is_detached() {
                sessions.close(&session).await;
            }
        });
    }

    /// Ends a session now: its runs are killed and its box destroyed.
    pub async fn close(&self, session: &Session) {
        if let Ok(mut sessions) = self.by_token.lock() {
            sessions.remove(&session.resume_token);
        }
        session.end(&self.engine).await;
    }

    /// Ends every session (shutdown).
    pub async fn close_all(&self) {
        let all: Vec<Arc<Session>> =
            self.by_token.lock().map(|mut s| s.drain().map(|(_, v)| v).collect()).unwrap_or_default();
        for session in all {
            session.end(&self.engine).await;
        }
    }
}
