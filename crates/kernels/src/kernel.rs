//! One Jupyter kernel in a box: started as a run of the box's (its uid,
//! its limits, dying with it), spoken to over the Jupyter messaging
//! protocol through the relays (`crate::relay`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytesbox_runtimes::KernelTemplate;
use bytesbox_sandbox::{
    Backend, BoxId, FileEntry, PutMode, RunControl, RunEvent, RunHandle, RunLimits, RunSpec, Signal, Stream,
};
use jupyter_protocol::{
    CompleteRequest, ConnectionInfo, ExecuteRequest, InputReply, InspectRequest, JupyterMessage, KernelInfoRequest,
    ReplyStatus, ShutdownRequest, Transport,
};
use jupyter_zmq_client::{
    create_client_control_connection, create_client_iopub_connection, create_client_shell_connection_with_identity,
    create_client_stdin_connection_with_identity, peer_identity_for_session, DealerSendConnection, RawMessage,
};
use serde_json::Value;
use tokio::sync::{mpsc, watch, Mutex};

use crate::frame_guard::GuardError;
use crate::relay::{OnViolation, Relays};
use crate::KernelError;

/// Events queued for the consumer before the kernel's sockets wait.
const EVENT_QUEUE: usize = 64;

/// How often the start looks for the kernel's sockets.
const SOCKET_POLL: Duration = Duration::from_millis(20);

/// How long one `kernel_info_request` waits for its status on iopub
/// before another is sent (the iopub subscription may not be up yet).
const HANDSHAKE_RETRY: Duration = Duration::from_millis(500);

/// Workspace directory of the kernels' connection files and sockets.
pub const KERNELS_DIR: &str = ".bytesbox/kernels";

/// The socket name prefix in a kernel's directory (`k-1` … `k-5`).
const SOCKET_PREFIX: &str = "k";

/// Kernel stderr kept to explain a kernel that did not start.
const STDERR_TAIL_BYTES: usize = 4096;

/// The exit status of a kernel ended for a message past the bound.
pub const MESSAGE_TOO_LARGE: &str = "message_too_large";

/// The channels, in the order of their socket numbers.
const CHANNELS: [&str; 5] = ["shell", "iopub", "stdin", "control", "hb"];

/// How to start a kernel.
#[derive(Debug, Clone)]
pub struct KernelStart<'a> {
    /// The catalog's command.
    pub template: &'a KernelTemplate,
    /// The kernel's run limits. Its wall and CPU time should be long: a
    /// kernel is ended by its idle time, not by them.
    pub limits: RunLimits,
    /// The box's workspace, as its programs see it (`/workspace`).
    pub workspace_dir: &'a str,
    /// How long the kernel may take to answer.
    pub timeout: Duration,
    /// Largest message accepted from the kernel, bytes.
    pub max_message_bytes: u64,
}

/// A message from the kernel: its JSON parts, as the kernel sent them
/// (signature checked; binary buffers dropped).
#[derive(Debug, Clone, PartialEq)]
pub struct KernelMessage {
    /// `shell`, `iopub`, `stdin` or `control`.
    pub channel: &'static str,
    /// The Jupyter message type (`stream`, `execute_result`, …).
    pub msg_type: String,
    /// The id of the request it answers (the parent header's `msg_id`),
    /// which is the client's request id.
    pub parent: Option<String>,
    /// The content.
    pub content: Value,
    /// The metadata.
    pub metadata: Value,
    /// Its header as the kernel sent it (`msg_id`, `session`, `date`, …),
    /// for clients that speak Jupyter's own wire format.
    pub header: Value,
    /// Its parent header as the kernel sent it.
    pub parent_header: Value,
}

/// A channel a client sends requests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestChannel {
    /// `execute_request`, `complete_request`, `kernel_info_request`, …
    Shell,
    /// `input_reply`.
    Stdin,
    /// `interrupt_request`, `shutdown_request`, `debug_request`.
    Control,
}

/// What a kernel reports.
#[derive(Debug, Clone, PartialEq)]
pub enum KernelEvent {
    /// A message.
    Message(KernelMessage),
    /// The kernel's process ended (killed at a limit, shut down, exited).
    Exited {
        /// The run's status name (`memory_limit`, `killed`, `nonzero`, …).
        status: String,
        /// Its exit code.
        exit_code: Option<i32>,
        /// The signal that ended it.
        signal: Option<i32>,
        /// Its peak memory.
        memory_bytes: u64,
    },
}

