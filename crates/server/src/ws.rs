//! One WebSocket connection speaking protocol v1 (`docs/protocol.md`).

use std::sync::Arc;

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::Extension;
use bytesbox_engine::{EngineError, Job, JobEvent, StageKind};
use bytesbox_sandbox::{validate_pty_size, PutMode, Signal};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;

use crate::accounts::projects::SavedRun;
use crate::accounts::run_slots::RunSlot;
use crate::accounts::Caller;
use crate::api_error::ApiError;
use crate::app::AppState;
use crate::git;
use crate::inbound::{Inbound, InboundMeter};
use crate::metrics::BoxOrigin;
use crate::protocol::{
    valid_run_id, ClientMessage, EncodedBytes, Encoding, RunRequest, ServerMessage, TtySize, WireFile, MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
};
use crate::rate_limit::Client;
use crate::runs::{decode_files, plan_run, PlannedRun, Workspace};
use crate::session::{AcquiredBox, Session, SessionBusy};
use crate::session_kernels::{self, KernelRequestError};
use crate::session_server::Server;
use crate::sql_results::{ResultsReader, StatementResult};
use crate::terminal::{self, terminal_spec, InputRefused, MAX_INPUT_FRAME_BYTES};
use crate::workspace_watch::{self, WritingFiles};
use crate::ws_lsp;

/// Query of the upgrade request.
#[derive(Debug, Deserialize)]
pub struct ConnectParams {
    /// A resume token from an earlier `hello`.
    resume: Option<String>,
}

/// Bytes read from the socket at a time. Small, because every connected
/// session holds one such buffer; bigger frames are assembled separately.
pub(crate) const READ_BUFFER_BYTES: usize = 4 * 1024;

/// `GET /api/v1/ws`.
pub async fn upgrade(
    ws: WebSocketUpgrade,
    Query(params): Query<ConnectParams>,
    State(state): State<Arc<AppState>>,
    client: Client,
    caller: Caller,
    meter: Option<Extension<InboundMeter>>,
) -> Result<Response, ApiError> {
    state.rate_limits.check(client.0).map_err(ApiError::rate_limited)?;
    Ok(ws
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .on_upgrade(move |socket| {
            let inbound =
                Inbound::start(meter.map(|Extension(meter)| meter), state.config.connections.message_timeout());
            connection(socket, state, params.resume, client, caller, inbound)
        }))
}

/// The close frame of a connection whose client took longer than the
/// message timeout to send a message, or sent more than the memory budget
/// had room for: the reason says which.
pub(crate) fn inbound_close(inbound: &Inbound, timed_out: bool) -> Option<CloseFrame> {
    if timed_out {
        Some(CloseFrame {
            code: close_code::POLICY,
            reason: "message_timeout: a message took too long to arrive".into(),
        })
    } else if inbound.refused() {
        Some(CloseFrame { code: close_code::AGAIN, reason: "server_busy: no room for this message; try again".into() })
    } else {
        None
    }
}

fn error(id: Option<&str>, code: &str, message: impl Into<String>) -> ServerMessage {
    ServerMessage::Error { id: id.map(str::to_string), terminal: None, code: code.to_string(), message: message.into() }
}

async fn send_now(sink: &mut futures_util::stream::SplitSink<WebSocket, Message>, message: &ServerMessage) -> bool {
    match serde_json::to_string(message) {
        Ok(text) => sink.send(Message::Text(text.into())).await.is_ok(),
        Err(_) => false,
    }
}

/// Messages sent in one flush at most.
const MAX_BATCH: usize = 16;

/// Sends a queued message and what is queued behind it (up to
/// [`MAX_BATCH`]) in one flush: a run that prints fast fills the queue
/// faster than frames leave one write at a time.
async fn send_queued(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    outbox: &mut tokio::sync::mpsc::Receiver<ServerMessage>,
    first: ServerMessage,
) -> bool {
    let mut next = Some(first);
    let mut fed = 0;
    while let Some(message) = next.take() {
        let Ok(text) = serde_json::to_string(&message) else { return false };
        if sink.feed(Message::Text(text.into())).await.is_err() {
            return false;
        }
        fed += 1;
        if fed < MAX_BATCH {
            next = outbox.try_recv().ok();
        }
    }
    sink.flush().await.is_ok()
}

