//! Root tests against the real cgroup hierarchies of this host (whichever
//! version `CgroupLayout::detect` picks), plus the controller-less cgroup2
//! mount of hybrid hosts. Each test works in its own instance
//! `bytesbox/t<pid>-<test>`, cleans it up even when an assertion fails, and
//! checks that nothing of it is left.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use bytesbox_cgroups::{
    current_instance_name, instance_is_alive, instance_path, Cgroup, CgroupLayout, CgroupLimits, CgroupVersion,
    INIT_LEAF, ROOT_NAME,
};

const MIB: u64 = 1 << 20;
const PYTHON: &str = "/usr/bin/python3";

/// One test's instance cgroup. Dropping it kills and removes everything
/// inside, so a failed assertion leaves no cgroups (or processes) behind.
struct Instance {
    layout: CgroupLayout,
    cgroup: Cgroup,
}

impl Instance {
    fn new(layout: CgroupLayout, test: &str) -> Instance {
        // A live instance's name, so that a server or backend starting
        // meanwhile (which reaps dead instances) leaves this test's alone.
        let name = current_instance_name().unwrap_or_else(|e| panic!("{test}: instance name: {e}"));
        let cgroup = Cgroup::create(&layout, &instance_path(&name)).expect("create instance");
        Instance { layout, cgroup }
    }

    fn detected(test: &str) -> Instance {
        Instance::new(CgroupLayout::detect().expect("detect cgroup layout"), test)
    }

    /// Removes the instance and asserts it is gone from every hierarchy.
    fn finish(self) {
        self.cgroup.remove().expect("remove instance");
        for hierarchy in self.layout.hierarchies() {
            let dir = hierarchy.join(self.cgroup.relative());
            assert!(!dir.exists(), "{} was left behind", dir.display());
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Err(e) = self.cgroup.remove() {
            eprintln!("cleanup of {:?} failed: {e}", self.cgroup.relative());
        }
    }
}

fn sleeper() -> Child {
    Command::new("sleep").arg("60").spawn().expect("spawn sleep")
}

/// Starts `program args...` with a piped stdin and stdout; the program is
/// expected to read one line before doing anything, so it can be moved into
/// a cgroup first and everything it does is accounted there.
fn gated(program: &str, args: &[&str]) -> (Child, ChildStdin) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn gated program");
    let stdin = child.stdin.take().expect("piped stdin");
    (child, stdin)
}

/// The first line a child prints on `output`, waiting at most `limit`, so
/// a child that never gets there fails the test instead of hanging it.
fn first_line_within(output: ChildStdout, limit: Duration) -> String {
    let (send, receive) = mpsc::channel();
    thread::spawn(move || {
        let mut line = String::new();
        let read = BufReader::new(output).read_line(&mut line);
        let _ = send.send(read.map(|_| line));
    });
    let line = receive.recv_timeout(limit).unwrap_or_else(|_| panic!("no line within {limit:?}"));
    line.expect("read the child's output").trim_end().to_owned()
}

fn release(stdin: &mut ChildStdin) {
    stdin.write_all(b"go\n").expect("release gated program");
    stdin.flush().expect("flush");
}

fn pid_of(child: &Child) -> i32 {
    i32::try_from(child.id()).expect("pid fits i32")
}

/// Waits for a child with a bound, so a kill that did not work fails the
/// test instead of hanging it.
fn wait_bounded(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process {} still running after {limit:?}", child.id());
        }
        thread::sleep(Duration::from_millis(5));
    }
}

fn assert_sigkilled(status: ExitStatus) {
    assert_eq!(status.signal(), Some(9), "expected SIGKILL, got {status:?}");
}

/// The cgroup paths of a process, one line per hierarchy.
fn proc_cgroups(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read /proc/pid/cgroup")
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())).trim().to_owned()
}

fn limits(memory: u64, pids: u32, millicores: u32) -> CgroupLimits {
    CgroupLimits { memory_bytes: Some(memory), pids: Some(pids), cpu_millicores: Some(millicores) }
}

