//! Measures what one run costs in cgroup operations on this host:
//! create (child of an existing box), apply, kill_all of an empty cgroup,
//! stats, remove. Needs root.
//!
//! `cargo run --release -p bytesbox-cgroups --example lifecycle_timing [N]`

use std::time::{Duration, Instant};

use bytesbox_cgroups::{Cgroup, CgroupError, CgroupLayout, CgroupLimits};

fn main() -> Result<(), CgroupError> {
    let rounds: u32 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(200);
    let layout = CgroupLayout::detect()?;
    let instance = format!("timing{}", std::process::id());
    let sandbox = Cgroup::create(&layout, &bytesbox_cgroups::instance_path(&instance).join("box"))?;
    let limits = CgroupLimits { memory_bytes: Some(128 << 20), pids: Some(64), cpu_millicores: Some(500) };
    let mut total = [Duration::ZERO; 5];
    for i in 0..rounds {
        let t0 = Instant::now();
        let run = sandbox.child(&format!("run{i}"))?;
        let t1 = Instant::now();
        run.apply(&limits)?;
        let t2 = Instant::now();
        run.kill_all(Duration::from_secs(1))?;
        let t3 = Instant::now();
        run.stats()?;
        let t4 = Instant::now();
        run.remove()?;
        let t5 = Instant::now();
        for (slot, d) in total.iter_mut().zip([t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4]) {
            *slot += d;
        }
    }
    let instance_cgroup = Cgroup::open_existing(&layout, &bytesbox_cgroups::instance_path(&instance))?;
    instance_cgroup.remove()?;
    println!(
        "{:?} layout, {} hierarchies, {rounds} rounds, mean per run:",
        layout.version(),
        layout.hierarchies().len()
    );
    let names = ["create", "apply", "kill_all(empty)", "stats", "remove"];
    for (name, d) in names.iter().zip(total) {
        println!("  {name:<16} {:>8.1} µs", d.as_secs_f64() * 1e6 / f64::from(rounds));
    }
    let sum: Duration = total.iter().sum();
    println!("  {:<16} {:>8.1} µs", "total", sum.as_secs_f64() * 1e6 / f64::from(rounds));
    Ok(())
}
