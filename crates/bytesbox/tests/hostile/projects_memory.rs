//! Decompression and whole-project reads (issue 10, item 2): a user who
//! signed up imports zip bombs, exports and duplicates a large project, in
//! parallel, while a victim checks `/healthz`. The server's memory must
//! stay under its idle figure + 256 MiB: imports stream entry by entry,
//! exports stream as they are made, duplicates copy objects.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytesbox_testkit::zip_bomb::{zip_bomb, BombEntry};
use serde_json::json;

use crate::report;
use crate::served::{get_status, post_json, sign_up_with_token, token_client, Served};

const MIB: u64 = 1024 * 1024;
/// The bound the issue sets on memory over idle during an attack.
const BOUND_MIB: u64 = 256;
/// The large project: files of 12 MiB (under the body limit of a `PUT`).
const FILE_MIB: usize = 12;
const FILES: usize = 16;
const PARALLEL_IMPORTS: usize = 12;
const PARALLEL_EXPORTS: usize = 8;
const PARALLEL_DUPLICATES: usize = 8;

/// The default plan (what sign-up gives) with room for the project and
/// its duplicates.
fn config() -> String {
    let bytes = (FILE_MIB * FILES) as u64 * MIB * (PARALLEL_DUPLICATES as u64 + 2);
    format!("[plans.default]\nmax_bytes = {bytes}\nmax_projects = 100\n")
}

/// The server's peak resident memory and the victim's slowest `/healthz`
/// while `attack` runs.
async fn during<T>(served: &Served, attack: impl std::future::Future<Output = T>) -> (T, u64, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (stop, pid) = (stop.clone(), served.pid());
        std::thread::spawn(move || {
            let rss = || -> u64 {
                std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .ok()
                    .and_then(|status| {
                        status
                            .lines()
                            .find_map(|l| l.strip_prefix("VmRSS:"))
                            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                    })
                    .unwrap_or(0)
            };
            let mut peak = rss();
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(rss());
                std::thread::sleep(Duration::from_millis(5));
            }
            peak.max(rss())
        })
    };
    let victim = {
        let (stop, address) = (stop.clone(), served.address.clone());
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            for _ in 0..10_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let started = Instant::now();
                assert_eq!(get_status(&address, "/healthz").await, Some(200), "the victim's /healthz");
                slowest = slowest.max(started.elapsed());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            slowest
        })
    };
    let result = attack.await;
    stop.store(true, Ordering::Relaxed);
    let slowest = victim.await.unwrap();
    (result, sampler.join().unwrap(), slowest)
}

fn check_and_record(attack: &str, idle_kib: u64, peak_kib: u64, slowest: Duration) {
    let over_mib = peak_kib.saturating_sub(idle_kib) / 1024;
    report::record(attack, "server memory over idle, peak (MiB)", over_mib);
    report::record(attack, "victim /healthz, slowest (ms)", slowest.as_millis());
    assert!(over_mib < BOUND_MIB, "{attack}: the server grew by {over_mib} MiB over idle (bound {BOUND_MIB})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zip_bombs_exports_and_duplicates_stay_in_bounded_memory() {
    if !bytesbox_testkit::require_root("zip_bombs_exports_and_duplicates_stay_in_bounded_memory") {
        return;
    }
    let served = Served::start(&config());
    let base = format!("http://{}", served.address);
    let http = token_client(&sign_up_with_token(&base, "bomber").await);
    let idle = served.rss_kib();
    report::record("projects_memory", "server memory at idle (MiB)", idle / 1024);

    // 12 parallel imports of a ~200 KiB zip holding 200 MiB in one entry
    // that claims 100 bytes.
    let bomb = bytes::Bytes::from(zip_bomb(&[BombEntry::lying("zeros.bin", 200, 100)]));
    report::record("projects_memory", "zip bomb: archive size (KiB)", bomb.len() / 1024);
    let imports = (0..PARALLEL_IMPORTS).map(|n| {
        let (http, base, bomb) = (http.clone(), base.clone(), bomb.clone());
        async move {
            let answer =
                http.post(format!("{base}/api/v1/projects/import?name=bomb{n}")).body(bomb).send().await.unwrap();
            answer.status().as_u16()
        }
    });
    let (statuses, peak, slowest) = during(&served, futures_util::future::join_all(imports)).await;
    assert!(statuses.iter().all(|&status| status == 413), "{statuses:?}");
    check_and_record("import zip bombs x12", idle, peak, slowest);

    // The large project, a file at a time.
    let created = post_json(&http, format!("{base}/api/v1/projects"), &json!({"name": "large"})).await;
    let id = created["project"]["id"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
    for index in 0..FILES {
        let line = format!("file {index}: the quick brown fox jumps over the lazy dog\n");
        let content = line.repeat(FILE_MIB * MIB as usize / line.len());
        let put = http
            .put(format!("{base}/api/v1/projects/{id}/files/data/{index}.txt?version=0"))
            .body(content)
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 200);
    }
    report::record("projects_memory", "large project (MiB)", FILE_MIB * FILES);
    // Uploading it may leave memory with the allocator: the bound stays
    // over the idle figure from before.
    report::record("projects_memory", "server memory after uploading it (MiB)", served.rss_kib() / 1024);

    let exports = (0..PARALLEL_EXPORTS).map(|_| {
        let (http, base, id) = (http.clone(), base.clone(), id.clone());
        async move {
            let mut answer = http.get(format!("{base}/api/v1/projects/{id}/export")).send().await.unwrap();
            assert_eq!(answer.status(), 200);
            let (mut length, mut tail) = (0usize, Vec::new());
            while let Some(chunk) = answer.chunk().await.unwrap() {
                length += chunk.len();
                tail.extend_from_slice(&chunk);
                tail.drain(..tail.len().saturating_sub(22));
            }
            assert!(tail.starts_with(b"PK\x05\x06"), "the archive ends with its end record");
            length
        }
    });
    let (lengths, peak, slowest) = during(&served, futures_util::future::join_all(exports)).await;
    report::record("projects_memory", "export: archive size (KiB)", lengths[0] / 1024);
    check_and_record("export large project x8", idle, peak, slowest);

    let duplicates = (0..PARALLEL_DUPLICATES).map(|n| {
        let (http, base, id) = (http.clone(), base.clone(), id.clone());
        async move {
            let answer = http
                .post(format!("{base}/api/v1/projects/{id}/duplicate"))
                .json(&json!({"name": format!("copy {n}")}))
                .send()
                .await
                .unwrap();
            answer.status().as_u16()
        }
    });
    let (statuses, peak, slowest) = during(&served, futures_util::future::join_all(duplicates)).await;
    assert!(statuses.iter().all(|&status| status == 201), "{statuses:?}");
    check_and_record("duplicate large project x8", idle, peak, slowest);
}
