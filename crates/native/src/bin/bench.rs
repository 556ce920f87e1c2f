//! Native backend benchmark: warm runs, what system calls, page faults and
//! path lookups cost more in a box, new boxes, runs in boxes whose launcher
//! was released, and idle-box memory, each against the same command
//! spawned bare (plain fork+exec) in the same process, interleaved so
//! machine drift hits both sides alike.
//!
//! The backend runs with its default configuration: a new box counts until
//! its first run has exited (that run goes through the launcher prepared
//! after `create` returned), and idle boxes give up their launcher after
//! the default release time, as on a server.
//!
//! Usage (as root): `bytesbox-native-bench [--iterations N] [--boxes N]`.

use std::time::{Duration, Instant};

use bytesbox_native::{NativeBackend, NativeConfig};
use bytesbox_sandbox::{Backend, BoxId, BoxSpec, RunSpec, RunStatus};

const TRUE: &[&str] = &["/bin/true"];

/// Pause before a paced sample: ample for the spare box of the backend and
/// the previous box's teardown to be done, so the sample pays neither.
const SETTLE: Duration = Duration::from_millis(100);

/// Boxes that idle past the launcher release, each timed for one run.
const IDLE_SAMPLES: usize = 20;

struct Args {
    iterations: usize,
    boxes: usize,
}

fn parse_args() -> Args {
    let mut args = Args { iterations: 200, boxes: 200 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().and_then(|v| v.parse().ok());
        match (flag.as_str(), value) {
            ("--iterations", Some(n)) => args.iterations = n,
            ("--boxes", Some(n)) => args.boxes = n,
            _ => {
                eprintln!("usage: bytesbox-native-bench [--iterations N] [--boxes N]");
                std::process::exit(2);
            }
        }
    }
    args
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn bare(argv: &[&str]) -> Duration {
    let start = Instant::now();
    let status = tokio::process::Command::new(argv[0])
        .args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .output()
        .await
        .expect("bare spawn");
    assert!(status.status.success(), "bare {argv:?} failed");
    start.elapsed()
}

/// Runs `argv` in box `id` to its exit report; panics unless it succeeded.
async fn run_ok(backend: &NativeBackend, id: &BoxId, argv: &[&str]) {
    let done =
        backend.run(id, RunSpec::command(argv.iter().copied())).await.expect("run").collect().await.expect("collect");
    assert_eq!(done.report.status, RunStatus::Ok, "{argv:?}: {}", done.stderr_text());
}

async fn boxed(backend: &NativeBackend, id: &BoxId, argv: &[&str]) -> Duration {
    let start = Instant::now();
    run_ok(backend, id, argv).await;
    start.elapsed()
}

/// A new box made usable: `create`, then a first `/bin/true` run to its
/// exit, which waits for the box's first launcher.
struct NewBox {
    id: BoxId,
    /// Until `create` returned.
    created: Duration,
    /// Until the first run exited.
    usable: Duration,
}

async fn new_box_used(backend: &NativeBackend) -> NewBox {
    let start = Instant::now();
    let id = backend.create(BoxSpec::default()).await.expect("create");
    let created = start.elapsed();
    run_ok(backend, &id, TRUE).await;
    NewBox { id, created, usable: start.elapsed() }
}

/// Medians of new boxes: until `create` returned, and until usable.
struct NewBoxMedians {
    created: Duration,
    usable: Duration,
}

impl NewBoxMedians {
    fn of(boxes: &[NewBox]) -> NewBoxMedians {
        let mut created: Vec<_> = boxes.iter().map(|b| b.created).collect();
        let mut usable: Vec<_> = boxes.iter().map(|b| b.usable).collect();
        NewBoxMedians { created: median(&mut created), usable: median(&mut usable) }
    }
}

/// Median warm-run time against median bare time for one command.
async fn compare_runs(backend: &NativeBackend, id: &BoxId, argv: &[&str], n: usize) -> (Duration, Duration) {
    for _ in 0..5 {
        bare(argv).await;
        boxed(backend, id, argv).await;
    }
    // Every other pair starts with the box, so each side follows the other
    // (and the box's next launcher being prepared) as often.
    let (mut bare_samples, mut box_samples) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        if i % 2 == 0 {
            bare_samples.push(bare(argv).await);
            box_samples.push(boxed(backend, id, argv).await);
        } else {
            box_samples.push(boxed(backend, id, argv).await);
            bare_samples.push(bare(argv).await);
        }
    }
    (median(&mut bare_samples), median(&mut box_samples))
}

