//! Generic tests of box lifecycle and isolation between boxes.

use std::time::Duration;

use bytesbox_sandbox::{Backend, BoxId, BoxLimits, FileEntry, PutMode, RunLimits, RunSpec, RunStatus};

use super::util::{command, ensure, expect_stdout, TestBox, TestResult, WAIT};

/// Counts processes whose command line contains a marker, from inside a box.
const FIND_MARKER_PY: &str = "import os, sys
marker = sys.argv[1].encode()
hits = []
for p in os.listdir('/proc'):
    if p.isdigit() and int(p) != os.getpid():
        try:
            with open('/proc/%s/cmdline' % p, 'rb') as f:
                if marker in f.read():
                    hits.append(p)
        except OSError:
            pass
print('matches=%d' % len(hits))
";

/// Files and processes of one box are invisible in another.
pub async fn boxes_isolated(backend: &dyn Backend) -> TestResult {
    let a = TestBox::create(backend, "boxes_isolated_a").await?;
    let b = match TestBox::create(backend, "boxes_isolated_b").await {
        Ok(b) => b,
        Err(e) => return a.finish(Err(e)).await,
    };
    let result = async {
        a.backend
            .put_files(&a.id, vec![FileEntry::new("only-in-a.txt", "a")], PutMode::Merge)
            .await
            .map_err(|e| format!("put_files into box A failed: {e}"))?;
        a.sh_ok("echo a > /tmp/only-in-a-tmp && echo a > in-a-workspace.txt").await?;
        let mut sleeper = a
            .start(command(&["/bin/sh", "-c", "echo up; exec sleep 61.4142"]))
            .await?;
        sleeper.wait_for("up").await?;

        // The sleeper is visible in A (the check works) …
        let seen = a.run(command(&["python3", "-c", FIND_MARKER_PY, "61.4142"])).await?;
        expect_stdout("box A sees its own process", &seen, "matches=1")?;
        // … and not in B.
        let seen = b.run(command(&["python3", "-c", FIND_MARKER_PY, "61.4142"])).await?;
        expect_stdout("box B must not see box A's process", &seen, "matches=0")?;

        let run = b
            .sh_ok("for p in only-in-a.txt in-a-workspace.txt /tmp/only-in-a-tmp; do if [ -e \"$p\" ]; then echo \"VISIBLE $p\"; fi; done; echo checked")
            .await?;
        ensure(!run.stdout_text().contains("VISIBLE"), || {
            format!("box B sees box A's files: {:?}", run.stdout_text())
        })?;
        let snapshot = b
            .backend
            .get_files(&b.id, Vec::new(), 1 << 20)
            .await
            .map_err(|e| format!("get_files on box B failed: {e}"))?;
        ensure(snapshot.files.is_empty(), || {
            format!(
                "box B's workspace should be empty, got {:?}",
                snapshot.files.iter().map(|f| &f.path).collect::<Vec<_>>()
            )
        })?;
        sleeper
            .control()
            .kill()
            .await
            .map_err(|e| format!("kill failed: {e}"))?;
        sleeper.expect_exit(RunStatus::Killed).await?;
        Ok(())
    }
    .await;
    let result_b = b.finish(Ok(())).await;
    a.finish(result.and(result_b)).await
}

/// Destroying a box ends its active runs with status `killed`, and their
/// handles still get their exit report.
pub async fn destroy_while_running(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "destroy_while_running").await?;
    let mut live = match bx.start(command(&["/bin/sh", "-c", "echo up; exec sleep 60"])).await {
        Ok(live) => live,
        Err(e) => return bx.finish(Err(e)).await,
    };
    if let Err(e) = live.wait_for("up").await {
        return bx.finish(Err(e)).await;
    }
    tokio::time::timeout(WAIT, backend.destroy(&bx.id))
        .await
        .map_err(|_| "destroy of a box with an active run did not return within 20 s".to_string())?
        .map_err(|e| format!("destroy of a box with an active run failed: {e}"))?;
    let report = live.expect_exit(RunStatus::Killed).await?;
    ensure(report.wall_ms < 30_000, || format!("the run should end right after destroy, wall_ms={}", report.wall_ms))
}

/// A destroyed box refuses every operation; destroying twice is harmless;
/// destroying an unknown box is an error.
pub async fn destroyed_box_rejects_use(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "destroyed_box_rejects_use").await?;
    let id = bx.id.clone();
    backend.destroy(&id).await.map_err(|e| format!("destroy failed: {e}"))?;
    let run = backend.run(&id, command(&["echo", "ghost"])).await;
    ensure(run.is_err(), || "run on a destroyed box must be an error, got a handle".into())?;
    let put = backend.put_files(&id, vec![FileEntry::new("x", "x")], PutMode::Merge).await;
    ensure(put.is_err(), || "put_files on a destroyed box must be an error".into())?;
    let get = backend.get_files(&id, Vec::new(), 1024).await;
    ensure(get.is_err(), || format!("get_files on a destroyed box must be an error, got {get:?}"))?;
    backend.destroy(&id).await.map_err(|e| format!("destroying twice must be harmless, got {e}"))?;
    let unknown = backend.destroy(&BoxId("bytesbox-conformance-no-such-box".into())).await;
    ensure(unknown.is_err(), || "destroying an unknown box must be an error".into())?;
    let listed = backend.list().await;
    ensure(!listed.iter().any(|info| info.id == id), || format!("a destroyed box is still listed: {id}"))
}

