//! Scale benchmark: what a live box costs, and whether runs and new boxes
//! slow down as live boxes grow. A real `bytesbox serve` (native backend,
//! language catalog, rate limits and per-caller caps lifted) is driven over
//! WebSocket; for each live-box count (10, 1,000, 4,000 and 10,000 by
//! default, reached one after the other):
//!
//! - sessions are opened, each running Python hello once (so each has a
//!   box), a few at a time: new boxes per second;
//! - warm runs in those sessions, 48 at a time, spread round-robin over
//!   all of them: runs per second; then one at a time: the median latency;
//! - host memory per live box: the `MemAvailable` and `/proc/meminfo`
//!   deltas since before the first box, divided by the count, with the
//!   slab caches that grew most, and the server's RSS;
//! - what might grow with the count: mounts and descriptors of the jailer
//!   and the server, memory cgroups.
//!
//! At the end every session is closed, and the time until every box is
//! gone (inits exited, box cgroups removed) is measured. Rows are printed
//! in the benches' common Markdown format, ratios against the first count;
//! a plot of throughput, new-box rate and latency against live boxes is
//! written as SVG.
//!
//! Usage (as root): `bytesbox-scale-bench [--counts 10,1000,4000,10000]
//! [--seconds S] [--svg FILE] [--perf DIR]`. With `--perf`, `perf record -a
//! -g` runs over each count's opening and throughput phases.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, Semaphore};
use tokio_tungstenite::tungstenite::Message;

#[allow(dead_code, reason = "each benchmark binary uses its own part of the shared module")]
#[path = "../bench_common/mod.rs"]
mod bench_common;
mod plot;
use bench_common::{
    lifted_caps_config, median, ms, python_run, raise_open_file_limit, ws_run, RunCheck, Server, Socket,
};

/// Runs kept going at once in the throughput phase (at most one per
/// session: see `RUNS_PER_SESSION`).
const RUNS_AT_ONCE: usize = 48;
/// Sessions opened at once while the count grows.
const OPENING_AT_ONCE: usize = 8;
/// Sequential runs timed for the latency median.
const LATENCY_RUNS: usize = 50;
/// Runs the bench keeps going in one session: a session's runs share its
/// workspace and each run's files replace the last run's, so a second run
/// could remove `main.py` before the first one's Python opened it.
const RUNS_PER_SESSION: usize = 1;
/// How long the bench waits for every box to be gone after the close.
const GONE_TIMEOUT: Duration = Duration::from_secs(180);
/// A box's launcher is released after 10 s without a run (the default
/// `launcher_idle_release`): memory is measured after that, as an idle box.
const SETTLE: Duration = Duration::from_secs(12);
/// Host memory kept free beyond what the next count is expected to take.
const MEMORY_HEADROOM_KIB: u64 = 2 * 1024 * 1024;
/// The least host memory a box is assumed to take (KiB), to refuse a
/// count that cannot fit.
const EXPECTED_KIB_PER_BOX: u64 = 1536;

struct Args {
    counts: Vec<usize>,
    seconds: u64,
    svg: PathBuf,
    perf: Option<PathBuf>,
}

fn parse_args() -> Result<Args> {
    const USAGE: &str = "usage: bytesbox-scale-bench [--counts N,N,...] [--seconds S] [--svg FILE] [--perf DIR]";
    let mut args =
        Args { counts: vec![10, 1_000, 4_000, 10_000], seconds: 10, svg: PathBuf::from("scale.svg"), perf: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().context(USAGE)?;
        match flag.as_str() {
            "--counts" => {
                args.counts = value.split(',').map(|n| n.trim().parse()).collect::<Result<_, _>>().context(USAGE)?
            }
            "--seconds" => args.seconds = value.parse().context(USAGE)?,
            "--svg" => args.svg = value.into(),
            "--perf" => args.perf = Some(value.into()),
            _ => bail!(USAGE),
        }
    }
    if args.counts.is_empty() || args.counts.windows(2).any(|pair| pair[0] >= pair[1]) || args.counts[0] == 0 {
        bail!("--counts must be increasing and positive");
    }
    Ok(args)
}