#[test]
fn box_and_run_lifecycle() {
    if !bytesbox_testkit::require_root("box_and_run_lifecycle") {
        return;
    }
    let instance = Instance::detected("lifecycle");
    let sandbox = instance.cgroup.child("box").unwrap();
    sandbox.apply(&limits(512 * MIB, 256, 2000)).unwrap();
    let init = sandbox.child(INIT_LEAF).unwrap();
    let run = sandbox.child("run1").unwrap();
    run.apply(&limits(128 * MIB, 64, 500)).unwrap();

    // The limits as the kernel shows them.
    let dir_of = |suffix: &str| -> PathBuf {
        run.dirs()
            .iter()
            .find(|d| d.join(suffix).exists())
            .unwrap_or_else(|| panic!("no hierarchy has {suffix}"))
            .join(suffix)
    };
    match instance.layout.version() {
        CgroupVersion::V1 => {
            assert_eq!(read(dir_of("memory.limit_in_bytes")), "134217728");
            if dir_of("memory.limit_in_bytes").with_file_name("memory.memsw.limit_in_bytes").exists() {
                assert_eq!(read(dir_of("memory.memsw.limit_in_bytes")), "134217728");
            }
            assert_eq!(read(dir_of("cpu.cfs_quota_us")), "50000");
            assert_eq!(read(dir_of("cpu.cfs_period_us")), "100000");
        }
        CgroupVersion::V2 => {
            assert_eq!(read(dir_of("memory.max")), "134217728");
            assert_eq!(read(dir_of("cpu.max")), "50000 100000");
        }
    }
    assert_eq!(read(dir_of("pids.max")), "64");

    // One box process in init, two sleepers and a worker in the run.
    let mut box_init = sleeper();
    init.add_pid(pid_of(&box_init)).unwrap();
    let mut sleepers = [sleeper(), sleeper()];
    for child in &sleepers {
        run.add_pid(pid_of(child)).unwrap();
    }
    let (mut worker, mut gate) = gated(
        PYTHON,
        &[
            "-c",
            "import sys\n\
             sys.stdin.readline()\n\
             data = b'x' * (24 << 20)\n\
             import time\n\
             while time.process_time() < 0.15: pass\n\
             print('done', flush=True)\n\
             sys.stdin.readline()\n",
        ],
    );
    let worker_output = worker.stdout.take().expect("piped stdout");
    run.add_pid(pid_of(&worker)).unwrap();
    let mut expected: Vec<i32> = sleepers.iter().chain([&worker]).map(pid_of).collect();
    expected.sort_unstable();
    let mut seen = run.pids().unwrap();
    seen.sort_unstable();
    assert_eq!(seen, expected);
    assert_eq!(init.pids().unwrap(), vec![pid_of(&box_init)]);
    // Joined in every hierarchy, not just the one pids() reads.
    let membership = proc_cgroups(pid_of(&worker));
    let relative = run.relative().to_str().unwrap();
    let joined = membership.lines().filter(|l| l.ends_with(relative)).count();
    assert_eq!(joined, instance.layout.hierarchies().len(), "{membership}");

    release(&mut gate);
    // The worker says when it has allocated and spun past 150 ms of its own
    // CPU time (whatever the CPU's speed); then it blocks, so the counters
    // stop moving. Watching the counters instead misreads a worker that the
    // host did not schedule for a while (as under emulation).
    assert_eq!(first_line_within(worker_output, Duration::from_secs(60)), "done");
    let stats = run.stats().unwrap();
    assert!(stats.cpu_usage_ns >= 100_000_000, "{stats:?}");
    assert!(stats.memory_peak_bytes >= 24 * MIB, "{stats:?}");
    assert!(stats.memory_peak_bytes <= 128 * MIB, "{stats:?}");
    assert!(stats.memory_current_bytes > 0, "{stats:?}");
    assert_eq!(stats.oom_kills, 0, "{stats:?}");
    // The box sees its children's usage.
    assert!(sandbox.stats().unwrap().cpu_usage_ns >= stats.cpu_usage_ns);
    // The single-read CPU counter agrees (the worker is blocked, so the
    // counter no longer moves).
    assert_eq!(run.cpu_usage_ns().unwrap(), run.stats().unwrap().cpu_usage_ns);

    // The reaper's view.
    let root = Cgroup::open_existing(&instance.layout, Path::new(ROOT_NAME)).unwrap();
    let name = instance.cgroup.relative().file_name().unwrap().to_str().unwrap();
    assert!(root.list_children().unwrap().iter().any(|n| n == name));
    assert_eq!(sandbox.list_children().unwrap(), ["init", "run1"]);
    assert!(instance_is_alive(&current_instance_name().unwrap()));

    let start = Instant::now();
    run.kill_all(Duration::from_secs(5)).unwrap();
    let kill_time = start.elapsed();
    for child in sleepers.iter_mut().chain([&mut worker]) {
        assert_sigkilled(wait_bounded(child, Duration::from_secs(5)));
    }
    for file in run.procs_files() {
        assert_eq!(read(file), "", "processes left after kill_all");
    }
    // The run's kill spared the box's init.
    assert_eq!(init.pids().unwrap(), vec![pid_of(&box_init)]);
    assert!(box_init.try_wait().unwrap().is_none());
    eprintln!("kill_all of 3 processes took {kill_time:?}");

    run.remove().unwrap();
    for dir in run.dirs() {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    assert_eq!(sandbox.list_children().unwrap(), ["init"]);

    // Killing the box reaches into the init leaf.
    sandbox.kill_all(Duration::from_secs(5)).unwrap();
    assert_sigkilled(wait_bounded(&mut box_init, Duration::from_secs(5)));
    drop(gate);
    instance.finish();
}

#[test]
fn fork_loop_is_killed() {
    if !bytesbox_testkit::require_root("fork_loop_is_killed") {
        return;
    }
    let instance = Instance::detected("forkloop");
    let sandbox = instance.cgroup.child("box").unwrap();
    let run = sandbox.child("run").unwrap();
    run.apply(&CgroupLimits { pids: Some(48), ..CgroupLimits::default() }).unwrap();
    let (mut shell, mut gate) = gated("sh", &["-c", "read x; while :; do sleep 10 & done"]);
    run.add_pid(pid_of(&shell)).unwrap();
    release(&mut gate);

    // Let it run into the pids limit and keep trying to fork.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut most = 0;
    while Instant::now() < deadline {
        most = most.max(run.pids().unwrap().len());
        if most >= 40 {
            break;
        }
        thread::sleep(Duration::from_millis(10));
    }
    assert!(most >= 40, "the fork loop only reached {most} processes");
    let before = run.pids().unwrap().len();
    assert!(before <= 48, "pids limit exceeded: {before}");

    run.kill_all(Duration::from_secs(10)).unwrap();
    for file in run.procs_files() {
        assert_eq!(read(file), "", "processes survived kill_all");
    }
    // Nothing forked back in afterwards.
    thread::sleep(Duration::from_millis(100));
    assert!(run.pids().unwrap().is_empty());
    // dash gives up ("Cannot fork", status 2) once the limit bites, leaving
    // its sleeps behind; if it was still looping, kill_all got it.
    let status = wait_bounded(&mut shell, Duration::from_secs(5));
    assert!(status.signal() == Some(9) || status.code() == Some(2), "{status:?}");
    let freezer_state = run.dirs().iter().map(|d| d.join("freezer.state")).find(|p| p.exists());
    if let Some(state) = freezer_state {
        assert_eq!(read(state), "THAWED", "cgroup left frozen");
    }
    run.remove().unwrap();
    instance.finish();
}

#[test]
fn fork_bomb_is_killed() {
    if !bytesbox_testkit::require_root("fork_bomb_is_killed") {
        return;
    }
    let instance = Instance::detected("forkbomb");
    let sandbox = instance.cgroup.child("box").unwrap();
    let run = sandbox.child("run").unwrap();
    run.apply(&CgroupLimits { pids: Some(40), ..CgroupLimits::default() }).unwrap();
    // Every process forks as fast as it can and shrugs off EAGAIN, so at
    // any moment some of them are in the middle of a fork.
    let (mut bomb, mut gate) = gated(
        PYTHON,
        &[
            "-c",
            "import os, sys\n\
             sys.stdin.readline()\n\
             while True:\n\
             \x20   try:\n\
             \x20       os.fork()\n\
             \x20   except OSError:\n\
             \x20       pass\n",
        ],
    );
    run.add_pid(pid_of(&bomb)).unwrap();
    release(&mut gate);
    let deadline = Instant::now() + Duration::from_secs(10);
    while run.pids().unwrap().len() < 30 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert!(run.pids().unwrap().len() >= 30, "the bomb did not go off");

    let start = Instant::now();
    run.kill_all(Duration::from_secs(10)).unwrap();
    eprintln!("kill_all of a fork bomb took {:?}", start.elapsed());
    for file in run.procs_files() {
        assert_eq!(read(file), "", "bomb processes survived kill_all");
    }
    thread::sleep(Duration::from_millis(100));
    assert!(run.pids().unwrap().is_empty());
    assert_sigkilled(wait_bounded(&mut bomb, Duration::from_secs(5)));
    run.remove().unwrap();
    instance.finish();
}

#[test]
fn memory_limit_triggers_oom_kill() {
    if !bytesbox_testkit::require_root("memory_limit_triggers_oom_kill") {
        return;
    }
    let instance = Instance::detected("oom");
    let sandbox = instance.cgroup.child("box").unwrap();
    let run = sandbox.child("run").unwrap();
    run.apply(&CgroupLimits { memory_bytes: Some(64 * MIB), ..CgroupLimits::default() }).unwrap();
    let (mut hog, mut gate) =
        gated(PYTHON, &["-c", "import sys\nsys.stdin.readline()\ndata = b'x' * (200 << 20)\nprint(len(data))\n"]);
    run.add_pid(pid_of(&hog)).unwrap();
    release(&mut gate);
    assert_sigkilled(wait_bounded(&mut hog, Duration::from_secs(30)));
    let stats = run.stats().unwrap();
    assert!(stats.oom_kills >= 1, "{stats:?}");
    // Swap is off: the peak stays at the limit instead of spilling to swap.
    assert!(stats.memory_peak_bytes <= 64 * MIB, "{stats:?}");
    assert!(stats.memory_peak_bytes >= 32 * MIB, "{stats:?}");
    run.remove().unwrap();
    instance.finish();
}

#[test]
fn restarted_counters_count_only_the_next_tenant() {
    if !bytesbox_testkit::require_root("restarted_counters_count_only_the_next_tenant") {
        return;
    }
    let instance = Instance::detected("restart");
    let sandbox = instance.cgroup.child("box").unwrap();
    let mut run = sandbox.child("run").unwrap();
    run.apply(&CgroupLimits { memory_bytes: Some(256 * MIB), ..CgroupLimits::default() }).unwrap();
    // A first tenant that allocates and burns CPU, then OOMs.
    let (mut hog, mut gate) = gated(
        PYTHON,
        &["-c", "import sys\nsys.stdin.readline()\nsum(range(3000000))\ndata = b'x' * (96 << 20)\nprint(len(data))\n"],
    );
    run.add_pid(pid_of(&hog)).unwrap();
    release(&mut gate);
    assert!(wait_bounded(&mut hog, Duration::from_secs(30)).success());
    let first = run.stats().unwrap();
    assert!(first.memory_peak_bytes >= 96 * MIB && first.cpu_usage_ns > 0, "{first:?}");

    let restartable = instance.layout.version() == CgroupVersion::V1 || kernel_at_least(6, 12);
    match run.restart_counters() {
        Ok(()) => assert!(restartable, "restarted counters on a kernel that cannot reset memory.peak"),
        Err(e) => {
            assert!(!restartable, "could not restart the counters: {e}");
            run.remove().unwrap();
            instance.finish();
            return;
        }
    }
    let fresh = run.stats().unwrap();
    assert!(fresh.memory_peak_bytes < 16 * MIB, "the peak was not restarted: {fresh:?}");
    assert!(fresh.cpu_usage_ns < first.cpu_usage_ns, "CPU was not restarted: {fresh:?} after {first:?}");
    // The next tenant's own numbers, through the handle and its clones.
    let (mut small, mut gate) = gated(PYTHON, &["-c", "import sys\nsys.stdin.readline()\ndata = b'x' * (24 << 20)\n"]);
    run.add_pid(pid_of(&small)).unwrap();
    release(&mut gate);
    let status = wait_bounded(&mut small, Duration::from_secs(30));
    assert!(status.success(), "the second tenant: {status:?}");
    let second = run.clone().stats().unwrap();
    assert!(
        second.memory_peak_bytes >= 24 * MIB && second.memory_peak_bytes < 64 * MIB,
        "the second tenant's peak: {second:?}"
    );
    assert!(second.cpu_usage_ns > 0 && second.cpu_usage_ns < first.cpu_usage_ns + second.cpu_usage_ns);
    assert_eq!(second.oom_kills, 0);
    run.remove().unwrap();
    instance.finish();
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut numbers = release.trim().split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse::<u32>().ok());
    (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0)) >= (major, minor)
}