/// A command that spends its time on one kind of kernel work, for the
/// table's rows on where a boxed program's extra time goes: the boxed
/// minus the bare time, less what starting the same program costs more in
/// a box (the warm `/bin/true` or `python3 -c pass` row), over the
/// operations, is what one operation costs more.
///
/// Each stays well under the CPU a run may use in a 100 ms period (the
/// default 0.5 CPU, 50 ms): past it the kernel throttles the run, and the
/// difference would be the throttling, not the work (a first version of
/// these rows, at 80 ms a command, showed path lookups 60 % dearer in a
/// box; under the quota they are 8 % dearer).
struct KernelWork {
    what: &'static str,
    argv: &'static [&'static str],
    operations: u32,
    unit: &'static str,
    /// The program it starts: its start's own overhead is taken off.
    starts: Starts,
}

/// Which warm-run row measures the start of a kernel-work command.
#[derive(Clone, Copy)]
enum Starts {
    Coreutil,
    Python,
}

const KERNEL_WORK: &[KernelWork] = &[
    KernelWork {
        what: "100,000 system calls (`dd bs=1 count=50000`: a read and a write each)",
        argv: &["/usr/bin/dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=50000", "status=none"],
        operations: 100_000,
        unit: "system call",
        starts: Starts::Coreutil,
    },
    KernelWork {
        what: "4,000 anonymous page faults (Python: 250 mappings of 64 KiB written and unmapped)",
        argv: &["/usr/bin/python3", "-c", "import mmap\nfor _ in range(250): mmap.mmap(-1, 65536).write(bytes(65536))"],
        operations: 4_000,
        unit: "page fault (and a 16th of a mapping)",
        starts: Starts::Python,
    },
    KernelWork {
        what: "10,000 path lookups (Python: `stat` of a four-part path)",
        argv: &[
            "/usr/bin/python3",
            "-c",
            "import os\nfor _ in range(10000): os.stat('/usr/lib/x86_64-linux-gnu/libc.so.6')",
        ],
        operations: 10_000,
        unit: "lookup (a system call included)",
        starts: Starts::Python,
    },
];

/// The host memory that boxes can account for: process memory, tmpfs,
/// kernel objects, page tables, stacks and per-CPU data.
const MEMINFO_PARTS: &[&str] = &["AnonPages", "Shmem", "Slab", "KernelStack", "PageTables", "Percpu"];

/// `/proc/meminfo`, KiB by field.
type Meminfo = std::collections::BTreeMap<String, u64>;

fn meminfo() -> Meminfo {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (key, rest) = l.split_once(':')?;
            Some((key.to_string(), rest.split_whitespace().next()?.parse().ok()?))
        })
        .collect()
}

/// The meminfo parts boxes account for, summed, per box, `from` → `to`.
fn accounted_per_box(from: &Meminfo, to: &Meminfo, boxes: usize) -> f64 {
    MEMINFO_PARTS.iter().map(|k| part_per_box(from, to, k, boxes)).sum()
}

fn part_per_box(from: &Meminfo, to: &Meminfo, key: &str, boxes: usize) -> f64 {
    (to.get(key).copied().unwrap_or(0) as f64 - from.get(key).copied().unwrap_or(0) as f64) / boxes as f64
}

/// New boxes one at a time, the backend settled before each (its spare
/// ready, the previous box torn down), against bare `/bin/true` in the
/// same loop: the bare median and the boxes' medians.
async fn new_boxes_paced(backend: &NativeBackend, n: usize) -> (Duration, NewBoxMedians) {
    let (mut bare_samples, mut boxes) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        tokio::time::sleep(SETTLE).await;
        bare_samples.push(bare(TRUE).await);
        let new_box = new_box_used(backend).await;
        backend.destroy(&new_box.id).await.expect("destroy");
        boxes.push(new_box);
    }
    (median(&mut bare_samples), NewBoxMedians::of(&boxes))
}

/// New boxes back to back, each made usable, used once and destroyed, so
/// the spare for the next box and the teardown of the last one compete
/// with every creation, as under a stream of one-shot runs.
struct BackToBack {
    /// Medians of the boxes.
    medians: NewBoxMedians,
    /// Wall time of the whole loop (create, first run, destroy) per box.
    per_box: Duration,
    /// Wall time of bare `/bin/true` spawns back to back, per process.
    bare_per_process: Duration,
}

