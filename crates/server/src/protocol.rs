//! WebSocket protocol v1 (`docs/protocol.md`): the messages, as types.
//!
//! Parsing is strict (`deny_unknown_fields`), so a typo in a client is an
//! `invalid_message` error instead of a silently ignored field.

use base64::Engine as _;
use bytes::Bytes;
use bytesbox_sandbox::{ExitReport, RunLimits, StdioMode};
use serde::{Deserialize, Serialize};

use crate::limits::RequestedLimits;

/// Protocol version spoken by this server.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest frame a client may send (also of Piston's WebSocket).
pub const MAX_FRAME_BYTES: usize = 12 * 1024 * 1024;

/// How bytes are written in a frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// UTF-8 text.
    #[default]
    Utf8,
    /// Base64 (standard alphabet, padded).
    Base64,
}

/// Bytes with their encoding, as they appear in frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedBytes(pub Bytes);

impl EncodedBytes {
    /// Decodes `data` written in `encoding`.
    pub fn decode(data: &str, encoding: Encoding) -> Result<EncodedBytes, String> {
        match encoding {
            Encoding::Utf8 => Ok(EncodedBytes(Bytes::copy_from_slice(data.as_bytes()))),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode(data)
                .map(|v| EncodedBytes(Bytes::from(v)))
                .map_err(|e| format!("invalid base64: {e}")),
        }
    }

    /// Base64 of any bytes.
    pub fn encode_base64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Text when the bytes are valid UTF-8, else base64.
    pub fn encode(bytes: &[u8]) -> (String, Encoding) {
        match std::str::from_utf8(bytes) {
            Ok(text) => (text.to_string(), Encoding::Utf8),
            Err(_) => (base64::engine::general_purpose::STANDARD.encode(bytes), Encoding::Base64),
        }
    }
}

/// A file sent with a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireFile {
    /// Workspace-relative path.
    pub path: String,
    /// Content, in `encoding`.
    pub content: String,
    /// How `content` is written.
    #[serde(default)]
    pub encoding: Encoding,
}

/// Terminal size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtySize {
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

/// A run's terminal: its size, and where the program's stderr goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunTty {
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
    /// stderr apart from the terminal (the default) or on it.
    #[serde(default)]
    pub stderr: TtyStderr,
}

impl RunTty {
    /// The run's standard streams.
    pub fn stdio(self) -> StdioMode {
        match self.stderr {
            TtyStderr::Apart => StdioMode::terminal_with_stderr_apart(self.rows, self.cols),
            TtyStderr::Terminal => StdioMode::terminal(self.rows, self.cols),
        }
    }
}

/// Where a run's stderr goes under a terminal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TtyStderr {
    /// A stream of its own: `output` frames with `stream: "stderr"`, so a
    /// client can show errors apart from output (`docs/protocol.md`,
    /// "stderr under a terminal", says what each backend gives fd 2).
    #[default]
    Apart,
    /// The terminal, merged with stdout, as in a shell.
    Terminal,
}

/// A `run` request.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Client-chosen run id.
    pub id: String,
    /// Language id or alias; inferred from the entry when absent.
    #[serde(default)]
    pub language: Option<String>,
    /// The project's files (none when `project` names a saved one).
    #[serde(default)]
    pub files: Vec<WireFile>,
    /// A saved project of the caller's to run instead of `files`; its
    /// language and entry file are the defaults.
    #[serde(default)]
    pub project: Option<String>,
    /// The entry file.
    #[serde(default)]
    pub entry: Option<String>,
    /// Program arguments.
    #[serde(default)]
    pub args: Vec<String>,
    /// Initial input.
    #[serde(default)]
    pub stdin: Option<String>,
    /// A terminal, or pipes when absent.
    #[serde(default)]
    pub tty: Option<RunTty>,
    /// Limit overrides, within the caller's plan's maxima.
    #[serde(default)]
    pub limits: Option<RequestedLimits>,
    /// SQL runtimes only: results as `sql_result` frames (structured)
    /// instead of the client's text on stdout (`docs/sql.md`).
    #[serde(default)]
    pub sql_results: bool,
    /// With `sql_results` in a session only: the files go into a folder
    /// of the server's ([`SCRATCH_DIR`]) instead of replacing the
    /// workspace's, which stays as it is (a query beside the project, such
    /// as the IDE's schema panel's).
    #[serde(default)]
    pub scratch: bool,
}

