//! `git` frames (`docs/protocol.md`, "Git"; design: `docs/git.md`): one
//! allowlisted git subcommand run in the session's box, as the box's
//! user, in the workspace, without a shell, answered by `git_result`.
//!
//! The box is the boundary, as for a terminal: what git does there
//! (hooks, the repository's own config) runs under the box's limits and
//! uid and reaches nothing else. The checks here keep the frame to what a
//! Source Control panel needs and keep its arguments from naming programs
//! or places outside the workspace, so that the frame is not a second,
//! shell-less terminal with another set of rules.
//!
//! A session runs its git commands one at a time, in the order they came,
//! from a queue of [`QUEUED_COMMANDS`]: a client that floods frames gets
//! `too_many_git_commands`, not a pile of processes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytesbox_sandbox::{ExitReport, FileEntry, RunLimits, RunSpec, RunStatus, SandboxError};
use tokio::sync::mpsc;

use crate::accounts::Caller;
use crate::app::AppState;
use crate::metrics::BoxOrigin;
use crate::protocol::{valid_run_id, EncodedBytes, GitResultFrame, ServerMessage, WireFile};
use crate::runs::decode_files;
use crate::session::{BoxCaps, Session};

/// The subcommands a `git` frame may run: what reads and changes a
/// working tree and its history. No subcommand that talks to a remote
/// (those come with egress), runs a program by design (`rebase --exec`,
/// `bisect run`, `difftool`), or writes outside the repository.
pub const ALLOWED_SUBCOMMANDS: &[&str] = &[
    "add",
    "blame",
    "branch",
    "checkout",
    "cherry-pick",
    "clean",
    "commit",
    "describe",
    "diff",
    "fetch",
    "init",
    "log",
    "ls-files",
    "merge",
    "mv",
    "pull",
    "push",
    "reset",
    "restore",
    "rev-list",
    "rev-parse",
    "revert",
    "rm",
    "shortlog",
    "show",
    "stash",
    "status",
    "switch",
    "tag",
];

/// Options refused anywhere before `--`, also as any abbreviation git's
/// option parser would take for them (`--outp` is `--output`): they set
/// config (`-c`), name a program to run, a repository or files outside
/// the workspace, or compare paths outside it.
const REFUSED_LONG_OPTIONS: &[&str] = &[
    "--config",
    "--config-env",
    "--exec",
    "--exec-path",
    "--ext-diff",
    "--file",
    "--git-dir",
    "--no-index",
    "--open-files-in-pager",
    "--output",
    "--pathspec-from-file",
    "--receive-pack",
    "--separate-git-dir",
    "--template",
    "--upload-pack",
    "--work-tree",
];

/// The subcommands that talk to a remote: their arguments before `--`
/// may name remotes and refspecs, never a repository by path or URL
/// (that would reach a repository outside the workspace, or choose a
/// transport such as `ext::` that runs a program); the remote comes from
/// the repository's own configuration, which a terminal sets. The
/// options that name a program for the other side (`--upload-pack`,
/// `--receive-pack`, `--exec`) are refused for every subcommand.
const REMOTE_SUBCOMMANDS: &[&str] = &["fetch", "pull", "push"];

/// Whether an argument of a [`REMOTE_SUBCOMMANDS`] command names a
/// repository rather than a remote or a refspec.
fn names_a_repository(arg: &str) -> bool {
    arg.contains("://") || arg.contains("::") || arg.starts_with(['/', '.', '~']) || arg.starts_with("file:")
}

/// Short options refused, alone or in a cluster (`-ac`): `-c` (config,
/// or a commit message read through an editor) and `-F` (a message read
/// from a file).
const REFUSED_SHORT_OPTIONS: &[char] = &['c', 'F'];