/// `list` shows a live box with its labels and active runs.
pub async fn box_listing(backend: &dyn Backend) -> TestResult {
    let bx = TestBox::create(backend, "box_listing").await?;
    let result = async {
        let mut live = bx.start(command(&["/bin/sh", "-c", "echo up; exec sleep 60"])).await?;
        live.wait_for("up").await?;
        let listed = backend.list().await;
        ensure(backend.live_boxes() == listed.len(), || {
            format!("live_boxes() says {} but list() has {} boxes", backend.live_boxes(), listed.len())
        })?;
        let info = listed
            .iter()
            .find(|info| info.id == bx.id)
            .ok_or_else(|| format!("box {} is not listed; list: {listed:?}", bx.id))?;
        ensure(info.labels.contains(&("conformance_test".to_string(), "box_listing".to_string())), || {
            format!("the box's labels are not listed: {:?}", info.labels)
        })?;
        ensure(info.active_runs >= 1 && info.total_runs >= 1, || {
            format!("a box with a running program should list active_runs >= 1 and total_runs >= 1, got {info:?}")
        })?;
        live.control().kill().await.map_err(|e| format!("kill failed: {e}"))?;
        live.expect_exit(RunStatus::Killed).await?;
        // The count drops once the run is over (allow the backend a moment).
        for _ in 0..50 {
            let idle = backend.list().await.iter().any(|info| info.id == bx.id && info.active_runs == 0);
            if idle {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("active_runs stayed above 0 after the only run ended".into())
    }
    .await;
    bx.finish(result).await
}

/// Forks sleepers until fork fails, then says how many it holds and waits.
const FILL_PROCESSES_PY: &str = "import os, time
held = 0
while held < 100000:
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(300)
        os._exit(0)
    held += 1
print('full %d' % held, flush=True)
time.sleep(300)
";

/// Opens inotify instances until the kernel refuses one while file
/// descriptors are still free, which is the per-user count
/// (`fs.inotify.max_user_instances`) running out: each child holds as many
/// as its own descriptor limit allows.
const FILL_INOTIFY_PY: &str = "import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
held = 0
for child in range(64):
    r, w = os.pipe()
    if os.fork() == 0:
        os.close(r)
        mine, exhausted = 0, False
        while True:
            if libc.inotify_init1(0) < 0:
                try:
                    os.close(os.open('/dev/null', os.O_RDONLY))
                    exhausted = True
                except OSError:
                    pass
                break
            mine += 1
        os.write(w, b'%d %d' % (mine, exhausted))
        os.close(w)
        time.sleep(300)
        os._exit(0)
    os.close(w)
    mine, exhausted = os.read(r, 64).split()
    os.close(r)
    held += int(mine)
    if exhausted == b'1':
        print('full %d' % held, flush=True)
        break
else:
    print('never refused %d' % held, flush=True)
time.sleep(300)
";

/// Box B's check that it can still start processes and use inotify.
const OTHER_BOX_PY: &str = "import ctypes, subprocess
libc = ctypes.CDLL(None, use_errno=True)
print('forked' if subprocess.run(['true']).returncode == 0 else 'no fork')
print('inotify' if libc.inotify_init1(0) >= 0 else 'no inotify %d' % ctypes.get_errno())
";

/// A box that holds everything the kernel counts per user (processes up
/// to the box's whole limit, inotify instances) does not stop another box
/// from using them: boxes never share a uid. (Docker boxes that shared one
/// uid let one box's processes fill every box's `RLIMIT_NPROC`.)
pub async fn process_limit_is_per_box(backend: &dyn Backend) -> TestResult {
    let a = TestBox::create(backend, "process_limit_is_per_box_a").await?;
    let b = match TestBox::create(backend, "process_limit_is_per_box_b").await {
        Ok(b) => b,
        Err(e) => return a.finish(Err(e)).await,
    };
    let result = async {
        // The run may use the box's whole process limit (a run's limits
        // are capped by its box's).
        let whole_box = RunLimits { pids: BoxLimits::default().pids, ..RunLimits::default() };
        let held = [("processes", FILL_PROCESSES_PY), ("inotify instances", FILL_INOTIFY_PY)];
        for (what, script) in held {
            let mut filler = a.start(RunSpec { limits: whole_box.clone(), ..command(&["python3", "-c", script]) }).await?;
            filler.wait_for("\n").await?;
            let run = b.run(command(&["python3", "-c", OTHER_BOX_PY])).await?;
            filler.control().kill().await.map_err(|e| format!("kill failed: {e}"))?;
            filler.expect_exit(RunStatus::Killed).await?;
            ensure(filler.stdout_text().starts_with("full "), || {
                format!("box A never ran out of {what}: {:?}", filler.stdout_text())
            })?;
            ensure(run.report.status == RunStatus::Ok && run.stdout_text() == "forked\ninotify\n", || {
                format!(
                    "box B could not fork or use inotify while box A held its {what} ({}): {:?} stdout {:?} stderr {:?}",
                    filler.stdout_text().trim(),
                    run.report.status,
                    run.stdout_text(),
                    String::from_utf8_lossy(&run.stderr),
                )
            })?;
        }
        Ok(())
    }
    .await;
    let result_b = b.finish(Ok(())).await;
    a.finish(result.and(result_b)).await
}