/// Where a `scratch` run's files go: inside the server's own folder, which
/// the workspace watch never lists and runs keep.
pub const SCRATCH_DIR: &str = ".bytesbox/scratch";

/// Client → server (read only: the server never writes these).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Start a run.
    Run(Box<RunRequest>),
    /// Input.
    Stdin {
        /// Run id.
        id: String,
        /// Data in `encoding`.
        data: String,
        /// How `data` is written.
        #[serde(default)]
        encoding: Encoding,
    },
    /// End of input.
    Eof {
        /// Run id.
        id: String,
    },
    /// Terminal resize.
    Resize {
        /// Run id.
        id: String,
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
    /// A signal for the current stage.
    Signal {
        /// Run id.
        id: String,
        /// Signal name (`SIGINT`, …).
        signal: String,
    },
    /// Stop.
    Kill {
        /// Run id.
        id: String,
    },
    /// Drop the session's databases (MySQL, PostgreSQL, SQLite) back to
    /// empty: the session's box is destroyed, and the next run gets a new one.
    ResetDatabase {
        /// Client-chosen id, echoed in the answer.
        id: String,
    },
    /// Open a terminal: a login shell in the session's box.
    TerminalOpen {
        /// Client-chosen id, unique among the session's open terminals.
        id: String,
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
    /// Keystrokes (or pasted text) for a terminal.
    TerminalInput {
        /// Terminal id.
        id: String,
        /// Data in `encoding`.
        data: String,
        /// How `data` is written.
        #[serde(default)]
        encoding: Encoding,
    },
    /// A terminal's new size.
    TerminalResize {
        /// Terminal id.
        id: String,
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
    /// Close a terminal: its shell and everything started from it die.
    TerminalClose {
        /// Terminal id.
        id: String,
    },
    /// Start watching the session's workspace: `files_changed` frames
    /// follow whenever a file in it is created, changed or deleted
    /// (`docs/protocol.md`, "Files flow both ways").
    FilesWatch,
    /// Stop watching the workspace.
    FilesUnwatch,
    /// Write files into the session's box now (the editor's saved files,
    /// for the shells and programs already running there); answered by
    /// `files_written`.
    FilesWrite {
        /// Client-chosen id, echoed in the answer.
        id: String,
        /// The files, as a run's.
        files: Vec<WireFile>,
    },
    /// Delete files and folders (with everything in them) in the session's
    /// box now (what was deleted or moved in the IDE); answered by
    /// `files_deleted`.
    FilesDelete {
        /// Client-chosen id, echoed in the answer.
        id: String,
        /// Workspace-relative paths of files or folders.
        paths: Vec<String>,
    },
    /// Run one allowlisted git subcommand in the session's box
    /// (`docs/protocol.md`, "Git"); answered by `git_result` or
    /// `git_error`.
    Git {
        /// Client-chosen id, echoed in the answer.
        id: String,
        /// The subcommand and its arguments, without `git`.
        args: Vec<String>,
        /// Files written into the workspace first (added or replaced,
        /// the rest stays), as a run's.
        #[serde(default)]
        files: Vec<WireFile>,
    },
    /// The signed-in user's saved project the session's box holds (`id`),
    /// or none (`null`): its git repository is saved with it and brought
    /// back into the session's next box (`docs/git.md`, "Saved with the
    /// project"); answered by `project_attached` or `project_error`.
    Project {
        /// The project's id; `null` detaches.
        #[serde(default)]
        id: Option<String>,
    },
    /// Keep-alive.
    Ping {
        /// Echoed in `pong`.
        #[serde(default)]
        nonce: Option<String>,
    },
    /// Start a notebook's kernel in the session's box (`docs/notebooks.md`).
    KernelStart {
        /// Client-chosen kernel id.
        id: String,
        /// A language with a kernel in the catalog (id or alias).
        language: String,
    },
    /// Run a cell.
    KernelExecute {
        /// Kernel id.
        id: String,
        /// Client-chosen request id: the `parent` of every message about it.
        request: String,
        /// The cell's code.
        code: String,
        /// Whether the cell may ask for input (`input_request`).
        #[serde(default = "yes")]
        allow_stdin: bool,
    },
    /// Answer the kernel's `input_request`.
    KernelInput {
        /// Kernel id.
        id: String,
        /// The request the input belongs to.
        request: String,
        /// The line typed, without its newline.
        value: String,
    },
    /// Interrupt the running cell.
    KernelInterrupt {
        /// Kernel id.
        id: String,
    },
    /// A new kernel in place of the old: state gone, counts from 1.
    KernelRestart {
        /// Kernel id.
        id: String,
    },
    /// Completions at a cursor.
    KernelComplete {
        /// Kernel id.
        id: String,
        /// Request id.
        request: String,
        /// The cell's code.
        code: String,
        /// Cursor position, in Unicode code points.
        cursor_pos: usize,
    },
    /// Help on the name at a cursor.
    KernelInspect {
        /// Kernel id.
        id: String,
        /// Request id.
        request: String,
        /// The cell's code.
        code: String,
        /// Cursor position, in Unicode code points.
        cursor_pos: usize,
        /// 0 or 1 (1: with the source, where the kernel has it).
        #[serde(default)]
        detail_level: u8,
    },
    /// End a kernel.
    KernelShutdown {
        /// Kernel id.
        id: String,
    },
    /// Start a language server in the session's box
    /// (`docs/language-servers.md`).
    LspStart {
        /// Client-chosen server id, unique among the session's servers.
        id: String,
        /// A language with a server in the catalog (id or alias).
        language: String,
        /// Files written into the workspace first (added or replaced; the
        /// rest stays), so that the server finds the project's modules and
        /// headers on disk.
        #[serde(default)]
        files: Vec<WireFile>,
    },
    /// A JSON-RPC message for a language server.
    LspMessage {
        /// Server id.
        id: String,
        /// The message (a request, response or notification), as JSON.
        message: serde_json::Value,
    },
    /// Files for the box's workspace, for the language servers (which
    /// read the files a document imports or includes from disk).
    LspFiles {
        /// A running server's id.
        id: String,
        /// The files, added or replaced; the rest stays.
        files: Vec<WireFile>,
    },
    /// End a language server.
    LspStop {
        /// Server id.
        id: String,
    },
}

fn yes() -> bool {
    true
}

/// A terminal open in a session, as a resumed `hello` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenTerminal {
    /// Terminal id.
    pub id: String,
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

/// What happened to one file of the workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileOp {
    /// Created or changed.
    Write,
    /// Deleted (or now excluded by nothing: gone from the workspace).
    Delete,
}

/// One file's change in a `files_changed` frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    /// Workspace-relative path.
    pub path: String,
    /// `write` or `delete`.
    pub op: FileOp,
    /// The file's bytes in `encoding` (a `write` whose bytes are sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// `utf8` or `base64`, with `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
    /// Size in bytes (a `write`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Whether the file is executable (a `write`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub executable: bool,
    /// Why `data` is missing from a `write`: `too_large`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omitted: Option<String>,
}