/// Wall time of `n` bare `/bin/true` spawns back to back.
async fn bare_back_to_back(n: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        bare(TRUE).await;
    }
    start.elapsed()
}

async fn new_boxes_back_to_back(backend: &NativeBackend, n: usize) -> BackToBack {
    // Half the bare spawns before the boxes and half after, so drift hits
    // both sides alike.
    let mut bare_total = bare_back_to_back(n / 2).await;
    tokio::time::sleep(SETTLE).await;
    let mut boxes = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let new_box = new_box_used(backend).await;
        backend.destroy(&new_box.id).await.expect("destroy");
        boxes.push(new_box);
    }
    let per_box = start.elapsed() / n as u32;
    tokio::time::sleep(SETTLE).await;
    bare_total += bare_back_to_back(n - n / 2).await;
    BackToBack { medians: NewBoxMedians::of(&boxes), per_box, bare_per_process: bare_total / n as u32 }
}

/// Many boxes alive at once, each used once and then left idle past the
/// launcher release, as the sessions of a server between runs.
struct Fleet {
    /// `create` returned, per box, creating them back to back (their first
    /// launchers and the spares are prepared meanwhile).
    create_per_box: Duration,
    /// Accounted host memory per box, launcher ready (just used).
    hot_kib: f64,
    /// Accounted host memory per box after the launcher release, and its
    /// parts.
    idle_kib: f64,
    idle_parts: Vec<String>,
    /// MemAvailable drop per idle box (noisier).
    idle_available_kib: f64,
    /// How long the boxes idled before their next run.
    idle_for: Duration,
    /// Medians (bare, box) of one `/bin/true` in each of `IDLE_SAMPLES`
    /// boxes idle past the release.
    idle_run: (Duration, Duration),
}

async fn idle_fleet(backend: &NativeBackend, boxes: usize, config: &NativeConfig) -> Fleet {
    tokio::time::sleep(SETTLE * 5).await;
    let before = meminfo();
    let mut ids = Vec::with_capacity(boxes);
    let start = Instant::now();
    for _ in 0..boxes {
        ids.push(backend.create(BoxSpec::default()).await.expect("create many"));
    }
    let create_per_box = start.elapsed() / boxes as u32;
    for id in &ids {
        run_ok(backend, id, TRUE).await;
    }
    // The launchers those runs asked for, prepared.
    tokio::time::sleep(SETTLE * 5).await;
    let hot = meminfo();
    // The sweeper releases a launcher on its first pass after the release
    // time without a run.
    let idle_for = config.launcher_idle_release + config.sweep_interval + Duration::from_secs(1);
    tokio::time::sleep(idle_for).await;
    let after = meminfo();
    let (mut bare_samples, mut box_samples) = (Vec::new(), Vec::new());
    for id in ids.iter().step_by((boxes / IDLE_SAMPLES).max(1)).take(IDLE_SAMPLES) {
        tokio::time::sleep(SETTLE).await;
        bare_samples.push(bare(TRUE).await);
        box_samples.push(boxed(backend, id, TRUE).await);
    }
    for id in &ids {
        backend.destroy(id).await.expect("destroy many");
    }
    Fleet {
        create_per_box,
        hot_kib: accounted_per_box(&before, &hot, boxes),
        idle_kib: accounted_per_box(&before, &after, boxes),
        idle_parts: MEMINFO_PARTS
            .iter()
            .map(|k| format!("{k} {:.0}", part_per_box(&before, &after, k, boxes)))
            .collect(),
        idle_available_kib: -part_per_box(&before, &after, "MemAvailable", boxes),
        idle_for,
        idle_run: (median(&mut bare_samples), median(&mut box_samples)),
    }
}

