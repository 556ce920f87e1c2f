//! Native backend benchmark: box creation, warm runs and idle-box memory,
//! each against the same command spawned bare (plain fork+exec) in the same
//! process, interleaved so machine drift hits both sides alike.
//!
//! Usage (as root): `bytesbox-native-bench [--iterations N] [--boxes N]`.

use std::time::{Duration, Instant};

use bytesbox_native::{NativeBackend, NativeConfig};
use bytesbox_sandbox::{Backend, BoxSpec, RunSpec, RunStatus};

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

async fn boxed(backend: &NativeBackend, id: &bytesbox_sandbox::BoxId, argv: &[&str]) -> Duration {
    let start = Instant::now();
    let done =
        backend.run(id, RunSpec::command(argv.iter().copied())).await.expect("run").collect().await.expect("collect");
    assert_eq!(done.report.status, RunStatus::Ok, "{argv:?}: {}", done.stderr_text());
    start.elapsed()
}

/// Median warm-run time against median bare time for one command.
async fn compare_runs(
    backend: &NativeBackend,
    id: &bytesbox_sandbox::BoxId,
    argv: &[&str],
    n: usize,
) -> (Duration, Duration) {
    for _ in 0..5 {
        bare(argv).await;
        boxed(backend, id, argv).await;
    }
    let (mut bare_samples, mut box_samples) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        bare_samples.push(bare(argv).await);
        box_samples.push(boxed(backend, id, argv).await);
    }
    (median(&mut bare_samples), median(&mut box_samples))
}

/// The host memory that boxes can account for: process memory, tmpfs,
/// kernel objects, page tables, stacks and per-CPU data.
const MEMINFO_PARTS: &[&str] = &["AnonPages", "Shmem", "Slab", "KernelStack", "PageTables", "Percpu"];

fn meminfo() -> std::collections::BTreeMap<String, u64> {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (key, rest) = l.split_once(':')?;
            Some((key.to_string(), rest.split_whitespace().next()?.parse().ok()?))
        })
        .collect()
}

fn mem_available_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = parse_args();
    // Launchers of idle boxes are released quickly here so that the idle
    // memory measurement sees boxes in their idle state.
    let config = NativeConfig {
        launcher_idle_release: Duration::from_secs(1),
        sweep_interval: Duration::from_millis(250),
        ..NativeConfig::default()
    };
    let backend = match NativeBackend::start(config).await {
        Ok(backend) => backend,
        Err(e) => {
            eprintln!("bytesbox-native-bench: {e}");
            std::process::exit(1);
        }
    };
    let id = backend.create(BoxSpec::default()).await.expect("create");

    let (true_bare, true_box) = compare_runs(&backend, &id, &["/bin/true"], args.iterations).await;
    let (py_bare, py_box) = compare_runs(&backend, &id, &["/usr/bin/python3", "-c", "pass"], args.iterations / 2).await;
    backend.destroy(&id).await.expect("destroy");

    // New boxes: create and destroy one at a time, against a bare spawn of
    // /bin/true as the unit of "one process start".
    let mut create_samples = Vec::new();
    for _ in 0..args.iterations.min(100) {
        let start = Instant::now();
        let id = backend.create(BoxSpec::default()).await.expect("create");
        create_samples.push(start.elapsed());
        backend.destroy(&id).await.expect("destroy");
    }
    let create = median(&mut create_samples);

    // Many idle boxes alive at once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = mem_available_kib();
    let parts_before = meminfo();
    let mut ids = Vec::new();
    let start = Instant::now();
    for _ in 0..args.boxes {
        ids.push(backend.create(BoxSpec::default()).await.expect("create many"));
    }
    let create_many = start.elapsed();
    let hot = meminfo();
    // Past the launcher release time (1 s here, 10 s by default).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after = mem_available_kib();
    let parts_after = meminfo();
    let per_box_kib = before.saturating_sub(after) as f64 / args.boxes as f64;
    let part = |key: &str| {
        (parts_after.get(key).copied().unwrap_or(0) as f64 - parts_before.get(key).copied().unwrap_or(0) as f64)
            / args.boxes as f64
    };
    let accounted: f64 = MEMINFO_PARTS.iter().map(|k| part(k)).sum();
    let accounted_hot: f64 = MEMINFO_PARTS
        .iter()
        .map(|k| hot.get(*k).copied().unwrap_or(0) as f64 - parts_before.get(*k).copied().unwrap_or(0) as f64)
        .sum::<f64>()
        / args.boxes as f64;
    let breakdown: Vec<String> = MEMINFO_PARTS.iter().map(|k| format!("{k} {:.0}", part(k))).collect();
    let check = boxed(&backend, &ids[ids.len() / 2], &["/bin/true"]).await;
    for id in &ids {
        backend.destroy(id).await.expect("destroy many");
    }
    backend.shutdown().await;

    let overhead_true = ms(true_box) - ms(true_bare);
    let overhead_py = ms(py_box) - ms(py_bare);
    println!("| measurement | bare | bytesbox native | overhead | ratio | target |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| warm run `/bin/true` (median of {}) | {:.2} ms | {:.2} ms | {:+.2} ms | {:.2}x | ≤ +1 ms |",
        args.iterations,
        ms(true_bare),
        ms(true_box),
        overhead_true,
        ms(true_box) / ms(true_bare)
    );
    println!(
        "| warm run `python3 -c pass` (median of {}) | {:.2} ms | {:.2} ms | {:+.2} ms | {:.3}x | ≤ 1.15x |",
        args.iterations / 2,
        ms(py_bare),
        ms(py_box),
        overhead_py,
        ms(py_box) / ms(py_bare)
    );
    println!("| new box (median of {}) | | {:.2} ms | | | ≤ 5 ms |", create_samples.len(), ms(create));
    println!(
        "| {} boxes alive at once: creation | | {:.2} ms per box | | | |",
        args.boxes,
        ms(create_many) / args.boxes as f64
    );
    println!(
        "| host memory per idle box: kernel + process memory (/proc/meminfo deltas / {}) | | {:.0} KiB | | | ≤ 1024 KiB |",
        args.boxes, accounted
    );
    println!("| … of which, KiB: {} | | | | | |", breakdown.join(", "));
    println!("| host memory per box with its launcher ready (just used) | | {accounted_hot:.0} KiB | | | |");
    println!(
        "| host memory per idle box: MemAvailable delta / {} (noisier) | | {:.0} KiB | | | |",
        args.boxes, per_box_kib
    );
    println!("| a run in box #{} while {} are alive | | {:.2} ms | | | |", args.boxes / 2, args.boxes, ms(check));
}
