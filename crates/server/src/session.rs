//! Sessions: one per WebSocket connection, surviving reconnects within a
//! grace period. A session owns one box (made on its first run) and one
//! bounded outbound queue that outlives connections, so a client that
//! reconnects gets the rest of its programs' output, and a client that
//! reads slowly (or is away) blocks its programs instead of growing the
//! server's memory.
//!
//! Boxes are capped per caller (a plan's `max_boxes`), and so are the bytes
//! a caller's idle boxes hold (`max_idle_box_bytes`): a sweep destroys the
//! longest idle ones beyond it (`crate::session::Sessions::reclaim_idle_bytes`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytesbox_engine::{Engine, JobControl};
use bytesbox_sandbox::{BoxId, BoxInfo, BoxSpec, SandboxError};
use tokio::sync::mpsc;

use crate::accounts::Principal;
use crate::protocol::ServerMessage;

/// Frames queued per session before its programs wait for the client.
pub const OUTBOX_FRAMES: usize = 64;

/// How often idle boxes are measured against their caller's byte cap.
pub const IDLE_SWEEP_INTERVAL: Duration = Duration::from_secs(2);

/// What one caller's session boxes may take (from its plan).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoxCaps {
    /// Sessions with a box at once.
    pub max_boxes: usize,
    /// Bytes the caller's idle boxes may hold together.
    pub max_idle_bytes: u64,
}

impl BoxCaps {
    /// No caps (a server without accounts).
    pub const UNLIMITED: BoxCaps = BoxCaps { max_boxes: usize::MAX, max_idle_bytes: u64::MAX };
}

/// Why a session did not get its box.
#[derive(Debug, thiserror::Error)]
pub enum SessionBoxError {
    /// The caller has as many session boxes as its plan allows, all in use.
    #[error(
        "your plan allows {max} sessions with a box at once and all of them are in use; \
         close a tab or session, or wait for one to go idle"
    )]
    TooManyBoxes {
        /// The plan's cap.
        max: usize,
    },
    /// The backend failed.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
}

impl SessionBoxError {
    /// The protocol's error code.
    pub fn code(&self) -> &'static str {
        match self {
            SessionBoxError::TooManyBoxes { .. } => "too_many_boxes",
            SessionBoxError::Sandbox(e) => e.code(),
        }
    }
}

type BoxCounts = Arc<Mutex<HashMap<Principal, usize>>>;

/// A caller's place among its live boxes; dropping it frees the place.
#[derive(Debug)]
struct BoxPlace {
    counts: BoxCounts,
    owner: Principal,
}

impl BoxPlace {
    /// A place for `owner`, or `None` when it has `max` boxes already.
    /// Anonymous callers (no accounts) are not counted.
    fn acquire(counts: &BoxCounts, owner: &Principal, max: usize) -> Option<Option<BoxPlace>> {
        if *owner == Principal::Anonymous {
            return Some(None);
        }
        let mut by_owner = counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = by_owner.entry(owner.clone()).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Some(BoxPlace { counts: counts.clone(), owner: owner.clone() }))
    }
}

impl Drop for BoxPlace {
    fn drop(&mut self) {
        let mut by_owner = self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = by_owner.get_mut(&self.owner) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                by_owner.remove(&self.owner);
            }
        }
    }
}