/// A running kernel. Dropping it kills the kernel's process and stops its
/// relays; [`Kernel::shutdown`] asks it to end first.
pub struct Kernel {
    /// The kernel's id (its directory in the workspace).
    pub id: String,
    /// `language_info` of its `kernel_info_reply`.
    pub language_info: Value,
    /// Its box.
    pub box_id: BoxId,
    run: Arc<dyn RunControl>,
    /// The sending sides; `None` once the kernel is shut down (a closed
    /// ZeroMQ connection would go on trying to reach the removed relays).
    shell: Mutex<Option<DealerSendConnection>>,
    stdin: Mutex<Option<DealerSendConnection>>,
    control: Mutex<Option<DealerSendConnection>>,
    exited: watch::Receiver<bool>,
    readers: tokio::task::JoinSet<()>,
    relays: Option<Relays>,
    backend: Arc<dyn Backend>,
    /// The kernel's directory, as the box sees it.
    in_box_dir: String,
    /// Set once the kernel's process and files are gone.
    cleaned_up: bool,
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel").field("id", &self.id).field("box_id", &self.box_id).finish_non_exhaustive()
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        if self.cleaned_up {
            return;
        }
        let (run, backend, box_id, dir) =
            (self.run.clone(), self.backend.clone(), self.box_id.clone(), self.in_box_dir.clone());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { clean_up(run.as_ref(), backend.as_ref(), &box_id, &dir).await });
        }
    }
}

/// Kills the kernel's process and removes its directory (connection file,
/// sockets) from the box.
async fn clean_up(run: &dyn RunControl, backend: &dyn Backend, box_id: &BoxId, in_box_dir: &str) {
    let _ = run.kill().await;
    let remove = RunSpec { last_in_box: false, ..RunSpec::command(["rm", "-rf", "--", in_box_dir]) };
    if let Ok(handle) = backend.run(box_id, remove).await {
        let _ = handle.collect().await;
    }
}

/// Kills a starting kernel whose start was abandoned.
struct KillOnDrop(Option<Arc<dyn RunControl>>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let (Some(run), Ok(runtime)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(async move {
                let _ = run.kill().await;
            });
        }
    }
}

/// The connection's signing key: 64 hex digits from two v4 UUIDs (244
/// random bits).
fn random_hex() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