/// What the watch left out of the workspace, as of the last scan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftOut {
    /// Entries excluded by `.bytesboxignore` (each excluded folder counts
    /// once; what is inside it is never visited).
    pub ignored: u64,
    /// Symlinks, special files, names that are not UTF-8 and folders
    /// nested too deep: never listed.
    pub unlisted: u64,
    /// The workspace has more entries than a scan visits: files past the
    /// cap are missing (and are not reported deleted).
    pub truncated: bool,
    /// Changes seen but held for a later frame (each frame is bounded).
    pub pending: u64,
}

/// A `files_changed` frame.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesChanged {
    /// The changes, in path order.
    pub changes: Vec<FileChange>,
    /// What the watch left out.
    pub left_out: LeftOut,
}

/// Server → client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First frame of a session.
    Hello {
        /// Session id.
        session: String,
        /// Token to resume the session after a disconnect.
        resume: String,
        /// Always [`PROTOCOL_VERSION`].
        protocol: u32,
        /// Default limits of a run.
        default_limits: Box<RunLimits>,
        /// Maxima a run may ask for.
        max_limits: Box<RunLimits>,
        /// The session's open terminals (a resumed session's; a new one
        /// has none).
        terminals: Vec<OpenTerminal>,
    },
    /// The run passed validation.
    Accepted {
        /// Run id.
        id: String,
        /// Resolved language id.
        language: String,
        /// Its version.
        version: String,
        /// The entry file (the request's, or the one the catalog chose);
        /// absent for a language that compiles every source without one.
        #[serde(skip_serializing_if = "Option::is_none")]
        entry: Option<String>,
    },
    /// Waiting for a slot.
    Queued {
        /// Run id.
        id: String,
        /// Place in the queue.
        position: usize,
    },
    /// A stage began.
    Stage {
        /// Run id.
        id: String,
        /// `compile` or `run`.
        stage: String,
    },
    /// Output.
    Output {
        /// Run id.
        id: String,
        /// Stage.
        stage: String,
        /// `stdout` or `stderr`.
        stream: String,
        /// Data in `encoding`.
        data: String,
        /// `utf8` or `base64`.
        encoding: Encoding,
    },
    /// The server's notice about a running stage, not program output.
    Notice {
        /// Run id.
        id: String,
        /// Stage.
        stage: String,
        /// What the person should know.
        text: String,
    },
    /// A stage ended.
    Exit {
        /// Run id.
        id: String,
        /// Stage.
        stage: String,
        /// Exit code.
        code: Option<i32>,
        /// Signal number.
        signal: Option<i32>,
        /// Status name.
        status: String,
        /// Wall time.
        wall_ms: u64,
        /// CPU time.
        cpu_ms: u64,
        /// Peak memory.
        memory_bytes: u64,
    },
    /// The run is over.
    Done {
        /// Run id.
        id: String,
    },
    /// A terminal's shell started.
    TerminalOpened {
        /// Terminal id.
        id: String,
    },
    /// A terminal's output.
    TerminalOutput {
        /// Terminal id.
        id: String,
        /// Where the first byte sits in all of the terminal's output: a
        /// gap after the previous frame's end is output the client missed.
        offset: u64,
        /// Data in `encoding`.
        data: String,
        /// `utf8` or `base64`.
        encoding: Encoding,
    },
    /// A terminal's shell ended; nothing more about it follows.
    TerminalExit {
        /// Terminal id.
        id: String,
        /// Exit code.
        code: Option<i32>,
        /// Signal number.
        signal: Option<i32>,
        /// Status name, as in `exit`.
        status: String,
    },
    /// The workspace is watched now (answer to `files_watch`), with the
    /// watch's bounds.
    FilesWatching {
        /// Largest file whose bytes a `files_changed` frame carries; a
        /// larger one comes with its size alone (`omitted: too_large`).
        max_file_bytes: u64,
        /// Most entries (files and folders) a scan of the workspace
        /// visits; past them, `left_out.truncated`.
        max_entries: usize,
        /// Milliseconds between two scans, at least.
        interval_ms: u64,
    },
    /// The answer to `files_write`.
    FilesWritten {
        /// The request's id.
        id: String,
        /// Files written; 0 when the session has no box yet (its first
        /// run or terminal writes every file).
        count: usize,
    },
    /// The answer to `files_delete`.
    FilesDeleted {
        /// The request's id.
        id: String,
        /// Paths that were there and are deleted; 0 when the session has
        /// no box yet.
        count: usize,
    },
    /// Files of the workspace created, changed or deleted since the last
    /// such frame.
    FilesChanged(Box<FilesChanged>),
    /// A refusal or failure.
    Error {
        /// Run id, when about a run.
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Terminal id, when about a terminal.
        #[serde(skip_serializing_if = "Option::is_none")]
        terminal: Option<String>,
        /// Stable code.
        code: String,
        /// Human message.
        message: String,
    },
    /// The session's databases are empty now (answer to `reset_database`).
    DatabaseReset {
        /// The request's id.
        id: String,
    },
    /// Keep-alive answer.
    Pong {
        /// The ping's nonce.
        nonce: Option<String>,
    },
    /// One statement's result of a run with `sql_results`.
    SqlResult {
        /// Run id.
        id: String,
        /// The result.
        result: Box<crate::sql_results::StatementResult>,
    },
    /// A kernel answers (after `kernel_start` or `kernel_restart`).
    KernelReady {
        /// Kernel id.
        id: String,
        /// The catalog's language id.
        language: String,
        /// The kernel's `language_info` (name, version, mimetype, …).
        language_info: serde_json::Value,
        /// Whether it replaced the kernel of the same id.
        restarted: bool,
    },
    /// A Jupyter message from a kernel, its JSON as the kernel sent it.
    KernelMessage(Box<KernelMessageFrame>),
    /// A kernel's process ended.
    KernelExited {
        /// Kernel id.
        id: String,
        /// Why: a run status (`memory_limit`, `nonzero`, `killed`, …),
        /// `culled` (idle too long) or `shutdown` (asked for).
        status: String,
        /// Exit code.
        exit_code: Option<i32>,
        /// Signal number.
        signal: Option<i32>,
        /// Peak memory.
        memory_bytes: u64,
    },
    /// A language server started (after `lsp_start`): the client sends
    /// `initialize` next.
    LspReady(Box<LspReadyFrame>),
    /// A JSON-RPC message from a language server, as it sent it.
    LspMessage {
        /// Server id.
        id: String,
        /// The message.
        message: serde_json::Value,
    },
    /// A language server ended; its id is free again.
    LspExited {
        /// Server id.
        id: String,
        /// A run status (`memory_limit`, `nonzero`, `killed`, …),
        /// `message_too_large`, `protocol_error`, `stopped` or `culled`.
        status: String,
        /// Exit code.
        exit_code: Option<i32>,
        /// Signal number.
        signal: Option<i32>,
        /// Peak memory.
        memory_bytes: u64,
        /// Why, in words (the last line of its stderr, or what it broke).
        message: String,
    },
    /// A refusal or failure about a language server (its own type, so
    /// that it never mixes with a run's `error` of the same id).
    LspError {
        /// Server id.
        id: String,
        /// Stable code.
        code: String,
        /// Human message.
        message: String,
    },
    /// The session now holds this project (or none).
    ProjectAttached {
        /// The project's id, as the `project` frame named it.
        id: Option<String>,
    },
    /// A `project` frame refused: the session's project is unchanged.
    ProjectError {
        /// The id the frame named.
        id: Option<String>,
        /// Stable code.
        code: String,
        /// Human message.
        message: String,
    },
    /// What became of the project's saved git repository: saved, not
    /// saved (over the quota, too large, storage failing) or brought back
    /// into a new box.
    ProjectGit(Box<ProjectGitFrame>),
    /// What a `git` command did.
    GitResult(Box<GitResultFrame>),
    /// A `git` frame refused, or a command that could not be started (its
    /// own type, as `lsp_error`).
    GitError {
        /// The command's id.
        id: String,
        /// Stable code.
        code: String,
        /// Human message.
        message: String,
    },
}

