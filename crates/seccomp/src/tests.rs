//! Unit tests: parsing, validation errors, the guard program, and the
//! compiled filters run through a small classic-BPF interpreter.

#![allow(clippy::unwrap_used)]

use seccompiler::sock_filter;

use crate::compiled::{arch_guard, AUDIT_ARCH_X86_64, BPF_JEQ_K, BPF_JGE_K, BPF_LD_W_ABS, BPF_RET_K};
use crate::{Action, CompiledPolicy, Policy, SeccompError};

/// Every syscall the brief requires the default policy to block.
const REQUIRED: &[&str] = &[
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "clone",
    "clone3",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    "open_by_handle_at",
    "name_to_handle_at",
    "quotactl",
    "quotactl_fd",
    "syslog",
    "sethostname",
    "setdomainname",
    "iopl",
    "ioperm",
    "lookup_dcookie",
    "fanotify_init",
    "vhangup",
    "uselib",
    "ustat",
    "sysfs",
    "nfsservctl",
    "personality",
    "open_tree",
    "move_mount",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "create_module",
    "get_kernel_syms",
    "query_module",
    "mbind",
    "set_mempolicy",
    "move_pages",
    "migrate_pages",
    "socket",
    "socketpair",
];

/// Syscalls that must stay allowed (the policy must not list them).
const MUST_ALLOW: &[&str] = &[
    "read",
    "write",
    "openat",
    "execve",
    "fork",
    "vfork",
    "wait4",
    "connect",
    "bind",
    "memfd_secret",
    "memfd_create",
    "setuid",
    "prctl",
    "seccomp",
    "get_mempolicy",
];

fn policy() -> Policy {
    Policy::default_policy().unwrap()
}

fn compiled() -> CompiledPolicy {
    policy().compile().unwrap()
}

// ---------------------------------------------------------------------------
// A tiny classic-BPF interpreter for the instructions seccompiler and the
// guard emit, so the compiled programs' verdicts can be checked without a
// kernel.
// ---------------------------------------------------------------------------

const SECCOMP_RET_ACTION_FULL: u32 = 0xffff_0000;

/// `struct seccomp_data` as the filters see it.
struct Data {
    nr: u32,
    arch: u32,
    args: [u64; 6],
}

impl Data {
    fn native(nr: u32, args: [u64; 6]) -> Data {
        Data { nr, arch: AUDIT_ARCH_X86_64, args }
    }

    fn load(&self, offset: u32) -> u32 {
        match offset {
            0 => self.nr,
            4 => self.arch,
            // instruction_pointer (8..16) is never read by our filters
            16..=63 => {
                let i = ((offset - 16) / 8) as usize;
                let arg = self.args[i];
                if offset % 8 == 0 {
                    arg as u32 // low half (little-endian)
                } else {
                    (arg >> 32) as u32
                }
            }
            _ => panic!("unexpected load offset {offset}"),
        }
    }
}

fn run(program: &[sock_filter], data: &Data) -> u32 {
    let mut acc: u32 = 0;
    let mut pc: usize = 0;
    loop {
        let ins = &program[pc];
        pc += 1;
        match ins.code {
            0x20 => acc = data.load(ins.k), // ld [k]
            0x54 => acc &= ins.k,           // and #k
            0x05 => pc += ins.k as usize,   // ja
            0x15 | 0x25 | 0x35 | 0x45 => {
                let taken = match ins.code {
                    0x15 => acc == ins.k,
                    0x25 => acc > ins.k,
                    0x35 => acc >= ins.k,
                    _ => acc & ins.k != 0,
                };
                pc += usize::from(if taken { ins.jt } else { ins.jf });
            }
            0x06 => return ins.k, // ret #k
            other => panic!("unexpected opcode {other:#x} at {}", pc - 1),
        }
    }
}

/// The kernel's choice among stacked filters: the lowest action value as a
/// signed number wins (KILL_PROCESS is 0x8000_0000), ties go to the newest.
fn run_stack(compiled: &CompiledPolicy, data: &Data) -> u32 {
    let mut verdict = libc::SECCOMP_RET_ALLOW;
    for program in compiled.programs().iter().rev() {
        let ret = run(program, data);
        if ((ret & SECCOMP_RET_ACTION_FULL) as i32) < ((verdict & SECCOMP_RET_ACTION_FULL) as i32) {
            verdict = ret;
        }
    }
    verdict
}

fn errno(e: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | e as u32
}

fn nr(name: &str) -> u32 {
    crate::syscall_table::lookup(name).unwrap()
}

