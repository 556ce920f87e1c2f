//! A session's notebook kernels (`docs/notebooks.md`): one per open
//! notebook, in the session's box, with the caller's largest run limits
//! but no wall or CPU time bound (their idle time ends them instead), and
//! a spare kernel started ahead for the next start or restart.
//!
//! A kernel belongs to its session, not to a connection: its messages go
//! on the session's outbound queue, so a client that reconnects within the
//! grace period finds its kernels where it left them, and a kernel dies
//! with the session's box.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytesbox_kernels::{Kernel, KernelError, KernelEvent, KernelStart, DEFAULT_MAX_MESSAGE_BYTES};
use bytesbox_runtimes::KernelTemplate;
use bytesbox_sandbox::{Backend, BoxId, RunLimits};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::accounts::caller::Caller;
use crate::app::AppState;
use crate::box_in_use::BoxInUse;
use crate::metrics::BoxOrigin;
use crate::protocol::{KernelMessageFrame, ServerMessage};
use crate::session::{Session, SessionBoxError};

/// Kernel settings (`[sessions]` in the config file).
#[derive(Clone, Debug)]
pub struct KernelConfig {
    /// A kernel that ran nothing and said nothing this long is shut down.
    pub idle_timeout: Duration,
    /// Kernels one session may have at once (its spare not counted).
    pub max_per_session: usize,
    /// Whether a spare kernel is started ahead in a session's box, for
    /// the session's next start or restart of that language.
    pub spare: bool,
    /// How long a kernel may take to start.
    pub start_timeout: Duration,
    /// Largest message a kernel may send.
    pub max_message_bytes: u64,
}

impl Default for KernelConfig {
    fn default() -> Self {
        KernelConfig {
            idle_timeout: Duration::from_secs(30 * 60),
            max_per_session: 4,
            spare: true,
            start_timeout: Duration::from_secs(60),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// How a session's kernel starts: the catalog's language and command, and
/// the caller's limits.
#[derive(Clone, Debug)]
pub struct KernelPlan {
    /// The catalog's language id.
    pub language: String,
    /// Its kernel's command.
    pub template: KernelTemplate,
    /// The kernel's run limits.
    pub limits: RunLimits,
}

impl KernelPlan {
    /// The run limits of a kernel for a caller whose runs may have at most
    /// `max`: all of it but time, which a kernel is not bound by.
    pub fn limits_within(max: &RunLimits) -> RunLimits {
        let unbounded = RunLimits::hard_maximum();
        RunLimits {
            wall_time_ms: unbounded.wall_time_ms,
            input_wait_ms: unbounded.input_wait_ms,
            cpu_time_ms: unbounded.cpu_time_ms,
            ..max.clone()
        }
    }
}

/// Why a kernel request was refused.
#[derive(Debug, thiserror::Error)]
pub enum KernelRequestError {
    /// No kernel of that id.
    #[error("no kernel {0:?} in this session")]
    Unknown(String),
    /// The id is taken.
    #[error("kernel {0:?} is already open")]
    Duplicate(String),
    /// Too many kernels.
    #[error("a session may have {0} kernels open at once; shut one down first")]
    TooMany(usize),
    /// The kernel is being started or restarted.
    #[error("kernel {0:?} is starting; wait for kernel_ready")]
    Starting(String),
    /// The kernel failed.
    #[error(transparent)]
    Kernel(#[from] KernelError),
}

impl KernelRequestError {
    /// The protocol's error code.
    pub fn code(&self) -> &'static str {
        match self {
            KernelRequestError::Unknown(_) => "unknown_kernel",
            KernelRequestError::Duplicate(_) => "duplicate_kernel_id",
            KernelRequestError::TooMany(_) => "too_many_kernels",
            KernelRequestError::Starting(_) => "kernel_starting",
            KernelRequestError::Kernel(e) => e.code(),
        }
    }
}

/// One open kernel of the session.
struct OpenKernel {
    /// `None` while it starts or restarts.
    kernel: Option<Arc<Kernel>>,
    /// Its current incarnation's forwarder.
    forwarder: Option<JoinHandle<()>>,
    language: String,
    activity: Arc<Activity>,
}

/// When a kernel last did anything, and whether a request is going.
#[derive(Debug)]
struct Activity {
    last: Mutex<Instant>,
    busy: AtomicBool,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity { last: Mutex::new(Instant::now()), busy: AtomicBool::new(false) })
    }

    fn touch(&self) {
        if let Ok(mut last) = self.last.lock() {
            *last = Instant::now();
        }
    }

    fn idle_for(&self) -> Duration {
        self.last.lock().map(|last| last.elapsed()).unwrap_or_default()
    }
}

/// A kernel started ahead.
struct Spare {
    box_id: BoxId,
    language: String,
    kernel: Kernel,
    events: mpsc::Receiver<KernelEvent>,
}

/// A session's kernels.
#[derive(Default)]
pub struct SessionKernels {
    open: Mutex<HashMap<String, OpenKernel>>,
    spare: Arc<tokio::sync::Mutex<Option<Spare>>>,
}

impl std::fmt::Debug for SessionKernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKernels").field("open", &self.count()).finish_non_exhaustive()
    }
}