/// Most arguments after the subcommand.
pub const MAX_ARGS: usize = 256;
/// Longest argument (a commit message is one).
pub const MAX_ARG_BYTES: usize = 64 * 1024;
/// Most bytes of stdout, and of stderr, a command may write: past it the
/// command is stopped and `git_result` says `output_limit`, with what
/// came before.
pub const MAX_OUTPUT_BYTES: u64 = 1024 * 1024;
/// Commands one session may have waiting behind the one running.
pub const QUEUED_COMMANDS: usize = 8;
/// Bytes of `files` the waiting commands of one session may hold
/// together (one command's own are bounded as a run's are; this keeps
/// [`QUEUED_COMMANDS`] frames full of files from holding 8 times that).
pub const QUEUED_FILE_BYTES: usize = 16 * 1024 * 1024;
/// How long a command may run by default (`SessionConfig::git_time_limit`).
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(30);

/// The name and email a guest's commits carry: no person, and a domain
/// that can never be reached (`.invalid`, RFC 2606).
pub const GUEST_AUTHOR: (&str, &str) = ("Guest", "guest@bytesbox.invalid");

/// Why a `git` frame was refused: its `git_error` code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRefusal {
    /// Stable code.
    pub code: String,
    /// What happened, for people.
    pub message: String,
}

impl GitRefusal {
    fn new(code: impl Into<String>, message: impl Into<String>) -> GitRefusal {
        GitRefusal { code: code.into(), message: message.into() }
    }

    fn invalid(message: impl Into<String>) -> GitRefusal {
        GitRefusal::new("invalid_spec", message)
    }

    /// The `git_error` frame about command `id`.
    pub fn frame(self, id: &str) -> ServerMessage {
        ServerMessage::GitError { id: id.to_string(), code: self.code, message: self.message }
    }
}

/// Checks a `git` frame's arguments: an allowlisted subcommand first
/// (so no global option such as `-c` or `--exec-path` can come before
/// it), no refused option before `--`, no absolute path after it, no NUL,
/// bounded sizes.
pub fn validate_args(args: &[String]) -> Result<(), GitRefusal> {
    let Some((subcommand, rest)) = args.split_first() else {
        return Err(GitRefusal::invalid("args must start with a git subcommand"));
    };
    if !ALLOWED_SUBCOMMANDS.contains(&subcommand.as_str()) {
        return Err(GitRefusal::invalid(format!(
            "git {subcommand:?} is not allowed here (allowed: {}); a terminal runs anything",
            ALLOWED_SUBCOMMANDS.join(", ")
        )));
    }
    if rest.len() > MAX_ARGS {
        return Err(GitRefusal::invalid(format!("at most {MAX_ARGS} arguments")));
    }
    let remote = REMOTE_SUBCOMMANDS.contains(&subcommand.as_str());
    let mut options_over = false;
    for arg in rest {
        if remote && !arg.starts_with('-') && names_a_repository(arg) {
            return Err(GitRefusal::invalid(format!(
                "{arg:?}: git {subcommand} here uses the repository's remotes (add one in a terminal: git remote add NAME URL)"
            )));
        }
        if arg.len() > MAX_ARG_BYTES {
            return Err(GitRefusal::invalid(format!("an argument is longer than {MAX_ARG_BYTES} bytes")));
        }
        if arg.contains('\0') {
            return Err(GitRefusal::invalid("an argument has a NUL byte"));
        }
        if options_over {
            if arg.starts_with('/') {
                return Err(GitRefusal::invalid(format!("{arg:?}: paths are relative to the workspace")));
            }
            continue;
        }
        if arg == "--" {
            options_over = true;
        } else if let Some(long) = arg.strip_prefix("--") {
            let name = long.split('=').next().unwrap_or_default();
            // git takes any unambiguous prefix of a long option.
            let refused = REFUSED_LONG_OPTIONS.iter().find(|option| option[2..].starts_with(name) && !name.is_empty());
            if let Some(option) = refused {
                return Err(GitRefusal::invalid(format!("{arg:?} ({option}) is not allowed here")));
            }
        } else if let Some(cluster) = arg.strip_prefix('-') {
            // Letters of a cluster are options up to one that takes a
            // value; a message (`-amfix c`) is only a value. Other
            // values (`-bcool`) are read as letters: refusing too much
            // is the safe side.
            for letter in cluster.chars().take_while(|&c| c != 'm') {
                if REFUSED_SHORT_OPTIONS.contains(&letter) {
                    return Err(GitRefusal::invalid(format!("{arg:?} (-{letter}) is not allowed here")));
                }
            }
        }
    }
    Ok(())
}