/// The server's configuration: every cap that would stop one client
/// address from holding this many boxes and runs is lifted, boxes stay
/// until their session ends, and a closed session ends at once (no grace
/// for a reconnect), so the close-to-gone time is the teardown's alone.
fn server_config(max_count: usize) -> String {
    let caps = lifted_caps_config(max_count + 1_000, 2 * RUNS_AT_ONCE, 4 * RUNS_AT_ONCE);
    format!("{caps}[sessions]\ngrace_secs = 0\nidle_ttl_secs = 86400\n")
}

/// A session with a box, whose runs may overlap: a reader task hands each
/// frame to the run it names.
struct LiveSession {
    sink: tokio::sync::Mutex<SplitSink<Socket, Message>>,
    runs: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Value>>>>,
    slots: Semaphore,
    reader: tokio::task::JoinHandle<()>,
}

static RUN_IDS: AtomicU64 = AtomicU64::new(0);

impl LiveSession {
    fn new(socket: Socket) -> LiveSession {
        let (sink, mut stream) = socket.split();
        let runs: Arc<Mutex<HashMap<String, mpsc::UnboundedSender<Value>>>> = Arc::default();
        let routes = runs.clone();
        let reader = tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let Message::Text(text) = message else { continue };
                let Ok(frame) = serde_json::from_str::<Value>(&text) else { continue };
                let Some(id) = frame["id"].as_str() else { continue };
                if let Ok(routes) = routes.lock() {
                    if let Some(run) = routes.get(id) {
                        let _ = run.send(frame);
                    }
                }
            }
            // The connection is gone: every waiting run learns it.
            if let Ok(mut routes) = routes.lock() {
                routes.clear();
            }
        });
        LiveSession { sink: tokio::sync::Mutex::new(sink), runs, slots: Semaphore::new(RUNS_PER_SESSION), reader }
    }

    /// One Python hello: `run` sent to its exit report.
    async fn run(&self) -> Result<Duration> {
        let _slot = self.slots.acquire().await?;
        let id = format!("r{}", RUN_IDS.fetch_add(1, Ordering::Relaxed));
        let (sender, mut frames) = mpsc::unbounded_channel();
        self.runs.lock().map_err(|_| anyhow::anyhow!("run table poisoned"))?.insert(id.clone(), sender);
        let start = Instant::now();
        let outcome = async {
            self.sink.lock().await.send(Message::Text(python_run(&id).to_string().into())).await?;
            let mut check = RunCheck::new();
            let mut elapsed = None;
            loop {
                let frame = tokio::time::timeout(Duration::from_secs(120), frames.recv())
                    .await
                    .context("no frame within 120 s")?
                    .context("connection closed")?;
                if frame["type"] == "done" {
                    return elapsed.context("done without an exit");
                }
                if elapsed.is_none() && check.frame(&frame)? {
                    elapsed = Some(start.elapsed());
                }
            }
        }
        .await;
        if let Ok(mut runs) = self.runs.lock() {
            runs.remove(&id);
        }
        outcome
    }

    async fn close(&self) {
        let _ = self.sink.lock().await.close().await;
        self.reader.abort();
    }
}