/// The fields of a `project_git` frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProjectGitFrame {
    /// The project.
    pub project: String,
    /// `saved`, `not_saved`, `restored` or `not_restored`.
    pub event: String,
    /// The saved archive's size (`saved`, `restored`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Why not (`not_saved`, `not_restored`): a stable code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Why not, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// For the server's own failures (storage down): the id of its log
    /// line and of the Dashboard's error list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_id: Option<String>,
}

/// The fields of a `git_result` frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GitResultFrame {
    /// The command's id.
    pub id: String,
    /// A run status, as in `exit`: `ok` and `nonzero` are git's own
    /// answer; `timeout` and `output_limit` mean the server stopped it.
    pub status: String,
    /// Exit code.
    pub exit_code: Option<i32>,
    /// Signal number.
    pub signal: Option<i32>,
    /// What it printed (up to the output bound).
    pub stdout: String,
    /// `utf8`, or `base64` when not valid UTF-8.
    pub stdout_encoding: Encoding,
    /// Its errors and hints.
    pub stderr: String,
    /// As `stdout_encoding`.
    pub stderr_encoding: Encoding,
    /// The session's box was made for this command: its workspace held
    /// only the frame's files (the client should send them all).
    pub fresh_box: bool,
    /// How long it ran.
    pub wall_ms: u64,
}