impl Kernel {
    /// Starts a kernel in `box_id` and waits until it answers; returns it
    /// with its events (which end once the kernel has exited and every
    /// message before was taken).
    pub async fn start(
        backend: Arc<dyn Backend>,
        box_id: &BoxId,
        start: KernelStart<'_>,
    ) -> Result<(Kernel, mpsc::Receiver<KernelEvent>), KernelError> {
        // A backend that cannot hand out a box's sockets cannot serve
        // kernels (the Docker backend, so far): say so before starting one.
        if let Err(e @ bytesbox_sandbox::SandboxError::Unsupported(_)) = backend.open_socket(box_id, KERNELS_DIR).await
        {
            return Err(e.into());
        }
        let id = format!("k{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let dir = format!("{KERNELS_DIR}/{id}");
        let in_box_dir = format!("{}/{dir}", start.workspace_dir.trim_end_matches('/'));
        let session = uuid::Uuid::new_v4().to_string();
        let key = random_hex();
        let in_box = ConnectionInfo {
            ip: format!("{in_box_dir}/{SOCKET_PREFIX}"),
            transport: Transport::IPC,
            shell_port: 1,
            iopub_port: 2,
            stdin_port: 3,
            control_port: 4,
            hb_port: 5,
            key: key.clone(),
            signature_scheme: "hmac-sha256".into(),
            kernel_name: None,
        };
        let file = serde_json::to_vec(&in_box).map_err(|e| KernelError::Internal(e.to_string()))?;
        backend.put_files(box_id, vec![FileEntry::new(format!("{dir}/connection.json"), file)], PutMode::Merge).await?;

        let spec = RunSpec {
            argv: start.template.argv_with(&format!("{in_box_dir}/connection.json")),
            env: start.template.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            limits: start.limits.clone(),
            ..RunSpec::default()
        };
        let handle = backend.run(box_id, spec).await?;
        let run = handle.control();
        // The caller may vanish at any await from here (its future
        // dropped): the kernel's process must not outlive that.
        let mut unclaimed = KillOnDrop(Some(run.clone()));
        let (events_tx, events) = mpsc::channel(EVENT_QUEUE);
        let (exited_tx, exited) = watch::channel(false);
        let stderr_tail = Arc::new(std::sync::Mutex::new(Vec::new()));
        let kernel_gone = Arc::new(AtomicBool::new(false));
        let violation = Arc::new(Violation { reason: std::sync::Mutex::new(None), run: run.clone() });
        tokio::spawn(watch_run(
            handle,
            events_tx.clone(),
            exited_tx,
            stderr_tail.clone(),
            kernel_gone.clone(),
            violation.clone(),
        ));

        let started = tokio::time::timeout(
            start.timeout,
            connect(
                Connecting {
                    backend: backend.as_ref(),
                    box_id,
                    dir: &dir,
                    session: &session,
                    in_box: &in_box,
                    max_message_bytes: start.max_message_bytes,
                },
                exited.clone(),
                violation,
            ),
        )
        .await;
        let failure = |reason: &str| {
            let tail = stderr_tail.lock().map(|t| String::from_utf8_lossy(&t).into_owned()).unwrap_or_default();
            let last = tail.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
            if last.is_empty() {
                KernelError::StartFailed(reason.to_string())
            } else {
                KernelError::StartFailed(format!("{reason}: {last}"))
            }
        };
        let connected = match started {
            Ok(Ok(connected)) => connected,
            Ok(Err(e)) => {
                clean_up(run.as_ref(), backend.as_ref(), box_id, &in_box_dir).await;
                return Err(match e {
                    KernelError::StartFailed(reason) => failure(&reason),
                    other => other,
                });
            }
            Err(_) => {
                clean_up(run.as_ref(), backend.as_ref(), box_id, &in_box_dir).await;
                return Err(failure("the kernel did not answer in time"));
            }
        };
        unclaimed.0 = None;
        let Connected { relays, shell, stdin, control, mut readers_from, language_info } = connected;
        let mut readers = tokio::task::JoinSet::new();
        for (channel, reader) in readers_from.drain(..) {
            readers.spawn(read_channel(channel, reader, events_tx.clone(), kernel_gone.clone()));
        }
        drop(events_tx);
        let kernel = Kernel {
            id,
            language_info,
            box_id: box_id.clone(),
            run,
            shell: Mutex::new(Some(shell)),
            stdin: Mutex::new(Some(stdin)),
            control: Mutex::new(Some(control)),
            exited,
            readers,
            relays: Some(relays),
            backend,
            in_box_dir,
            cleaned_up: false,
        };
        Ok((kernel, events))
    }

    /// Whether the kernel's process has ended.
    pub fn has_exited(&self) -> bool {
        *self.exited.borrow()
    }

    /// Runs `code`; `request` becomes the request's `msg_id`, so every
    /// message about it names it as its parent.
    pub async fn execute(&self, request: &str, code: String, allow_stdin: bool) -> Result<(), KernelError> {
        let mut content = ExecuteRequest::new(code);
        content.allow_stdin = allow_stdin;
        content.stop_on_error = true;
        self.send(&self.shell, request, content.into()).await
    }

    /// Completions at `cursor_pos` (in Unicode code points) of `code`.
    pub async fn complete(&self, request: &str, code: String, cursor_pos: usize) -> Result<(), KernelError> {
        self.send(&self.shell, request, CompleteRequest { code, cursor_pos }.into()).await
    }

    /// Help on the name at `cursor_pos`.
    pub async fn inspect(
        &self,
        request: &str,
        code: String,
        cursor_pos: usize,
        detail_level: u8,
    ) -> Result<(), KernelError> {
        let detail_level = if detail_level == 0 { 0 } else { 1 };
        self.send(&self.shell, request, InspectRequest { code, cursor_pos, detail_level: Some(detail_level) }.into())
            .await
    }

    /// Answers the kernel's `input_request`.
    pub async fn input_reply(&self, request: &str, value: String) -> Result<(), KernelError> {
        let reply = InputReply { value, status: ReplyStatus::Ok, error: None };
        self.send(&self.stdin, request, reply.into()).await
    }

    /// Sends a client's request as it came (Jupyter's own wire format, as
    /// the Kernel Gateway API takes it): `request` becomes its `msg_id`.
    /// A content that does not fit its message type is refused.
    pub async fn request(
        &self,
        channel: RequestChannel,
        request: &str,
        msg_type: &str,
        content: Value,
        metadata: Value,
    ) -> Result<(), KernelError> {
        let content = jupyter_protocol::JupyterMessageContent::from_type_and_content(msg_type, content)
            .map_err(|e| KernelError::Protocol(format!("a {msg_type} with a content that does not fit it: {e}")))?;
        let connection = match channel {
            RequestChannel::Shell => &self.shell,
            RequestChannel::Stdin => &self.stdin,
            RequestChannel::Control => &self.control,
        };
        self.send_with_metadata(connection, request, content, metadata).await
    }

    /// Interrupts the running cell: SIGINT to the kernel's process group
    /// (ipykernel's default `interrupt_mode`), which a cell sees as
    /// `KeyboardInterrupt`.
    pub async fn interrupt(&self) -> Result<(), KernelError> {
        self.run.signal(Signal::Sigint).await.map_err(KernelError::from)
    }

    /// Asks the kernel to end, then kills it if it has not within `grace`.
    pub async fn shutdown(mut self, grace: Duration) {
        let request = format!("shutdown-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let _ = self.send(&self.control, &request, ShutdownRequest { restart: false }.into()).await;
        let mut exited = self.exited.clone();
        let _ = tokio::time::timeout(grace, exited.wait_for(|gone| *gone)).await;
        self.readers.abort_all();
        for connection in [&self.shell, &self.stdin, &self.control] {
            connection.lock().await.take();
        }
        self.relays = None;
        clean_up(self.run.as_ref(), self.backend.as_ref(), &self.box_id, &self.in_box_dir).await;
        self.cleaned_up = true;
    }

    /// The server's private directory of the kernel's relays (removed with
    /// the kernel).
    pub fn relay_dir(&self) -> &std::path::Path {
        self.relays.as_ref().map_or(std::path::Path::new(""), |relays| relays.dir())
    }

    async fn send(
        &self,
        connection: &Mutex<Option<DealerSendConnection>>,
        request: &str,
        content: jupyter_protocol::JupyterMessageContent,
    ) -> Result<(), KernelError> {
        self.send_with_metadata(connection, request, content, Value::Object(Default::default())).await
    }

    async fn send_with_metadata(
        &self,
        connection: &Mutex<Option<DealerSendConnection>>,
        request: &str,
        content: jupyter_protocol::JupyterMessageContent,
        metadata: Value,
    ) -> Result<(), KernelError> {
        if self.has_exited() {
            return Err(KernelError::Exited);
        }
        let mut message = JupyterMessage::new(content, None).with_metadata(metadata);
        message.header.msg_id = request.to_string();
        let mut connection = connection.lock().await;
        let connection = connection.as_mut().ok_or(KernelError::Exited)?;
        connection.send(message).await.map_err(|e| KernelError::Protocol(e.to_string()))
    }
}

/// A channel's receiving side, whichever kind of socket it is.
type Reader = jupyter_zmq_client::Connection<Box<dyn zeromq::SocketRecv + Send>>;

struct Connected {
    relays: Relays,
    shell: DealerSendConnection,
    stdin: DealerSendConnection,
    control: DealerSendConnection,
    readers_from: Vec<(&'static str, Reader)>,
    language_info: Value,
}

fn boxed<S: zeromq::SocketRecv + Send + 'static>(connection: jupyter_zmq_client::Connection<S>) -> Reader {
    jupyter_zmq_client::Connection {
        socket: Box::new(connection.socket) as Box<dyn zeromq::SocketRecv + Send>,
        mac: connection.mac,
        session_id: connection.session_id,
    }
}

/// Where a starting kernel's sockets are and how to speak to them.
struct Connecting<'a> {
    backend: &'a dyn Backend,
    box_id: &'a BoxId,
    /// The kernel's workspace directory.
    dir: &'a str,
    /// The client's Jupyter session id.
    session: &'a str,
    /// The connection file the kernel got.
    in_box: &'a ConnectionInfo,
    max_message_bytes: u64,
}

/// Waits for the kernel's sockets, relays them and connects the client;
/// returns once the kernel has answered `kernel_info_request` and its
/// status came on iopub (so iopub is subscribed).
async fn connect(
    connecting: Connecting<'_>,
    mut exited: watch::Receiver<bool>,
    violation: Arc<Violation>,
) -> Result<Connected, KernelError> {
    let Connecting { backend, box_id, dir, session, in_box, max_message_bytes } = connecting;
    let mut relays = Relays::new().map_err(|e| KernelError::Internal(format!("kernel relay directory: {e}")))?;
    // Every socket the kernel binds, the heartbeat's too (its absence
    // would mean the kernel is not done binding).
    for (number, channel) in CHANNELS.iter().enumerate() {
        let name = format!("{SOCKET_PREFIX}-{}", number + 1);
        let path = format!("{dir}/{name}");
        let socket = loop {
            match backend.open_socket(box_id, &path).await {
                Ok(socket) => break socket,
                Err(bytesbox_sandbox::SandboxError::Workspace { .. }) => {}
                Err(e @ bytesbox_sandbox::SandboxError::Unsupported(_)) => return Err(e.into()),
                Err(e @ bytesbox_sandbox::SandboxError::InvalidPath { .. }) => {
                    return Err(KernelError::StartFailed(format!("the kernel's {channel} socket: {e}")))
                }
                Err(e) => return Err(e.into()),
            }
            tokio::select! {
                () = tokio::time::sleep(SOCKET_POLL) => {}
                _ = exited.wait_for(|gone| *gone) => return Err(KernelError::StartFailed("the kernel exited while starting".into())),
            }
        };
        if *channel != "hb" {
            relays
                .add(&name, socket, max_message_bytes, violation.clone())
                .map_err(|e| KernelError::Internal(format!("kernel relay: {e}")))?;
        }
    }
    // The same channels and key, at the relays' listeners.
    let info = ConnectionInfo { ip: format!("{}/{SOCKET_PREFIX}", relays.dir().display()), ..in_box.clone() };
    let protocol = |e: jupyter_zmq_client::RuntimeError| KernelError::Protocol(e.to_string());
    let identity = peer_identity_for_session(session).map_err(protocol)?;
    let shell =
        create_client_shell_connection_with_identity(&info, session, identity.clone()).await.map_err(protocol)?;
    let stdin = create_client_stdin_connection_with_identity(&info, session, identity).await.map_err(protocol)?;
    let control = create_client_control_connection(&info, session).await.map_err(protocol)?;
    let mut iopub = boxed(create_client_iopub_connection(&info, "", session).await.map_err(protocol)?);
    let (mut shell_send, shell_recv) = shell.split();
    let mut shell_recv = boxed(shell_recv);
    let (stdin_send, stdin_recv) = stdin.split();
    let (control_send, control_recv) = control.split();

    // The handshake: kernel_info until its status is seen on iopub.
    let mut attempt = 0u32;
    let mut status_seen = false;
    let mut language_info = None;
    while !(status_seen && language_info.is_some()) {
        attempt += 1;
        let request = format!("kernel-info-{attempt}");
        let mut message =
            JupyterMessage::new(jupyter_protocol::JupyterMessageContent::from(KernelInfoRequest {}), None);
        message.header.msg_id = request.clone();
        shell_send.send(message).await.map_err(protocol)?;
        let deadline = tokio::time::sleep(HANDSHAKE_RETRY);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                () = &mut deadline => break,
                _ = exited.wait_for(|gone| *gone) => return Err(KernelError::StartFailed("the kernel exited while starting".into())),
                message = read_raw(&mut iopub) => {
                    if message?.parent.as_deref().is_some_and(|p| p.starts_with("kernel-info-")) {
                        status_seen = true;
                    }
                }
                message = read_raw(&mut shell_recv) => {
                    let message = message?;
                    if message.msg_type == "kernel_info_reply" {
                        language_info = Some(message.content.get("language_info").cloned().unwrap_or(Value::Null));
                    }
                }
            }
            if status_seen && language_info.is_some() {
                break;
            }
        }
    }
    Ok(Connected {
        relays,
        shell: shell_send,
        stdin: stdin_send,
        control: control_send,
        readers_from: vec![
            ("iopub", iopub),
            ("shell", shell_recv),
            ("stdin", boxed(stdin_recv)),
            ("control", boxed(control_recv)),
        ],
        language_info: language_info.unwrap_or(Value::Null),
    })
}

