//! The WebSocket `/api/v2/connect`: one job per connection, in a box of
//! its own that lives as long as the connection.
//!
//! Piston's exchange: the client sends `init` (an `execute` body), then
//! `data` (stdin) and `signal`; the server answers `runtime`, then per
//! stage `stage`, `data` and `exit`, and closes with 4999 when the job is
//! done. Mistakes close the socket with Piston's codes; failures send
//! `error` first and close with 4002.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::Bytes;
use bytesbox_engine::{JobControl, JobEvent};
use bytesbox_sandbox::{SandboxError, Signal, Stream};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::outcome::outcome;
use super::request::prepare;
use crate::accounts::run_slots::RunSlot;
use crate::accounts::Caller;
use crate::api_error::ApiError;
use crate::app::AppState;
use crate::box_lease::BoxLease;
use crate::inbound::{Inbound, InboundMeter};
use crate::rate_limit::Client;
use crate::runs::{fresh_box, stage_slot};

/// Piston's close codes.
mod close {
    pub const ALREADY_INITIALIZED: (u16, &str) = (4000, "Already Initialized");
    pub const INITIALIZATION_TIMEOUT: (u16, &str) = (4001, "Initialization Timeout");
    pub const NOTIFIED_ERROR: (u16, &str) = (4002, "Notified Error");
    pub const NOT_YET_INITIALIZED: (u16, &str) = (4003, "Not yet initialized");
    pub const ONLY_STDIN: (u16, &str) = (4004, "Can only write to stdin");
    pub const INVALID_SIGNAL: (u16, &str) = (4005, "Invalid signal");
    pub const JOB_COMPLETED: (u16, &str) = (4999, "Job Completed");
    // Ours, in the standard range: a message slower than the message
    // timeout, or one the memory budget had no room for.
    pub const MESSAGE_TIMEOUT: (u16, &str) = (1008, "Message Timeout");
    pub const SERVER_BUSY: (u16, &str) = (1013, "Server Busy");
}

type Close = (u16, &'static str);

/// `GET /api/v2/connect`.
pub async fn connect(
    ws: WebSocketUpgrade,
    State(state): State<Arc<AppState>>,
    client: Client,
    caller: Caller,
    meter: Option<Extension<InboundMeter>>,
) -> Response {
    // A connection runs one job: it costs one token, taken at the upgrade.
    if let Err(retry_after_secs) = state.rate_limits.check(client.0) {
        return ApiError::rate_limited(retry_after_secs).into_response();
    }
    ws.max_message_size(crate::protocol::MAX_FRAME_BYTES)
        .max_frame_size(crate::protocol::MAX_FRAME_BYTES)
        .read_buffer_size(crate::ws::READ_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            let inbound =
                Inbound::start(meter.map(|Extension(meter)| meter), state.config.connections.message_timeout());
            serve(socket, state, caller, inbound)
        })
}

/// The connection's job, once `init` started it.
struct Running {
    events: mpsc::Receiver<JobEvent>,
    control: JobControl,
    output_caps: [u64; 2],
    /// Incomplete UTF-8 sequences at the end of each stream's last chunk.
    pending: [Utf8Stream; 2],
    /// The caller's place among its plan's runs, until the job ends.
    _slot: RunSlot,
}

struct Connection {
    state: Arc<AppState>,
    caller: Caller,
    sink: SplitSink<WebSocket, Message>,
    initialized: bool,
    sandbox: Option<BoxLease>,
    job: Option<Running>,
}

/// What to do after a frame or an event.
enum Next {
    Continue,
    Close(Close),
    /// Send `error` with this message, then close with 4002.
    Fail(String),
}

async fn serve(socket: WebSocket, state: Arc<AppState>, caller: Caller, inbound: Inbound) {
    let (sink, mut stream) = socket.split();
    let init_deadline = tokio::time::sleep(state.config.piston.init_timeout);
    let mut connection = Connection { state, caller, sink, initialized: false, sandbox: None, job: None };
    tokio::pin!(init_deadline);
    let message_timed_out = inbound.timed_out();
    tokio::pin!(message_timed_out);
    let ending = loop {
        let next = tokio::select! {
            _ = &mut init_deadline, if !connection.initialized => Next::Close(close::INITIALIZATION_TIMEOUT),
            () = &mut message_timed_out => Next::Close(close::MESSAGE_TIMEOUT),
            event = next_event(&mut connection.job) => connection.forward(event).await,
            frame = crate::ws::next_message(&mut stream, &inbound) => match frame {
                Some(Ok(Message::Text(text))) => connection.handle(text.as_str()).await,
                Some(Ok(Message::Binary(data))) => match std::str::from_utf8(&data) {
                    Ok(text) => connection.handle(text).await,
                    Err(_) => Next::Fail("frames are JSON text".into()),
                },
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => Next::Continue,
                Some(Err(_)) if inbound.refused() => Next::Close(close::SERVER_BUSY),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break None,
            },
        };
        match next {
            Next::Continue => {}
            Next::Close(code) => break Some(code),
            Next::Fail(message) => {
                connection.send(json!({"type": "error", "message": message})).await;
                break Some(close::NOTIFIED_ERROR);
            }
        }
    };
    connection.end(ending, stream).await;
}