/// A session's box and the place it takes among its caller's boxes.
#[derive(Debug)]
struct SessionBox {
    id: BoxId,
    _place: Option<BoxPlace>,
}

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
    sandbox: tokio::sync::Mutex<Option<SessionBox>>,
    /// The owner's caps, as of its last run.
    max_boxes: AtomicUsize,
    max_idle_bytes: AtomicU64,
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
            max_boxes: AtomicUsize::new(BoxCaps::UNLIMITED.max_boxes),
            max_idle_bytes: AtomicU64::new(BoxCaps::UNLIMITED.max_idle_bytes),
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
        self.sandbox.try_lock().ok().and_then(|slot| slot.as_ref().map(|held| held.id.clone()))
    }

    /// The owner's box caps, as of its last run.
    pub fn box_caps(&self) -> BoxCaps {
        BoxCaps {
            max_boxes: self.max_boxes.load(Ordering::Relaxed),
            max_idle_bytes: self.max_idle_bytes.load(Ordering::Relaxed),
        }
    }

    fn set_box_caps(&self, caps: BoxCaps) {
        self.max_boxes.store(caps.max_boxes, Ordering::Relaxed);
        self.max_idle_bytes.store(caps.max_idle_bytes, Ordering::Relaxed);
    }

    /// Destroys the box if the session has one and no run: false if it is
    /// busy (a run, or a box being made).
    async fn destroy_idle_box(&self, engine: &Engine) -> bool {
        let Ok(mut slot) = self.sandbox.try_lock() else { return false };
        if self.active_runs() > 0 {
            return false;
        }
        let Some(held) = slot.take() else { return false };
        let _ = engine.backend().destroy(&held.id).await;
        true
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

    /// Forgets a box the backend destroyed (idle TTL), if it is this one.
    pub async fn forget_sandbox(&self, id: &BoxId) {
        let mut slot = self.sandbox.lock().await;
        if slot.as_ref().map(|held| &held.id) == Some(id) {
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
        if let Some(held) = self.sandbox.lock().await.take() {
            let _ = engine.backend().destroy(&held.id).await;
        }
    }
}

/// Runs [`Sessions::reclaim_idle_bytes`] every [`IDLE_SWEEP_INTERVAL`]
/// while the registry exists.
async fn sweep_idle_bytes(sessions: Weak<Sessions>) {
    loop {
        tokio::time::sleep(IDLE_SWEEP_INTERVAL).await;
        let Some(sessions) = sessions.upgrade() else { return };
        let destroyed = sessions.reclaim_idle_bytes().await;
        if destroyed > 0 {
            tracing::info!(destroyed, "destroyed idle boxes of callers over their idle-bytes cap");
        }
    }
}

/// All sessions of a server.
#[derive(Debug)]
pub struct Sessions {
    engine: Engine,
    config: SessionConfig,
    by_token: Mutex<HashMap<String, Arc<Session>>>,
    /// Live session boxes per caller.
    boxes: BoxCounts,
}

impl Sessions {
    /// An empty registry. Inside a tokio runtime, it also starts the sweep
    /// of idle boxes' bytes, which ends with the registry.
    pub fn new(engine: Engine, config: SessionConfig) -> Arc<Sessions> {
        let sessions = Arc::new(Sessions { engine, config, by_token: Mutex::default(), boxes: Arc::default() });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(sweep_idle_bytes(Arc::downgrade(&sessions)));
        }
        sessions
    }

    /// `session`'s box, made now if it has none and its caller may have one
    /// more under `caps`. At the cap, the box of one of the caller's
    /// disconnected sessions without a run is destroyed to make room;
    /// otherwise the answer is [`SessionBoxError::TooManyBoxes`].
    pub async fn sandbox(&self, session: &Arc<Session>, caps: BoxCaps) -> Result<(BoxId, bool), SessionBoxError> {
        session.set_box_caps(caps);
        let mut slot = session.sandbox.lock().await;
        if let Some(held) = slot.as_ref() {
            return Ok((held.id.clone(), false));
        }
        let place = match BoxPlace::acquire(&self.boxes, &session.owner, caps.max_boxes) {
            Some(place) => place,
            None => {
                self.reclaim_a_detached_box(session).await;
                BoxPlace::acquire(&self.boxes, &session.owner, caps.max_boxes)
                    .ok_or(SessionBoxError::TooManyBoxes { max: caps.max_boxes })?
            }
        };
        let id = self.engine.backend().create(self.config.box_spec.clone()).await?;
        *slot = Some(SessionBox { id: id.clone(), _place: place });
        Ok((id, true))
    }

    /// Destroys the box of one of `session`'s owner's other sessions that
    /// no connection holds and that runs nothing.
    async fn reclaim_a_detached_box(&self, session: &Arc<Session>) {
        let others = self
            .list()
            .into_iter()
            .filter(|other| !Arc::ptr_eq(other, session) && other.owner == session.owner && other.is_detached());
        for other in others {
            if other.destroy_idle_box(&self.engine).await {
                return;
            }
        }
    }

    /// Destroys idle boxes of callers whose idle boxes hold more than their
    /// plan's `max_idle_box_bytes`, the longest idle first (disconnected
    /// sessions before connected ones), until each caller is under its
    /// cap. A box's bytes are its memory use as the backend reports it:
    /// its tmpfs files (`/workspace`, `/tmp`, `/dev/shm`) and kernel
    /// memory. Returns how many boxes were destroyed.
    pub async fn reclaim_idle_bytes(&self) -> usize {
        let mut idle_by_owner: HashMap<Principal, Vec<(Arc<Session>, BoxInfo)>> = HashMap::new();
        let sessions_by_box: HashMap<BoxId, Arc<Session>> = self
            .list()
            .into_iter()
            .filter(|session| session.owner != Principal::Anonymous && session.active_runs() == 0)
            .filter_map(|session| Some((session.current_box()?, session)))
            .collect();
        if sessions_by_box.is_empty() {
            return 0;
        }
        for info in self.engine.backend().list().await {
            if info.active_runs > 0 {
                continue;
            }
            if let Some(session) = sessions_by_box.get(&info.id) {
                idle_by_owner.entry(session.owner.clone()).or_default().push((session.clone(), info));
            }
        }
        let mut destroyed = 0;
        for (_, mut idle) in idle_by_owner {
            let cap = idle.iter().map(|(session, _)| session.box_caps().max_idle_bytes).min().unwrap_or(u64::MAX);
            let mut held: u64 = idle.iter().map(|(_, info)| info.memory_bytes.unwrap_or(0)).sum();
            if held <= cap {
                continue;
            }
            idle.sort_by_key(|(session, info)| (session.is_connected(), std::cmp::Reverse(info.idle_ms)));
            for (session, info) in idle {
                if held <= cap {
                    break;
                }
                if session.destroy_idle_box(&self.engine).await {
                    held = held.saturating_sub(info.memory_bytes.unwrap_or(0));
                    destroyed += 1;
                }
            }
        }
        destroyed
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_gets_at_most_max_box_places_and_anonymous_callers_are_not_counted() {
        let counts = BoxCounts::default();
        let guest = Principal::Guest("127.0.0.2".parse().expect("an address"));
        let first = BoxPlace::acquire(&counts, &guest, 2).expect("first");
        let _second = BoxPlace::acquire(&counts, &guest, 2).expect("second");
        assert!(BoxPlace::acquire(&counts, &guest, 2).is_none(), "a third is refused");
        let other = Principal::User("bob-id".into());
        assert!(BoxPlace::acquire(&counts, &other, 2).is_some(), "others are not affected");
        drop(first);
        assert!(BoxPlace::acquire(&counts, &guest, 2).is_some(), "a freed place is taken again");
        let anonymous: Vec<_> = (0..10).filter_map(|_| BoxPlace::acquire(&counts, &Principal::Anonymous, 1)).collect();
        assert_eq!(anonymous.len(), 10);
    }

    #[test]
    fn the_box_cap_error_names_the_cap_and_has_a_code() {
        let error = SessionBoxError::TooManyBoxes { max: 4 };
        assert_eq!(error.code(), "too_many_boxes");
        assert!(error.to_string().contains("allows 4 sessions with a box"), "{error}");
        assert_eq!(SessionBoxError::from(SandboxError::ShuttingDown).code(), "shutting_down");
    }
}