/// A raw message read: verified against the key, its JSON parts parsed.
struct Raw {
    msg_type: String,
    parent: Option<String>,
    content: Value,
    metadata: Value,
    header: Value,
    parent_header: Value,
}

async fn read_raw(reader: &mut Reader) -> Result<Raw, KernelError> {
    let multipart = reader.socket.recv().await.map_err(|e| KernelError::Protocol(e.to_string()))?;
    let raw = RawMessage::from_multipart(multipart, &reader.mac).map_err(|e| KernelError::Protocol(e.to_string()))?;
    let part = |index: usize| -> Result<Value, KernelError> {
        serde_json::from_slice(&raw.jparts[index]).map_err(|e| KernelError::Protocol(format!("a message part: {e}")))
    };
    let header = part(0)?;
    let parent = part(1)?;
    let msg_type = header.get("msg_type").and_then(Value::as_str).unwrap_or("").to_string();
    if msg_type.is_empty() || msg_type.len() > 64 || !msg_type.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return Err(KernelError::Protocol(format!("a message of type {msg_type:?}")));
    }
    Ok(Raw {
        msg_type,
        parent: parent.get("msg_id").and_then(Value::as_str).map(str::to_string),
        metadata: part(2)?,
        content: part(3)?,
        header,
        parent_header: parent,
    })
}