/// The author and committer of commits: the signed-in user's name, with
/// an address at the never-routable `.invalid` domain (accounts have no
/// email); a guest's or an anonymous caller's [`GUEST_AUTHOR`].
pub fn author_of(caller: &Caller) -> (String, String) {
    match caller {
        Caller::User { user, .. } => (user.username.clone(), format!("{}@users.bytesbox.invalid", user.username)),
        Caller::Guest { .. } | Caller::Anonymous { .. } => (GUEST_AUTHOR.0.to_string(), GUEST_AUTHOR.1.to_string()),
    }
}

/// How long after its time limit a command that ignored SIGTERM gets
/// SIGKILL from `timeout`.
const KILL_AFTER_SECS: u64 = 2;
/// `timeout`'s exit code when the time limit ended the command.
const TIMED_OUT_EXIT: i32 = 124;

/// The run spec of `git <args>` in the workspace, under coreutils'
/// `timeout` (no shell): at the time limit git gets SIGTERM, on which it
/// removes its lock files (`index.lock`) before it dies, and so does a
/// hook it runs (`timeout` signals its whole process group); the run's
/// own wall time, a little longer, is the backstop that kills the tree.
/// No pager, no prompt, no editor, file names unquoted, the author from
/// the environment (nothing written to any config), repository discovery
/// stopped at the workspace, and the plan's default limits with the
/// output bound.
pub fn git_spec(
    args: &[String],
    author: &(String, String),
    plan_defaults: &RunLimits,
    time_limit: Duration,
) -> RunSpec {
    let backstop_ms =
        u64::try_from(time_limit.as_millis()).unwrap_or(u64::MAX).saturating_add((KILL_AFTER_SECS + 3) * 1000);
    let limits = RunLimits {
        wall_time_ms: backstop_ms,
        input_wait_ms: backstop_ms,
        cpu_time_ms: plan_defaults.cpu_time_ms.min(backstop_ms),
        output_bytes: MAX_OUTPUT_BYTES,
        ..plan_defaults.clone()
    };
    let (name, email) = author;
    let env = [
        ("GIT_AUTHOR_NAME", name.as_str()),
        ("GIT_AUTHOR_EMAIL", email.as_str()),
        ("GIT_COMMITTER_NAME", name.as_str()),
        ("GIT_COMMITTER_EMAIL", email.as_str()),
        ("GIT_TERMINAL_PROMPT", "0"),
        ("GIT_PAGER", "cat"),
        ("PAGER", "cat"),
        // No editor: a command that wants one gets an empty message.
        ("GIT_EDITOR", "true"),
        // `status` and `diff` do not take the index lock to refresh it,
        // so the panel never makes a command in a terminal fail.
        ("GIT_OPTIONAL_LOCKS", "0"),
        ("GIT_CEILING_DIRECTORIES", "/"),
        ("GIT_CONFIG_COUNT", "1"),
        ("GIT_CONFIG_KEY_0", "core.quotePath"),
        ("GIT_CONFIG_VALUE_0", "false"),
    ];
    let timeout = [
        "timeout".to_string(),
        format!("--kill-after={KILL_AFTER_SECS}"),
        format!("{:.3}", time_limit.as_secs_f64()),
        "git".to_string(),
    ];
    RunSpec {
        argv: timeout.into_iter().chain(args.iter().cloned()).collect(),
        env: env.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect(),
        limits,
        ..RunSpec::default()
    }
}

