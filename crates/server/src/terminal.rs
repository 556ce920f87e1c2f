//! Terminals: interactive login shells in a session's box (`docs/protocol.md`,
//! "Terminals").
//!
//! A terminal is an ordinary PTY run of the backend (`bash -l`), started
//! straight on the session's box, not through the engine: it writes no
//! files, has no stages, and must not wait in the run queue or hold one of
//! its slots for hours. It keeps the box's limits and the caller's plan's
//! run limits except the ones a shell cannot live with: wall time, CPU
//! time and the output cap (`terminal_limits`).
//!
//! Its output goes to the client through the session's bounded queue, as
//! a run's does, so a flood blocks the shell instead of growing the
//! server's memory. While the session has no connection, output is kept
//! only in a scrollback ring of [`SCROLLBACK_BYTES`] (the oldest bytes
//! give way) and the shell keeps going; a client that comes back gets
//! what the ring holds of what it missed. Every output frame carries its
//! byte offset in the terminal's output, so a client sees a gap.
//!
//! Input goes through a small queue to a writer task of the terminal's
//! own: a shell that does not read must not stall the connection, which
//! also carries the output that would let it read again.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use bytesbox_sandbox::{RunControl, RunEvent, RunHandle, RunLimits, RunSpec, StdioMode};
use tokio::sync::{mpsc, watch};

use crate::protocol::{ServerMessage, TtySize};
use crate::session::Session;

/// Output kept per terminal for a client that comes back.
pub const SCROLLBACK_BYTES: usize = 64 * 1024;
/// Most bytes one `terminal_input` frame may carry (a client splits a
/// bigger paste).
pub const MAX_INPUT_FRAME_BYTES: usize = 64 * 1024;
/// Input frames waiting for a shell that is not reading: with
/// [`MAX_INPUT_FRAME_BYTES`], at most 1 MiB per terminal.
pub const INPUT_QUEUE_FRAMES: usize = 16;
/// The shell: a login shell, so `/etc/profile` sets it up as on a host.
pub const SHELL_ARGV: [&str; 2] = ["bash", "-l"];

/// A terminal's run limits: the plan's, except that a shell lives long:
/// its wall time and CPU time are the backend's maxima (a day), a shell
/// at its prompt is a wait for input that the terminals' own idle cull
/// bounds instead of `input_wait_ms`, and its output is not capped (flow control bounds what the server holds). Its
/// memory, processes and CPU share stay the plan's, and the box's limits
/// hold for everything in the box together.
pub fn terminal_limits(plan_defaults: &RunLimits) -> RunLimits {
    let most = RunLimits::hard_maximum();
    RunLimits {
        wall_time_ms: most.wall_time_ms,
        input_wait_ms: most.input_wait_ms,
        cpu_time_ms: most.cpu_time_ms,
        output_bytes: most.output_bytes,
        ..plan_defaults.clone()
    }
}

/// The run spec of a terminal of `size`.
pub fn terminal_spec(plan_defaults: &RunLimits, size: TtySize) -> RunSpec {
    RunSpec {
        argv: SHELL_ARGV.iter().map(|arg| arg.to_string()).collect(),
        limits: terminal_limits(plan_defaults),
        stdio: StdioMode::terminal(size.rows, size.cols),
        close_stdin: false,
        ..RunSpec::default()
    }
}

/// The last [`SCROLLBACK_BYTES`] (or `capacity`) bytes of a terminal's
/// output, and where they sit in all of it.
#[derive(Debug)]
pub struct Scrollback {
    bytes: VecDeque<u8>,
    capacity: usize,
    /// Offset just past the last byte ever pushed.
    end: u64,
}

impl Scrollback {
    /// An empty ring of `capacity` bytes.
    pub fn new(capacity: usize) -> Scrollback {
        Scrollback { bytes: VecDeque::with_capacity(capacity.min(4096)), capacity, end: 0 }
    }

    /// Appends output; returns the offset of its first byte.
    pub fn push(&mut self, data: &[u8]) -> u64 {
        let offset = self.end;
        self.end += data.len() as u64;
        let kept = &data[data.len().saturating_sub(self.capacity)..];
        let overflow = (self.bytes.len() + kept.len()).saturating_sub(self.capacity);
        self.bytes.drain(..overflow);
        self.bytes.extend(kept);
        offset
    }

    /// Offset of the oldest byte still held.
    pub fn start(&self) -> u64 {
        self.end - self.bytes.len() as u64
    }