async fn connection(
    socket: WebSocket,
    state: Arc<AppState>,
    resume: Option<String>,
    client: Client,
    caller: Caller,
    inbound: Inbound,
) {
    let (mut sink, mut stream) = socket.split();
    let principal = caller.principal();
    let resumed = resume.as_deref().map(|token| state.sessions.resume(token).filter(|s| s.may_resume(&principal)));
    let session = match resumed {
        None => state.sessions.open(principal, caller.user().map(|user| user.username.clone())),
        Some(Some(session)) => session,
        // Another caller's token gets the same answer as a wrong one.
        Some(None) => {
            let _ =
                send_now(&mut sink, &error(None, "unknown_session", "the session ended or the resume token is wrong"))
                    .await;
            return;
        }
    };
    let Some((mut outbox, generation)) = session.attach() else {
        let _ = send_now(&mut sink, &error(None, "session_in_use", "another connection holds this session")).await;
        return;
    };
    let policy = state.run_policy(&caller);
    let hello = ServerMessage::Hello {
        session: session.id.clone(),
        resume: session.resume_token.clone(),
        protocol: PROTOCOL_VERSION,
        default_limits: Box::new(policy.default_limits.clone()),
        max_limits: Box::new(policy.max_limits.clone()),
        terminals: session.open_terminals(),
    };
    if send_now(&mut sink, &hello).await {
        let message_timed_out = inbound.timed_out();
        tokio::pin!(message_timed_out);
        loop {
            tokio::select! {
                queued = outbox.recv() => match queued {
                    Some(message) => if !send_queued(&mut sink, &mut outbox, message).await { break },
                    None => break,
                },
                () = &mut message_timed_out => {
                    let _ = sink.send(Message::Close(inbound_close(&inbound, true))).await;
                    break;
                }
                frame = next_message(&mut stream, &inbound) => match frame {
                    Some(Ok(Message::Text(text))) => {
                        if let Some(reply) = handle(&state, &session, client, &caller, text.as_str()).await {
                            if !send_now(&mut sink, &reply).await { break }
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        if !send_now(&mut sink, &error(None, "invalid_message", "frames are JSON text")).await { break }
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Err(_)) if inbound.refused() => {
                        let _ = sink.send(Message::Close(inbound_close(&inbound, false))).await;
                        break;
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                },
            }
        }
    }
    session.detach(outbox);
    state.sessions.disconnected(session, generation);
}

/// The client's next message; tells the meter it arrived (its bytes are
/// no longer partial). Cancel-safe, as `StreamExt::next` is.
pub(crate) async fn next_message(
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
    inbound: &Inbound,
) -> Option<Result<Message, axum::Error>> {
    let frame = stream.next().await;
    match &frame {
        Some(Ok(Message::Ping(payload) | Message::Pong(payload))) => inbound.received_control(payload.len()),
        Some(Ok(_)) => inbound.received(),
        Some(Err(_)) | None => {}
    }
    frame
}

/// Handles one client frame; returns a direct reply, if any.
async fn handle(
    state: &Arc<AppState>,
    session: &Arc<Session>,
    client: Client,
    caller: &Caller,
    text: &str,
) -> Option<ServerMessage> {
    let message: ClientMessage = match serde_json::from_str(text) {
        Ok(message) => message,
        Err(e) => return Some(error(None, "invalid_message", format!("cannot read the frame: {e}"))),
    };
    let control_of =
        |id: &str| session.run(id).ok_or_else(|| error(Some(id), "unknown_run", format!("no active run {id:?}")));
    let outcome = match message {
        ClientMessage::Run(run) => {
            if let Err(retry_after_secs) = state.rate_limits.check(client.0) {
                return Some(error(Some(&run.id), "rate_limited", ApiError::rate_limited_message(retry_after_secs)));
            }
            // Boxed: starting a run may read a saved project from the
            // database, and those futures are large. Inline, they would
            // grow every idle connection's task by kilobytes.
            return Box::pin(start_run(state, session, caller, *run)).await;
        }
        ClientMessage::Ping { nonce } => return Some(ServerMessage::Pong { nonce }),
        ClientMessage::FilesWatch => {
            let backend = state.sessions.engine().backend().clone();
            session.files().start(Arc::downgrade(session), backend);
            return Some(ServerMessage::FilesWatching {
                max_file_bytes: workspace_watch::MAX_FILE_BYTES,
                max_entries: workspace_watch::MAX_ENTRIES,
                interval_ms: workspace_watch::SCAN_INTERVAL.as_millis() as u64,
            });
        }
        ClientMessage::FilesUnwatch => {
            session.files().stop();
            return None;
        }
        ClientMessage::FilesWrite { id, files } => return Some(write_files(state, session, id, files).await),
        ClientMessage::FilesDelete { id, paths } => return Some(delete_files(state, session, id, paths).await),
        ClientMessage::Git { id, args, files } => return git::request(state, session, caller, (id, args, files)),
        ClientMessage::Project { id } => {
            // Each costs a database lookup, and a change of project ends
            // the session's box and starts a save task: a token, as a
            // run's start.
            if let Err(retry_after_secs) = state.rate_limits.check(client.0) {
                let message = ApiError::rate_limited_message(retry_after_secs);
                return Some(ServerMessage::ProjectError { id, code: "rate_limited".into(), message });
            }
            // Boxed: the lookup's future is large (see `Run` above).
            return Some(Box::pin(crate::git_save::attach(state, session, caller, id)).await);
        }
        kernel @ (ClientMessage::KernelStart { .. }
        | ClientMessage::KernelExecute { .. }
        | ClientMessage::KernelInput { .. }
        | ClientMessage::KernelInterrupt { .. }
        | ClientMessage::KernelRestart { .. }
        | ClientMessage::KernelComplete { .. }
        | ClientMessage::KernelInspect { .. }
        | ClientMessage::KernelShutdown { .. }) => return handle_kernel(state, session, client, caller, kernel).await,
        ClientMessage::LspStart { id, language, files } => {
            return Box::pin(ws_lsp::start(state, session, client, caller, (id, language, files))).await;
        }
        ClientMessage::LspMessage { id, message } => return ws_lsp::message(session, &id, &message),
        ClientMessage::LspFiles { id, files } => return ws_lsp::write_files(state, session, id, files).await,
        ClientMessage::LspStop { id } => return ws_lsp::stop(session, id),
        ClientMessage::TerminalOpen { id, rows, cols } => {
            // A shell costs what a run's start does.
            if let Err(retry_after_secs) = state.rate_limits.check(client.0) {
                let message = ApiError::rate_limited_message(retry_after_secs);
                return Some(ServerMessage::terminal_error(&id, "rate_limited", message));
            }
            return Box::pin(open_terminal(state, session, caller, id, TtySize { rows, cols })).await;
        }
        ClientMessage::TerminalInput { id, data, encoding } => {
            return terminal_input(session, &id, &data, encoding);
        }
        ClientMessage::TerminalResize { id, rows, cols } => {
            let Some(terminal) = session.terminal(&id) else { return Some(unknown_terminal(&id)) };
            if let Err(e) = validate_pty_size(rows, cols) {
                return Some(ServerMessage::terminal_error(&id, e.code(), e.to_string()));
            }
            terminal.resize(TtySize { rows, cols });
            return None;
        }
        ClientMessage::TerminalClose { id } => {
            let Some(terminal) = session.terminal(&id) else { return Some(unknown_terminal(&id)) };
            // Its `terminal_exit` follows once the shell's tree is dead.
            terminal.close().await;
            return None;
        }
        ClientMessage::ResetDatabase { id } => {
            return Some(match session.reset_database(state.sessions.engine()).await {
                Ok(()) => ServerMessage::DatabaseReset { id },
                Err(busy) => error(Some(&id), SessionBusy::CODE, busy.to_string()),
            });
        }
        ClientMessage::Stdin { id, data, encoding } => match (control_of(&id), EncodedBytes::decode(&data, encoding)) {
            (Err(e), _) => return Some(e),
            (_, Err(e)) => return Some(error(Some(&id), "invalid_message", e)),
            (Ok(control), Ok(bytes)) => (id, control.write_stdin(bytes.0).await),
        },
        ClientMessage::Eof { id } => match control_of(&id) {
            Err(e) => return Some(e),
            Ok(control) => (id, control.close_stdin().await),
        },
        ClientMessage::Resize { id, rows, cols } => match control_of(&id) {
            Err(e) => return Some(e),
            Ok(control) => (id, control.resize(rows, cols).await),
        },
        ClientMessage::Signal { id, signal } => match (control_of(&id), Signal::parse(&signal)) {
            (Err(e), _) => return Some(e),
            (_, None) => return Some(error(Some(&id), "invalid_message", format!("unknown signal {signal:?}"))),
            (Ok(control), Some(signal)) => (id, control.signal(signal).await),
        },
        ClientMessage::Kill { id } => match control_of(&id) {
            Err(e) => return Some(e),
            Ok(control) => {
                control.kill().await;
                (id, Ok(()))
            }
        },
    };
    match outcome {
        (_, Ok(())) => None,
        // A run that just ended cannot take input any more; its `done`
        // is on its way.
        (_, Err(bytesbox_sandbox::SandboxError::RunFinished)) => None,
        (id, Err(e)) => Some(error(Some(&id), e.code(), e.to_string())),
    }
}

/// Writes a client's files into the session's box, if it has one (else
/// its first run or terminal writes them all).
async fn write_files(state: &AppState, session: &Session, id: String, files: Vec<WireFile>) -> ServerMessage {
    let files = match decode_files(state, files) {
        Ok(files) => files,
        Err(e) => return error(Some(&id), e.code(), e.message.clone()),
    };
    let Some((box_id, _in_use)) = session.current_box_in_use() else {
        return ServerMessage::FilesWritten { id, count: 0 };
    };
    let count = files.len();
    match session.files().put_client_files(state.sessions.engine().backend().as_ref(), &box_id, files).await {
        Ok(()) => ServerMessage::FilesWritten { id, count },
        Err(e) => error(Some(&id), e.code(), e.to_string()),
    }
}

/// Deletes a client's files and folders in the session's box, if it has
/// one (else its first run writes only the files the client still has).
async fn delete_files(state: &AppState, session: &Session, id: String, paths: Vec<String>) -> ServerMessage {
    if let Err(e) = workspace_watch::check_deletable(&paths) {
        return error(Some(&id), e.code(), e.to_string());
    }
    let Some((box_id, _in_use)) = session.current_box_in_use() else {
        return ServerMessage::FilesDeleted { id, count: 0 };
    };
    match session.files().delete_client_paths(state.sessions.engine().backend().as_ref(), &box_id, paths).await {
        Ok(count) => ServerMessage::FilesDeleted { id, count },
        Err(e) => error(Some(&id), e.code(), e.to_string()),
    }
}

fn unknown_terminal(id: &str) -> ServerMessage {
    ServerMessage::terminal_error(id, "unknown_terminal", format!("no open terminal {id:?}"))
}

/// Queues a `terminal_input` frame's bytes for the shell.
fn terminal_input(session: &Session, id: &str, data: &str, encoding: Encoding) -> Option<ServerMessage> {
    let Some(terminal) = session.terminal(id) else { return Some(unknown_terminal(id)) };
    let bytes = match EncodedBytes::decode(data, encoding) {
        Ok(bytes) => bytes.0,
        Err(e) => return Some(ServerMessage::terminal_error(id, "invalid_message", e)),
    };
    if bytes.len() > MAX_INPUT_FRAME_BYTES {
        let message = format!("a terminal_input frame carries at most {MAX_INPUT_FRAME_BYTES} bytes; split it");
        return Some(ServerMessage::terminal_error(id, "invalid_message", message));
    }
    match terminal.write(bytes) {
        Ok(()) => None,
        Err(InputRefused::Full) => Some(ServerMessage::terminal_error(
            id,
            "input_overflow",
            "the terminal is not reading its input; this input was dropped",
        )),
        // Its `terminal_exit` is on its way.
        Err(InputRefused::Ended) => None,
    }
}

/// Starts a login shell in the session's box (made now if it has none).
async fn open_terminal(
    state: &Arc<AppState>,
    session: &Arc<Session>,
    caller: &Caller,
    id: String,
    size: TtySize,
) -> Option<ServerMessage> {
    if !valid_run_id(&id) {
        return Some(ServerMessage::terminal_error(&id, "invalid_spec", "a terminal id is 1-64 of [A-Za-z0-9_.-]"));
    }
    if let Err(e) = validate_pty_size(size.rows, size.cols) {
        return Some(ServerMessage::terminal_error(&id, e.code(), e.to_string()));
    }
    let max_terminals = state.sessions.config().max_terminals;
    if let Some(code) = session.refuse_terminal(&id, max_terminals) {
        let message = match code {
            "too_many_terminals" => format!("a session may have {max_terminals} terminals open; close one first"),
            _ => format!("terminal {id:?} is open already"),
        };
        return Some(ServerMessage::terminal_error(&id, code, message));
    }
    let policy = state.run_policy(caller);
    let spec = terminal_spec(&policy.default_limits, size);
    let backend = state.sessions.engine().backend();
    let mut retried = false;
    let handle = loop {
        // Held until the terminal is registered (an open terminal keeps
        // the box in use itself).
        let (box_id, _in_use) = match state.sessions.sandbox(session, policy.boxes).await {
            Ok(acquired) => {
                state.metrics.box_acquired(BoxOrigin::Session, acquired.created);
                (acquired.id, acquired.in_use)
            }
            Err(e) => return Some(ServerMessage::terminal_error(&id, e.code(), e.to_string())),
        };
        match backend.run(&box_id, spec.clone()).await {
            Ok(handle) => break handle,
            // The backend destroyed the idle box under us: a new one.
            Err(bytesbox_sandbox::SandboxError::BoxGone(_) | bytesbox_sandbox::SandboxError::NoSuchBox(_))
                if !retried =>
            {
                retried = true;
                session.forget_sandbox(&box_id).await;
            }
            Err(e) => return Some(ServerMessage::terminal_error(&id, e.code(), e.to_string())),
        }
    };
    session.add_terminal(terminal::start(session.clone(), id.clone(), size, handle));
    Some(ServerMessage::TerminalOpened { id })
}

/// Validates, plans and submits a run.
async fn start_run(
    state: &Arc<AppState>,
    session: &Arc<Session>,
    caller: &Caller,
    run: RunRequest,
) -> Option<ServerMessage> {
    let id = run.id.clone();
    let structured = run.sql_results;
    if !valid_run_id(&id) {
        return Some(error(None, "invalid_spec", "a run id is 1-64 of [A-Za-z0-9_.-]"));
    }
    if session.has_run(&id) {
        return Some(error(Some(&id), "duplicate_run_id", format!("run {id:?} is still active")));
    }
    let policy = state.run_policy(caller);
    let refused = |e: ApiError| {
        state.track_api_error(&e, "WebSocket run");
        Some(error(Some(&id), e.code(), e.message.clone()))
    };
    let slot = match state.run_slot(caller, &policy).await {
        Ok(slot) => slot,
        Err(e) => return refused(e),
    };
    let PlannedRun { mut job, version, entry, saved, server, .. } =
        match plan_run(state, caller, &policy, run, Workspace::Session, false).await {
            Ok(planned) => planned,
            Err(e) => return refused(e),
        };
    // Held until the run is registered (a run keeps the box in use itself).
    let AcquiredBox { id: box_id, created, in_use: _in_use } = match state.sessions.sandbox(session, policy.boxes).await
    {
        Ok(found) => found,
        Err(e) => {
            state.track_failure("box", e.code(), &job.language, &e.to_string());
            return Some(error(Some(&id), e.code(), e.to_string()));
        }
    };
    state.metrics.box_acquired(BoxOrigin::Session, created);
    // A run that replaces the workspace: its files are the client's own,
    // about to be written, so not news to it; and what the project leaves
    // out (.bytesboxignore, .git) stays in the box. (A scratch run's files
    // go into the server's own folder, which the watch never lists.)
    if let PutMode::Replace { keep } = &mut job.mode {
        session.files().note_written(&job.files).await;
        let backend = state.sessions.engine().backend().as_ref();
        keep.extend(workspace_watch::kept_across_runs(backend, &box_id, &job.files).await);
    }
    if let Some(plan) = &server {
        let templates = state.sessions.templates();
        let server = Server { language: &job.language, version: &version, plan, templates };
        session.servers().ensure(state.sessions.engine().backend().as_ref(), &box_id, server).await;
    }
    let handle = match state.sessions.engine().submit_as(box_id.clone(), job.clone(), slot.requester()) {
        Ok(handle) => handle,
        Err(e) => return Some(error(Some(&id), e.code(), e.to_string())),
    };
    if let Err(code) = session.add_run(&id, handle.control.clone(), state.sessions.config().max_runs) {
        handle.control.kill().await;
        return Some(error(Some(&id), code, "the session has too many active runs"));
    }
    let accepted = ServerMessage::Accepted { id: id.clone(), language: job.language.clone(), version, entry };
    let results = structured.then(ResultsReader::new);
    let submitted = Submitted { id, box_id, job, handle, accepted, slot, saved, results };
    tokio::spawn(forward_job(state.clone(), session.clone(), submitted));
    None
}

/// A run the engine accepted, on its way to the client.
struct Submitted {
    id: String,
    box_id: bytesbox_sandbox::BoxId,
    job: Job,
    handle: bytesbox_engine::JobHandle,
    accepted: ServerMessage,
    /// Held until the run ends: the caller's place among its plan's runs.
    slot: RunSlot,
    /// The saved project it runs, to record the run in its history.
    saved: Option<SavedRun>,
    /// A run with structured results: reads its stdout into `sql_result`
    /// frames (`docs/sql.md`).
    results: Option<ResultsReader>,
}

/// Turns a job's events into frames on the session's queue.
async fn forward_job(state: Arc<AppState>, session: Arc<Session>, submitted: Submitted) {
    let Submitted { id, box_id, job, mut handle, accepted, slot, saved, mut results } = submitted;
    // The last stage's status, or the failure's code: the history's status.
    let mut status: Option<String> = None;
    // `accepted` precedes the run's own frames on the session's queue. It
    // is queued here, not by the connection task: with the queue full,
    // that task would wait on itself.
    if !session.send(accepted).await {
        return;
    }
    let mut retried = false;
    let mut started_a_stage = false;
    // While the engine writes the run's files, the workspace watch waits.
    let mut writing: Option<WritingFiles> = None;
    // The frame that ends the run (`done` or `error`), sent once the run
    // has given back its slot and id, so a client that starts the next
    // run as soon as it sees it is never refused.
    let last = loop {
        let Some(event) = handle.events.recv().await else {
            break Some(error(Some(&id), "internal", "the run ended without a result"));
        };
        let frame = match event {
            JobEvent::Queued { position } => ServerMessage::Queued { id: id.clone(), position },
            JobEvent::Started => {
                writing.replace(session.files().writing());
                continue;
            }
            JobEvent::StageStarted(stage) => {
                drop(writing.take());
                started_a_stage = true;
                ServerMessage::Stage { id: id.clone(), stage: stage.as_str().to_string() }
            }
            JobEvent::Output { stage: StageKind::Run, stream: bytesbox_sandbox::Stream::Stdout, data }
                if results.is_some() =>
            {
                let frames = results.as_mut().map(|reader| reader.push(&data)).unwrap_or_default();
                if !send_results(&session, &id, frames).await {
                    handle.control.kill().await;
                    break None;
                }
                continue;
            }
            JobEvent::Output { stage, stream, data } => {
                let stream = match stream {
                    bytesbox_sandbox::Stream::Stdout => "stdout",
                    bytesbox_sandbox::Stream::Stderr => "stderr",
                };
                ServerMessage::output(&id, stage.as_str(), stream, &data)
            }
            JobEvent::Notice { stage, text } => {
                ServerMessage::Notice { id: id.clone(), stage: stage.as_str().to_string(), text }
            }
            JobEvent::StageFinished { stage, report } => {
                // The results come before the run stage's `exit`.
                if let (StageKind::Run, Some(reader)) = (stage, results.take()) {
                    if !send_results(&session, &id, reader.finish()).await {
                        handle.control.kill().await;
                        break None;
                    }
                }
                status = Some(report.status.as_str().to_string());
                ServerMessage::exit(&id, stage.as_str(), &report)
            }
            JobEvent::Finished => break Some(ServerMessage::Done { id: id.clone() }),
            JobEvent::Failed { code, message } => {
                // The backend destroyed an idle box under us: make a new
                // one and try once more.
                if code == "box_gone" && !retried && !started_a_stage {
                    retried = true;
                    session.forget_sandbox(&box_id).await;
                    let engine = state.sessions.engine();
                    let resubmitted = match state.sessions.sandbox(&session, session.box_caps()).await {
                        // The run is still registered: the box is in use.
                        Ok(acquired) => {
                            state.metrics.box_acquired(BoxOrigin::Session, acquired.created);
                            engine
                                .submit_as(acquired.id, job.clone(), slot.requester())
                                .map_err(|e: EngineError| e.to_string())
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    match resubmitted {
                        Ok(new_handle) => {
                            session.remove_run(&id);
                            let _ = session.add_run(&id, new_handle.control.clone(), usize::MAX);
                            handle = new_handle;
                            continue;
                        }
                        Err(message) => break Some(error(Some(&id), "box_gone", message)),
                    }
                }
                status = Some(code.to_string());
                break Some(error(Some(&id), code, message));
            }
        };
        if !session.send(frame).await {
            handle.control.kill().await;
            break None;
        }
    };
    slot.release().await;
    session.remove_run(&id);
    if let Some(saved) = saved {
        saved.record(&job.language, status.as_deref().unwrap_or("internal")).await;
    }
    if let Some(last) = last {
        let _ = session.send(last).await;
    }
}

/// Sends a run's structured results; false when the session is gone.
async fn send_results(session: &Session, id: &str, results: Vec<StatementResult>) -> bool {
    for result in results {
        if !session.send(ServerMessage::SqlResult { id: id.to_string(), result: Box::new(result) }).await {
            return false;
        }
    }
    true
}

/// Handles a kernel frame (`docs/notebooks.md`); returns a direct reply,
/// if any. Starting and restarting go on in the background and answer
/// with `kernel_ready` (or an error) on the session's queue.
async fn handle_kernel(
    state: &Arc<AppState>,
    session: &Arc<Session>,
    client: Client,
    caller: &Caller,
    message: ClientMessage,
) -> Option<ServerMessage> {
    let kernels = session.kernels();
    let refused = |id: &str, e: KernelRequestError| Some(error(Some(id), e.code(), e.to_string()));
    let sent = |id: &str, result: Result<(), bytesbox_kernels::KernelError>| match result {
        Ok(()) => None,
        Err(e) => Some(error(Some(id), e.code(), e.to_string())),
    };
    match message {
        ClientMessage::KernelStart { id, language } => {
            if !valid_run_id(&id) {
                return Some(error(None, "invalid_spec", "a kernel id is 1-64 of [A-Za-z0-9_.-]"));
            }
            if let Err(retry_after_secs) = state.rate_limits.check(client.0) {
                return Some(error(Some(&id), "rate_limited", ApiError::rate_limited_message(retry_after_secs)));
            }
            let (language, template) = match state.planner.kernel(&language) {
                Ok(found) => found,
                Err(e) => return Some(error(Some(&id), e.code, e.message)),
            };
            let config = state.sessions.config().kernels.clone();
            if let Err(e) = kernels.reserve(&id, &language, config.max_per_session) {
                return refused(&id, e);
            }
            let task = match session_kernels::start_task(state, session, caller, &id, language, template, false).await {
                Ok(task) => task,
                Err(e) => {
                    kernels.unreserve(&id);
                    return Some(error(Some(&id), e.code(), e.to_string()));
                }
            };
            tokio::spawn(session_kernels::start(task));
            None
        }
        ClientMessage::KernelRestart { id } => {
            let (old, language) = match kernels.take_for_restart(&id) {
                Ok(taken) => taken,
                Err(e) => return refused(&id, e),
            };
            let template = match state.planner.kernel(&language) {
                Ok((_, template)) => template,
                Err(e) => {
                    // The old kernel is dropped (killed) with its place.
                    kernels.unreserve(&id);
                    return Some(error(Some(&id), e.code, e.message));
                }
            };
            let task = match session_kernels::start_task(state, session, caller, &id, language, template, true).await {
                Ok(task) => task,
                Err(e) => {
                    kernels.unreserve(&id);
                    return Some(error(Some(&id), e.code(), e.to_string()));
                }
            };
            tokio::spawn(session_kernels::restart(old, task));
            None
        }
        ClientMessage::KernelExecute { id, request, code, allow_stdin } => {
            if !valid_run_id(&request) {
                return Some(error(Some(&id), "invalid_spec", "a request id is 1-64 of [A-Za-z0-9_.-]"));
            }
            if let Err(retry_after_secs) = state.rate_limits.check(client.0) {
                return Some(error(Some(&id), "rate_limited", ApiError::rate_limited_message(retry_after_secs)));
            }
            match kernels.get(&id) {
                Ok(kernel) => sent(&id, kernel.execute(&request, code, allow_stdin).await),
                Err(e) => refused(&id, e),
            }
        }
        ClientMessage::KernelInput { id, request, value } => match kernels.get(&id) {
            Ok(kernel) => sent(&id, kernel.input_reply(&request, value).await),
            Err(e) => refused(&id, e),
        },
        ClientMessage::KernelInterrupt { id } => match kernels.get(&id) {
            Ok(kernel) => sent(&id, kernel.interrupt().await),
            Err(e) => refused(&id, e),
        },
        ClientMessage::KernelComplete { id, request, code, cursor_pos } => {
            if !valid_run_id(&request) {
                return Some(error(Some(&id), "invalid_spec", "a request id is 1-64 of [A-Za-z0-9_.-]"));
            }
            match kernels.get(&id) {
                Ok(kernel) => sent(&id, kernel.complete(&request, code, cursor_pos).await),
                Err(e) => refused(&id, e),
            }
        }
        ClientMessage::KernelInspect { id, request, code, cursor_pos, detail_level } => {
            if !valid_run_id(&request) {
                return Some(error(Some(&id), "invalid_spec", "a request id is 1-64 of [A-Za-z0-9_.-]"));
            }
            match kernels.get(&id) {
                Ok(kernel) => sent(&id, kernel.inspect(&request, code, cursor_pos, detail_level).await),
                Err(e) => refused(&id, e),
            }
        }
        ClientMessage::KernelShutdown { id } => {
            let session = session.clone();
            // On a task: ending a kernel waits for it, and the answer goes
            // on the session's queue.
            tokio::spawn(async move {
                if let Err(e) = session_kernels::shut_down(&session, &id, "shutdown").await {
                    let _ = session.send(error(Some(&id), e.code(), e.to_string())).await;
                }
            });
            None
        }
        _ => None,
    }
}
