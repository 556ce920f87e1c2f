//! One language server: a run of the box with pipes, its stdout read as
//! LSP messages, its stdin written from a queue bounded in bytes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use bytesbox_runtimes::LanguageServerTemplate;
use bytesbox_sandbox::{
    Backend, BoxId, RunControl, RunEvent, RunHandle, RunLimits, RunSpec, SandboxError, StdioMode, Stream,
};
use tokio::sync::mpsc;

use crate::framing::{encode, FramingError, MessageReader};
use crate::{MESSAGE_TOO_LARGE, PROTOCOL_ERROR};

/// Bytes of messages the client may have queued for a server that has
/// not read them yet; beyond, messages are refused, not queued.
pub const MAX_QUEUED_INPUT_BYTES: usize = 16 * 1024 * 1024;

/// Events of a server waiting for the session's forwarder: with the
/// session's own queue behind them, a server that talks faster than its
/// client reads blocks on its stdout.
const EVENT_QUEUE: usize = 64;

/// The tail of stderr kept for the message of a server that ends.
const STDERR_TAIL_BYTES: usize = 2048;

/// How a language server starts.
#[derive(Debug)]
pub struct LanguageServerStart<'a> {
    /// The catalog's command.
    pub template: &'a LanguageServerTemplate,
    /// The run's limits ([`language_server_limits`]).
    pub limits: RunLimits,
    /// Largest message the server may send.
    pub max_message_bytes: usize,
}

/// A language server's run limits for a caller whose runs may have at most
/// `max`: all of it but time and output. A server lives as long as the
/// editor is open, waits for its input most of the time and writes
/// without end; its idle cull ends it instead, and flow control bounds
/// what the server holds of its output.
pub fn language_server_limits(max: &RunLimits) -> RunLimits {
    let unbounded = RunLimits::hard_maximum();
    RunLimits {
        wall_time_ms: unbounded.wall_time_ms,
        input_wait_ms: unbounded.input_wait_ms,
        cpu_time_ms: unbounded.cpu_time_ms,
        output_bytes: unbounded.output_bytes,
        ..max.clone()
    }
}

/// What a language server did.
#[derive(Debug, Clone, PartialEq)]
pub enum LspEvent {
    /// A JSON-RPC message (request, response or notification) as it sent it.
    Message(serde_json::Value),
    /// Its process ended (or was ended); nothing follows.
    Exited {
        /// A run status (`memory_limit`, `nonzero`, `killed`, …),
        /// [`MESSAGE_TOO_LARGE`] or [`PROTOCOL_ERROR`].
        status: String,
        /// Exit code.
        exit_code: Option<i32>,
        /// Signal number.
        signal: Option<i32>,
        /// Peak memory.
        memory_bytes: u64,
        /// Why, in words: the framing error, or the last of its stderr.
        message: String,
    },
}

/// Why a message was not queued for the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendRefused {
    /// The server has not read [`MAX_QUEUED_INPUT_BYTES`] of earlier input.
    Full,
    /// The server has ended.
    Ended,
}

/// A running language server. Dropping it kills the server.
#[derive(Debug)]
pub struct LanguageServer {
    control: Arc<dyn RunControl>,
    input: mpsc::UnboundedSender<Bytes>,
    queued: Arc<AtomicUsize>,
}

impl LanguageServer {
    /// Starts the server in `box_id`; its messages and its end come as
    /// events.
    pub async fn start(
        backend: &dyn Backend,
        box_id: &BoxId,
        start: LanguageServerStart<'_>,
    ) -> Result<(LanguageServer, mpsc::Receiver<LspEvent>), SandboxError> {
        let spec = RunSpec {
            argv: start.template.argv.clone(),
            env: start.template.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            limits: start.limits,
            stdio: StdioMode::Pipes,
            close_stdin: false,
            ..RunSpec::default()
        };
        let handle = backend.run(box_id, spec).await?;
        let control = handle.control();
        let (input_tx, input_rx) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        let queued = Arc::new(AtomicUsize::new(0));
        tokio::spawn(write_input(control.clone(), input_rx, queued.clone()));
        tokio::spawn(read_output(handle, events_tx, start.max_message_bytes));
        Ok((LanguageServer { control, input: input_tx, queued }, events_rx))
    }

    /// Queues a JSON-RPC message for the server; refused, not waited for,
    /// when the server is not reading.
    pub fn send(&self, message: &serde_json::Value) -> Result<(), SendRefused> {
        let body = serde_json::to_vec(message).map_err(|_| SendRefused::Ended)?;
        let framed = encode(&body);
        let size = framed.len();
        let before = self.queued.fetch_add(size, Ordering::AcqRel);
        if before + size > MAX_QUEUED_INPUT_BYTES {
            self.queued.fetch_sub(size, Ordering::AcqRel);
            return Err(SendRefused::Full);
        }
        self.input.send(framed).map_err(|_| {
            self.queued.fetch_sub(size, Ordering::AcqRel);
            SendRefused::Ended
        })
    }

    /// Kills the server; its `Exited` event follows.
    pub async fn kill(&self) {
        let _ = self.control.kill().await;
    }
}

impl Drop for LanguageServer {
    fn drop(&mut self) {
        let control = self.control.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = control.kill().await;
            });
        }
    }
}

