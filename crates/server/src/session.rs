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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytesbox_egress::EgressPolicy;
use bytesbox_engine::{Engine, JobControl};
use bytesbox_sandbox::{BoxId, BoxInfo, BoxSpec, SandboxError};
use tokio::sync::{mpsc, watch};

use crate::accounts::places::{Place, Places, Refusal};
use crate::accounts::Principal;
use crate::box_in_use::{BoxInUse, BoxUsers};
use crate::box_lease::BoxLease;
use crate::egress::{BoxEgress, Egress};
use crate::git::GitQueue;
use crate::git_save::ProjectGit;
use crate::protocol::{OpenTerminal, ServerMessage};
use crate::server_template::ServerTemplates;
use crate::session_kernels::{KernelConfig, SessionKernels};
use crate::session_lsp::{LspConfig, SessionLanguageServers};
use crate::session_server::SessionServers;
use crate::terminal::Terminal;
use crate::workspace_watch::FilesWatch;

/// Frames queued per session before its programs wait for the client.
pub const OUTBOX_FRAMES: usize = 64;

/// How often idle boxes are measured against their caller's byte cap.
pub const IDLE_SWEEP_INTERVAL: Duration = Duration::from_secs(2);

/// What one caller's session boxes may take (from its plan).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoxCaps {
    /// Sessions with a box at once.
    pub max_boxes: usize,
    /// Sessions with a box at once for all guests of the caller's address.
    pub max_boxes_per_address: usize,
    /// Bytes the caller's idle boxes may hold together.
    pub max_idle_bytes: u64,
    /// Whether the caller's boxes get the egress proxy (when the server
    /// has egress rules: `docs/egress.md`).
    pub egress: bool,
}

impl BoxCaps {
    /// No caps (a server without accounts).
    pub const UNLIMITED: BoxCaps =
        BoxCaps { max_boxes: usize::MAX, max_boxes_per_address: usize::MAX, max_idle_bytes: u64::MAX, egress: false };
}

/// A session's box as an operation gets it: held in use while `in_use`
/// lives.
#[derive(Debug)]
pub struct AcquiredBox {
    /// The box.
    pub id: BoxId,
    /// Whether it was made for this operation.
    pub created: bool,
    /// The operation's hold on it.
    pub in_use: BoxInUse,
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
    /// The guests of the caller's address hold as many session boxes as
    /// the address may, all in use.
    #[error(
        "the guests at your address have {max} sessions with a box, as many as it may, all in use; \
         close a tab or session, or sign in for sessions of your own"
    )]
    TooManyBoxesAtAddress {
        /// The address's cap (`[accounts] guest_address_boxes`).
        max: usize,
    },
    /// The session ended (its grace period passed, or its owner was
    /// disabled) while the operation was under way: its box is gone and no
    /// new one is made for it.
    #[error("the session has ended")]
    SessionEnded,
    /// The backend failed.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
}

impl SessionBoxError {
    /// The protocol's error code.
    pub fn code(&self) -> &'static str {
        match self {
            SessionBoxError::TooManyBoxes { .. } | SessionBoxError::TooManyBoxesAtAddress { .. } => "too_many_boxes",
            SessionBoxError::SessionEnded => "unknown_session",
            SessionBoxError::Sandbox(e) => e.code(),
        }
    }
}

/// A session with a run going, a terminal open, or a box being made: its
/// box stays.
#[derive(Debug, thiserror::Error)]
#[error("a run or a terminal is going in this session; reset the database once it has ended")]
pub struct SessionBusy;

impl SessionBusy {
    /// The protocol's error code.
    pub const CODE: &'static str = "session_busy";
}

/// A session's box and the place it takes among its caller's boxes.
#[derive(Debug)]
struct SessionBox {
    /// Destroys the box if this is dropped without [`Session::destroy_box`]
    /// (a session dropped with its box, a creation cut short).
    lease: BoxLease,
    _place: Place,
    /// The box's egress proxy, if its caller's plan has egress; ends with
    /// the hold on the box.
    _egress: Option<BoxEgress>,
}