#[test]
fn memory_limit_can_be_raised_and_lowered() {
    if !bytesbox_testkit::require_root("memory_limit_can_be_raised_and_lowered") {
        return;
    }
    let instance = Instance::detected("memraise");
    let cg = instance.cgroup.child("box").unwrap();
    for mib in [64, 256, 32, 128] {
        cg.apply(&CgroupLimits { memory_bytes: Some(mib * MIB), ..CgroupLimits::default() })
            .unwrap_or_else(|e| panic!("setting {mib} MiB: {e}"));
        let file = match instance.layout.version() {
            CgroupVersion::V1 => "memory.limit_in_bytes",
            CgroupVersion::V2 => "memory.max",
        };
        let dir = cg.dirs().iter().find(|d| d.join(file).exists()).unwrap();
        assert_eq!(read(dir.join(file)), (mib * MIB).to_string());
    }
    instance.finish();
}

#[test]
fn remove_kills_what_is_left() {
    if !bytesbox_testkit::require_root("remove_kills_what_is_left") {
        return;
    }
    let instance = Instance::detected("removebusy");
    let sandbox = instance.cgroup.child("box").unwrap();
    let init = sandbox.child(INIT_LEAF).unwrap();
    let run = sandbox.child("run").unwrap();
    let mut a = sleeper();
    let mut b = sleeper();
    init.add_pid(pid_of(&a)).unwrap();
    run.add_pid(pid_of(&b)).unwrap();
    // The whole box at once: EBUSY, kill, retry.
    sandbox.remove().unwrap();
    assert_sigkilled(wait_bounded(&mut a, Duration::from_secs(5)));
    assert_sigkilled(wait_bounded(&mut b, Duration::from_secs(5)));
    for dir in sandbox.dirs() {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    instance.finish();
}

#[test]
fn remove_finds_a_half_joined_process() {
    if !bytesbox_testkit::require_root("remove_finds_a_half_joined_process") {
        return;
    }
    let instance = Instance::detected("halfjoined");
    let run = instance.cgroup.child("box").unwrap().child("run").unwrap();
    let files = run.procs_files();
    let mut child = sleeper();
    // Joined only the last hierarchy (a join interrupted half-way on v1;
    // on v2 there is only one file, so this is a full join).
    let last = files.last().unwrap();
    std::fs::write(last, pid_of(&child).to_string()).unwrap();
    run.remove().unwrap();
    assert_sigkilled(wait_bounded(&mut child, Duration::from_secs(5)));
    for dir in run.dirs() {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    instance.finish();
}

#[test]
fn instances_do_not_see_each_other() {
    if !bytesbox_testkit::require_root("instances_do_not_see_each_other") {
        return;
    }
    let one = Instance::detected("isolated1");
    let two = Instance::detected("isolated2");
    let run = one.cgroup.child("box").unwrap().child("run").unwrap();
    let mut child = sleeper();
    run.add_pid(pid_of(&child)).unwrap();
    // Killing and removing the other instance leaves this one's process.
    two.cgroup.kill_all(Duration::from_secs(2)).unwrap();
    two.finish();
    assert!(child.try_wait().unwrap().is_none());
    assert_eq!(run.pids().unwrap(), vec![pid_of(&child)]);
    one.cgroup.kill_all(Duration::from_secs(5)).unwrap();
    assert_sigkilled(wait_bounded(&mut child, Duration::from_secs(5)));
    one.finish();
}

/// The first cgroup2 mount point in mountinfo, if any.
fn cgroup2_mount() -> Option<PathBuf> {
    cgroup2_mounts().into_iter().next().map(|(point, _)| point)
}

/// Every cgroup2 line of this process's mountinfo: mount point and super
/// options.
fn cgroup2_mounts() -> Vec<(PathBuf, String)> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    mountinfo
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            (fields.get(sep + 1) == Some(&"cgroup2"))
                .then(|| (PathBuf::from(fields[4]), fields.get(sep + 3).unwrap_or(&"").to_string()))
        })
        .collect()
}