    /// Offset just past the newest byte.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// What is held from `offset` on (from the oldest byte held, when
    /// `offset` is older): the offset of the first byte returned, and the
    /// bytes.
    pub fn since(&self, offset: u64) -> (u64, Vec<u8>) {
        let from = offset.clamp(self.start(), self.end);
        let skip = usize::try_from(from - self.start()).unwrap_or(usize::MAX);
        (from, self.bytes.range(skip..).copied().collect())
    }
}

/// Why an input frame was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum InputRefused {
    /// The shell has not read the input queued before.
    Full,
    /// The terminal has ended.
    Ended,
}

/// One open terminal of a session.
#[derive(Debug)]
pub struct Terminal {
    /// Client-chosen id, unique among the session's terminals.
    pub id: String,
    control: Arc<dyn RunControl>,
    input: mpsc::Sender<Bytes>,
    size: watch::Sender<TtySize>,
    last_active: Mutex<Instant>,
    notices: mpsc::Sender<String>,
    /// Turns true when the shell has ended, so that a write it will never
    /// read is given up.
    ended: watch::Sender<bool>,
}

impl Terminal {
    /// Queues input for the shell; refused, not waited for, when the
    /// shell is not reading.
    pub fn write(&self, data: Bytes) -> Result<(), InputRefused> {
        self.touch();
        self.input.try_send(data).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => InputRefused::Full,
            mpsc::error::TrySendError::Closed(_) => InputRefused::Ended,
        })
    }

    /// Sets the terminal's size (the latest one wins if the shell is slow
    /// to take it).
    pub fn resize(&self, size: TtySize) {
        self.touch();
        self.size.send_replace(size);
    }

    /// The terminal's size now.
    pub fn size(&self) -> TtySize {
        *self.size.borrow()
    }

    /// Kills the shell and everything started from it.
    pub async fn close(&self) {
        let _ = self.control.kill().await;
    }

    /// Writes a line of the server's into the terminal's output (not its
    /// input), ahead of any output that comes later.
    pub fn notice(&self, text: String) {
        let _ = self.notices.try_send(text);
    }

    /// Whether nothing went either way for at least `idle`.
    pub fn idle_for_at_least(&self, idle: Duration) -> bool {
        self.last_active.lock().map(|at| at.elapsed() >= idle).unwrap_or(false)
    }

    fn touch(&self) {
        if let Ok(mut at) = self.last_active.lock() {
            *at = Instant::now();
        }
    }
}

/// Starts the tasks of a terminal whose shell `handle` has started: the
/// writer of its input and the forwarder of its output to `session`.
pub fn start(session: Arc<Session>, id: String, size: TtySize, handle: RunHandle) -> Arc<Terminal> {
    let control = handle.control();
    let (input_tx, input_rx) = mpsc::channel(INPUT_QUEUE_FRAMES);
    let (size_tx, size_rx) = watch::channel(size);
    let (notices_tx, notices_rx) = mpsc::channel(1);
    let (ended_tx, ended_rx) = watch::channel(false);
    let terminal = Arc::new(Terminal {
        id,
        control: control.clone(),
        input: input_tx,
        size: size_tx,
        last_active: Mutex::new(Instant::now()),
        notices: notices_tx,
        ended: ended_tx,
    });
    tokio::spawn(write_input(control, input_rx, size_rx, ended_rx));
    tokio::spawn(forward_output(session, terminal.clone(), handle, notices_rx));
    terminal
}

/// Writes queued input and sizes to the shell until the terminal ends.
async fn write_input(
    control: Arc<dyn RunControl>,
    input: mpsc::Receiver<Bytes>,
    size: watch::Receiver<TtySize>,
    mut ended: watch::Receiver<bool>,
) {
    // A write the shell never reads (it is stopped, or gone with a full
    // terminal) is given up when the terminal ends.
    tokio::select! {
        () = apply_input(control, input, size) => {}
        _ = ended.wait_for(|ended| *ended) => {}
    }
}

async fn apply_input(
    control: Arc<dyn RunControl>,
    mut input: mpsc::Receiver<Bytes>,
    mut size: watch::Receiver<TtySize>,
) {
    loop {
        tokio::select! {
            biased;
            changed = size.changed() => {
                if changed.is_err() {
                    return;
                }
                let TtySize { rows, cols } = *size.borrow_and_update();
                if matches!(control.resize(rows, cols).await, Err(bytesbox_sandbox::SandboxError::RunFinished)) {
                    return;
                }
            }
            next = input.recv() => match next {
                Some(data) => {
                    if control.write_stdin(data).await.is_err() {
                        return;
                    }
                }
                None => return,
            },
        }
    }
}

/// Frames of output from `offset` on, each at most an output chunk.
fn output_frames(id: &str, offset: u64, bytes: &[u8]) -> Vec<ServerMessage> {
    const CHUNK: usize = 64 * 1024;
    bytes
        .chunks(CHUNK)
        .enumerate()
        .map(|(i, chunk)| ServerMessage::terminal_output(id, offset + (i * CHUNK) as u64, chunk))
        .collect()
}