/// One comparison row of the table: bare and boxed times, the overhead and
/// the ratio.
fn row(what: &str, bare: Duration, boxed: Duration, ratio_digits: usize, target: &str) {
    println!(
        "| {what} | {:.2} ms | {:.2} ms | {:+.2} ms | {:.ratio_digits$}x | {target} |",
        ms(bare),
        ms(boxed),
        ms(boxed) - ms(bare),
        ms(boxed) / ms(bare)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = parse_args();
    // The defaults a server runs with: the launcher release and the sweep
    // are part of what the figures measure.
    let config = NativeConfig::default();
    let backend = match NativeBackend::start(config.clone()).await {
        Ok(backend) => backend,
        Err(e) => {
            eprintln!("bytesbox-native-bench: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("warm runs ...");
    let id = backend.create(BoxSpec::default()).await.expect("create");
    let (true_bare, true_box) = compare_runs(&backend, &id, TRUE, args.iterations).await;
    let (py_bare, py_box) = compare_runs(&backend, &id, &["/usr/bin/python3", "-c", "pass"], args.iterations / 2).await;
    eprintln!("kernel work in a box and bare ...");
    let mut kernel_work = Vec::new();
    for work in KERNEL_WORK {
        kernel_work.push((work, compare_runs(&backend, &id, work.argv, (args.iterations / 10).max(5)).await));
    }
    backend.destroy(&id).await.expect("destroy");

    let new_boxes = (args.iterations / 2).max(1);
    eprintln!("new boxes: {new_boxes} paced, {new_boxes} back to back ...");
    let (paced_bare, paced) = new_boxes_paced(&backend, new_boxes).await;
    let back_to_back = new_boxes_back_to_back(&backend, new_boxes).await;

    eprintln!("{} boxes idle past the launcher release ...", args.boxes);
    let fleet = idle_fleet(&backend, args.boxes, &config).await;
    backend.shutdown().await;

    println!("| measurement | bare | bytesbox native | overhead | ratio | target |");
    println!("|---|---|---|---|---|---|");
    row(&format!("warm run `/bin/true` (median of {})", args.iterations), true_bare, true_box, 2, "≤ +1 ms");
    row(&format!("warm run `python3 -c pass` (median of {})", args.iterations / 2), py_bare, py_box, 3, "≤ 1.15x");
    for (work, (bare, boxed)) in &kernel_work {
        let start_overhead = match work.starts {
            Starts::Coreutil => ms(true_box) - ms(true_bare),
            Starts::Python => ms(py_box) - ms(py_bare),
        };
        let per_operation_ns = (ms(*boxed) - ms(*bare) - start_overhead) * 1e6 / f64::from(work.operations);
        row(
            &format!(
                "where a boxed program's extra time goes: {} (median of {}): {per_operation_ns:+.0} ns per {} \
                 once its start's overhead is taken off",
                work.what,
                (args.iterations / 10).max(5),
                work.unit
            ),
            *bare,
            *boxed,
            3,
            "",
        );
    }
    row(
        &format!(
            "new box, spare ready: `create` → first `/bin/true` exited, {} ms apart (median of {new_boxes})",
            SETTLE.as_millis()
        ),
        paced_bare,
        paced.usable,
        2,
        "≤ 5 ms",
    );
    println!("| … of which `create` returned (median) | | {:.2} ms | | | |", ms(paced.created));
    println!(
        "| new box back to back, the next box's spare and the last one's teardown competing: `create` → first `/bin/true` exited (median of {new_boxes}) | | {:.2} ms | | | |",
        ms(back_to_back.medians.usable)
    );
    println!("| … of which `create` returned (median) | | {:.2} ms | | | |", ms(back_to_back.medians.created));
    row(
        &format!(
            "new box back to back, wall time per box of {new_boxes} (create, first run, destroy; bare: spawns back to back)"
        ),
        back_to_back.bare_per_process,
        back_to_back.per_box,
        2,
        "",
    );
    println!(
        "| {} boxes alive at once: `create` returned, per box | | {:.2} ms | | | |",
        args.boxes,
        ms(fleet.create_per_box)
    );
    row(
        &format!(
            "warm run `/bin/true` in a box idle {:.0} s, past the launcher release ({:.0} s; median over {IDLE_SAMPLES} boxes)",
            fleet.idle_for.as_secs_f64(),
            config.launcher_idle_release.as_secs_f64()
        ),
        fleet.idle_run.0,
        fleet.idle_run.1,
        2,
        "",
    );
    println!(
        "| host memory per idle box, launcher released: kernel + process memory (/proc/meminfo deltas / {}) | | {:.0} KiB | | | ≤ 1024 KiB |",
        args.boxes, fleet.idle_kib
    );
    println!("| … of which, KiB: {} | | | | | |", fleet.idle_parts.join(", "));
    println!("| host memory per box with its launcher ready (just used) | | {:.0} KiB | | | |", fleet.hot_kib);
    println!(
        "| host memory per idle box: MemAvailable delta / {} (noisier) | | {:.0} KiB | | | |",
        args.boxes, fleet.idle_available_kib
    );
}