#[test]
fn v2_grouping_on_the_unified_mount() {
    if !bytesbox_testkit::require_root("v2_grouping_on_the_unified_mount") {
        return;
    }
    let Some(mount) = cgroup2_mount() else {
        bytesbox_testkit::skip_for_machine(
            "v2_grouping_on_the_unified_mount",
            "the host has no cgroup2 mount",
            "no cgroup2 line in mountinfo",
        );
        return;
    };
    // No controllers: only what needs none (create, join, list, kill, remove).
    let instance = Instance::new(CgroupLayout::v2_grouping_only(mount.clone()), "v2");
    assert_eq!(instance.layout.version(), CgroupVersion::V2);
    let sandbox = instance.cgroup.child("box").unwrap();
    let init = sandbox.child(INIT_LEAF).unwrap();
    let run = sandbox.child("run").unwrap();
    assert_eq!(run.procs_files(), [mount.join(run.relative()).join("cgroup.procs")]);
    let mut in_init = sleeper();
    init.add_pid(pid_of(&in_init)).unwrap();
    let mut in_run = [sleeper(), sleeper()];
    for child in &in_run {
        run.add_pid(pid_of(child)).unwrap();
    }
    let mut expected: Vec<i32> = in_run.iter().map(pid_of).collect();
    expected.sort_unstable();
    let mut seen = run.pids().unwrap();
    seen.sort_unstable();
    assert_eq!(seen, expected);
    let relative = run.relative().to_str().unwrap();
    assert!(proc_cgroups(expected[0]).lines().any(|l| l == format!("0::/{relative}")));

    run.kill_all(Duration::from_secs(5)).unwrap();
    for child in &mut in_run {
        assert_sigkilled(wait_bounded(child, Duration::from_secs(5)));
    }
    assert!(run.pids().unwrap().is_empty());
    assert!(in_init.try_wait().unwrap().is_none());
    run.remove().unwrap();
    assert!(!mount.join(relative).exists());
    // remove() of the box kills init on the way.
    sandbox.remove().unwrap();
    assert_sigkilled(wait_bounded(&mut in_init, Duration::from_secs(5)));
    instance.finish();
}

#[test]
fn favordynmods_is_turned_on_and_the_probe_mount_is_gone() {
    if !bytesbox_testkit::require_root("favordynmods_is_turned_on_and_the_probe_mount_is_gone") {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let probe = scratch.path().join("probe");
    let first = bytesbox_cgroups::favor_dynamic_changes(&probe).expect("favordynmods (Linux >= 6.0)");
    assert!(!probe.exists(), "the probe directory was left behind");
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mountinfo.contains(scratch.path().to_str().unwrap()), "the probe mount was left behind");
    let mounts = cgroup2_mounts();
    if mounts.is_empty() {
        // Nothing shows the root's flags outside the probe: it said it
        // saw the flag there.
        assert_eq!(first, bytesbox_cgroups::Dynmods::TurnedOn);
        return;
    }
    for (point, options) in &mounts {
        let flagged = options.split(',').any(|o| o == "favordynmods");
        assert!(flagged, "{} has no favordynmods: {options}", point.display());
    }
    let second = bytesbox_cgroups::favor_dynamic_changes(&probe).unwrap();
    assert_eq!(second, bytesbox_cgroups::Dynmods::AlreadyOn);
}
