//! Behaviour tests: real children under the real default policy.
//!
//! Each test spawns a child with `Command` + `pre_exec`, installs the
//! compiled policy between fork and exec (no root needed: `install` sets
//! no_new_privs), and execs `python3` or `/bin/sh`. The probes use argument
//! values that the kernel itself would reject with a *different* errno
//! (EFAULT, EBADF, EINVAL, ...), so an `EPERM` can only have come from the
//! filter; `probes_fail_differently_without_the_filter` checks that claim.

#![cfg(target_arch = "x86_64")]
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use bytesbox_seccomp::{CompiledPolicy, Policy};

const PYTHON: &str = "/usr/bin/python3";

fn compiled() -> &'static CompiledPolicy {
    static COMPILED: OnceLock<CompiledPolicy> = OnceLock::new();
    COMPILED.get_or_init(|| Policy::default_policy().unwrap().compile().unwrap())
}

/// Runs `program args...`, under the default policy if `filtered`.
fn run(program: &str, args: &[&str], filtered: bool) -> Output {
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if filtered {
        let policy = compiled();
        // SAFETY: the closure only calls `CompiledPolicy::install`, which
        // makes async-signal-safe system calls and does not allocate.
        unsafe {
            cmd.pre_exec(move || policy.install());
        }
    }
    cmd.output().unwrap()
}

fn python(script: &str, args: &[&str], filtered: bool) -> Output {
    let mut all = vec!["-c", script];
    all.extend_from_slice(args);
    run(PYTHON, &all, filtered)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `Seccomp_filters` (or another numeric field) of /proc/self/status.
fn own_status_field(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0)
}

/// Calls raw syscalls with ctypes. argv[1:] names the probes to run; prints
/// one `name ret errno` line per probe, then the seccomp status lines.
const PROBES: &str = r#"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def sc(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return r, (ctypes.get_errno() if r == -1 else 0)

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
SIGCHLD = 17

def clone_newuser():
    r, e = sc(56, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)
    if r == 0:          # only if the filter failed: we are the child
        os._exit(0)
    if r > 0:
        os.waitpid(r, 0)
    return r, e

PROBES = {
    "mount":           lambda: sc(165, 0, 0, 1, 0, 0),       # type = bad pointer -> EFAULT
    "umount2":         lambda: sc(166, 1, 0),
    "unshare":         lambda: sc(272, CLONE_NEWNS),
    "setns":           lambda: sc(308, -1, 0),               # bad fd -> EBADF
    "keyctl":          lambda: sc(250, 9999, 0, 0, 0, 0),    # bad op -> EOPNOTSUPP
    "add_key":         lambda: sc(248, 0, 0, 0, 0, 0),
    "bpf":             lambda: sc(321, 9999, 0, 0),
    "perf_event_open": lambda: sc(298, 0, 0, -1, -1, 0),     # NULL attr -> EFAULT
    "userfaultfd":     lambda: sc(323, 0),
    "io_uring_setup":  lambda: sc(425, 1, 0),
    "ptrace":          lambda: sc(101, 0, 0, 0, 0),          # PTRACE_TRACEME
    "clone_newuser":   clone_newuser,
    "clone3":          lambda: sc(435, 0, 0),                # NULL args -> EINVAL
    "open_tree_attr":  lambda: sc(467, -1, 0, 0, 0, 0),      # via [extra_syscalls]
    "init_module":     lambda: sc(175, 0, 0, 0),
    "kexec_load":      lambda: sc(246, 0, 0, 0, 0),
    "reboot":          lambda: sc(169, 0, 0, 0, 0),          # bad magic -> EINVAL
    "process_vm_readv": lambda: sc(310, os.getpid(), 0, 0, 0, 0, 0),
    "open_by_handle_at": lambda: sc(304, -1, 0, 0),
    "sethostname":     lambda: sc(170, 0, 0),
    "personality_aslr_off": lambda: sc(135, 0x0040000),      # ADDR_NO_RANDOMIZE
    "personality_query":    lambda: sc(135, 0xffffffff),
    "socket_vsock":    lambda: sc(41, 40, 1, 0),             # AF_VSOCK, SOCK_STREAM
    "getpid":          lambda: sc(39),
}