/// The job's next event; never resolves while there is no job.
async fn next_event(job: &mut Option<Running>) -> Option<JobEvent> {
    match job {
        Some(running) => running.events.recv().await,
        None => std::future::pending().await,
    }
}

impl Connection {
    async fn send(&mut self, value: Value) -> bool {
        self.sink.send(Message::Text(value.to_string().into())).await.is_ok()
    }

    /// Sends an event's frame; a client that is gone ends the connection.
    async fn send_or_close(&mut self, value: Value) -> Next {
        match self.send(value).await {
            true => Next::Continue,
            false => Next::Close(close::NOTIFIED_ERROR),
        }
    }

    async fn handle(&mut self, text: &str) -> Next {
        let message: Value = match serde_json::from_str(text) {
            Ok(message) => message,
            Err(e) => return Next::Fail(format!("the message is not valid JSON: {e}")),
        };
        match message.get("type").and_then(Value::as_str) {
            Some("init") if self.initialized => Next::Close(close::ALREADY_INITIALIZED),
            Some("init") => self.init(&message).await,
            Some("data") => self.stdin(&message).await,
            Some("signal") => self.signal(&message).await,
            // Piston ignores other messages.
            _ => Next::Continue,
        }
    }

    async fn init(&mut self, message: &Value) -> Next {
        self.initialized = true;
        let policy = self.state.run_policy(&self.caller);
        let slot = match self.state.run_slot(&self.caller, &policy).await {
            Ok(slot) => slot,
            Err(error) => return Next::Fail(error.message),
        };
        let prepared = match prepare(&self.state, &self.caller, &policy, message, false).await {
            Ok(prepared) => prepared,
            Err(error) => return Next::Fail(error.message),
        };
        let sandbox = match fresh_box(&self.state).await {
            Ok(lease) => lease,
            Err(e) => return Next::Fail(e.message),
        };
        let id = sandbox.id().clone();
        self.sandbox = Some(sandbox);
        let handle = match self.state.sessions.engine().submit_as(id, prepared.job, slot.requester()) {
            Ok(handle) => handle,
            Err(e) => return Next::Fail(e.to_string()),
        };
        self.job = Some(Running {
            events: handle.events,
            control: handle.control,
            output_caps: prepared.output_caps,
            pending: Default::default(),
            _slot: slot,
        });
        let runtime =
            json!({"type": "runtime", "language": prepared.runtime.language, "version": prepared.runtime.version});
        self.send_or_close(runtime).await
    }

    async fn stdin(&mut self, message: &Value) -> Next {
        let Some(job) = &self.job else { return Next::Close(close::NOT_YET_INITIALIZED) };
        if message.get("stream").and_then(Value::as_str) != Some("stdin") {
            return Next::Close(close::ONLY_STDIN);
        }
        let Some(data) = message.get("data").and_then(Value::as_str) else {
            return Next::Fail("data must be a string".into());
        };
        match job.control.write_stdin(Bytes::copy_from_slice(data.as_bytes())).await {
            // Input for a program that already ended goes nowhere, as in
            // Piston.
            Ok(()) | Err(SandboxError::RunFinished) => Next::Continue,
            Err(e) => Next::Fail(e.to_string()),
        }
    }

    async fn signal(&mut self, message: &Value) -> Next {
        let Some(job) = &self.job else { return Next::Close(close::NOT_YET_INITIALIZED) };
        // Piston takes exact names (`SIGINT`); so do we, for the signals a
        // box delivers.
        let name = message.get("signal").and_then(Value::as_str).unwrap_or_default();
        let Some(signal) = Signal::parse(name).filter(|_| name.starts_with("SIG")) else {
            return Next::Close(close::INVALID_SIGNAL);
        };
        // Before a program runs, or after it ended, there is no one to
        // signal: Piston drops such signals too.
        let _ = job.control.signal(signal).await;
        Next::Continue
    }