/// The answer's status: the run's, except that `timeout`'s own exit code
/// means the time limit ended the command.
fn status_of(report: &ExitReport) -> String {
    match (report.status, report.exit_code) {
        (RunStatus::Nonzero, Some(TIMED_OUT_EXIT)) => RunStatus::Timeout.as_str().to_string(),
        (status, _) => status.as_str().to_string(),
    }
}

/// One checked `git` frame, waiting for its turn.
#[derive(Debug)]
struct GitCommand {
    id: String,
    args: Vec<String>,
    files: Vec<FileEntry>,
    author: (String, String),
    limits: RunLimits,
    boxes: BoxCaps,
}

impl GitCommand {
    fn file_bytes(&self) -> usize {
        self.files.iter().map(|file| file.content.len()).sum()
    }
}

/// A session's queue of git commands and the task that runs them.
#[derive(Debug, Default)]
pub struct GitQueue {
    commands: Mutex<Option<mpsc::Sender<GitCommand>>>,
    /// What the waiting commands' `files` hold, in bytes.
    waiting_file_bytes: AtomicUsize,
}

impl GitQueue {
    /// Queues a command; starts the session's runner on first use.
    fn push(&self, state: &Arc<AppState>, session: &Arc<Session>, command: GitCommand) -> Result<(), GitRefusal> {
        let too_many =
            |what: String| GitRefusal::new("too_many_git_commands", format!("{what}; wait for their answers"));
        let Ok(mut commands) = self.commands.lock() else {
            return Err(GitRefusal::new("internal", "the git queue is broken"));
        };
        let bytes = command.file_bytes();
        let waiting = self.waiting_file_bytes.load(Ordering::Relaxed);
        // A command alone may carry what a run may; behind others, only
        // up to the budget.
        if bytes > 0 && waiting > 0 && waiting + bytes > QUEUED_FILE_BYTES {
            return Err(too_many(format!("git commands with {waiting} bytes of files are waiting already")));
        }
        let sender = commands.get_or_insert_with(|| {
            let (sender, receiver) = mpsc::channel(QUEUED_COMMANDS);
            tokio::spawn(run_commands(state.clone(), Arc::downgrade(session), receiver));
            sender
        });
        // Counted before the runner can take it, so it is never taken
        // off before it was added.
        self.waiting_file_bytes.fetch_add(bytes, Ordering::Relaxed);
        let refused = match sender.try_send(command) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                too_many(format!("{QUEUED_COMMANDS} git commands are waiting already"))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => GitRefusal::new("internal", "the session's git runner ended"),
        };
        self.waiting_file_bytes.fetch_sub(bytes, Ordering::Relaxed);
        Err(refused)
    }

    /// A command left the queue for the runner.
    fn taken(&self, command: &GitCommand) {
        self.waiting_file_bytes.fetch_sub(command.file_bytes(), Ordering::Relaxed);
    }
}

/// `git`: checks the frame at once and queues it; `git_result` or
/// `git_error` follows on the session's queue.
pub(crate) fn request(
    state: &Arc<AppState>,
    session: &Arc<Session>,
    caller: &Caller,
    request: (String, Vec<String>, Vec<WireFile>),
) -> Option<ServerMessage> {
    let (id, args, files) = request;
    if !valid_run_id(&id) {
        return Some(GitRefusal::invalid("a git command id is 1-64 of [A-Za-z0-9_.-]").frame(&id));
    }
    if let Err(e) = validate_args(&args) {
        return Some(e.frame(&id));
    }
    let files = match decode_files(state, files) {
        Ok(files) => files,
        Err(e) => return Some(GitRefusal::new(e.code(), e.message.clone()).frame(&id)),
    };
    let policy = state.run_policy(caller);
    let command = GitCommand {
        id: id.clone(),
        args,
        files,
        author: author_of(caller),
        limits: policy.default_limits,
        boxes: policy.boxes,
    };
    session.git().push(state, session, command).err().map(|e| e.frame(&id))
}