/// Opens sessions until `sessions` holds `count`, each with one run done;
/// returns how many were opened per second.
async fn open_sessions(server: &Server, sessions: &mut Vec<Arc<LiveSession>>, count: usize) -> Result<f64> {
    let start = Instant::now();
    let wanted = count - sessions.len();
    let opened: Vec<Result<LiveSession>> = futures_util::stream::iter(0..wanted)
        .map(|_| async {
            // Stop short of the host running out: the guard before each
            // count is an estimate.
            let available = HostMemory::now()?.field("MemAvailable");
            if available < MEMORY_HEADROOM_KIB / 2 {
                bail!("stopped opening sessions: only {} MiB of host memory left", available / 1024);
            }
            let mut socket = server.connect().await?;
            ws_run(&mut socket, "first").await?;
            Ok(LiveSession::new(socket))
        })
        .buffer_unordered(OPENING_AT_ONCE)
        .collect()
        .await;
    let elapsed = start.elapsed().as_secs_f64();
    // Every session that opened is kept, so that it is closed with the
    // others even when one failed: a dropped one keeps its box alive.
    let mut failure = None;
    for session in opened {
        match session {
            Ok(session) => sessions.push(Arc::new(session)),
            Err(error) => failure = failure.or(Some(error)),
        }
    }
    if let Some(error) = failure {
        return Err(error.context("opening sessions"));
    }
    Ok(wanted as f64 / elapsed)
}

/// How many runs the throughput phase keeps going with `boxes` live boxes.
fn runs_at_once(boxes: usize) -> usize {
    RUNS_AT_ONCE.min(boxes * RUNS_PER_SESSION)
}

