//! The run supervisor against a fake run: no root, no kernel, no backend.
//!
//! A [`Host`] stands for what a backend would watch: the run's main
//! process, the processes it left behind, its tree's counters, its stdin
//! and the box. The fakes hand it to the supervisor through the same
//! public API the backends use (`Supervision`, `Watched`, `RunProcess`,
//! `RunTree`, `SupervisedControl` over a `RunIo`), so every assertion is
//! about what the supervisor itself decided. Time is paused: deadlines are
//! reached by tokio's clock, never by waiting.

use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use bytesbox_cgroups::CgroupStats;
use bytesbox_sandbox::{
    feed_initial_input, ExitReport, RunEvent, RunHandle, RunLimits, RunStatus, SandboxError, Signal, Stream,
};
use bytesbox_supervisor::{
    Delivery, ExitStatus, Exited, RunIo, RunOutput, RunProcess, RunTree, SupervisedControl, Supervision, Watched,
};
use tokio::sync::watch;

const SIGKILL: i32 = 9;
const SIGTERM: i32 = 15;
const SIGSEGV: i32 = 11;
/// What the fake backend writes on stderr when it loses a run.
const LOST_NOTICE: &[u8] = b"\nthe fake engine went away\n";

/// The fake host of one run.
#[derive(Debug, Default)]
struct HostState {
    /// How the main process ended, once it has.
    main_exit: Option<ExitStatus>,
    /// Processes in the run's tree, the main one included while it runs.
    alive: usize,
    /// Tree kills that found processes to kill.
    kills: usize,
    /// Whether the tree was removed, and whether anything was alive then.
    removed: bool,
    removed_while_alive: bool,
    cpu_usage_ns: u64,
    /// Every process of the tree is blocked on the person's input.
    waiting_for_input: bool,
    oom_kills: u64,
    /// The box-wide memory limit killed something.
    box_oom: bool,
    /// Times the supervisor asked about the box-wide memory limit.
    box_oom_asked: usize,
    /// The backend lost the run (its engine went away).
    lost: bool,
    /// Signals delivered through the control (SIGKILL never gets here).
    signals: Vec<i32>,
    /// The terminal size last set.
    terminal: Option<(u16, u16)>,
    stdin: Vec<u8>,
    stdin_closed: bool,
    forgotten: usize,
    after: usize,
}

/// Shared by the fakes and the test; every change wakes the waiters.
#[derive(Clone, Debug)]
struct Host {
    state: Arc<Mutex<HostState>>,
    changed: Arc<watch::Sender<()>>,
}

impl Host {
    /// A run whose main process is running, alone in its tree.
    fn new() -> Host {
        let state = HostState { alive: 1, ..HostState::default() };
        Host { state: Arc::new(Mutex::new(state)), changed: Arc::new(watch::channel(()).0) }
    }

    fn state(&self) -> MutexGuard<'_, HostState> {
        self.state.lock().expect("the fake host is never poisoned")
    }

    fn change(&self, change: impl FnOnce(&mut HostState)) {
        change(&mut self.state());
        self.changed.send_replace(());
    }

    /// The main process ends with `status`, leaving `leftovers` behind.
    fn main_exits(&self, status: ExitStatus, leftovers: usize) {
        self.change(|s| {
            s.main_exit = Some(status);
            s.alive = leftovers;
        });
    }

    /// Resolves once `done` holds.
    async fn until(&self, done: impl Fn(&HostState) -> bool) {
        let mut changed = self.changed.subscribe();
        while !done(&self.state()) {
            changed.changed().await.expect("the host outlives its waiters");
        }
    }
}

/// The run's tree: killing it ends every process, the main one included.
#[derive(Clone, Debug)]
struct FakeTree(Host);

impl RunTree for FakeTree {
    fn is_empty(&self) -> bool {
        self.0.state().alive == 0
    }

    fn kill_all(&self, _timeout: Duration) {
        self.0.change(|s| {
            s.kills += 1;
            s.alive = 0;
            s.main_exit.get_or_insert((None, Some(SIGKILL)));
        });
    }

    fn cpu_usage_ns(&self) -> u64 {
        self.0.state().cpu_usage_ns
    }

    fn waiting_for_input(&self) -> bool {
        self.0.state().waiting_for_input
    }