fn verdict(name: &str, args: [u64; 6]) -> u32 {
    run_stack(&compiled(), &Data::native(nr(name), args))
}

// ---------------------------------------------------------------------------
// The default policy
// ---------------------------------------------------------------------------

#[test]
fn default_policy_parses_and_compiles() {
    let policy = policy();
    let compiled = policy.compile().unwrap();
    // The guard, then one filter per distinct action (EPERM, ENOSYS, EAFNOSUPPORT).
    let mut actions: Vec<_> = policy.groups().iter().map(|g| g.action()).collect();
    actions.dedup();
    actions.sort_by_key(|a| format!("{a:?}"));
    actions.dedup();
    assert_eq!(compiled.filter_count(), actions.len() + 1);
    assert_eq!(compiled.filter_count(), 4);
    assert_eq!(compiled.programs()[0], arch_guard());
    for program in compiled.programs() {
        assert!(program.len() < 4096);
    }
    // Install order is file order.
    let names: Vec<&str> = policy.groups().iter().map(|g| g.name()).collect();
    assert_eq!(names.first(), Some(&"mount"));
    assert_eq!(names.last(), Some(&"personality"));
}

#[test]
fn every_required_syscall_is_blocked() {
    let blocked = policy().blocked_syscalls();
    let missing: Vec<&&str> = REQUIRED.iter().filter(|s| !blocked.iter().any(|b| b == *s)).collect();
    assert!(missing.is_empty(), "not blocked: {missing:?}");
    assert!(blocked.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
}

#[test]
fn ordinary_syscalls_are_not_listed() {
    let blocked = policy().blocked_syscalls();
    for s in MUST_ALLOW {
        assert!(!blocked.iter().any(|b| b == s), "{s} must stay allowed");
    }
}

#[test]
fn actions_are_eperm_except_clone3_and_vsock() {
    for group in policy().groups() {
        let expected = match group.name() {
            "clone3" => Action::Errno(libc::ENOSYS),
            "vsock" => Action::Errno(libc::EAFNOSUPPORT),
            _ => Action::Errno(libc::EPERM),
        };
        assert_eq!(group.action(), expected, "group {}", group.name());
        assert!(group.reason().is_some(), "group {} has no reason", group.name());
    }
}

#[test]
fn extra_syscall_numeric_fallback_is_used() {
    // open_tree_attr (Linux 6.15) is not in the 6.12 table.
    assert_eq!(crate::syscall_table::lookup("open_tree_attr"), None);
    assert!(policy().blocked_syscalls().iter().any(|s| s == "open_tree_attr"));
    assert_eq!(run_stack(&compiled(), &Data::native(467, [0; 6])), errno(libc::EPERM));
}

// ---------------------------------------------------------------------------
// The architecture guard
// ---------------------------------------------------------------------------

#[test]
fn guard_program_has_expected_instructions() {
    let g = arch_guard();
    assert_eq!(g.len(), 7);
    let kill = libc::SECCOMP_RET_KILL_PROCESS;
    let expected = [
        (BPF_LD_W_ABS, 0, 0, 4),        // ld [arch]
        (BPF_JEQ_K, 1, 0, 0xc000_003e), // jeq AUDIT_ARCH_X86_64
        (BPF_RET_K, 0, 0, kill),        // ret KILL_PROCESS
        (BPF_LD_W_ABS, 0, 0, 0),        // ld [nr]
        (BPF_JGE_K, 0, 1, 0x4000_0000), // jge __X32_SYSCALL_BIT
        (BPF_RET_K, 0, 0, kill),        // ret KILL_PROCESS
        (BPF_RET_K, 0, 0, 0x7fff_0000), // ret ALLOW
    ];
    for (i, (ins, (code, jt, jf, k))) in g.iter().zip(expected).enumerate() {
        assert_eq!((ins.code, ins.jt, ins.jf, ins.k), (code, jt, jf, k), "instruction {i}");
    }
    assert_eq!((BPF_LD_W_ABS, BPF_JEQ_K, BPF_JGE_K, BPF_RET_K), (0x20, 0x15, 0x35, 0x06));
}

#[test]
fn guard_verdicts() {
    let g = arch_guard();
    let allow = libc::SECCOMP_RET_ALLOW;
    let kill = libc::SECCOMP_RET_KILL_PROCESS;
    assert_eq!(run(&g, &Data::native(39, [0; 6])), allow);
    assert_eq!(run(&g, &Data::native(0x3fff_ffff, [0; 6])), allow);
    assert_eq!(run(&g, &Data::native(0x4000_0000 | 39, [0; 6])), kill);
    assert_eq!(run(&g, &Data::native(u32::MAX, [0; 6])), kill);
    let i386 = Data {
        nr: 20,
        arch: 3 | 0x4000_0000, // AUDIT_ARCH_I386
        args: [0; 6],
    };
    assert_eq!(run(&g, &i386), kill);
}

#[test]
fn seccompiler_filters_kill_on_arch_mismatch_too() {
    let c = compiled();
    let aarch64 = Data { nr: nr("getpid"), arch: 183 | 0x8000_0000 | 0x4000_0000, args: [0; 6] };
    for program in &c.programs()[1..] {
        assert_eq!(run(program, &aarch64), libc::SECCOMP_RET_KILL_PROCESS);
    }
    // ...but they let x32 numbers through, which is what the guard is for.
    let x32 = Data::native(0x4000_0000 | nr("mount"), [0; 6]);
    for program in &c.programs()[1..] {
        assert_eq!(run(program, &x32), libc::SECCOMP_RET_ALLOW);
    }
    assert_eq!(run_stack(&c, &x32), libc::SECCOMP_RET_KILL_PROCESS);
}

// ---------------------------------------------------------------------------
// Verdicts of the whole stack
// ---------------------------------------------------------------------------

#[test]
fn stack_verdicts() {
    let allow = libc::SECCOMP_RET_ALLOW;
    let eperm = errno(libc::EPERM);
    assert_eq!(verdict("getpid", [0; 6]), allow);
    assert_eq!(verdict("mount", [0; 6]), eperm);
    assert_eq!(verdict("unshare", [0; 6]), eperm);
    assert_eq!(verdict("ptrace", [0; 6]), eperm);
    assert_eq!(verdict("io_uring_setup", [0; 6]), eperm);
    assert_eq!(verdict("clone3", [0; 6]), errno(libc::ENOSYS));
    assert_eq!(verdict("memfd_secret", [0; 6]), allow);
}

#[test]
fn clone_is_blocked_only_with_namespace_flags() {
    let allow = libc::SECCOMP_RET_ALLOW;
    let eperm = errno(libc::EPERM);
    let sigchld = libc::SIGCHLD as u64;
    // fork() as glibc does it
    let fork = (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID) as u64 | sigchld;
    assert_eq!(verdict("clone", [fork, 0, 0, 0, 0, 0]), allow);
    // pthread_create()'s flags
    let thread = (libc::CLONE_VM
        | libc::CLONE_FS
        | libc::CLONE_FILES
        | libc::CLONE_SIGHAND
        | libc::CLONE_THREAD
        | libc::CLONE_SYSVSEM
        | libc::CLONE_SETTLS
        | libc::CLONE_PARENT_SETTID
        | libc::CLONE_CHILD_CLEARTID) as u64;
    assert_eq!(verdict("clone", [thread, 0, 0, 0, 0, 0]), allow);
    // CLONE_IO (0x80000000) and CLONE_NEWTIME-in-signal-bits are not namespaces here
    assert_eq!(verdict("clone", [0x8000_0000 | sigchld, 0, 0, 0, 0, 0]), allow);
    for flag in [
        libc::CLONE_NEWNS,
        libc::CLONE_NEWCGROUP,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
    ] {
        let flags = flag as u64 | sigchld;
        assert_eq!(verdict("clone", [flags, 0, 0, 0, 0, 0]), eperm, "flag {flag:#x}");
        assert_eq!(verdict("clone", [flags | fork, 0, 0, 0, 0, 0]), eperm, "flag {flag:#x}");
    }
    // Flags in arg 1 (the stack pointer) do not matter.
    assert_eq!(verdict("clone", [sigchld, 0x1000_0000, 0, 0, 0, 0]), allow);
}

#[test]
fn personality_allows_only_the_docker_set() {
    let allow = libc::SECCOMP_RET_ALLOW;
    let eperm = errno(libc::EPERM);
    for ok in [0u64, 0x8, 0x20000, 0x20008, 0xffff_ffff] {
        assert_eq!(verdict("personality", [ok, 0, 0, 0, 0, 0]), allow, "{ok:#x}");
    }
    // Width 32: the kernel ignores the high half, so does the filter.
    assert_eq!(verdict("personality", [0x1_0000_0000, 0, 0, 0, 0, 0]), allow);
    for bad in [0x0040000u64 /* ADDR_NO_RANDOMIZE */, 0x0400000 /* READ_IMPLIES_EXEC */, 0x1, 0x7] {
        assert_eq!(verdict("personality", [bad, 0, 0, 0, 0, 0]), eperm, "{bad:#x}");
    }
}

#[test]
fn only_vsock_sockets_are_refused() {
    let allow = libc::SECCOMP_RET_ALLOW;
    let refused = errno(libc::EAFNOSUPPORT);
    let stream = libc::SOCK_STREAM as u64;
    for family in [libc::AF_UNIX, libc::AF_INET, libc::AF_INET6, libc::AF_NETLINK] {
        assert_eq!(verdict("socket", [family as u64, stream, 0, 0, 0, 0]), allow, "family {family}");
        assert_eq!(verdict("socketpair", [family as u64, stream, 0, 0, 0, 0]), allow, "family {family}");
    }
    let vsock = libc::AF_VSOCK as u64;
    assert_eq!(verdict("socket", [vsock, stream, 0, 0, 0, 0]), refused);
    assert_eq!(verdict("socket", [vsock, libc::SOCK_DGRAM as u64, 0, 0, 0, 0]), refused);
    assert_eq!(verdict("socketpair", [vsock, stream, 0, 0, 0, 0]), refused);
    // Width 32: the kernel reads an int, so garbage in the high half is no way around.
    assert_eq!(verdict("socket", [0xffff_ffff_0000_0000 | vsock, stream, 0, 0, 0, 0]), refused);
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

const MINIMAL: &str = r#"
version = 1
[[group]]
name = "g"
action = { errno = "EPERM" }
syscalls = ["mount"]
"#;

fn err(text: &str) -> SeccompError {
    Policy::from_toml(text).unwrap_err()
}

#[test]
fn minimal_policy_compiles() {
    let p = Policy::from_toml(MINIMAL).unwrap();
    assert_eq!(p.blocked_syscalls(), vec!["mount".to_owned()]);
    let c = p.compile().unwrap();
    assert_eq!(c.filter_count(), 2);
    assert_eq!(run_stack(&c, &Data::native(nr("mount"), [0; 6])), errno(libc::EPERM));
    assert_eq!(run_stack(&c, &Data::native(nr("umount2"), [0; 6])), libc::SECCOMP_RET_ALLOW);
}

#[test]
fn kill_process_action() {
    let p = Policy::from_toml(&MINIMAL.replace(r#"{ errno = "EPERM" }"#, r#""kill_process""#)).unwrap();
    assert_eq!(p.groups()[0].action(), Action::KillProcess);
    let c = p.compile().unwrap();
    assert_eq!(run_stack(&c, &Data::native(nr("mount"), [0; 6])), libc::SECCOMP_RET_KILL_PROCESS);
}

#[test]
fn malformed_toml_is_a_toml_error() {
    assert!(matches!(err("version = = 1"), SeccompError::Toml(_)));
    // unknown keys are rejected, not ignored
    let e = err(&MINIMAL.replace("syscalls", "syscals"));
    assert!(matches!(e, SeccompError::Toml(_)), "{e}");
    assert!(e.to_string().contains("syscals"), "{e}");
    // unknown action
    let e = err(&MINIMAL.replace(r#"{ errno = "EPERM" }"#, r#""allow""#));
    assert!(matches!(e, SeccompError::Toml(_)), "{e}");
}

#[test]
fn wrong_version() {
    assert!(matches!(
        err(&MINIMAL.replace("version = 1", "version = 2")),
        SeccompError::UnsupportedVersion { found: 2, supported: 1 }
    ));
}

#[test]
fn unknown_syscall_names_group_and_syscall() {
    let e = err(&MINIMAL.replace(r#"["mount"]"#, r#"["mount", "mount_everything"]"#));
    match &e {
        SeccompError::UnknownSyscall { group, syscall } => {
            assert_eq!((group.as_str(), syscall.as_str()), ("g", "mount_everything"));
        }
        other => panic!("wrong error {other:?}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("`g`") && msg.contains("`mount_everything`"), "{msg}");
}

#[test]
fn unknown_errno() {
    let e = err(&MINIMAL.replace("EPERM", "EWHATEVER"));
    assert!(matches!(&e, SeccompError::UnknownErrno { group, errno } if group == "g" && errno == "EWHATEVER"), "{e:?}");
}

#[test]
fn duplicate_syscall_across_groups() {
    let text = format!(
        "{MINIMAL}\n[[group]]\nname = \"h\"\naction = {{ errno = \"ENOSYS\" }}\nsyscalls = [\"chroot\", \"mount\"]\n"
    );
    let e = err(&text);
    match &e {
        SeccompError::DuplicateSyscall { syscall, first_group, second_group } => {
            assert_eq!((syscall.as_str(), first_group.as_str(), second_group.as_str()), ("mount", "g", "h"))
        }
        other => panic!("wrong error {other:?}"),
    }
    assert!(e.to_string().contains("`mount`"), "{e}");
}

#[test]
fn duplicate_syscall_within_group_and_between_lists() {
    let e = err(&MINIMAL.replace(r#"["mount"]"#, r#"["mount", "mount"]"#));
    assert!(matches!(e, SeccompError::DuplicateSyscall { .. }), "{e:?}");
    let text = format!("{MINIMAL}[[group.conditional]]\nsyscall = \"mount\"\narg = 3\neq = 1\n");
    let e = err(&text);
    assert!(matches!(e, SeccompError::DuplicateSyscall { .. }), "{e:?}");
}

#[test]
fn duplicate_group_name() {
    let text = format!("{MINIMAL}\n[[group]]\nname = \"g\"\naction = \"kill_process\"\nsyscalls = [\"chroot\"]\n");
    assert!(matches!(err(&text), SeccompError::DuplicateGroup { group } if group == "g"));
}

#[test]
fn empty_group_and_no_groups() {
    let e = err(&MINIMAL.replace(r#"["mount"]"#, "[]"));
    assert!(matches!(&e, SeccompError::EmptyGroup { group } if group == "g"), "{e:?}");
    assert!(matches!(err("version = 1"), SeccompError::NoGroups));
}

#[test]
fn conditional_entries_are_validated() {
    let base = "version = 1\n[[group]]\nname = \"c\"\naction = { errno = \"EPERM\" }\n[[group.conditional]]\nsyscall = \"clone\"\n";
    let bad = |rest: &str| match err(&format!("{base}{rest}")) {
        SeccompError::BadCondition { group, syscall, problem } => {
            assert_eq!((group.as_str(), syscall.as_str()), ("c", "clone"));
            problem
        }
        other => panic!("wrong error for {rest:?}: {other:?}"),
    };
    assert!(bad("arg = 6\neq = 1\n").contains("arg"));
    assert!(bad("arg = 0\nwidth = 16\neq = 1\n").contains("width"));
    assert!(bad("arg = 0\n").contains("exactly one"));
    assert!(bad("arg = 0\neq = 1\nnot_in = [2]\n").contains("exactly one"));
    assert!(bad("arg = 0\nany_bit_set = 0\n").contains("no bits"));
    assert!(bad("arg = 0\nnot_in = []\n").contains("empty"));
    assert!(bad("arg = 0\nwidth = 32\neq = 0x100000000\n").contains("width = 32"));
    // A good one, with several conditional entries for one syscall ORed.
    let p = Policy::from_toml(&format!(
        "{base}arg = 0\nany_bit_set = 0x10000000\n[[group.conditional]]\nsyscall = \"clone\"\narg = 1\neq = 7\n"
    ))
    .unwrap();
    let c = p.compile().unwrap();
    let clone = nr("clone");
    assert_eq!(run_stack(&c, &Data::native(clone, [0x1000_0000, 0, 0, 0, 0, 0])), errno(libc::EPERM));
    assert_eq!(run_stack(&c, &Data::native(clone, [0, 7, 0, 0, 0, 0])), errno(libc::EPERM));
    assert_eq!(run_stack(&c, &Data::native(clone, [0, 6, 0, 0, 0, 0])), libc::SECCOMP_RET_ALLOW);
}

#[test]
fn extra_syscalls_are_validated() {
    let with = |extra: &str, name: &str| {
        format!(
            "version = 1\n[extra_syscalls]\n{extra}\n[[group]]\nname = \"x\"\naction = {{ errno = \"EPERM\" }}\nsyscalls = [\"{name}\"]\n"
        )
    };
    // a fresh name works
    let p = Policy::from_toml(&with("listns = 470", "listns")).unwrap();
    let c = p.compile().unwrap();
    assert_eq!(run_stack(&c, &Data::native(470, [0; 6])), errno(libc::EPERM));
    // agreeing with the table is fine
    assert!(Policy::from_toml(&with("mount = 165", "mount")).is_ok());
    // disagreeing with the table is not
    for (extra, needle) in [
        ("mount = 166", "165"),
        ("not_mount = 165", "`mount`"),
        ("big = 0x40000001", "native"),
        ("neg = -1", "native"),
        ("a1 = 480\na2 = 480", "also given"),
    ] {
        match err(&with(extra, "chroot")) {
            SeccompError::BadExtraSyscall { problem, .. } => {
                assert!(problem.contains(needle), "{extra}: {problem}")
            }
            other => panic!("wrong error for {extra}: {other:?}"),
        }
    }
}