/// The fields of an `lsp_ready` frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LspReadyFrame {
    /// Server id.
    pub id: String,
    /// The catalog's language id.
    pub language: String,
    /// The LSP `languageId` of its documents.
    pub language_id: String,
    /// The workspace as the server sees it (`file:///workspace`).
    pub root_uri: String,
    /// What to send as `initializationOptions`.
    pub initialization_options: serde_json::Value,
    /// What to send in `workspace/didChangeConfiguration` once
    /// initialised.
    pub settings: serde_json::Value,
}

/// The fields of a `kernel_message` frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KernelMessageFrame {
    /// Kernel id.
    pub id: String,
    /// `iopub`, `shell`, `stdin` or `control`.
    pub channel: String,
    /// The Jupyter message type (`stream`, `execute_result`, `status`, …).
    pub msg_type: String,
    /// The client's request id it is about, if any.
    pub parent: Option<String>,
    /// Its content.
    pub content: serde_json::Value,
    /// Its metadata.
    pub metadata: serde_json::Value,
    /// Its header as the kernel sent it: not part of this protocol, kept
    /// for the Kernel Gateway API (`crate::gateway`).
    #[serde(skip)]
    pub header: serde_json::Value,
    /// Its parent header as the kernel sent it (likewise).
    #[serde(skip)]
    pub parent_header: serde_json::Value,
}