impl SessionKernels {
    /// Kernels open (or starting).
    pub fn count(&self) -> usize {
        self.open.lock().map(|open| open.len()).unwrap_or(0)
    }

    /// The id (`Kernel::id`) of the spare kernel, if one is ready and not
    /// being handed out or made.
    pub fn spare_id(&self) -> Option<String> {
        self.spare.try_lock().ok()?.as_ref().map(|spare| spare.kernel.id.clone())
    }

    /// The id (`Kernel::id`) of the process serving the session's kernel
    /// `id` now.
    pub fn process_id(&self, id: &str) -> Option<String> {
        self.open.lock().ok()?.get(id)?.kernel.as_ref().map(|kernel| kernel.id.clone())
    }

    /// Takes a place for kernel `id` before it starts.
    pub fn reserve(&self, id: &str, language: &str, max: usize) -> Result<(), KernelRequestError> {
        let mut open = self.open.lock().map_err(|_| KernelError::Internal("kernel table".into()))?;
        if open.contains_key(id) {
            return Err(KernelRequestError::Duplicate(id.to_string()));
        }
        if open.len() >= max {
            return Err(KernelRequestError::TooMany(max));
        }
        let entry =
            OpenKernel { kernel: None, forwarder: None, language: language.to_string(), activity: Activity::new() };
        open.insert(id.to_string(), entry);
        Ok(())
    }

    /// Gives up a place taken by [`SessionKernels::reserve`] whose kernel
    /// did not start.
    pub fn unreserve(&self, id: &str) {
        if let Ok(mut open) = self.open.lock() {
            if open.get(id).is_some_and(|entry| entry.kernel.is_none()) {
                open.remove(id);
            }
        }
    }

    /// The running kernel `id`.
    pub fn get(&self, id: &str) -> Result<Arc<Kernel>, KernelRequestError> {
        let open = self.open.lock().map_err(|_| KernelError::Internal("kernel table".into()))?;
        let entry = open.get(id).ok_or_else(|| KernelRequestError::Unknown(id.to_string()))?;
        entry.activity.touch();
        entry.kernel.clone().ok_or_else(|| KernelRequestError::Starting(id.to_string()))
    }

    /// Takes kernel `id` out for a restart: its place stays, marked
    /// starting; its forwarder stops, so the old kernel's end is not
    /// reported.
    pub fn take_for_restart(&self, id: &str) -> Result<(Arc<Kernel>, String), KernelRequestError> {
        let mut open = self.open.lock().map_err(|_| KernelError::Internal("kernel table".into()))?;
        let entry = open.get_mut(id).ok_or_else(|| KernelRequestError::Unknown(id.to_string()))?;
        let kernel = entry.kernel.take().ok_or_else(|| KernelRequestError::Starting(id.to_string()))?;
        if let Some(forwarder) = entry.forwarder.take() {
            forwarder.abort();
        }
        Ok((kernel, entry.language.clone()))
    }

    /// Removes kernel `id` (shut down, culled): `None` if there was no
    /// such kernel, else its process unless it was still starting (the
    /// start then finds its place gone and ends the new process).
    fn remove(&self, id: &str) -> Option<Option<Arc<Kernel>>> {
        let mut open = self.open.lock().ok()?;
        let entry = open.remove(id)?;
        if let Some(forwarder) = entry.forwarder {
            forwarder.abort();
        }
        Some(entry.kernel)
    }

    /// Ends every kernel and the spare (the session ends).
    pub async fn close_all(&self) {
        let all: Vec<OpenKernel> =
            self.open.lock().map(|mut open| open.drain().map(|(_, e)| e).collect()).unwrap_or_default();
        for entry in all {
            if let Some(forwarder) = entry.forwarder {
                forwarder.abort();
            }
        }
        self.spare.lock().await.take();
    }