/// The session's runner: one command at a time, in order, until the
/// session is gone.
async fn run_commands(state: Arc<AppState>, session: Weak<Session>, mut commands: mpsc::Receiver<GitCommand>) {
    while let Some(command) = commands.recv().await {
        let Some(session) = session.upgrade() else { return };
        session.git().taken(&command);
        let id = command.id.clone();
        let changes = crate::git_save::may_change_repository(&command.args);
        let frame = match run(&state, &session, command).await {
            Ok(result) => ServerMessage::GitResult(Box::new(result)),
            Err(e) => e.frame(&id),
        };
        let _ = session.send(frame).await;
        // Before the next command: the project's saved repository follows
        // the panel's changes.
        if let Some(box_id) = session.current_box().filter(|_| changes) {
            let backend = state.sessions.engine().backend();
            if let Some(saved) = session.project_git().save(backend.as_ref(), &box_id).await {
                let _ = session.send(saved).await;
            }
        }
    }
}

/// Runs one command in the session's box (made now if it has none),
/// after writing the frame's files there.
async fn run(state: &AppState, session: &Arc<Session>, command: GitCommand) -> Result<GitResultFrame, GitRefusal> {
    let backend = state.sessions.engine().backend();
    let spec = git_spec(&command.args, &command.author, &command.limits, state.sessions.config().git_time_limit);
    let refused = |e: &dyn std::fmt::Display, code: &str| GitRefusal::new(code, e.to_string());
    let mut retried = false;
    let (collected, fresh_box) = loop {
        let acquired = state.sessions.sandbox(session, command.boxes).await.map_err(|e| refused(&e, e.code()))?;
        let (box_id, created, _in_use) = (acquired.id, acquired.created, acquired.in_use);
        state.metrics.box_acquired(BoxOrigin::Session, created);
        let ran = async {
            if !command.files.is_empty() {
                session.files().put_client_files(backend.as_ref(), &box_id, command.files.clone()).await?;
            }
            backend.run(&box_id, spec.clone()).await?.collect().await
        };
        match ran.await {
            Ok(collected) => break (collected, created || retried),
            // The backend destroyed the idle box under us: a new one.
            Err(SandboxError::BoxGone(_) | SandboxError::NoSuchBox(_)) if !retried => {
                retried = true;
                session.forget_sandbox(&box_id).await;
            }
            Err(e) => return Err(refused(&e, e.code())),
        }
    };
    let report = collected.report;
    let (stdout, stdout_encoding) = EncodedBytes::encode(&collected.stdout);
    let (stderr, stderr_encoding) = EncodedBytes::encode(&collected.stderr);
    Ok(GitResultFrame {
        id: command.id,
        status: status_of(&report),
        exit_code: report.exit_code,
        signal: report.signal,
        stdout,
        stdout_encoding,
        stderr,
        stderr_encoding,
        fresh_box,
        wall_ms: report.wall_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn what_a_panel_sends_is_allowed() {
        for ok in [
            &["status", "--porcelain=v2", "-z", "--branch", "--untracked-files=all"][..],
            &["commit", "-m", "fix: the -c flag", "--", "a.txt"],
            &["commit", "-mfix c"],
            &["commit", "-amfix c"],
            &["log", "--graph", "--format=%H%x00%P%x00%an%x00%at%x00%s", "-n", "200", "--all"],
            &["diff", "--cached", "--", "-odd name.txt"],
            &["switch", "-C", "feature"],
            &["restore", "--staged", "--worktree", "--source=HEAD", "--", "x"],
            &["show", "HEAD:src/main.py"],
            &["init", "-b", "main"],
            &["branch", "--no-ext-diff-does-not-exist"],
            &["fetch", "--quiet", "origin"],
            &["pull", "--ff-only", "--quiet"],
            &["push", "--quiet", "--set-upstream", "origin", "HEAD"],
            &["push", "origin", "+main:refs/heads/main"],
        ] {
            assert_eq!(validate_args(&args(ok)), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn options_that_run_programs_or_leave_the_workspace_are_refused() {
        for bad in [
            &[][..],
            &["-c", "core.pager=sh", "log"],
            &["--exec-path=/tmp", "status"],
            &["clone", "x"],
            &["config", "core.editor", "vim"],
            &["log", "-c"],
            &["commit", "-ac", "HEAD"],
            &["commit", "-F", "/etc/passwd"],
            &["commit", "--file=/etc/passwd"],
            &["diff", "--no-index", "/etc/passwd", "a"],
            &["diff", "--outp=/tmp/x"],
            &["diff", "--output", "x"],
            &["log", "--ext-diff"],
            &["status", "--git-dir=/"],
            &["init", "--template=/tmp/t"],
            &["init", "--separate-git-dir", "/tmp/g"],
            &["add", "--pathspec-from-file=/etc/hosts"],
            &["add", "--", "/etc/passwd"],
            &["add", "a\0b"],
            &["STATUS"],
            &["fetch", "ext::sh -c touch% /tmp/x"],
            &["fetch", "/tmp/other-repository"],
            &["pull", "../elsewhere", "main"],
            &["push", "http://10.0.0.1/repo.git", "main"],
            &["push", "file:///tmp/r", "main"],
            &["push", "--receive-pack=sh", "origin"],
            &["fetch", "--upload-pack", "sh", "origin"],
            &["push", "--exec=sh", "origin"],
        ] {
            assert_eq!(validate_args(&args(bad)).map_err(|e| e.code), Err("invalid_spec".to_string()), "{bad:?}");
        }
        let long = "x".repeat(MAX_ARG_BYTES + 1);
        assert!(validate_args(&args(&["commit", "-m", &long])).is_err());
        let many = vec!["a".to_string(); MAX_ARGS + 2];
        assert!(validate_args(&[vec!["add".to_string()], many].concat()).is_err());
    }

    #[test]
    fn commits_are_the_signed_in_users_and_a_guests_are_guests() {
        let ada = crate::accounts::caller::tests::user(bytesbox_store::Role::User);
        assert_eq!(author_of(&ada), ("ada".to_string(), "ada@users.bytesbox.invalid".to_string()));
        let address = std::net::IpAddr::from([127, 0, 0, 1]);
        for caller in [Caller::Guest { address, browser: None }, Caller::Anonymous { address }] {
            assert_eq!(author_of(&caller), ("Guest".to_string(), "guest@bytesbox.invalid".to_string()));
        }
    }

    #[test]
    fn the_spec_runs_git_itself_with_the_author_and_no_pager() {
        let author = ("ada".to_string(), "ada@users.bytesbox.invalid".to_string());
        let spec = git_spec(&args(&["status"]), &author, &RunLimits::default(), Duration::from_secs(5));
        assert_eq!(spec.argv, ["timeout", "--kill-after=2", "5.000", "git", "status"]);
        let env = |key: &str| spec.env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        assert_eq!(env("GIT_AUTHOR_NAME"), Some("ada"));
        assert_eq!(env("GIT_COMMITTER_EMAIL"), Some("ada@users.bytesbox.invalid"));
        assert_eq!(env("GIT_TERMINAL_PROMPT"), Some("0"));
        assert_eq!(env("GIT_PAGER"), Some("cat"));
        assert!(spec.limits.wall_time_ms > 5000, "the run's own limit is the backstop");
        assert_eq!(spec.limits.output_bytes, MAX_OUTPUT_BYTES);
        assert!(spec.close_stdin && spec.stdin.is_empty(), "git reads nothing from the client");
    }
}