impl ServerMessage {
    /// An `exit` frame from a stage's report.
    pub fn exit(id: &str, stage: &str, report: &ExitReport) -> ServerMessage {
        ServerMessage::Exit {
            id: id.to_string(),
            stage: stage.to_string(),
            code: report.exit_code,
            signal: report.signal,
            status: report.status.as_str().to_string(),
            wall_ms: report.wall_ms,
            cpu_ms: report.cpu_ms,
            memory_bytes: report.peak_memory_bytes,
        }
    }

    /// A `terminal_output` frame, text when possible and base64 otherwise.
    pub fn terminal_output(id: &str, offset: u64, bytes: &[u8]) -> ServerMessage {
        let (data, encoding) = EncodedBytes::encode(bytes);
        ServerMessage::TerminalOutput { id: id.to_string(), offset, data, encoding }
    }

    /// A `terminal_exit` frame from the shell's report.
    pub fn terminal_exit(id: &str, report: &ExitReport) -> ServerMessage {
        ServerMessage::TerminalExit {
            id: id.to_string(),
            code: report.exit_code,
            signal: report.signal,
            status: report.status.as_str().to_string(),
        }
    }

    /// An `error` frame about terminal `id`.
    pub fn terminal_error(id: &str, code: &str, message: impl Into<String>) -> ServerMessage {
        ServerMessage::Error {
            id: None,
            terminal: Some(id.to_string()),
            code: code.to_string(),
            message: message.into(),
        }
    }