for name in sys.argv[1:]:
    r, e = PROBES[name]()
    print(name, r, e, flush=True)

for line in open("/proc/self/status"):
    if line.startswith("Seccomp"):
        k, v = line.split(":")
        print("status", k, v.strip())
"#;

/// Runs the named probes; returns name -> (ret, errno) and the status lines.
fn probe(names: &[&str], filtered: bool) -> (BTreeMap<String, (i64, i32)>, BTreeMap<String, String>) {
    let out = python(PROBES, names, filtered);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "probe script failed: {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        text(&out.stderr)
    );
    let mut results = BTreeMap::new();
    let mut status = BTreeMap::new();
    for line in stdout.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["status", k, v] => {
                status.insert((*k).to_owned(), (*v).to_owned());
            }
            [name, r, e] => {
                results.insert((*name).to_owned(), (r.parse().unwrap(), e.parse().unwrap()));
            }
            _ => panic!("unexpected line {line:?}"),
        }
    }
    assert_eq!(results.len(), names.len(), "stdout:\n{stdout}");
    (results, status)
}

#[test]
fn dangerous_syscalls_fail_with_the_expected_errno() {
    let expected: &[(&str, i32)] = &[
        ("mount", libc::EPERM),
        ("umount2", libc::EPERM),
        ("unshare", libc::EPERM),
        ("setns", libc::EPERM),
        ("keyctl", libc::EPERM),
        ("add_key", libc::EPERM),
        ("bpf", libc::EPERM),
        ("perf_event_open", libc::EPERM),
        ("userfaultfd", libc::EPERM),
        ("io_uring_setup", libc::EPERM),
        ("ptrace", libc::EPERM),
        ("clone_newuser", libc::EPERM),
        ("clone3", libc::ENOSYS),
        ("open_tree_attr", libc::EPERM),
        ("init_module", libc::EPERM),
        ("kexec_load", libc::EPERM),
        ("reboot", libc::EPERM),
        ("process_vm_readv", libc::EPERM),
        ("open_by_handle_at", libc::EPERM),
        ("sethostname", libc::EPERM),
        ("personality_aslr_off", libc::EPERM),
        ("socket_vsock", libc::EAFNOSUPPORT),
    ];
    let names: Vec<&str> = expected.iter().map(|(n, _)| *n).collect();
    let (results, _) = probe(&names, true);
    let wrong: Vec<String> = expected
        .iter()
        .filter(|(name, errno)| results[*name] != (-1, *errno))
        .map(|(name, errno)| format!("{name}: got {:?}, want (-1, {errno})", results[*name]))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn filters_are_installed_in_the_child() {
    let (results, status) = probe(&["getpid", "personality_query"], true);
    assert!(results["getpid"].0 > 0);
    assert_eq!(results["getpid"].1, 0);
    // personality(0xffffffff) only queries; the result is the persona (0).
    assert_eq!(results["personality_query"], (0, 0));
    assert_eq!(status.get("Seccomp").map(String::as_str), Some("2"));
    let expected = own_status_field("Seccomp_filters") + compiled().filter_count() as u64;
    assert_eq!(status.get("Seccomp_filters"), Some(&expected.to_string()));
}

/// Shows that the errnos above come from the filter: without it, the same
/// calls fail differently. Skipped if this test process is already confined
/// by some other seccomp filter (e.g. Docker's), which could answer EPERM.
#[test]
fn probes_fail_differently_without_the_filter() {
    if own_status_field("Seccomp") != 0 {
        bytesbox_testkit::skip_for_machine(
            "probes_fail_differently_without_the_filter",
            "the test runner is itself under seccomp",
            "another filter could answer EPERM",
        );
        return;
    }
    let (results, status) = probe(&["mount", "setns", "keyctl", "perf_event_open", "clone3"], false);
    assert_eq!(status.get("Seccomp").map(String::as_str), Some("0"));
    assert_eq!(results["mount"], (-1, libc::EFAULT));
    assert_eq!(results["setns"], (-1, libc::EBADF));
    assert_eq!(results["keyctl"], (-1, libc::EOPNOTSUPP));
    assert_eq!(results["perf_event_open"], (-1, libc::EFAULT));
    assert_eq!(results["clone3"], (-1, libc::EINVAL));
}

#[test]
fn x32_syscall_kills_the_process() {
    let script = r#"
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
print("before", flush=True)
r = libc.syscall(ctypes.c_long(0x40000000 | 39))   # x32 getpid
print("after", r, ctypes.get_errno(), flush=True)
"#;
    let out = python(script, &[], true);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.signal(), Some(libc::SIGSYS), "{:?} {stdout}", out.status);
    assert_eq!(stdout, "before\n");
}