/// Runs per second with `runs_at_once` going at once for `seconds`, each
/// in the next session round-robin.
async fn throughput(sessions: &[Arc<LiveSession>], seconds: u64) -> Result<f64> {
    let turn = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds.max(1));
    let start = Instant::now();
    let workers: Vec<_> = (0..runs_at_once(sessions.len()))
        .map(|_| {
            let sessions = sessions.to_vec();
            let turn = turn.clone();
            tokio::spawn(async move {
                let mut runs = 0u64;
                while Instant::now() < deadline {
                    let session = &sessions[turn.fetch_add(1, Ordering::Relaxed) % sessions.len()];
                    session.run().await?;
                    runs += 1;
                }
                anyhow::Ok(runs)
            })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker.await??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// The median of `LATENCY_RUNS` runs one at a time, in sessions spread
/// over all of them.
async fn latency(sessions: &[Arc<LiveSession>]) -> Result<Duration> {
    let mut samples = Vec::with_capacity(LATENCY_RUNS);
    for n in 0..LATENCY_RUNS {
        samples.push(sessions[n * sessions.len() / LATENCY_RUNS].run().await?);
    }
    Ok(median(&mut samples))
}

/// `/proc/meminfo` (KiB) and `/proc/slabinfo` (bytes of slab pages per
/// cache) at one moment.
struct HostMemory {
    meminfo: HashMap<String, u64>,
    slabs: HashMap<String, u64>,
}

/// The `/proc/meminfo` fields that make up a box's kernel and process
/// memory.
const MEMINFO_FIELDS: [&str; 8] =
    ["Slab", "SUnreclaim", "KernelStack", "PageTables", "Percpu", "AnonPages", "Shmem", "VmallocUsed"];

impl HostMemory {
    fn now() -> Result<HostMemory> {
        let meminfo = std::fs::read_to_string("/proc/meminfo")?
            .lines()
            .filter_map(|line| {
                let (name, rest) = line.split_once(':')?;
                Some((name.to_string(), rest.split_whitespace().next()?.parse().ok()?))
            })
            .collect();
        let page = 4096;
        let slabs = std::fs::read_to_string("/proc/slabinfo")
            .context("reading /proc/slabinfo")?
            .lines()
            // Past its version line and its column header.
            .skip(2)
            .filter_map(|line| {
                // name active num objsize perslab pagesperslab : tunables … : slabdata active num shared
                let fields: Vec<&str> = line.split_whitespace().collect();
                let pages_per_slab: u64 = fields.get(5)?.parse().ok()?;
                let slabs: u64 = fields.get(fields.len().checked_sub(2)?)?.parse().ok()?;
                Some((fields[0].to_string(), slabs * pages_per_slab * page))
            })
            .collect();
        Ok(HostMemory { meminfo, slabs })
    }

    fn field(&self, name: &str) -> u64 {
        self.meminfo.get(name).copied().unwrap_or(0)
    }

    /// KiB per box of a meminfo field's growth since `before`.
    fn per_box(&self, before: &HostMemory, name: &str, boxes: usize) -> f64 {
        (self.field(name) as f64 - before.field(name) as f64) / boxes as f64
    }

    /// The slab caches that grew most since `before`: name and KiB per box.
    fn top_slabs(&self, before: &HostMemory, boxes: usize, how_many: usize) -> Vec<(String, f64)> {
        let mut grown: Vec<(String, f64)> = self
            .slabs
            .iter()
            .map(|(name, bytes)| {
                let was = before.slabs.get(name).copied().unwrap_or(0);
                (name.clone(), (*bytes as f64 - was as f64) / 1024.0 / boxes as f64)
            })
            .collect();
        grown.sort_by(|a, b| b.1.total_cmp(&a.1));
        grown.truncate(how_many);
        grown
    }
}

/// Where boxes of the server under test are, to count them.
struct BoxCensus {
    server_pid: u32,
    jailer_pid: u32,
    /// The server instance's directory in the memory hierarchy.
    instance: PathBuf,
}

/// `(ppid, comm)` of a process.
fn parent_and_name(pid: u32) -> Option<(u32, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (head, tail) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_string();
    let ppid = tail.split_whitespace().nth(1)?.parse().ok()?;
    Some((ppid, name))
}

fn processes() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|dir| dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

impl BoxCensus {
    fn find(server_pid: u32) -> Result<BoxCensus> {
        let jailer_pid = processes()
            .into_iter()
            .find(|pid| parent_and_name(*pid).is_some_and(|(ppid, name)| ppid == server_pid && name == "bytesbox-jail"))
            .context("no jailer under the server")?;
        let prefix = format!("i{server_pid}-");
        let instance = ["/sys/fs/cgroup/memory/bytesbox", "/sys/fs/cgroup/bytesbox"]
            .iter()
            .filter_map(|root| std::fs::read_dir(root).ok())
            .flatten()
            .filter_map(|entry| entry.ok())
            .find(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
            .context("no cgroup of the server's instance")?
            .path();
        Ok(BoxCensus { server_pid, jailer_pid, instance })
    }

    /// Box inits still running (children of the jailer, a subreaper).
    fn inits(&self) -> usize {
        processes()
            .into_iter()
            .filter(|pid| {
                parent_and_name(*pid).is_some_and(|(ppid, name)| ppid == self.jailer_pid && name == "bytesbox-init")
            })
            .count()
    }

    /// Box cgroups of the instance (the spare's included).
    fn box_cgroups(&self) -> usize {
        std::fs::read_dir(&self.instance)
            .map(|dir| dir.filter_map(|e| e.ok()).filter(|e| e.path().is_dir()).count())
            .unwrap_or(0)
    }

    fn jailer_mounts(&self) -> usize {
        std::fs::read_to_string(format!("/proc/{}/mountinfo", self.jailer_pid)).map_or(0, |m| m.lines().count())
    }

    fn fds(pid: u32) -> usize {
        entries(Path::new(&format!("/proc/{pid}/fd")))
    }
}

/// Memory cgroups of the whole host (`/proc/cgroups`), dying ones included.
fn memory_cgroups() -> u64 {
    std::fs::read_to_string("/proc/cgroups")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("memory\t"))
                .and_then(|line| line.split_whitespace().nth(2)?.parse().ok())
        })
        .unwrap_or(0)
}

/// `perf record -a -g` while it lives.
struct Profile(Option<std::process::Child>);