    fn stats(&self) -> CgroupStats {
        let s = self.0.state();
        CgroupStats { cpu_usage_ns: s.cpu_usage_ns, oom_kills: s.oom_kills, ..CgroupStats::default() }
    }

    fn remove(&self) {
        self.0.change(|s| {
            s.removed = true;
            s.removed_while_alive = s.alive > 0;
        });
    }
}

/// The backend's side of the run, as the native backend reports it: the
/// exit status comes with the exit.
struct FakeProcess(Host);

#[async_trait]
impl RunProcess for FakeProcess {
    async fn exited(&mut self) -> Exited {
        let mut changed = self.0.changed.subscribe();
        loop {
            {
                let s = self.0.state();
                if s.lost {
                    return Exited::Lost;
                }
                if let Some(status) = s.main_exit {
                    return Exited::Status(status);
                }
            }
            changed.changed().await.expect("the host outlives its waiters");
        }
    }

    async fn ending(&mut self, exited: Exited, output_lost: bool, _killed: bool) -> Option<ExitStatus> {
        match exited {
            Exited::Status(status) if !output_lost => Some(status),
            _ => None,
        }
    }

    fn box_oom_killed(&self) -> bool {
        let mut s = self.0.state();
        s.box_oom_asked += 1;
        s.box_oom
    }

    fn lost(&self) -> Option<Bytes> {
        Some(Bytes::from_static(LOST_NOTICE))
    }

    fn forget(&self) {
        self.0.change(|s| s.forgotten += 1);
    }

    async fn after(&self) {
        self.0.change(|s| s.after += 1);
    }
}

/// The backend's side of the run's controls; the supervisor's
/// `SupervisedControl` stands in front of it, as on the backends.
#[derive(Debug)]
struct FakeIo(Host);

#[async_trait]
impl RunIo for FakeIo {
    async fn write_stdin(&self, data: Bytes) -> Result<(), SandboxError> {
        let mut s = self.0.state();
        if s.stdin_closed {
            return Err(SandboxError::InvalidSpec("stdin is already closed".into()));
        }
        s.stdin.extend_from_slice(&data);
        Ok(())
    }

    async fn close_stdin(&self) -> Result<(), SandboxError> {
        self.0.change(|s| s.stdin_closed = true);
        Ok(())
    }

    async fn resize(&self, rows: u16, cols: u16) -> Result<(), SandboxError> {
        self.0.change(|s| s.terminal = Some((rows, cols)));
        Ok(())
    }

    async fn signal(&self, signal: Signal) -> Result<(), SandboxError> {
        self.0.change(|s| s.signals.push(signal.number()));
        Ok(())
    }
}