/// Writes queued messages to the server's stdin until it ends.
async fn write_input(
    control: Arc<dyn RunControl>,
    mut input: mpsc::UnboundedReceiver<Bytes>,
    queued: Arc<AtomicUsize>,
) {
    while let Some(framed) = input.recv().await {
        let size = framed.len();
        let written = control.write_stdin(framed).await;
        queued.fetch_sub(size, Ordering::AcqRel);
        if written.is_err() {
            return;
        }
    }
}

/// Reads the server's stdout as messages until it ends, then reports how.
async fn read_output(mut handle: RunHandle, events: mpsc::Sender<LspEvent>, max_message_bytes: usize) {
    let mut reader = MessageReader::new(max_message_bytes);
    let mut stderr_tail: Vec<u8> = Vec::new();
    // Why the server was ended, when it broke the protocol.
    let mut broken: Option<(&'static str, String)> = None;
    let report = loop {
        let Some(event) = handle.next_event().await else { break None };
        match event {
            RunEvent::Output { stream: Stream::Stdout, data } if broken.is_none() => {
                match parse(&mut reader, &data) {
                    Ok(messages) => {
                        for message in messages {
                            if events.send(LspEvent::Message(message)).await.is_err() {
                                // Nobody listens: the session let it go.
                                let _ = handle.control().kill().await;
                            }
                        }
                    }
                    Err(why) => {
                        tracing::info!(reason = %why.1, "a language server broke the protocol; ending it");
                        broken = Some(why);
                        let _ = handle.control().kill().await;
                    }
                }
            }
            RunEvent::Output { stream: Stream::Stderr, data } => {
                stderr_tail.extend_from_slice(&data);
                let excess = stderr_tail.len().saturating_sub(STDERR_TAIL_BYTES);
                stderr_tail.drain(..excess);
            }
            RunEvent::Output { .. } | RunEvent::Notice(_) => {}
            RunEvent::Exit(report) => break Some(report),
        }
    };
    let last_stderr = last_line(&stderr_tail);
    let event = match (broken, report) {
        (Some((status, message)), report) => LspEvent::Exited {
            status: status.to_string(),
            exit_code: None,
            signal: report.as_ref().and_then(|r| r.signal),
            memory_bytes: report.map_or(0, |r| r.peak_memory_bytes),
            message,
        },
        (None, Some(report)) => LspEvent::Exited {
            status: report.status.as_str().to_string(),
            exit_code: report.exit_code,
            signal: report.signal,
            memory_bytes: report.peak_memory_bytes,
            message: last_stderr,
        },
        (None, None) => LspEvent::Exited {
            status: "killed".into(),
            exit_code: None,
            signal: None,
            memory_bytes: 0,
            message: "the language server's run was lost".into(),
        },
    };
    let _ = events.send(event).await;
}

/// The messages a chunk of stdout completes, or why the stream is broken.
fn parse(reader: &mut MessageReader, data: &[u8]) -> Result<Vec<serde_json::Value>, (&'static str, String)> {
    let bodies = reader.push(data).map_err(|e| {
        let status = if matches!(e, FramingError::MessageTooLarge { .. }) { MESSAGE_TOO_LARGE } else { PROTOCOL_ERROR };
        (status, e.to_string())
    })?;
    bodies
        .iter()
        .map(|body| match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(value) if value.is_object() => Ok(value),
            Ok(_) => Err((PROTOCOL_ERROR, "the language server sent a message that is not a JSON object".into())),
            Err(e) => Err((PROTOCOL_ERROR, format!("the language server sent a message that is not JSON: {e}"))),
        })
        .collect()
}

/// The last non-empty line of `bytes`, at most 300 characters.
fn last_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines().rev().find(|line| !line.trim().is_empty()).unwrap_or("").chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_keeps_the_plans_largest_limits_but_time_and_output() {
        let max = RunLimits { memory_bytes: 512 << 20, pids: 64, ..RunLimits::default() };
        let limits = language_server_limits(&max);
        assert_eq!((limits.memory_bytes, limits.pids), (512 << 20, 64));
        let most = RunLimits::hard_maximum();
        assert_eq!(limits.wall_time_ms, most.wall_time_ms);
        assert_eq!(limits.input_wait_ms, most.input_wait_ms, "a server waits for its client as long as it likes");
        assert_eq!(limits.output_bytes, most.output_bytes);
        let spec = RunSpec { argv: vec!["pylsp".into()], limits, ..RunSpec::default() };
        spec.validate(&most).expect("a backend takes it");
    }

    #[test]
    fn bodies_that_are_not_json_objects_break_the_stream() {
        let mut reader = MessageReader::new(1024);
        assert_eq!(parse(&mut reader, &encode(br#"{"id":1}"#)).unwrap().len(), 1);
        for bad in [&b"[1,2]"[..], b"not json", b"\"text\""] {
            let mut reader = MessageReader::new(1024);
            let (status, _) = parse(&mut reader, &encode(bad)).unwrap_err();
            assert_eq!(status, PROTOCOL_ERROR, "{bad:?}");
        }
        let mut reader = MessageReader::new(8);
        assert_eq!(parse(&mut reader, &encode(&[b' '; 9])).unwrap_err().0, MESSAGE_TOO_LARGE);
    }

    #[test]
    fn the_last_stderr_line_explains_an_end() {
        assert_eq!(last_line(b"starting\nNo module named pylsp\n\n"), "No module named pylsp");
        assert_eq!(last_line(b""), "");
    }
}