impl Profile {
    fn start(dir: Option<&Path>, name: &str) -> Result<Profile> {
        let Some(dir) = dir else { return Ok(Profile(None)) };
        std::fs::create_dir_all(dir)?;
        let child = std::process::Command::new("perf")
            .args(["record", "-a", "-g", "-F", "199", "-o"])
            .arg(dir.join(format!("{name}.data")))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting perf record")?;
        Ok(Profile(Some(child)))
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGINT);
            }
            let _ = child.wait();
        }
    }
}

/// What was measured with `boxes` live boxes.
struct Level {
    boxes: usize,
    new_boxes_per_sec: f64,
    runs_per_sec: f64,
    latency: Duration,
    available_kib_per_box: f64,
    meminfo_kib_per_box: Vec<(&'static str, f64)>,
    top_slabs: Vec<(String, f64)>,
    server_rss_kib: u64,
    jailer_mounts: usize,
    jailer_fds: usize,
    server_fds: usize,
    memory_cgroups: u64,
}

/// Counts below this measure memory too coarsely to extrapolate from:
/// the host-wide delta is mostly whatever else the host did meanwhile.
const MEASURABLE_BOXES: usize = 500;

/// Host memory (KiB) `count` boxes are expected to take in all. A box's
/// kernel memory grows with the number of boxes (docs/performance.md,
/// "Live boxes"), so with two measured counts the memory per box is fitted
/// as `a + b × boxes`; with one it is taken as it was; with none it is
/// `EXPECTED_KIB_PER_BOX`.
fn expected_kib(count: usize, levels: &[Level]) -> f64 {
    let measured: Vec<(f64, f64)> = levels
        .iter()
        .filter(|level| level.boxes >= MEASURABLE_BOXES)
        .map(|level| (level.boxes as f64, level.available_kib_per_box))
        .collect();
    let per_box = match measured.as_slice() {
        [.., (n1, kib1), (n2, kib2)] => {
            let growth = ((kib2 - kib1) / (n2 - n1)).max(0.0);
            kib2 + growth * (count as f64 - n2)
        }
        [(_, kib)] => *kib,
        [] => 0.0,
    };
    count as f64 * per_box.max(EXPECTED_KIB_PER_BOX as f64)
}

/// Descriptors the server holds per box with a session.
const FDS_PER_BOX: usize = 4;
/// Descriptors kept free for everything else the server opens.
const FD_HEADROOM: usize = 1024;

/// Why `count` boxes would not fit this machine, if they would not.
fn too_many(count: usize, live: usize, levels: &[Level], server_pid: u32) -> Option<String> {
    // The server holds about four descriptors per box (the session's
    // socket, the box's control socket, workspace and pidfd): past its
    // open-file limit it can neither make nor clean up boxes.
    let limits = std::fs::read_to_string(format!("/proc/{server_pid}/limits")).ok()?;
    let open_files: usize = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse().ok())?;
    let held = std::fs::read_dir(format!("/proc/{server_pid}/fd")).ok()?.count();
    let descriptors = held + FDS_PER_BOX * (count - live) + FD_HEADROOM;
    if descriptors > open_files {
        return Some(format!(
            "{count} boxes not tried: the server would need about {descriptors} descriptors, its open-file limit is {open_files}"
        ));
    }
    let memory = HostMemory::now().ok()?;
    let taken = levels.last().map_or(0.0, |level| level.available_kib_per_box * level.boxes as f64);
    let needed = (expected_kib(count, levels) - taken.max(0.0)).max(0.0) as u64 + MEMORY_HEADROOM_KIB;
    let available = memory.field("MemAvailable");
    if available < needed {
        return Some(format!(
            "{count} boxes not tried: about {} MiB more host memory needed, {} MiB available",
            needed / 1024,
            available / 1024
        ));
    }
    let pid_max: usize = std::fs::read_to_string("/proc/sys/kernel/pid_max").ok()?.trim().parse().ok()?;
    // A box has its init and, while in use, a launcher.
    let pids = processes().len() + 2 * (count - live);
    if pids > pid_max {
        return Some(format!("{count} boxes not tried: they need about {pids} pids, pid_max is {pid_max}"));
    }
    None
}