/// What a reader of the run's output does.
enum Reader {
    /// Delivers these chunks, then reads until every writer is dead.
    Writes(Vec<(Stream, &'static [u8])>),
    /// Its stream breaks at once (the engine connection went away).
    Breaks,
}

async fn read(host: Host, output: Arc<RunOutput>, reader: Reader) -> Result<(), String> {
    let chunks = match reader {
        Reader::Writes(chunks) => chunks,
        Reader::Breaks => return Err("the stream broke".into()),
    };
    for (stream, data) in chunks {
        // Past the cap the stream is closed, as the backends' readers do.
        if output.deliver(stream, Bytes::from_static(data)).await != Delivery::Delivered {
            return Ok(());
        }
    }
    host.until(|s| s.alive == 0).await;
    Ok(())
}

/// A started fake run.
struct Run {
    host: Host,
    handle: RunHandle,
    /// The box's "being destroyed" flag.
    destroyed: watch::Sender<bool>,
    /// The supervisor's reference to the control, to see it let go.
    control: Weak<SupervisedControl<FakeIo>>,
}

fn limits() -> RunLimits {
    RunLimits { wall_time_ms: 60_000, cpu_time_ms: 10_000, output_bytes: 1 << 20, ..RunLimits::default() }
}

fn start(limits: RunLimits, reader: Reader) -> Run {
    let host = Host::new();
    let (supervision, switch, events) = Supervision::new(limits.output_bytes);
    let control = Arc::new(SupervisedControl::new(FakeIo(host.clone()), switch));
    let destroyed = watch::channel(false).0;
    let reader = tokio::spawn(read(host.clone(), supervision.output(), reader));
    supervision.spawn(Watched {
        process: FakeProcess(host.clone()),
        tree: FakeTree(host.clone()),
        limits,
        started_at: Instant::now(),
        destroyed: destroyed.subscribe(),
        readers: vec![reader],
        control: control.clone(),
    });
    let weak = Arc::downgrade(&control);
    Run { host, handle: RunHandle::new(events, control), destroyed, control: weak }
}

fn silent() -> Reader {
    Reader::Writes(Vec::new())
}

/// Every event until the channel closes; asserts that exactly one exit
/// report came, and came last, and that no notice came.
async fn finish(handle: RunHandle) -> (Vec<u8>, Vec<u8>, ExitReport) {
    let (stdout, stderr, notices, report) = finish_with_notices(handle).await;
    assert_eq!(notices, Vec::<String>::new(), "no notice");
    (stdout, stderr, report)
}

/// [`finish`], with the run's notices.
async fn finish_with_notices(mut handle: RunHandle) -> (Vec<u8>, Vec<u8>, Vec<String>, ExitReport) {
    let (mut stdout, mut stderr, mut notices, mut reports) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    while let Some(event) = handle.next_event().await {
        assert!(reports.is_empty(), "an event after the exit report: {event:?}");
        match event {
            RunEvent::Output { stream: Stream::Stdout, data } => stdout.extend_from_slice(&data),
            RunEvent::Output { stream: Stream::Stderr, data } => stderr.extend_from_slice(&data),
            RunEvent::Notice(text) => notices.push(text),
            RunEvent::Exit(report) => reports.push(report),
        }
    }
    assert_eq!(reports.len(), 1, "one exit report");
    (stdout, stderr, notices, reports.remove(0))
}

/// Waits for the supervisor's last step (it runs after the report).
async fn settled(host: &Host) {
    host.until(|s| s.after == 1).await;
    let s = host.state();
    assert_eq!(s.forgotten, 1, "the box forgets the run once");
    assert!(s.removed, "the tree is removed");
    assert!(!s.removed_while_alive, "the tree is empty before it is removed");
}

#[tokio::test(start_paused = true)]
async fn an_exit_code_is_reported_with_the_output_and_nothing_is_killed() {
    let run = start(
        limits(),
        Reader::Writes(vec![(Stream::Stdout, b"hello "), (Stream::Stderr, b"warn"), (Stream::Stdout, b"world")]),
    );
    run.host.main_exits((Some(3), None), 0);
    let (stdout, stderr, report) = finish(run.handle).await;
    settled(&run.host).await;
    assert_eq!((report.exit_code, report.signal, report.status), (Some(3), None, RunStatus::Nonzero));
    assert_eq!((stdout.as_slice(), stderr.as_slice()), (&b"hello world"[..], &b"warn"[..]));
    assert_eq!((report.stdout_bytes, report.stderr_bytes), (11, 4));
    assert_eq!(run.host.state().kills, 0, "an empty tree is not killed");
}

#[tokio::test(start_paused = true)]
async fn a_clean_exit_is_ok() {
    let run = start(limits(), silent());
    run.host.main_exits((Some(0), None), 0);
    let (_, _, report) = finish(run.handle).await;
    assert_eq!((report.exit_code, report.status), (Some(0), RunStatus::Ok));
}

#[tokio::test(start_paused = true)]
async fn a_death_by_signal_is_signaled_and_the_box_limit_is_not_asked() {
    let run = start(limits(), silent());
    run.host.change(|s| s.box_oom = true);
    run.host.main_exits((None, Some(SIGSEGV)), 0);
    let (_, _, report) = finish(run.handle).await;
    assert_eq!((report.exit_code, report.signal, report.status), (None, Some(SIGSEGV), RunStatus::Signaled));
    assert_eq!(run.host.state().box_oom_asked, 0, "only a SIGKILL can be the box's memory limit");
}

#[tokio::test(start_paused = true)]
async fn what_the_main_process_left_behind_is_killed_once_after_it_exits() {
    let run = start(limits(), silent());
    run.host.main_exits((Some(0), None), 2);
    let (_, _, report) = finish(run.handle).await;
    settled(&run.host).await;
    assert_eq!(report.status, RunStatus::Ok, "leftovers do not change how the run ended");
    assert_eq!(run.host.state().kills, 1);
}

#[tokio::test(start_paused = true)]
async fn past_its_wall_time_a_run_is_killed_once_as_timeout() {
    let run = start(RunLimits { wall_time_ms: 2_000, ..limits() }, silent());
    let (_, _, report) = finish(run.handle).await;
    settled(&run.host).await;
    assert_eq!((report.signal, report.status), (Some(SIGKILL), RunStatus::Timeout));
    assert_eq!(run.host.state().kills, 1);
}

#[tokio::test(start_paused = true)]
async fn time_spent_waiting_for_input_does_not_count_as_wall_time() {
    let started = tokio::time::Instant::now();
    let run = start(RunLimits { wall_time_ms: 2_000, ..limits() }, silent());
    run.host.change(|s| s.waiting_for_input = true);
    let host = run.host.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        host.change(|s| s.waiting_for_input = false);
    });
    let (_, _, report) = finish(run.handle).await;
    settled(&run.host).await;
    assert_eq!(report.status, RunStatus::Timeout);
    // About 9.5 s of waiting was not counted (a wait counts from its
    // second check), so the 2 s ran out at about 11.5 s, not at 2 s.
    let ended = started.elapsed();
    assert!(ended >= Duration::from_secs(11) && ended <= Duration::from_secs(12), "ended after {ended:?}");
}