    /// Ids of kernels idle longer than `timeout`.
    fn idle_longer_than(&self, timeout: Duration) -> Vec<String> {
        self.open
            .lock()
            .map(|open| {
                open.iter()
                    .filter(|(_, e)| {
                        e.kernel.is_some()
                            && !e.activity.busy.load(Ordering::Acquire)
                            && e.activity.idle_for() > timeout
                    })
                    .map(|(id, _)| id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A kernel to start in a session's box.
#[derive(Debug)]
pub struct KernelStartTask {
    /// The session.
    pub session: Arc<Session>,
    /// Its backend.
    pub backend: Arc<dyn Backend>,
    /// Its box.
    pub box_id: BoxId,
    /// The kernel's id (its place reserved).
    pub id: String,
    /// What to start.
    pub plan: KernelPlan,
    /// The settings.
    pub config: KernelConfig,
    /// The box's workspace as its programs see it.
    pub workspace_dir: String,
    /// Whether it replaces a kernel of the same id.
    pub restarted: bool,
    /// The box held in use until the kernel runs (a run keeps the box in
    /// use itself).
    pub in_use: BoxInUse,
}

/// What starting kernel `id` in the session's box needs: the box (made
/// now if the session has none) and the caller's limits; an error when the
/// caller may not have another box or the backend cannot make one.
pub(crate) async fn start_task(
    state: &Arc<AppState>,
    session: &Arc<Session>,
    caller: &Caller,
    id: &str,
    language: String,
    template: bytesbox_runtimes::KernelTemplate,
    restarted: bool,
) -> Result<KernelStartTask, SessionBoxError> {
    let policy = state.run_policy(caller);
    let acquired = state.sessions.sandbox(session, policy.boxes).await?;
    state.metrics.box_acquired(BoxOrigin::Session, acquired.created);
    let limits = KernelPlan::limits_within(&policy.max_limits);
    Ok(KernelStartTask {
        session: session.clone(),
        backend: state.sessions.engine().backend().clone(),
        box_id: acquired.id,
        id: id.to_string(),
        plan: KernelPlan { language, template, limits },
        config: state.sessions.config().kernels.clone(),
        workspace_dir: state.sessions.config().box_spec.workspace_dir.clone(),
        restarted,
        in_use: acquired.in_use,
    })
}

/// Starts kernel `id` (its place reserved) in `box_id` and sends
/// `kernel_ready` or the error on the session's queue (see [`launch`]).
pub async fn start(task: KernelStartTask) {
    let (session, id, language, restarted) =
        (task.session.clone(), task.id.clone(), task.plan.language.clone(), task.restarted);
    let frame = match launch(task).await {
        Ok(Some(language_info)) => ServerMessage::KernelReady { id, language, language_info, restarted },
        // Shut down while it started.
        Ok(None) => return,
        Err(e) => {
            ServerMessage::Error { id: Some(id), terminal: None, code: e.code().to_string(), message: e.to_string() }
        }
    };
    let _ = session.send(frame).await;
}

/// Starts kernel `id` (its place reserved) in `box_id`, from the spare
/// when one of the language is ready there, and puts it in its place;
/// then starts the next spare in the background. Returns the kernel's
/// `language_info`, or `None` when its place was given up meanwhile (the
/// new kernel is then ended).
pub async fn launch(task: KernelStartTask) -> Result<Option<serde_json::Value>, KernelError> {
    let KernelStartTask { session, backend, box_id, id, plan, config, workspace_dir, restarted: _, in_use: _in_use } =
        task;
    let started = match take_spare(&session, &box_id, &plan.language).await {
        Some(spare) => Ok(spare),
        None => start_kernel(backend.clone(), &box_id, &plan, &config, &workspace_dir).await,
    };
    let launched = match started {
        Ok((kernel, events)) => {
            let language_info = kernel.language_info.clone();
            Ok(install(&session, &id, Arc::new(kernel), events).then_some(language_info))
        }
        Err(e) => {
            session.kernels().unreserve(&id);
            Err(e)
        }
    };
    if config.spare {
        tokio::spawn(refill_spare(session, backend, box_id, plan, config, workspace_dir));
    }
    launched
}

async fn start_kernel(
    backend: Arc<dyn Backend>,
    box_id: &BoxId,
    plan: &KernelPlan,
    config: &KernelConfig,
    workspace_dir: &str,
) -> Result<(Kernel, mpsc::Receiver<KernelEvent>), KernelError> {
    let start = KernelStart {
        template: &plan.template,
        limits: plan.limits.clone(),
        workspace_dir,
        timeout: config.start_timeout,
        max_message_bytes: config.max_message_bytes,
    };
    Kernel::start(backend, box_id, start).await
}

async fn take_spare(
    session: &Session,
    box_id: &BoxId,
    language: &str,
) -> Option<(Kernel, mpsc::Receiver<KernelEvent>)> {
    let mut slot = session.kernels().spare.lock().await;
    let spare = slot.take()?;
    if spare.box_id != *box_id || spare.language != language || spare.kernel.has_exited() {
        return None;
    }
    Some((spare.kernel, spare.events))
}

/// Starts a spare kernel of `plan`'s language in `box_id` unless one is
/// there; a failure is only logged (the next start goes the slow way).
async fn refill_spare(
    session: Arc<Session>,
    backend: Arc<dyn Backend>,
    box_id: BoxId,
    plan: KernelPlan,
    config: KernelConfig,
    workspace_dir: String,
) {
    let mut slot = session.kernels().spare.clone().lock_owned().await;
    if slot.as_ref().is_some_and(|s| s.box_id == box_id && s.language == plan.language && !s.kernel.has_exited()) {
        return;
    }
    slot.take();
    match start_kernel(backend, &box_id, &plan, &config, &workspace_dir).await {
        Ok((kernel, events)) => *slot = Some(Spare { box_id, language: plan.language, kernel, events }),
        Err(e) => tracing::info!(error = %e, "no spare kernel"),
    }
}

/// Puts a started kernel in its reserved place and forwards its events;
/// false (and the kernel dropped, so killed) when the place is gone (shut
/// down while starting).
fn install(session: &Arc<Session>, id: &str, kernel: Arc<Kernel>, events: mpsc::Receiver<KernelEvent>) -> bool {
    let Ok(mut open) = session.kernels().open.lock() else { return false };
    let Some(entry) = open.get_mut(id) else { return false };
    entry.activity.touch();
    entry.kernel = Some(kernel);
    entry.forwarder = Some(tokio::spawn(forward(session.clone(), id.to_string(), events, entry.activity.clone())));
    true
}

/// Turns a kernel's events into frames on the session's queue (waiting
/// while it is full: a kernel that prints fast waits for its client).
async fn forward(session: Arc<Session>, id: String, mut events: mpsc::Receiver<KernelEvent>, activity: Arc<Activity>) {
    while let Some(event) = events.recv().await {
        activity.touch();
        let frame = match event {
            KernelEvent::Message(message) => {
                if message.msg_type == "status" {
                    let busy = message.content.get("execution_state").and_then(|s| s.as_str()) == Some("busy");
                    activity.busy.store(busy, Ordering::Release);
                }
                ServerMessage::KernelMessage(Box::new(KernelMessageFrame {
                    id: id.clone(),
                    channel: message.channel.to_string(),
                    msg_type: message.msg_type,
                    parent: message.parent,
                    content: message.content,
                    metadata: message.metadata,
                    header: message.header,
                    parent_header: message.parent_header,
                }))
            }
            KernelEvent::Exited { status, exit_code, signal, memory_bytes } => {
                // Its place is free for a new kernel of the same id before
                // the client hears of the end. (This task is the entry's
                // forwarder: its handle is dropped, not aborted.)
                if let Ok(mut open) = session.kernels().open.lock() {
                    open.remove(&id);
                }
                let frame = ServerMessage::KernelExited { id: id.clone(), status, exit_code, signal, memory_bytes };
                let _ = session.send(frame).await;
                return;
            }
        };
        if !session.send(frame).await {
            return;
        }
    }
}

/// Shuts kernel `id` down (asked to end, killed after a short grace) and
/// reports it with `status`.
pub async fn shut_down(session: &Session, id: &str, status: &str) -> Result<(), KernelRequestError> {
    let kernel = session.kernels().remove(id).ok_or_else(|| KernelRequestError::Unknown(id.to_string()))?;
    if let Some(Ok(kernel)) = kernel.map(Arc::try_unwrap) {
        kernel.shutdown(Duration::from_secs(1)).await;
    }
    let frame = ServerMessage::KernelExited {
        id: id.to_string(),
        status: status.to_string(),
        exit_code: None,
        signal: None,
        memory_bytes: 0,
    };
    let _ = session.send(frame).await;
    Ok(())
}

/// Restarts a kernel taken out by [`SessionKernels::take_for_restart`]
/// and answers on the session's queue (see [`relaunch`]).
pub async fn restart(old: Arc<Kernel>, start_new: KernelStartTask) {
    end_replaced(old);
    start(start_new).await;
}

/// Restarts a kernel taken out by [`SessionKernels::take_for_restart`]:
/// the old one is ended, a new one (the spare when there is one) takes
/// its place. Returns as [`launch`] does.
pub async fn relaunch(old: Arc<Kernel>, start_new: KernelStartTask) -> Result<Option<serde_json::Value>, KernelError> {
    end_replaced(old);
    launch(start_new).await
}

/// Ends a replaced kernel beside the start of the new one: its output is
/// no longer forwarded, and its end need not delay the new one.
fn end_replaced(old: Arc<Kernel>) {
    tokio::spawn(async move {
        if let Ok(old) = Arc::try_unwrap(old) {
            old.shutdown(Duration::from_millis(200)).await;
        }
    });
}

/// Shuts down the session's kernels that have been idle longer than
/// `timeout`; returns how many.
pub async fn cull_idle(session: &Session, timeout: Duration) -> usize {
    let idle = session.kernels().idle_longer_than(timeout);
    for id in &idle {
        let _ = shut_down(session, id, "culled").await;
    }
    idle.len()
}