async fn measure_level(
    server: &Server,
    census: &BoxCensus,
    sessions: &mut Vec<Arc<LiveSession>>,
    before: &HostMemory,
    count: usize,
    args: &Args,
) -> Result<Level> {
    let profile = Profile::start(args.perf.as_deref(), &format!("scale-{count}"))?;
    eprintln!("{count} boxes: opening {} sessions, {OPENING_AT_ONCE} at a time ...", count - sessions.len());
    let new_boxes_per_sec = open_sessions(server, sessions, count).await?;
    eprintln!("{count} boxes: {} runs at a time for {} s ...", runs_at_once(count), args.seconds);
    let runs_per_sec = throughput(sessions, args.seconds).await?;
    drop(profile);
    eprintln!("{count} boxes: latency, {LATENCY_RUNS} runs one at a time ...");
    let latency = latency(sessions).await?;
    tokio::time::sleep(SETTLE).await;
    let now = HostMemory::now()?;
    let available_kib_per_box = (before.field("MemAvailable") as f64 - now.field("MemAvailable") as f64) / count as f64;
    Ok(Level {
        boxes: count,
        new_boxes_per_sec,
        runs_per_sec,
        latency,
        available_kib_per_box,
        meminfo_kib_per_box: MEMINFO_FIELDS.iter().map(|field| (*field, now.per_box(before, field, count))).collect(),
        top_slabs: now.top_slabs(before, count, 8),
        server_rss_kib: server.rss_kib()?,
        jailer_mounts: census.jailer_mounts(),
        jailer_fds: BoxCensus::fds(census.jailer_pid),
        server_fds: BoxCensus::fds(census.server_pid),
        memory_cgroups: memory_cgroups(),
    })
}