/// Forwards a channel's messages until the kernel is gone or the consumer
/// stopped listening. A message that fails its signature or cannot be
/// read is dropped (and logged): it came from a program of the box.
async fn read_channel(
    channel: &'static str,
    mut reader: Reader,
    events: mpsc::Sender<KernelEvent>,
    kernel_gone: Arc<AtomicBool>,
) {
    loop {
        match read_raw(&mut reader).await {
            Ok(Raw { msg_type, parent, content, metadata, header, parent_header }) => {
                let message = KernelMessage { channel, msg_type, parent, content, metadata, header, parent_header };
                if events.send(KernelEvent::Message(message)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                if kernel_gone.load(Ordering::Acquire) {
                    return;
                }
                tracing::warn!(channel, error = %e, "dropped a kernel message");
            }
        }
    }
}

/// Ends a kernel whose relay saw the box break the message bound, and
/// keeps why for its exit report.
#[derive(Debug)]
struct Violation {
    reason: std::sync::Mutex<Option<GuardError>>,
    run: Arc<dyn RunControl>,
}

#[async_trait::async_trait]
impl OnViolation for Violation {
    async fn violated(&self, error: GuardError) {
        if let Ok(mut reason) = self.reason.lock() {
            reason.get_or_insert(error);
        }
        let _ = self.run.kill().await;
    }
}

/// Takes the kernel run's events until it ends: keeps the tail of its
/// stderr (why a kernel did not start) and reports its end.
async fn watch_run(
    mut handle: RunHandle,
    events: mpsc::Sender<KernelEvent>,
    exited: watch::Sender<bool>,
    stderr_tail: Arc<std::sync::Mutex<Vec<u8>>>,
    kernel_gone: Arc<AtomicBool>,
    violation: Arc<Violation>,
) {
    while let Some(event) = handle.next_event().await {
        match event {
            RunEvent::Output { stream: Stream::Stderr, data } => {
                if let Ok(mut tail) = stderr_tail.lock() {
                    tail.extend_from_slice(&data);
                    let excess = tail.len().saturating_sub(STDERR_TAIL_BYTES);
                    tail.drain(..excess);
                }
            }
            RunEvent::Output { .. } | RunEvent::Notice(_) => {}
            RunEvent::Exit(report) => {
                kernel_gone.store(true, Ordering::Release);
                exited.send_replace(true);
                let broke_the_bound = violation.reason.lock().map(|reason| reason.is_some()).unwrap_or(false);
                let status = if broke_the_bound { MESSAGE_TOO_LARGE } else { report.status.as_str() };
                let _ = events
                    .send(KernelEvent::Exited {
                        status: status.to_string(),
                        exit_code: report.exit_code,
                        signal: report.signal,
                        memory_bytes: report.peak_memory_bytes,
                    })
                    .await;
                return;
            }
        }
    }
    kernel_gone.store(true, Ordering::Release);
    exited.send_replace(true);
}