    /// An `output` frame, text when possible and base64 otherwise.
    pub fn output(id: &str, stage: &str, stream: &str, bytes: &[u8]) -> ServerMessage {
        let (data, encoding) = EncodedBytes::encode(bytes);
        ServerMessage::Output {
            id: id.to_string(),
            stage: stage.to_string(),
            stream: stream.to_string(),
            data,
            encoding,
        }
    }
}

/// Checks a client-chosen run id: 1–64 of `[A-Za-z0-9_.-]`.
pub fn valid_run_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_run_message_parses() {
        let text = r#"{"type":"run","id":"r1","language":"python","files":[{"path":"main.py","content":"print(1)"}],"tty":{"rows":24,"cols":80}}"#;
        let ClientMessage::Run(run) = serde_json::from_str(text).unwrap() else { panic!("not a run") };
        assert_eq!(run.id, "r1");
        assert_eq!(run.files[0].encoding, Encoding::Utf8);
        assert_eq!(run.tty, Some(RunTty { rows: 24, cols: 80, stderr: TtyStderr::Apart }));
        let merged = text.replace(r#""cols":80}"#, r#""cols":80,"stderr":"terminal"}"#);
        let ClientMessage::Run(run) = serde_json::from_str(&merged).unwrap() else { panic!("not a run") };
        assert_eq!(run.tty.map(RunTty::stdio), Some(StdioMode::terminal(24, 80)));
        let apart = RunTty { rows: 24, cols: 80, stderr: TtyStderr::Apart };
        assert_eq!(apart.stdio(), StdioMode::Pty { rows: 24, cols: 80, stderr_apart: true });
        assert!(run.limits.is_none());
    }

    #[test]
    fn unknown_fields_and_types_are_rejected() {
        for bad in [
            r#"{"type":"run","id":"r1","files":[],"langauge":"python"}"#,
            r#"{"type":"launch","id":"r1"}"#,
            r#"{"type":"stdin","id":"r1"}"#,
            r#"{"id":"r1"}"#,
            r#"{"type":"run","id":"r1","files":[{"path":"a","content":"b","mode":1}]}"#,
        ] {
            assert!(serde_json::from_str::<ClientMessage>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn output_is_text_when_it_can_be_and_base64_otherwise() {
        let text = serde_json::to_value(ServerMessage::output("r1", "run", "stdout", b"hi\n")).unwrap();
        assert_eq!(text["data"], "hi\n");
        assert_eq!(text["encoding"], "utf8");
        let binary = serde_json::to_value(ServerMessage::output("r1", "run", "stdout", b"\x00\xff")).unwrap();
        assert_eq!(binary["encoding"], "base64");
        let decoded = EncodedBytes::decode(binary["data"].as_str().unwrap(), Encoding::Base64).unwrap();
        assert_eq!(&decoded.0[..], b"\x00\xff");
        assert!(EncodedBytes::decode("!!!", Encoding::Base64).is_err());
    }

    #[test]
    fn kernel_messages_parse_with_their_defaults() {
        let text = r#"{"type":"kernel_execute","id":"k1","request":"c1","code":"1+1"}"#;
        let ClientMessage::KernelExecute { allow_stdin, .. } = serde_json::from_str(text).unwrap() else {
            panic!("not an execute")
        };
        assert!(allow_stdin, "cells may ask for input unless the client says otherwise");
        let text = r#"{"type":"kernel_inspect","id":"k1","request":"c2","code":"len","cursor_pos":3}"#;
        assert!(matches!(serde_json::from_str(text).unwrap(), ClientMessage::KernelInspect { detail_level: 0, .. }));
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"kernel_start","id":"k1"}"#).is_err());
    }

    #[test]
    fn kernel_messages_are_flat_frames() {
        let frame = ServerMessage::KernelMessage(Box::new(KernelMessageFrame {
            id: "k1".into(),
            channel: "iopub".into(),
            msg_type: "stream".into(),
            parent: Some("c1".into()),
            content: serde_json::json!({"name": "stdout", "text": "hi\n"}),
            metadata: serde_json::json!({}),
            header: serde_json::Value::Null,
            parent_header: serde_json::Value::Null,
        }));
        let value = serde_json::to_value(&frame).unwrap();
        assert_eq!(value["type"], "kernel_message");
        assert!(value.get("header").is_none(), "the kernel's headers are the gateway's, not this protocol's");
        assert_eq!(value["content"]["text"], "hi\n");
        assert_eq!(serde_json::from_value::<ServerMessage>(value).unwrap(), frame);
    }

    #[test]
    fn errors_omit_a_missing_run_id() {
        let frame =
            ServerMessage::Error { id: None, terminal: None, code: "invalid_message".into(), message: "bad".into() };
        let value = serde_json::to_value(frame).unwrap();
        assert!(value.get("id").is_none());
        assert!(value.get("terminal").is_none());
        assert_eq!(value["type"], "error");
    }

    #[test]
    fn terminal_messages_parse_and_are_written_as_documented() {
        let open: ClientMessage =
            serde_json::from_str(r#"{"type":"terminal_open","id":"t1","rows":24,"cols":80}"#).unwrap();
        assert_eq!(open, ClientMessage::TerminalOpen { id: "t1".into(), rows: 24, cols: 80 });
        let input: ClientMessage =
            serde_json::from_str(r#"{"type":"terminal_input","id":"t1","data":"ls\r"}"#).unwrap();
        assert_eq!(
            input,
            ClientMessage::TerminalInput { id: "t1".into(), data: "ls\r".into(), encoding: Encoding::Utf8 }
        );
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"terminal_close","id":"t1","now":true}"#).is_err());
        let output = serde_json::to_value(ServerMessage::terminal_output("t1", 7, b"\x1b[31mred")).unwrap();
        assert_eq!(output["type"], "terminal_output");
        assert_eq!((output["offset"].as_u64(), output["encoding"].as_str()), (Some(7), Some("utf8")));
        let error = serde_json::to_value(ServerMessage::terminal_error("t1", "unknown_terminal", "no")).unwrap();
        assert_eq!((error["terminal"].as_str(), error.get("id")), (Some("t1"), None));
    }

    #[test]
    fn lsp_frames_carry_json_rpc_as_json() {
        let text = r#"{"type":"lsp_message","id":"python","message":{"jsonrpc":"2.0","id":1,"method":"shutdown"}}"#;
        let ClientMessage::LspMessage { id, message } = serde_json::from_str(text).unwrap() else {
            panic!("not an lsp_message")
        };
        assert_eq!((id.as_str(), message["method"].as_str()), ("python", Some("shutdown")));
        let start: ClientMessage = serde_json::from_str(r#"{"type":"lsp_start","id":"cpp","language":"cpp"}"#).unwrap();
        assert!(matches!(start, ClientMessage::LspStart { files, .. } if files.is_empty()));
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"lsp_stop","id":"cpp","now":1}"#).is_err());
        let frame = ServerMessage::LspMessage { id: "cpp".into(), message: serde_json::json!({"id": 1, "result": []}) };
        let value = serde_json::to_value(&frame).unwrap();
        assert_eq!((value["type"].as_str(), value["message"]["id"].as_u64()), (Some("lsp_message"), Some(1)));
    }

    #[test]
    fn run_ids_are_checked() {
        assert!(valid_run_id("r1"));
        assert!(valid_run_id("build-2.final_x"));
        for bad in ["", "a b", "a/b", &"x".repeat(65), "é"] {
            assert!(!valid_run_id(bad), "{bad:?}");
        }
    }
}
