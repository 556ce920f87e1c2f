//! The command line. Every flag of `serve` also reads a `BYTESBOX_*`
//! environment variable; a TOML file holds the rest.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Bytesbox: a self-hosted cloud IDE and code-execution service.
#[derive(Debug, Parser)]
#[command(name = "bytesbox", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the WebSocket and HTTP APIs.
    Serve(ServeArgs),
    /// Run a project once and stream its output here; the exit code
    /// follows the program's.
    Run(RunArgs),
    /// List the languages this host can run, with their versions.
    Runtimes(RuntimesArgs),
    /// Administer accounts (the first administrator comes from here).
    #[command(subcommand)]
    Admin(AdminCommand),
}

/// `bytesbox admin …`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an account. The password is read from `BYTESBOX_PASSWORD`,
    /// or else from the first line of standard input.
    CreateUser(CreateUserArgs),
    /// Drain a node of the fleet: it takes no new sessions (its `/readyz`
    /// answers 503 from its next heartbeat on) and exits once its
    /// sessions are over.
    Drain(DrainArgs),
}

/// `bytesbox admin drain`.
#[derive(Debug, Args)]
pub struct DrainArgs {
    /// The node's id (`GET /api/v1/admin/nodes` lists them).
    pub node: String,
    /// The store the fleet shares.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Where the metadata store is: the same flags as `serve`.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Where the server keeps its data (the SQLite database by default).
    #[arg(long, env = "BYTESBOX_DATA_DIR", default_value = "/var/lib/bytesbox")]
    pub data_dir: PathBuf,
    /// A PostgreSQL (`postgres://…`) or SQLite (`sqlite:…`) URL instead of
    /// `bytesbox.db` in the data dir.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Where saved projects' file contents live: empty for `objects/` in
    /// the data dir, an absolute directory, or `s3://bucket/prefix` (with
    /// the `AWS_*` variables for credentials, region and endpoint).
    #[arg(long, env = "BYTESBOX_OBJECTS", default_value = "")]
    pub objects: String,
}

/// `bytesbox admin create-user`.
#[derive(Debug, Args)]
pub struct CreateUserArgs {
    /// The login name.
    #[arg(long)]
    pub username: String,
    /// Make the account an administrator.
    #[arg(long)]
    pub admin: bool,
    /// The account's resource plan.
    #[arg(long)]
    pub plan: Option<String>,
    /// The store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Isolation backends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// Linux namespaces, cgroups and seccomp; no daemon.
    Native,
    /// The Docker Engine API.
    Docker,
}

/// `bytesbox serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "BYTESBOX_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Isolation backend.
    #[arg(long, env = "BYTESBOX_BACKEND", value_enum, default_value = "native")]
    pub backend: BackendKind,
    /// The data dir and the database.
    #[command(flatten)]
    pub store: StoreArgs,
    /// A TOML configuration file (see docs/configuration.md).
    #[arg(long, env = "BYTESBOX_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log as JSON lines.
    #[arg(long, env = "BYTESBOX_LOG_JSON")]
    pub log_json: bool,
    /// The web IDE's built assets (`npm run build` in `web/`), served at `/`.
    #[arg(long, env = "BYTESBOX_WEB_DIR", default_value = "web/dist")]
    pub web_dir: PathBuf,
    /// This node's id in the fleet (over `[node] id`; default a fresh UUID).
    #[arg(long, env = "BYTESBOX_NODE_ID")]
    pub node_id: Option<String>,
    /// The URL peers and the load balancer reach this node at (over
    /// `[node] address`; default from `--listen`).
    #[arg(long, env = "BYTESBOX_NODE_ADDRESS")]
    pub node_address: Option<String>,
}

/// `bytesbox run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The project's files; the first decides the language unless
    /// `--language` is given, and is the entry file.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Language id or alias.
    #[arg(long, short)]
    pub language: Option<String>,
    /// A file whose bytes are the program's input.
    #[arg(long)]
    pub stdin: Option<PathBuf>,
    /// Arguments for the program.
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// `bytesbox runtimes`.
#[derive(Debug, Args)]
pub struct RuntimesArgs {
    /// A catalog file instead of the built-in one.
    #[arg(long)]
    pub catalog: Option<PathBuf>,
    /// Whose runtimes: this host's (native) or the runtime images' (docker:
    /// each runtime's image, present or missing, probed in a box of it).
    #[arg(long, env = "BYTESBOX_BACKEND", value_enum, default_value = "native")]
    pub backend: BackendKind,
}