#[tokio::test(start_paused = true)]
async fn a_wait_for_input_past_its_limit_ends_the_run_after_a_notice() {
    let started = tokio::time::Instant::now();
    let run = start(RunLimits { wall_time_ms: 1_000, input_wait_ms: 4_000, ..limits() }, silent());
    run.host.change(|s| s.waiting_for_input = true);
    let (_, _, notices, report) = finish_with_notices(run.handle).await;
    settled(&run.host).await;
    assert_eq!((report.signal, report.status), (Some(SIGKILL), RunStatus::InputTimeout));
    assert_eq!(run.host.state().kills, 1);
    assert_eq!(
        notices,
        ["This program has waited 2 s for input and will be stopped in 2 s unless it gets some."],
        "one notice, half the allowed wait before its end"
    );
    // The wait was first seen at the first check, 250 ms in.
    assert_eq!(started.elapsed(), Duration::from_millis(4_250));
}

#[tokio::test(start_paused = true)]
async fn past_its_cpu_budget_a_run_is_killed_once_as_cpu_limit() {
    let run = start(RunLimits { cpu_time_ms: 500, ..limits() }, silent());
    run.host.change(|s| s.cpu_usage_ns = 600_000_000);
    let (_, _, report) = finish(run.handle).await;
    settled(&run.host).await;
    assert_eq!((report.status, report.cpu_ms), (RunStatus::CpuLimit, 600));
    assert_eq!(run.host.state().kills, 1);
}

#[tokio::test(start_paused = true)]
async fn over_its_output_cap_a_run_is_killed_once_with_the_output_cut_at_the_cap() {
    let flood: &[u8] = &[b'x'; 64];
    let run = start(
        RunLimits { output_bytes: 10, ..limits() },
        Reader::Writes(vec![(Stream::Stdout, flood), (Stream::Stdout, flood)]),
    );
    let (stdout, _, report) = finish(run.handle).await;
    settled(&run.host).await;
    assert_eq!(report.status, RunStatus::OutputLimit);
    assert_eq!((stdout.len(), report.stdout_bytes), (10, 10));
    assert_eq!(run.host.state().kills, 1);
}

#[tokio::test(start_paused = true)]
async fn a_program_that_dies_of_the_closed_pipe_still_ends_as_output_limit() {
    // The reader (which runs first) goes over the cap, and the program's
    // own death of the closed pipe is what the supervisor sees first: the
    // cap still decides.
    let run = start(RunLimits { output_bytes: 4, ..limits() }, Reader::Writes(vec![(Stream::Stderr, b"0123456789")]));
    run.host.main_exits((None, Some(13)), 0);
    let (_, stderr, report) = finish(run.handle).await;
    assert_eq!((report.signal, report.status), (Some(13), RunStatus::OutputLimit));
    assert_eq!(stderr, b"0123");
}