/// An i386 `int 0x80` system call from the 64-bit process reports
/// AUDIT_ARCH_I386 and is killed. Skipped if the kernel has no ia32
/// emulation (then `int 0x80` never reaches seccomp).
#[test]
fn i386_syscall_kills_the_process() {
    let script = r#"
import ctypes, mmap, sys
# mov eax, 20 (i386 getpid); int 0x80; ret
code = b"\xb8\x14\x00\x00\x00\xcd\x80\xc3"
buf = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
buf.write(code)
addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
fn = ctypes.CFUNCTYPE(ctypes.c_int)(addr)
print("before", flush=True)
print("after", fn(), flush=True)
"#;
    let baseline = python(script, &[], false);
    if !baseline.status.success() {
        bytesbox_testkit::skip_for_machine(
            "i386_syscall_kills_the_process",
            "the kernel has no ia32 emulation",
            &format!("int 0x80 without the filter: {:?}", baseline.status),
        );
        return;
    }
    let out = python(script, &[], true);
    assert_eq!(out.status.signal(), Some(libc::SIGSYS), "{:?}", out.status);
    assert_eq!(text(&out.stdout), "before\n");
}

#[test]
fn ordinary_programs_still_work() {
    let script = r#"
import os, socket, subprocess, threading

print("hello", flush=True)

# fork + wait: plain clone() without namespace flags
pid = os.fork()
if pid == 0:
    os._exit(7)
_, st = os.waitpid(pid, 0)
print("fork", os.waitstatus_to_exitcode(st), flush=True)

# threads: glibc tries clone3, gets ENOSYS, falls back to clone
results = []
def work(i):
    results.append(sum(range(i * 1000)))
threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print("threads", len(results), flush=True)

# TCP on loopback
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("127.0.0.1", 0))
srv.listen(1)
cli = socket.create_connection(srv.getsockname(), timeout=5)
conn, _ = srv.accept()
cli.sendall(b"ping")
print("socket", conn.recv(4).decode(), flush=True)
for s in (cli, conn, srv): s.close()

# netlink stays allowed
nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
nl.close()
print("netlink ok", flush=True)

# a pipeline in a shell, spawned from the filtered process
out = subprocess.run(["/bin/sh", "-c", "echo ok | cat"], capture_output=True, check=True)
print("subprocess", out.stdout.decode().strip(), flush=True)
"#;
    let out = python(script, &[], true);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{:?}\nstdout:\n{stdout}\nstderr:\n{}", out.status, text(&out.stderr));
    assert_eq!(stdout, "hello\nfork 7\nthreads 4\nsocket ping\nnetlink ok\nsubprocess ok\n");
}

#[test]
fn shell_pipeline_works_under_the_filter() {
    let out = run("/bin/sh", &["-c", "echo ok | cat"], true);
    assert!(out.status.success(), "{:?} {}", out.status, text(&out.stderr));
    assert_eq!(text(&out.stdout), "ok\n");
}

#[test]
fn installing_twice_stacks_harmlessly() {
    // Installing twice stacks the filters again; both layers agree.
    let policy = compiled();
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "echo twice"]).stdout(Stdio::piped());
    // SAFETY: only async-signal-safe system calls, no allocation.
    unsafe {
        cmd.pre_exec(move || {
            policy.install()?;
            policy.install()
        });
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "twice\n");
}