impl SessionBox {
    fn id(&self) -> &BoxId {
        self.lease.id()
    }
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
    /// Where the host's templates of the SQL servers' data directories are
    /// kept (made on first use); `None`: each new box initialises its own.
    pub server_templates: Option<std::path::PathBuf>,
    /// Notebook kernels.
    pub kernels: KernelConfig,
    /// Language servers.
    pub language_servers: LspConfig,
    /// Terminals one session may have open at once.
    pub max_terminals: usize,
    /// How long a box whose only activity is its terminals may go with
    /// nothing typed or printed in any of them before it is destroyed
    /// (with a notice in each).
    pub terminal_idle: Duration,
    /// How long one `git` command may run before it is stopped.
    pub git_time_limit: Duration,
    /// What boxes of callers whose plan has egress may reach (`[egress]`);
    /// `None`: no box gets egress.
    pub egress: Option<EgressPolicy>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            grace: Duration::from_secs(30),
            box_spec: BoxSpec::default(),
            max_runs: 8,
            server_templates: None,
            kernels: KernelConfig::default(),
            language_servers: LspConfig::default(),
            max_terminals: 4,
            terminal_idle: Duration::from_secs(30 * 60),
            git_time_limit: crate::git::DEFAULT_TIME_LIMIT,
            egress: None,
        }
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
    box_caps: Mutex<BoxCaps>,
    runs: Mutex<HashMap<String, JobControl>>,
    terminals: Mutex<HashMap<String, Arc<Terminal>>>,
    /// Whether a connection holds the session, for the terminals, which
    /// keep their output while nobody does.
    connected: watch::Sender<bool>,
    outbox_tx: mpsc::Sender<ServerMessage>,
    outbox_rx: Mutex<Option<mpsc::Receiver<ServerMessage>>>,
    /// Bumped on every attach, so a stale grace timer knows it lost.
    generation: Mutex<u64>,
    /// Database servers running in the session's box.
    servers: SessionServers,
    /// Notebook kernels running in the session's box.
    kernels: SessionKernels,
    /// Language servers running in the session's box.
    language_servers: SessionLanguageServers,
    /// The watch of the box's workspace, while a client asks for it.
    files: FilesWatch,
    /// Its `git` commands, run one at a time.
    git: GitQueue,
    /// The signed-in user's project its box holds, whose repository is
    /// saved and restored.
    project_git: ProjectGit,
    /// Operations using the box now, which is then not idle.
    box_users: BoxUsers,
    /// Set once the session has ended: no box is made for it again.
    ended: AtomicBool,
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
            box_caps: Mutex::new(BoxCaps::UNLIMITED),
            runs: Mutex::new(HashMap::new()),
            terminals: Mutex::new(HashMap::new()),
            connected: watch::channel(false).0,
            outbox_tx,
            outbox_rx: Mutex::new(Some(outbox_rx)),
            generation: Mutex::new(0),
            servers: SessionServers::default(),
            kernels: SessionKernels::default(),
            language_servers: SessionLanguageServers::default(),
            files: FilesWatch::default(),
            git: GitQueue::default(),
            project_git: ProjectGit::default(),
            box_users: BoxUsers::default(),
            ended: AtomicBool::new(false),
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
        self.connected.send_replace(true);
        Some((receiver, generation.unwrap_or(0)))
    }

    /// Gives the queue back when a connection ends.
    pub fn detach(&self, receiver: mpsc::Receiver<ServerMessage>) {
        if let Ok(mut slot) = self.outbox_rx.lock() {
            *slot = Some(receiver);
        }
        self.connected.send_replace(false);
    }

    /// Turns true while a connection holds the session.
    pub fn connection_watch(&self) -> watch::Receiver<bool> {
        self.connected.subscribe()
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

    /// Whether a run is going, a terminal is open or an operation holds
    /// the box ([`crate::box_in_use`]): the box is in use.
    pub fn is_busy(&self) -> bool {
        self.active_runs() > 0 || !self.terminals().is_empty() || self.box_users.any()
    }

    /// The open terminals.
    pub fn terminals(&self) -> Vec<Arc<Terminal>> {
        self.terminals.lock().map(|terminals| terminals.values().cloned().collect()).unwrap_or_default()
    }

    /// The open terminals as a resumed `hello` lists them.
    pub fn open_terminals(&self) -> Vec<OpenTerminal> {
        let mut open: Vec<OpenTerminal> = self
            .terminals()
            .iter()
            .map(|terminal| {
                let size = terminal.size();
                OpenTerminal { id: terminal.id.clone(), rows: size.rows, cols: size.cols }
            })
            .collect();
        open.sort_by(|a, b| a.id.cmp(&b.id));
        open
    }

    /// An open terminal.
    pub fn terminal(&self, id: &str) -> Option<Arc<Terminal>> {
        self.terminals.lock().ok()?.get(id).cloned()
    }

    /// Why a terminal `id` may not be opened now (its error code), if so.
    pub fn refuse_terminal(&self, id: &str, max_terminals: usize) -> Option<&'static str> {
        let terminals = self.terminals.lock().ok()?;
        if terminals.contains_key(id) {
            Some("duplicate_terminal_id")
        } else if terminals.len() >= max_terminals {
            Some("too_many_terminals")
        } else {
            None
        }
    }

    /// Registers a started terminal.
    pub fn add_terminal(&self, terminal: Arc<Terminal>) {
        if let Ok(mut terminals) = self.terminals.lock() {
            terminals.insert(terminal.id.clone(), terminal);
        }
    }

    /// Forgets a terminal whose shell ended.
    pub fn remove_terminal(&self, id: &str) {
        if let Ok(mut terminals) = self.terminals.lock() {
            terminals.remove(id);
        }
    }

    /// The database servers running in the session's box.
    pub fn servers(&self) -> &SessionServers {
        &self.servers
    }

    /// The notebook kernels running in the session's box.
    pub fn kernels(&self) -> &SessionKernels {
        &self.kernels
    }

    /// The language servers running in the session's box.
    pub fn language_servers(&self) -> &SessionLanguageServers {
        &self.language_servers
    }

    /// The watch of the session's workspace.
    pub fn files(&self) -> &FilesWatch {
        &self.files
    }

    /// Its queue of `git` commands.
    pub fn git(&self) -> &GitQueue {
        &self.git
    }

    /// The project its box holds.
    pub fn project_git(&self) -> &ProjectGit {
        &self.project_git
    }

    /// Destroys the session's box, taken from its slot, after saving its
    /// repository into the session's project if it changed; the client
    /// hears of the save if its queue has room (the box's end does not
    /// wait for a slow client).
    async fn destroy_box(&self, engine: &Engine, held: SessionBox) {
        if let Some(frame) = self.project_git.save(engine.backend().as_ref(), held.id()).await {
            let _ = self.outbox_tx.try_send(frame);
        }
        held.lease.destroy().await;
    }

    /// The session's box, unless one is being made right now.
    pub fn current_box(&self) -> Option<BoxId> {
        self.sandbox.try_lock().ok().and_then(|slot| slot.as_ref().map(|held| held.id().clone()))
    }

    /// [`Session::current_box`], held in use until the guard is dropped.
    pub fn current_box_in_use(&self) -> Option<(BoxId, BoxInUse)> {
        let in_use = self.box_users.hold();
        self.current_box().map(|id| (id, in_use))
    }

    /// The owner's box caps, as of its last run.
    pub fn box_caps(&self) -> BoxCaps {
        *self.box_caps.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn set_box_caps(&self, caps: BoxCaps) {
        *self.box_caps.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = caps;
    }

    /// Destroys the box if the session has one and no run: false if it is
    /// busy (a run, or a box being made) or has none.
    async fn destroy_idle_box(&self, engine: &Engine) -> bool {
        matches!(self.destroy_box_unless_busy(engine).await, Ok(true))
    }

    /// Destroys the session's box, with every database its runs made, so
    /// that the next run starts from an empty one (the protocol's
    /// `reset_database`). Refused while a run is going.
    pub async fn reset_database(&self, engine: &Engine) -> Result<(), SessionBusy> {
        self.destroy_box_unless_busy(engine).await.map(|_destroyed| ())
    }

    /// Destroys the box unless a run is going or a box is being made:
    /// whether there was one.
    async fn destroy_box_unless_busy(&self, engine: &Engine) -> Result<bool, SessionBusy> {
        let Ok(mut slot) = self.sandbox.try_lock() else { return Err(SessionBusy) };
        if self.is_busy() {
            return Err(SessionBusy);
        }
        let Some(held) = slot.take() else { return Ok(false) };
        self.destroy_box(engine, held).await;
        Ok(true)
    }

    /// Whether `caller` may take this session over: its owner, or any
    /// guest for a guest session (a guest's address may change, and the
    /// resume token is itself a 128-bit secret).
    pub fn may_resume(&self, caller: &Principal) -> bool {
        match (&self.owner, caller) {
            (Principal::Guest { .. }, Principal::Guest { .. }) => true,
            (owner, caller) => owner == caller,
        }
    }

    fn is_detached(&self) -> bool {
        self.outbox_rx.lock().map(|slot| slot.is_some()).unwrap_or(false)
    }

    /// Forgets a box the backend destroyed (idle TTL), if it is this one.
    pub async fn forget_sandbox(&self, id: &BoxId) {
        let mut slot = self.sandbox.lock().await;
        if slot.as_ref().map(SessionBox::id) == Some(id) {
            // Gone already: nothing to save, and nothing for the lease to
            // destroy.
            if let Some(held) = slot.take() {
                held.lease.forget();
            }
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

    /// Kills the session's runs and leaves them to report how they ended.
    async fn kill_runs(&self) {
        let runs: Vec<JobControl> = self.runs.lock().map(|runs| runs.values().cloned().collect()).unwrap_or_default();
        for run in runs {
            run.kill().await;
        }
    }

    /// Whether every run has reported its end and the client, if one is
    /// attached, has been handed every frame queued for it.
    fn is_settled(&self) -> bool {
        let runs_over = self.runs.lock().map(|runs| runs.is_empty()).unwrap_or(true);
        let delivered = self.is_detached() || self.outbox_tx.capacity() == self.outbox_tx.max_capacity();
        runs_over && delivered
    }

    /// Forgets a finished run.
    pub fn remove_run(&self, id: &str) {
        if let Ok(mut runs) = self.runs.lock() {
            runs.remove(id);
        }
    }

    /// Destroys the box of a session whose only activity is terminals in
    /// which nothing was typed or printed for `idle`, after a notice in
    /// each; false when it has none or is in use.
    async fn cull_idle_terminals(&self, engine: &Engine, idle: Duration) -> bool {
        let terminals = self.terminals();
        if terminals.is_empty() || self.active_runs() > 0 || !terminals.iter().all(|t| t.idle_for_at_least(idle)) {
            return false;
        }
        let Ok(mut slot) = self.sandbox.try_lock() else { return false };
        if self.active_runs() > 0 {
            return false;
        }
        let Some(held) = slot.take() else { return false };
        let minutes = idle.as_secs().div_ceil(60);
        for terminal in &terminals {
            // Queued ahead of the shell's end, which the box's destruction
            // brings.
            terminal.notice(format!(
                "\r\n\x1b[1;33m[bytesbox] Nothing was typed or printed here for {minutes} min: \
                 this box is being shut down. Open a new terminal to go on.\x1b[0m\r\n"
            ));
        }
        self.destroy_box(engine, held).await;
        true
    }

    /// Kills every run and terminal and destroys the box.
    async fn end(&self, engine: &Engine) {
        self.files.stop();
        let runs: Vec<JobControl> =
            self.runs.lock().map(|mut r| r.drain().map(|(_, c)| c).collect()).unwrap_or_default();
        for run in runs {
            run.kill().await;
        }
        self.kernels.close_all().await;
        self.language_servers.close_all().await;
        for terminal in self.terminals() {
            terminal.close().await;
        }
        let mut slot = self.sandbox.lock().await;
        // Under the slot's lock, so an operation still under way (a run's
        // retry on a new box, a kernel's start) finds the session ended
        // instead of making a box nobody would destroy.
        self.ended.store(true, Ordering::Release);
        if let Some(held) = slot.take() {
            self.destroy_box(engine, held).await;
        }
        drop(slot);
        // Nobody will take the queue again: dropping it lets what waits
        // to send on it (a run's or a terminal's output) see the end.
        if let Ok(mut slot) = self.outbox_rx.lock() {
            slot.take();
        }
    }
}

/// Runs [`Sessions::reclaim_idle_bytes`] every [`IDLE_SWEEP_INTERVAL`]
/// while the registry exists, shuts down kernels and language servers idle
/// longer than their timeouts, and destroys boxes whose only activity is idle terminals.
async fn sweep_idle_bytes(sessions: Weak<Sessions>) {
    loop {
        tokio::time::sleep(IDLE_SWEEP_INTERVAL).await;
        let Some(sessions) = sessions.upgrade() else { return };
        let destroyed = sessions.reclaim_idle_bytes().await;
        if destroyed > 0 {
            tracing::info!(destroyed, "destroyed idle boxes of callers over their idle-bytes cap");
        }
        let timeout = sessions.config.kernels.idle_timeout;
        for session in sessions.list().into_iter().filter(|s| s.kernels().count() > 0) {
            // On a task of its own: shutting down reports on the
            // session's queue, which may be full.
            tokio::spawn(async move {
                let culled = crate::session_kernels::cull_idle(&session, timeout).await;
                if culled > 0 {
                    tracing::info!(culled, session = %session.id, "shut down idle kernels");
                }
            });
        }
        let timeout = sessions.config.language_servers.idle_timeout;
        for session in sessions.list().into_iter().filter(|s| s.language_servers().count() > 0) {
            tokio::spawn(async move {
                let culled = crate::session_lsp::cull_idle(&session, timeout).await;
                if culled > 0 {
                    tracing::info!(culled, session = %session.id, "shut down idle language servers");
                }
            });
        }
        let culled = sessions.cull_idle_terminals().await;
        if culled > 0 {
            tracing::info!(culled, "destroyed boxes whose only activity was idle terminals");
        }
    }
}

/// All sessions of a server.
#[derive(Debug)]
pub struct Sessions {
    engine: Engine,
    config: SessionConfig,
    by_token: Mutex<HashMap<String, Arc<Session>>>,
    /// Live session boxes per caller (and per guests' address).
    boxes: Places,
    /// The host's templates of the session servers' state.
    templates: ServerTemplates,
    /// The egress proxy, when `[egress]` has rules.
    egress: Option<Egress>,
}

impl Sessions {
    /// An empty registry. Inside a tokio runtime, it also starts the sweep
    /// of idle boxes' bytes, which ends with the registry.
    pub fn new(engine: Engine, config: SessionConfig) -> Arc<Sessions> {
        let templates = ServerTemplates::new(config.server_templates.clone());
        let (engine, egress) = match config.egress.clone() {
            Some(policy) => {
                let (egress, wrap) = Egress::new(policy);
                (engine.wrap_backend(wrap), Some(egress))
            }
            None => (engine, None),
        };
        let sessions = Arc::new(Sessions {
            engine,
            config,
            by_token: Mutex::default(),
            boxes: Places::default(),
            templates,
            egress,
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(sweep_idle_bytes(Arc::downgrade(&sessions)));
        }
        sessions
    }

    /// `session`'s box, made now if it has none and its caller may have one
    /// more under `caps`. At the cap, the box of one of the caller's
    /// disconnected sessions without a run is destroyed to make room;
    /// otherwise the answer is [`SessionBoxError::TooManyBoxes`].
    /// The box is held in use (no sweep destroys it) until the answer's
    /// [`BoxInUse`] is dropped.
    pub async fn sandbox(&self, session: &Arc<Session>, caps: BoxCaps) -> Result<AcquiredBox, SessionBoxError> {
        // Held before the slot is locked: a sweep that finds the session
        // not busy holds the slot while it destroys, so this waits for it.
        let in_use = session.box_users.hold();
        session.set_box_caps(caps);
        let mut slot = session.sandbox.lock().await;
        if session.ended.load(Ordering::Acquire) {
            return Err(SessionBoxError::SessionEnded);
        }
        if let Some(held) = slot.as_ref() {
            return Ok(AcquiredBox { id: held.id().clone(), created: false, in_use });
        }
        let take = || self.boxes.take(&session.owner, caps.max_boxes, caps.max_boxes_per_address);
        let place = match take() {
            Ok(place) => place,
            Err(refusal) => {
                self.reclaim_a_detached_box(session, refusal).await;
                take().map_err(|refusal| match refusal {
                    Refusal::Caller => SessionBoxError::TooManyBoxes { max: caps.max_boxes },
                    Refusal::Address => SessionBoxError::TooManyBoxesAtAddress { max: caps.max_boxes_per_address },
                })?
            }
        };
        let backend = self.engine.backend();
        // Held by a lease from here: a caller that drops this future before
        // the box is in the slot leaves nothing behind.
        let lease = BoxLease::create(backend, self.config.box_spec.clone()).await?;
        let id = lease.id().clone();
        let egress = match (&self.egress, caps.egress) {
            (Some(egress), true) => match egress.open(backend.as_ref(), &id).await {
                Ok(opened) => Some(opened),
                Err(error) => {
                    // The box works offline; the caller sees the proxy's
                    // absence, the operator this line.
                    tracing::warn!(%error, box_id = %id, "could not start the egress proxy in a box");
                    None
                }
            },
            _ => None,
        };
        // The project's repository is there before anything runs.
        if let Some(frame) = session.project_git.restore(backend.as_ref(), &id).await {
            // Ahead of the answer of the command the box is made for,
            // unless the client's queue is full.
            if let Err(mpsc::error::TrySendError::Full(frame)) = session.outbox_tx.try_send(frame) {
                let session = session.clone();
                tokio::spawn(async move { session.send(frame).await });
            }
        }
        *slot = Some(SessionBox { lease, _place: place, _egress: egress });
        Ok(AcquiredBox { id, created: true, in_use })
    }

    /// Destroys the box of another session that no connection holds and
    /// that runs nothing: one of `session`'s owner's, or, when the cap that
    /// refused was its address's, one of another guest's there.
    async fn reclaim_a_detached_box(&self, session: &Arc<Session>, refusal: Refusal) {
        let room = session.owner.room();
        let counted_alike = |other: &Principal| match refusal {
            Refusal::Caller => *other == session.owner,
            Refusal::Address => room.is_some() && other.room() == room,
        };
        let others = self
            .list()
            .into_iter()
            .filter(|other| !Arc::ptr_eq(other, session) && counted_alike(&other.owner) && other.is_detached());
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
            .filter(|session| session.owner != Principal::Anonymous && !session.is_busy())
            .filter_map(|session| Some((session.current_box()?, session)))
            .collect();
        if sessions_by_box.is_empty() {
            return 0;
        }
        for info in self.engine.backend().list().await {
            let Some(session) = sessions_by_box.get(&info.id) else { continue };
            // A box whose only runs are the session's database servers is
            // idle: their memory counts like any idle box's.
            if session.servers().running_in(&info.id).is_none_or(|servers| info.active_runs > servers) {
                continue;
            }
            idle_by_owner.entry(session.owner.clone()).or_default().push((session.clone(), info));
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

    /// Destroys the boxes whose only activity is terminals in which
    /// nothing was typed or printed for `[sessions] terminal_idle_secs`,
    /// with a notice in each terminal: how many.
    pub async fn cull_idle_terminals(&self) -> usize {
        let mut culled = 0;
        for session in self.list() {
            if session.cull_idle_terminals(&self.engine, self.config.terminal_idle).await {
                culled += 1;
            }
        }
        culled
    }

    /// The egress proxy, when `[egress]` has rules (for metrics).
    pub fn egress(&self) -> Option<&Egress> {
        self.egress.as_ref()
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The host's templates of the session servers' state.
    pub fn templates(&self) -> &ServerTemplates {
        &self.templates
    }

    /// The settings sessions were made with.
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

    /// Kills every session's runs and waits, at most `within`, until they
    /// have reported their ends and those frames have gone to the clients:
    /// a shutdown past its drain deadline tells each client which runs it
    /// killed before [`Sessions::close_all`] closes the connections.
    pub async fn kill_runs_and_settle(&self, within: Duration) {
        let all = self.list();
        for session in &all {
            session.kill_runs().await;
        }
        let deadline = tokio::time::Instant::now() + within;
        while !all.iter().all(|session| session.is_settled()) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
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
    fn the_box_cap_error_names_the_cap_and_has_a_code() {
        let error = SessionBoxError::TooManyBoxes { max: 4 };
        assert_eq!(error.code(), "too_many_boxes");
        assert!(error.to_string().contains("allows 4 sessions with a box"), "{error}");
        let error = SessionBoxError::TooManyBoxesAtAddress { max: 48 };
        assert_eq!(error.code(), "too_many_boxes");
        assert!(error.to_string().contains("your address have 48 sessions with a box"), "{error}");
        assert_eq!(SessionBoxError::from(SandboxError::ShuttingDown).code(), "shutting_down");
    }
}