#[tokio::test(start_paused = true)]
async fn stop_kills_the_tree_once_however_often_it_is_pressed() {
    let run = start(limits(), silent());
    let control = run.handle.control();
    control.kill().await.unwrap();
    let _ = control.kill().await;
    let _ = control.signal(Signal::Sigkill).await;
    let (_, _, report) = finish(run.handle).await;
    settled(&run.host).await;
    assert_eq!((report.signal, report.status), (Some(SIGKILL), RunStatus::Killed));
    assert_eq!(run.host.state().kills, 1);
    assert!(matches!(control.kill().await, Err(SandboxError::RunFinished)), "Stop after the end says so");
}

#[tokio::test(start_paused = true)]
async fn the_first_reason_wins() {
    // A Stop after the deadline changes neither the status nor the number
    // of kills.
    let run = start(RunLimits { wall_time_ms: 1_000, ..limits() }, silent());
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let control = run.handle.control();
    let _ = control.kill().await;
    let (_, _, report) = finish(run.handle).await;
    settled(&run.host).await;
    assert_eq!(report.status, RunStatus::Timeout);
    assert_eq!(run.host.state().kills, 1);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_handle_kills_the_run() {
    let run = start(limits(), silent());
    drop(run.handle);
    settled(&run.host).await;
    let s = run.host.state();
    assert_eq!((s.kills, s.main_exit), (1, Some((None, Some(SIGKILL)))));
}

#[tokio::test(start_paused = true)]
async fn destroying_the_box_kills_the_run() {
    let run = start(limits(), silent());
    run.destroyed.send_replace(true);
    let (_, _, report) = finish(run.handle).await;
    settled(&run.host).await;
    assert_eq!(report.status, RunStatus::Killed);
    assert_eq!(run.host.state().kills, 1);
}

#[tokio::test(start_paused = true)]
async fn an_exit_that_races_ahead_of_the_destroy_notice_is_still_killed() {
    // The box is marked destroyed before its processes die, and the death
    // is what the supervisor sees first.
    let run = start(limits(), silent());
    run.destroyed.send_replace(true);
    run.host.main_exits((None, Some(SIGKILL)), 0);
    let (_, _, report) = finish(run.handle).await;
    assert_eq!(report.status, RunStatus::Killed);
    assert_eq!(run.host.state().kills, 0, "nothing was left to kill");
}

#[tokio::test(start_paused = true)]
async fn an_oom_kill_in_the_runs_cgroup_is_memory_limit() {
    let run = start(limits(), silent());
    run.host.change(|s| s.oom_kills = 1);
    run.host.main_exits((None, Some(SIGKILL)), 0);
    let (_, _, report) = finish(run.handle).await;
    assert_eq!(report.status, RunStatus::MemoryLimit);
    assert_eq!(run.host.state().box_oom_asked, 0, "the run's own counter answered");
}

#[tokio::test(start_paused = true)]
async fn a_sigkill_from_the_box_wide_memory_limit_is_memory_limit() {
    let run = start(limits(), silent());
    run.host.change(|s| s.box_oom = true);
    run.host.main_exits((None, Some(SIGKILL)), 0);
    let (_, _, report) = finish(run.handle).await;
    assert_eq!(report.status, RunStatus::MemoryLimit);
    assert_eq!(run.host.state().box_oom_asked, 1);
}

#[tokio::test(start_paused = true)]
async fn a_sigkill_with_no_oom_anywhere_is_signaled() {
    let run = start(limits(), silent());
    run.host.main_exits((None, Some(SIGKILL)), 0);
    let (_, _, report) = finish(run.handle).await;
    assert_eq!(report.status, RunStatus::Signaled);
    assert_eq!(run.host.state().box_oom_asked, 1);
}

#[tokio::test(start_paused = true)]
async fn signals_reach_the_process_and_its_death_by_one_is_no_kill() {
    let run = start(limits(), silent());
    let control = run.handle.control();
    control.signal(Signal::Sigterm).await.unwrap();
    assert_eq!(run.host.state().signals, vec![SIGTERM]);
    run.host.main_exits((None, Some(SIGTERM)), 0);
    let (_, _, report) = finish(run.handle).await;
    settled(&run.host).await;
    assert_eq!((report.signal, report.status), (Some(SIGTERM), RunStatus::Signaled));
    assert_eq!(run.host.state().kills, 0);
    assert!(matches!(control.signal(Signal::Sigint).await, Err(SandboxError::RunFinished)));
}

#[tokio::test(start_paused = true)]
async fn sigkill_is_the_supervisors_kill_and_never_reaches_the_backend() {
    let run = start(limits(), silent());
    let control = run.handle.control();
    control.signal(Signal::Sigkill).await.unwrap();
    let (_, _, report) = finish(run.handle).await;
    settled(&run.host).await;
    assert_eq!(report.status, RunStatus::Killed);
    let s = run.host.state();
    assert_eq!((s.kills, s.signals.len()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_terminal_size_is_checked_before_it_is_set() {
    let run = start(limits(), silent());
    let control = run.handle.control();
    control.resize(40, 120).await.unwrap();
    assert!(control.resize(0, 80).await.is_err(), "a zero-row terminal is refused");
    assert_eq!(run.host.state().terminal, Some((40, 120)), "the refused size never reached the backend");
    run.host.main_exits((Some(0), None), 0);
    let _ = finish(run.handle).await;
    settled(&run.host).await;
    assert!(matches!(control.resize(40, 120).await, Err(SandboxError::RunFinished)));
}

#[tokio::test(start_paused = true)]
async fn stdin_is_forwarded_then_closed_and_refused_after_the_end() {
    // Paused time runs ahead, tick by tick, whenever every task waits (as
    // while the input is handed over): with 60 s of wall time the run was
    // sometimes over before the test wrote (`RunFinished`, 1 run in 25); a
    // day keeps it alive until the test ends it.
    let run = start(RunLimits { wall_time_ms: 24 * 3600 * 1000, ..limits() }, silent());
    let control = run.handle.control();
    feed_initial_input(control.clone(), b"first line\n".to_vec(), false);
    run.host.until(|s| s.stdin == b"first line\n").await;
    control.write_stdin(Bytes::from_static(b"more")).await.unwrap();
    control.close_stdin().await.unwrap();
    assert!(run.host.state().stdin_closed);
    assert!(control.write_stdin(Bytes::from_static(b"late")).await.is_err(), "closed stdin takes nothing");
    assert_eq!(run.host.state().stdin, b"first line\nmore");
    run.host.main_exits((Some(0), None), 0);
    let _ = finish(run.handle).await;
    settled(&run.host).await;
    assert!(matches!(control.write_stdin(Bytes::from_static(b"x")).await, Err(SandboxError::RunFinished)));
    assert!(matches!(control.close_stdin().await, Err(SandboxError::RunFinished)));
    drop(control);
    assert!(run.control.upgrade().is_none(), "the supervisor let go of the control");
}

#[tokio::test(start_paused = true)]
async fn initial_stdin_is_written_and_closed_in_order() {
    let run = start(limits(), silent());
    feed_initial_input(run.handle.control(), b"input".to_vec(), true);
    run.host.until(|s| s.stdin_closed).await;
    assert_eq!(run.host.state().stdin, b"input");
    run.host.main_exits((Some(0), None), 0);
    let _ = finish(run.handle).await;
}

#[tokio::test(start_paused = true)]
async fn a_lost_run_is_killed_once_and_says_why_on_stderr() {
    let run = start(limits(), Reader::Writes(vec![(Stream::Stderr, b"before")]));
    // The reader delivers and the supervisor starts watching first.
    tokio::task::yield_now().await;
    run.host.change(|s| s.lost = true);
    let (_, stderr, report) = finish(run.handle).await;
    settled(&run.host).await;
    assert_eq!((report.signal, report.status), (Some(SIGKILL), RunStatus::Killed));
    assert!(stderr.ends_with(LOST_NOTICE), "{}", String::from_utf8_lossy(&stderr));
    assert_eq!(report.stderr_bytes, stderr.len() as u64, "the notice is counted");
    assert_eq!(run.host.state().kills, 1);
}

#[tokio::test(start_paused = true)]
async fn a_broken_output_stream_with_no_known_ending_counts_as_lost() {
    let run = start(limits(), Reader::Breaks);
    run.host.main_exits((Some(0), None), 0);
    let (_, stderr, report) = finish(run.handle).await;
    assert_eq!((report.exit_code, report.signal, report.status), (None, Some(SIGKILL), RunStatus::Killed));
    assert!(stderr.ends_with(LOST_NOTICE));
}