/// Sends the shell's output to the session's client until the shell ends,
/// then its `terminal_exit`.
async fn forward_output(
    session: Arc<Session>,
    terminal: Arc<Terminal>,
    mut handle: RunHandle,
    mut notices: mpsc::Receiver<String>,
) {
    let id = terminal.id.clone();
    let mut scrollback = Scrollback::new(SCROLLBACK_BYTES);
    let mut connected = session.connection_watch();
    // Where the output the client has not been sent starts, while it is
    // away.
    let mut unsent_from: Option<u64> = None;
    let exit = loop {
        let data: Bytes = tokio::select! {
            biased;
            Some(text) = notices.recv() => Bytes::from(text.into_bytes()),
            Ok(()) = connected.changed() => {
                let now_connected = *connected.borrow_and_update();
                if let (true, Some(from)) = (now_connected, unsent_from.take()) {
                    let (from, missed) = scrollback.since(from);
                    for frame in output_frames(&id, from, &missed) {
                        if !session.send(frame).await {
                            break;
                        }
                    }
                }
                continue;
            }
            event = handle.next_event() => match event {
                Some(RunEvent::Output { data, .. }) => {
                    terminal.touch();
                    data
                }
                // A terminal waits for input as long as it likes (its
                // limit is the backend's maximum), so nothing to tell.
                Some(RunEvent::Notice(_)) => continue,
                Some(RunEvent::Exit(report)) => break Some(report),
                None => break None,
            },
        };
        let offset = scrollback.push(&data);
        if unsent_from.is_some() || !*connected.borrow() {
            unsent_from.get_or_insert(offset);
            continue;
        }
        if !session.send(ServerMessage::terminal_output(&id, offset, &data)).await {
            // The session ended: nobody will read this terminal again.
            terminal.close().await;
            break None;
        }
    };
    terminal.ended.send_replace(true);
    session.remove_terminal(&id);
    let frame = match exit {
        Some(report) => ServerMessage::terminal_exit(&id, &report),
        None => ServerMessage::TerminalExit { id: id.clone(), code: None, signal: None, status: "killed".into() },
    };
    let _ = session.send(frame).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scrollback_keeps_the_newest_bytes_and_their_offsets() {
        let mut ring = Scrollback::new(8);
        assert_eq!(ring.push(b"hello"), 0);
        assert_eq!(ring.push(b" world"), 5);
        assert_eq!((ring.start(), ring.end()), (3, 11));
        assert_eq!(ring.since(0), (3, b"lo world".to_vec()), "older than held: from the oldest held");
        assert_eq!(ring.since(9), (9, b"ld".to_vec()));
        assert_eq!(ring.since(11), (11, Vec::new()));
        assert_eq!(ring.since(99), (11, Vec::new()), "past the end: nothing");
        assert_eq!(ring.push(b"0123456789AB"), 11, "a chunk bigger than the ring");
        assert_eq!(ring.since(0), (15, b"456789AB".to_vec()));
    }

    #[test]
    fn output_frames_split_what_is_replayed_and_carry_offsets() {
        let bytes = vec![b'x'; 64 * 1024 + 10];
        let frames = output_frames("t1", 100, &bytes);
        let offsets: Vec<u64> = frames
            .iter()
            .map(|frame| match frame {
                ServerMessage::TerminalOutput { offset, .. } => *offset,
                other => panic!("not output: {other:?}"),
            })
            .collect();
        assert_eq!(offsets, [100, 100 + 64 * 1024]);
    }

    #[test]
    fn a_terminal_keeps_the_plans_limits_except_time_and_output() {
        let plan = RunLimits { memory_bytes: 64 << 20, pids: 50, ..RunLimits::default() };
        let spec = terminal_spec(&plan, TtySize { rows: 30, cols: 100 });
        assert_eq!(spec.argv, ["bash", "-l"]);
        assert_eq!(spec.stdio, StdioMode::terminal(30, 100));
        assert!(!spec.close_stdin);
        assert_eq!((spec.limits.memory_bytes, spec.limits.pids), (64 << 20, 50));
        assert_eq!(spec.limits.cpu_millicores, plan.cpu_millicores);
        assert_eq!(spec.limits.wall_time_ms, RunLimits::hard_maximum().wall_time_ms);
        assert_eq!(spec.limits.input_wait_ms, RunLimits::hard_maximum().input_wait_ms, "a prompt may wait");
        spec.validate(&RunLimits::hard_maximum()).expect("a backend takes it");
    }
}