/// Closes every session; returns the time until every box is gone.
async fn close_all(census: &BoxCensus, sessions: Vec<Arc<LiveSession>>) -> Result<Duration> {
    let start = Instant::now();
    futures_util::stream::iter(sessions.iter()).for_each_concurrent(256, |session| session.close()).await;
    drop(sessions);
    // The boxes made ahead stay: the spare's cgroup (no init yet) and the
    // ready boxes (with theirs).
    let ready = bytesbox_native::NativeConfig::default().ready_boxes;
    loop {
        if census.inits() <= ready && census.box_cgroups() <= 1 + ready {
            return Ok(start.elapsed());
        }
        if start.elapsed() > GONE_TIMEOUT {
            bail!(
                "{} box inits and {} box cgroups left {} s after the close",
                census.inits(),
                census.box_cgroups(),
                GONE_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ratio(value: f64, baseline: f64) -> String {
    if baseline > 0.0 {
        format!("{:.2}x", value / baseline)
    } else {
        String::new()
    }
}

fn print_rows(levels: &[Level], gone: Option<(usize, Duration)>, skipped: &[String]) {
    let Some(base) = levels.first() else { return };
    let at = |n: usize| if n == 4_000 { "≥ 0.90x at 4,000" } else { "" };
    println!("| measurement | baseline | Bytesbox | ratio | target |");
    println!("|---|---|---|---|---|");
    for level in levels {
        let n = level.boxes;
        println!(
            "| warm Python hello runs, {} at a time, {n} live boxes (baseline: {} boxes, {} at a time) | {:.1} runs/s | {:.1} runs/s | {} | {} |",
            runs_at_once(n),
            base.boxes,
            runs_at_once(base.boxes),
            base.runs_per_sec,
            level.runs_per_sec,
            ratio(level.runs_per_sec, base.runs_per_sec),
            at(n)
        );
        println!(
            "| new boxes (session + first run), {OPENING_AT_ONCE} at a time, growing to {n} | {:.1} /s | {:.1} /s | {} | {} |",
            base.new_boxes_per_sec,
            level.new_boxes_per_sec,
            ratio(level.new_boxes_per_sec, base.new_boxes_per_sec),
            at(n)
        );
        println!(
            "| warm run latency, one at a time (median of {LATENCY_RUNS}), {n} live boxes | {:.2} ms | {:.2} ms | {} | |",
            ms(base.latency),
            ms(level.latency),
            ratio(ms(level.latency), ms(base.latency))
        );
        // No baseline: with few boxes the host-wide delta is mostly
        // whatever else the host did meanwhile.
        println!(
            "| host memory per live box (MemAvailable delta / {n}) | | {:.0} KiB | | {} |",
            level.available_kib_per_box,
            if n == 10_000 { "≤ 512 KiB at 10,000" } else { "" }
        );
        let fields: Vec<String> =
            level.meminfo_kib_per_box.iter().map(|(field, kib)| format!("{field} {kib:.0}")).collect();
        println!("| … /proc/meminfo deltas per box, KiB: {} | | | | |", fields.join(", "));
        let slabs: Vec<String> = level.top_slabs.iter().map(|(cache, kib)| format!("{cache} {kib:.1}")).collect();
        println!("| … slab caches that grew most, KiB per box: {} | | | | |", slabs.join(", "));
        println!(
            "| server RSS, descriptors; jailer mounts, descriptors; host memory cgroups ({n} live boxes) | | {} MiB, {} fds; {} mounts, {} fds; {} memcgs | | |",
            level.server_rss_kib / 1024,
            level.server_fds,
            level.jailer_mounts,
            level.jailer_fds,
            level.memory_cgroups
        );
    }
    if let Some((boxes, gone)) = gone {
        println!(
            "| all {boxes} boxes gone (inits exited, cgroups removed) after their sessions closed | | {:.1} s | | ≤ 60 s |",
            gone.as_secs_f64()
        );
    }
    for reason in skipped {
        println!("| {reason} | | | | |");
    }
}

async fn bench(server: &Server, args: &Args) -> Result<()> {
    // Let the server settle (its spare box) before the baseline.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let census = BoxCensus::find(server.child.id())?;
    let before = HostMemory::now()?;
    let mut sessions = Vec::new();
    let mut levels = Vec::new();
    let mut skipped = Vec::new();
    let mut failure = None;
    for &count in &args.counts {
        if let Some(reason) = too_many(count, sessions.len(), &levels, server.child.id()) {
            eprintln!("{reason}");
            skipped.push(reason);
            break;
        }
        match measure_level(server, &census, &mut sessions, &before, count, args).await {
            Ok(level) => levels.push(level),
            Err(error) => {
                failure = Some(error.context(format!("at {count} boxes")));
                break;
            }
        }
    }
    let boxes = sessions.len();
    eprintln!("closing {boxes} sessions ...");
    if let Some(error) = &failure {
        eprintln!("failed: {error:#}");
    }
    let gone = close_all(&census, sessions).await?;
    print_rows(&levels, Some((boxes, gone)), &skipped);
    if levels.len() > 1 {
        let points: Vec<plot::Point> = levels
            .iter()
            .map(|level| plot::Point {
                boxes: level.boxes,
                runs_per_sec: level.runs_per_sec,
                new_boxes_per_sec: level.new_boxes_per_sec,
                latency_ms: ms(level.latency),
            })
            .collect();
        plot::write_svg(&args.svg, &points)?;
        eprintln!("plot written to {}", args.svg.display());
    }
    match failure {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = parse_args()?;
    if !nix::unistd::geteuid().is_root() {
        bail!("the scale benchmark runs the native backend: run it as root");
    }
    raise_open_file_limit()?;
    let largest = args.counts.last().copied().unwrap_or_default();
    let server = Server::start(&server_config(largest))?;
    // The server is stopped (SIGTERM, which destroys every box) when
    // `server` is dropped, however the bench ends.
    bench(&server, &args).await
}