    async fn forward(&mut self, event: Option<JobEvent>) -> Next {
        let Some(job) = self.job.as_mut() else { return Next::Continue };
        let frame = match event {
            None => return Next::Fail("the job ended without a result".into()),
            // Piston's protocol has no frame for a notice.
            Some(JobEvent::Queued { .. } | JobEvent::Started | JobEvent::Notice { .. }) => return Next::Continue,
            Some(JobEvent::StageStarted(stage)) => json!({"type": "stage", "stage": stage.as_str()}),
            Some(JobEvent::Output { stream, data, .. }) => {
                let index = stream_index(stream);
                let text = job.pending[index].push(&data);
                if text.is_empty() {
                    return Next::Continue;
                }
                json!({"type": "data", "stream": stream_name(stream), "data": text})
            }
            Some(JobEvent::StageFinished { stage, report }) => {
                let rests: Vec<(Stream, String)> = [Stream::Stdout, Stream::Stderr]
                    .into_iter()
                    .map(|stream| (stream, job.pending[stream_index(stream)].finish()))
                    .filter(|(_, rest)| !rest.is_empty())
                    .collect();
                let cap = job.output_caps[stage_slot(stage)];
                for (stream, rest) in rests {
                    let frame = json!({"type": "data", "stream": stream_name(stream), "data": rest});
                    if let next @ Next::Close(_) = self.send_or_close(frame).await {
                        return next;
                    }
                }
                let mut frame = serde_json::to_value(outcome(&report, cap)).unwrap_or_default();
                frame["type"] = json!("exit");
                frame["stage"] = json!(stage.as_str());
                frame
            }
            Some(JobEvent::Finished) => {
                self.job = None;
                return Next::Close(close::JOB_COMPLETED);
            }
            Some(JobEvent::Failed { message, .. }) => {
                self.job = None;
                return Next::Fail(message);
            }
        };
        self.send_or_close(frame).await
    }

    /// Sends the close frame (if the client is still there), stops the job
    /// and destroys the box.
    async fn end(mut self, ending: Option<Close>, mut stream: SplitStream<WebSocket>) {
        if let Some(job) = self.job.take() {
            job.control.kill().await;
        }
        if let Some(sandbox) = self.sandbox.take() {
            sandbox.destroy().await;
        }
        if let Some((code, reason)) = ending {
            let frame = CloseFrame { code, reason: reason.into() };
            if self.sink.send(Message::Close(Some(frame))).await.is_ok() {
                // Give the client a moment to answer the close handshake.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(1), stream.next()).await;
            }
        }
    }
}

fn stream_index(stream: Stream) -> usize {
    match stream {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

fn stream_name(stream: Stream) -> &'static str {
    match stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    }
}

/// Turns a stream's chunks into text without breaking a character split
/// across two chunks; invalid bytes become U+FFFD (Piston's clients get
/// strings, never bytes).
#[derive(Debug, Default)]
struct Utf8Stream {
    pending: Vec<u8>,
}

impl Utf8Stream {
    fn push(&mut self, data: &[u8]) -> String {
        self.pending.extend_from_slice(data);
        let mut text = String::new();
        let mut rest = self.pending.as_slice();
        loop {
            match std::str::from_utf8(rest) {
                Ok(valid) => {
                    text.push_str(valid);
                    rest = &[];
                    break;
                }
                Err(error) => {
                    let (valid, after) = rest.split_at(error.valid_up_to());
                    text.push_str(&String::from_utf8_lossy(valid));
                    match error.error_len() {
                        Some(bad) => {
                            text.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[bad..];
                        }
                        // An incomplete character at the end: wait for the
                        // next chunk.
                        None => {
                            rest = after;
                            break;
                        }
                    }
                }
            }
        }
        self.pending = rest.to_vec();
        text
    }

    fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_split_across_chunks_stay_whole() {
        let mut stream = Utf8Stream::default();
        let euro = "€".as_bytes();
        assert_eq!(stream.push(&[b'a', euro[0]]), "a");
        assert_eq!(stream.push(&euro[1..]), "€");
        assert_eq!(stream.push(b"\xffb"), "\u{FFFD}b");
        assert_eq!(stream.push(&euro[..2]), "");
        assert_eq!(stream.finish(), "\u{FFFD}");
    }
}
