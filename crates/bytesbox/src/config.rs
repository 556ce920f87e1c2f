//! The settings of `bytesbox serve`: the TOML file as written
//! ([`FileConfig`]), and what it and the command line resolve to, once, at
//! start-up ([`ServeConfig`]), which nothing changes after. A setting the
//! file leaves out takes the default of the type it configures, written
//! once, where that type is.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use bytesbox_docker::{DockerConfig, SparePoolConfig};
use bytesbox_egress::{EgressConfig, EgressPolicy};
use bytesbox_engine::AdmissionConfig;
use bytesbox_native::NativeConfig;
use bytesbox_sandbox::BoxSpec;
use bytesbox_server::accounts::origin::origin_of_url;
use bytesbox_server::accounts::{AccountsConfig, PlanConfig, Plans, SignInRates};
use bytesbox_server::config::{LimitsConfig, PistonConfig, ProjectCaps, ServerConfig};
use bytesbox_server::connections::ConnectionConfig;
use bytesbox_server::fleet::NodeConfig;
use bytesbox_server::monitoring::MonitoringConfig;
use bytesbox_server::rate_limit::RateLimitConfig;
use bytesbox_server::session::SessionConfig;
use bytesbox_server::session_kernels::KernelConfig;
use bytesbox_server::session_lsp::LspConfig;
use bytesbox_store::{MonitorRetention, ObjectsConfig, StorageLimits};
use serde::Deserialize;

use crate::cli::{BackendKind, ServeArgs};

/// Descriptors kept out of `[connections] max_total`'s reach: boxes'
/// sockets and pidfds, the database, the object store, the jailer.
const RESERVED_FILES: u64 = 1024;

/// Descriptors the server holds for a live native box with its session:
/// the box's control socket, pidfd and workspace directory, and the
/// session's connection.
const FILES_PER_BOX: u64 = 4;

/// The native backend's box cap: what the open-file limit holds, or the
/// configured cap if that is lower. Past the limit a new box would fail
/// half made (EMFILE) and a box being torn down could not be cleaned up;
/// at the cap a new one is refused with `at_capacity` instead.
fn boxes_fitting(configured: usize, open_files: u64) -> usize {
    let fitting =
        usize::try_from(open_files.saturating_sub(RESERVED_FILES) / FILES_PER_BOX).unwrap_or(usize::MAX).max(1);
    if configured > fitting {
        tracing::warn!(configured, fitting, "[native] max_boxes lowered to fit the open-file limit");
    }
    if configured == 0 {
        fitting
    } else {
        configured.min(fitting)
    }
}

/// Everything `bytesbox serve` is configured with, resolved.
#[derive(Debug)]
pub struct ServeConfig {
    /// The HTTP application's settings.
    pub server: ServerConfig,
    /// The native backend.
    pub native: NativeConfig,
    /// The Docker backend.
    pub docker: DockerConfig,
    /// Sessions.
    pub sessions: SessionConfig,
    /// How long running programs get to finish on SIGTERM.
    pub drain: Duration,
    /// Runs at once and waiting.
    pub admission: AdmissionConfig,
    /// Accounts and guests.
    pub accounts: AccountsConfig,
    /// Resource plans, resolved over `server.limits`.
    pub plans: Plans,
    /// Where saved projects' file contents are kept.
    pub objects: ObjectsConfig,
}

/// Everything not on the command line. Every section is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// The native backend.
    pub native: NativeConfig,
    /// The Docker backend.
    pub docker: DockerSection,
    /// Sessions.
    pub sessions: SessionsConfig,
    /// Admission control.
    pub admission: AdmissionSection,
    /// Limits of runs.
    pub limits: LimitsConfig,
    /// Per-client rate limits.
    pub rate_limit: RateLimitConfig,
    /// Timeouts, connection caps and the memory budget of reads.
    pub connections: ConnectionConfig,
    /// Accounts and guests.
    pub accounts: AccountsSection,
    /// Resource plans, over the built-in `guest`, `default` and `large`.
    pub plans: BTreeMap<String, PlanConfig>,
    /// This server as a node of a fleet.
    pub node: NodeSection,
    /// How long the admin Dashboard's aggregates are kept.
    pub monitoring: MonitoringSection,
    /// What boxes of plans with egress may reach (`docs/egress.md`).
    pub egress: EgressConfig,
}

/// `[monitoring]`: how long the admin Dashboard's rows are kept
/// (`docs/monitoring.md`). Defaults from `MonitoringConfig`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitoringSection {
    /// Seconds between two of the node's writes (60: a batch a minute;
    /// less only to see figures sooner, as the browser tests do).
    pub flush_secs: u64,
    /// Days per-minute aggregates and error records are kept (at least 1:
    /// the Dashboard shows a day).
    pub minutes_days: u64,
    /// Days users' activity and storage samples are kept.
    pub user_days: u64,
}

const SECS_A_DAY: u64 = 24 * 3600;

impl Default for MonitoringSection {
    fn default() -> Self {
        let defaults = MonitoringConfig::default();
        let retention = defaults.retention;
        MonitoringSection {
            flush_secs: defaults.flush_interval.as_secs(),
            minutes_days: retention.minutes.as_secs() / SECS_A_DAY,
            user_days: retention.user_days.as_secs() / SECS_A_DAY,
        }
    }
}

impl MonitoringSection {
    fn resolve(&self) -> anyhow::Result<MonitoringConfig> {
        if self.flush_secs == 0 || self.minutes_days == 0 || self.user_days == 0 {
            anyhow::bail!("[monitoring] flush_secs, minutes_days and user_days are at least 1");
        }
        let retention = MonitorRetention {
            minutes: Duration::from_secs(self.minutes_days.saturating_mul(SECS_A_DAY)),
            user_days: Duration::from_secs(self.user_days.saturating_mul(SECS_A_DAY)),
        };
        let flush_interval = Duration::from_secs(self.flush_secs);
        Ok(MonitoringConfig { flush_interval, retention, ..MonitoringConfig::default() })
    }
}

/// `[node]`: this server's place in a fleet sharing one database
/// (`docs/deploy.md`). Defaults from `NodeConfig`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeSection {
    /// The node's id (`--node-id` wins); unset: a fresh UUID per start.
    pub id: Option<String>,
    /// The URL peers and the load balancer reach it at (`--node-address`
    /// wins); unset: `http://` and the listen address, with the host's
    /// name for an unspecified IP (`0.0.0.0`).
    pub address: Option<String>,
    /// Seconds between heartbeats.
    pub heartbeat_secs: u64,
    /// Seconds of silence after which a node is out of the fleet.
    pub timeout_secs: u64,
    /// The most seconds a drain waits for sessions to end.
    pub drain_timeout_secs: u64,
}

impl Default for NodeSection {
    fn default() -> Self {
        let node = NodeConfig::default();
        NodeSection {
            id: None,
            address: None,
            heartbeat_secs: node.heartbeat.as_secs(),
            timeout_secs: node.timeout.as_secs(),
            drain_timeout_secs: node.drain_timeout.as_secs(),
        }
    }
}

impl NodeSection {
    /// The node's settings: the command line over the file, the listen
    /// address for a missing address, `capacity` as the fleet is told.
    fn resolve(&self, args: &ServeArgs, capacity: usize) -> anyhow::Result<NodeConfig> {
        if self.heartbeat_secs == 0 || self.timeout_secs <= self.heartbeat_secs {
            anyhow::bail!("[node] needs heartbeat_secs > 0 and timeout_secs > heartbeat_secs");
        }
        let id = args.node_id.clone().or_else(|| self.id.clone()).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        if id.is_empty() || id.len() > 128 || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            anyhow::bail!("[node] id must be 1 to 128 of A-Z a-z 0-9 - _ .: {id:?}");
        }
        let address = match args.node_address.clone().or_else(|| self.address.clone()) {
            Some(address) => address,
            None if args.listen.ip().is_unspecified() => {
                let host = nix::unistd::gethostname().context("the host's name, for [node] address")?;
                format!("http://{}:{}", host.to_string_lossy(), args.listen.port())
            }
            None => format!("http://{}", args.listen),
        };
        Ok(NodeConfig {
            id,
            address,
            capacity: u64::try_from(capacity).unwrap_or(u64::MAX),
            heartbeat: Duration::from_secs(self.heartbeat_secs),
            timeout: Duration::from_secs(self.timeout_secs),
            drain_timeout: Duration::from_secs(self.drain_timeout_secs),
        })
    }
}

/// `[accounts]`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsSection {
    /// Let people use the IDE and the run APIs without an account.
    pub guests: bool,
    /// Let anyone create an account.
    pub signup: bool,
    /// Force `Secure` cookies on or off; unset: on when `public_url` is
    /// `https` (people reach it over TLS, and a browser then refuses the
    /// cookie over plain HTTP except on localhost), else when the request
    /// came over TLS through a trusted proxy.
    pub secure_cookies: Option<bool>,
    /// The address people reach the server at (`https://ide.example.com`):
    /// its host name is answered besides `localhost` and IP addresses, and
    /// its origin may use the cookie and open WebSockets.
    pub public_url: Option<String>,
    /// Other origins allowed to use the cookie and open WebSockets.
    pub allowed_origins: Vec<String>,
    /// How long a sign-in lasts, in days.
    pub session_days: u64,
    /// Accounts one client address may create per UTC day; 0: no limit.
    pub signups_per_address_per_day: u32,
    /// Total bytes of all saved projects of all users; 0: no budget.
    pub storage_budget_bytes: u64,
    /// Writes that add data are refused while the data disk (the local
    /// object store's) has less free space than this; 0: no check.
    pub storage_min_free_bytes: u64,
    /// Sign-in and sign-up attempts per client address.
    pub sign_in_per_address: AttemptRate,
    /// Sign-in attempts at one username from one address.
    pub sign_in_per_address_and_username: AttemptRate,
    /// Sign-in attempts at one username from addresses that have failed
    /// on it before (the owner at a clean address never counts).
    pub sign_in_per_username_after_failure: AttemptRate,
    /// Runs going at once for all guests of one client address (each
    /// browser is a guest of its own, with the guest plan's caps).
    pub guest_address_runs: usize,
    /// Session boxes held at once by all guests of one client address.
    pub guest_address_boxes: usize,
}

/// A rate of attempts: `per_minute` come back each minute, `burst` may be
/// spent at once; a `per_minute` of 0 turns the limit off.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AttemptRate {
    /// Attempts back per minute.
    pub per_minute: u32,
    /// Attempts at once.
    pub burst: u32,
}

impl AttemptRate {
    fn of(config: &RateLimitConfig) -> AttemptRate {
        AttemptRate { per_minute: config.per_minute, burst: config.burst }
    }

    fn to_config(self) -> RateLimitConfig {
        RateLimitConfig { per_minute: self.per_minute, burst: self.burst, trust_forwarded_for: false }
    }
}

impl Default for AccountsSection {
    fn default() -> Self {
        let defaults = AccountsConfig::default();
        AccountsSection {
            guests: defaults.guests,
            signup: defaults.signup,
            secure_cookies: defaults.secure_cookies,
            public_url: None,
            allowed_origins: defaults.allowed_origins,
            session_days: defaults.session_ttl.as_secs() / SECONDS_PER_DAY,
            signups_per_address_per_day: defaults.sign_in.signups_per_address_per_day,
            storage_budget_bytes: defaults.storage.budget_bytes.unwrap_or(0),
            storage_min_free_bytes: defaults.storage.min_free_bytes,
            sign_in_per_address: AttemptRate::of(&defaults.sign_in.per_address),
            sign_in_per_address_and_username: AttemptRate::of(&defaults.sign_in.per_address_and_username),
            sign_in_per_username_after_failure: AttemptRate::of(&defaults.sign_in.per_username_after_failure),
            guest_address_runs: defaults.guest_address_runs,
            guest_address_boxes: defaults.guest_address_boxes,
        }
    }
}

const SECONDS_PER_DAY: u64 = 24 * 3600;

impl AccountsSection {
    /// The server's account settings. (Whether proxy headers are trusted
    /// is `[rate_limit] trust_forwarded_for`, which finds every request's
    /// client address, sign-ins' too.)
    pub fn to_config(&self) -> AccountsConfig {
        AccountsConfig {
            guests: self.guests,
            signup: self.signup,
            secure_cookies: self.secure_cookies.or_else(|| self.public_origin().map(|o| o.starts_with("https://"))),
            allowed_origins: self.public_origin().into_iter().chain(self.allowed_origins.iter().cloned()).collect(),
            session_ttl: Duration::from_secs(self.session_days.clamp(1, 365) * SECONDS_PER_DAY),
            sign_in: SignInRates {
                per_address: self.sign_in_per_address.to_config(),
                per_address_and_username: self.sign_in_per_address_and_username.to_config(),
                per_username_after_failure: self.sign_in_per_username_after_failure.to_config(),
                signups_per_address_per_day: self.signups_per_address_per_day,
            },
            storage: StorageLimits {
                budget_bytes: (self.storage_budget_bytes > 0).then_some(self.storage_budget_bytes),
                min_free_bytes: self.storage_min_free_bytes,
            },
            guest_address_runs: self.guest_address_runs.max(1),
            guest_address_boxes: self.guest_address_boxes.max(1),
        }
    }

    /// The origin of `public_url` (checked by [`FileConfig::load`]).
    fn public_origin(&self) -> Option<String> {
        self.public_url.as_deref().and_then(|url| origin_of_url(url).ok())
    }
}

/// `[docker]`: what of the Docker backend is set per server.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DockerSection {
    /// `[docker.spare_pool]`: how many boxes are made ahead.
    pub spare_pool: SparePoolConfig,
}

/// `[sessions]`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionsConfig {
    /// Seconds a disconnected session waits for its client.
    pub grace_secs: u64,
    /// Seconds a box stays after its last run.
    pub idle_ttl_secs: u64,
    /// Runs one session may have going at once.
    pub max_runs: usize,
    /// Seconds running programs get to finish on SIGTERM.
    pub drain_secs: u64,
    /// Seconds a notebook kernel may sit idle before it is shut down.
    pub kernel_idle_secs: u64,
    /// Notebook kernels one session may have at once.
    pub max_kernels: usize,
    /// Start a spare kernel ahead in a session's box (faster open and
    /// restart, at the memory of one idle kernel).
    pub spare_kernel: bool,
    /// Terminals one session may have open at once.
    pub max_terminals: usize,
    /// Seconds a box whose only activity is its terminals may go with
    /// nothing typed or printed before it is destroyed.
    pub terminal_idle_secs: u64,
    /// Language servers one session may have at once (0 turns them off).
    pub max_language_servers: usize,
    /// Seconds a language server may go with no message either way before
    /// it is shut down.
    pub language_server_idle_secs: u64,
    /// Largest message a language server may send, MiB.
    pub language_server_max_message_mib: usize,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        let defaults = SessionConfig::default();
        SessionsConfig {
            grace_secs: defaults.grace.as_secs(),
            idle_ttl_secs: defaults.box_spec.idle_ttl.as_secs(),
            max_runs: defaults.max_runs,
            drain_secs: 10,
            kernel_idle_secs: defaults.kernels.idle_timeout.as_secs(),
            max_kernels: defaults.kernels.max_per_session,
            spare_kernel: defaults.kernels.spare,
            max_terminals: defaults.max_terminals,
            terminal_idle_secs: defaults.terminal_idle.as_secs(),
            max_language_servers: defaults.language_servers.max_per_session,
            language_server_idle_secs: defaults.language_servers.idle_timeout.as_secs(),
            language_server_max_message_mib: defaults.language_servers.max_message_bytes >> 20,
        }
    }
}

impl SessionsConfig {
    fn resolve(&self) -> SessionConfig {
        let box_spec = BoxSpec { idle_ttl: Duration::from_secs(self.idle_ttl_secs.max(1)), ..BoxSpec::default() };
        SessionConfig {
            grace: Duration::from_secs(self.grace_secs),
            box_spec,
            max_runs: self.max_runs.max(1),
            kernels: KernelConfig {
                idle_timeout: Duration::from_secs(self.kernel_idle_secs.max(1)),
                max_per_session: self.max_kernels,
                spare: self.spare_kernel,
                ..KernelConfig::default()
            },
            max_terminals: self.max_terminals,
            terminal_idle: Duration::from_secs(self.terminal_idle_secs.max(1)),
            language_servers: LspConfig {
                idle_timeout: Duration::from_secs(self.language_server_idle_secs.max(1)),
                max_per_session: self.max_language_servers,
                max_message_bytes: self.language_server_max_message_mib.clamp(1, 64) << 20,
            },
            ..SessionConfig::default()
        }
    }
}

/// `[admission]`; zero means "sized to this machine".
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdmissionSection {
    /// Runs at once.
    pub max_running: usize,
    /// Runs waiting.
    pub max_queued: usize,
}

impl AdmissionSection {
    fn resolve(&self) -> AdmissionConfig {
        match (self.max_running, self.max_queued) {
            (0, _) | (_, 0) => AdmissionConfig::for_this_machine(),
            (max_running, max_queued) => AdmissionConfig { max_running, max_queued },
        }
    }
}

impl FileConfig {
    /// Reads a file, or the defaults without one.
    pub fn load(path: Option<&Path>) -> anyhow::Result<FileConfig> {
        let Some(path) = path else { return Ok(FileConfig::default()) };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let config: FileConfig = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        config.limits.validate().map_err(anyhow::Error::msg)?;
        if let Some(problem) = config.docker.spare_pool.problem() {
            anyhow::bail!("[docker.spare_pool] {problem}");
        }
        if let Some(url) = &config.accounts.public_url {
            origin_of_url(url).map_err(anyhow::Error::msg).context("[accounts] public_url")?;
        }
        Ok(config)
    }

    /// Resolves the file and the command line into the settings the
    /// server starts with. `open_files` is the process's open-file limit:
    /// connections past it would fail anyway, and starve boxes, the
    /// database and the jailer of descriptors first.
    pub fn resolve(self, args: &ServeArgs, open_files: u64) -> anyhow::Result<ServeConfig> {
        let plans = Plans::new(&self.plans, &self.limits.default, &self.limits.max).context("[plans]")?;
        // The host's addresses as of start-up: boxes may never reach them.
        let egress = EgressPolicy::new(&self.egress, bytesbox_egress::host_addresses())?;
        if egress.is_some() && !plans.all().any(|plan| plan.egress) {
            tracing::warn!("[egress] has rules but no plan has `egress = true`: no box gets egress");
        }
        let objects = ObjectsConfig::parse(&args.store.objects, &args.store.data_dir).context("--objects")?;
        let native = NativeConfig { max_boxes: boxes_fitting(self.native.max_boxes, open_files), ..self.native };
        let mut connections = self.connections;
        // One budget of descriptors: what native boxes hold at their cap
        // besides their session's connection is not the connections' to
        // take, so a crowd of idle connections cannot leave a box to fail
        // half made (EMFILE), nor boxes starve the listener.
        let held_by_boxes = match args.backend {
            BackendKind::Native => {
                (FILES_PER_BOX - 1).saturating_mul(u64::try_from(native.max_boxes).unwrap_or(u64::MAX))
            }
            BackendKind::Docker => 0,
        };
        let fitting = usize::try_from(open_files.saturating_sub(RESERVED_FILES).saturating_sub(held_by_boxes))
            .unwrap_or(usize::MAX)
            .max(1);
        if connections.max_total > fitting {
            tracing::warn!(
                configured = connections.max_total,
                fitting,
                "[connections] max_total lowered to fit the open-file limit"
            );
            connections.max_total = fitting;
        }
        let admission = self.admission.resolve();
        // What the fleet is told the node holds: native boxes at their cap;
        // Docker has no box cap, its runs at once stand for it.
        let capacity = match args.backend {
            BackendKind::Native => native.max_boxes,
            BackendKind::Docker => admission.max_running,
        };
        let node = self.node.resolve(args, capacity)?;
        Ok(ServeConfig {
            server: ServerConfig {
                limits: self.limits,
                projects: ProjectCaps::default(),
                rate_limit: self.rate_limit,
                connections,
                piston: PistonConfig::default(),
                node,
                monitoring: self.monitoring.resolve()?,
            },
            native,
            docker: DockerConfig { spare_pool: self.docker.spare_pool, ..DockerConfig::default() },
            sessions: SessionConfig {
                // Made once per host, kept with the server's other data.
                server_templates: Some(args.store.data_dir.join("sql-templates")),
                egress,
                ..self.sessions.resolve()
            },
            drain: Duration::from_secs(self.sessions.drain_secs),
            admission,
            accounts: self.accounts.to_config(),
            plans,
            objects,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_args(flags: &[&str]) -> ServeArgs {
        use clap::Parser as _;
        let argv = ["bytesbox", "serve", "--data-dir", "/srv/bytesbox"].iter().chain(flags);
        match crate::cli::Cli::parse_from(argv).command {
            crate::cli::Command::Serve(args) => args,
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn resolving_fits_connections_to_the_open_files_and_keeps_the_defaults() {
        let config =
            FileConfig::load(None).unwrap().resolve(&serve_args(&["--backend", "docker"]), 1024 + 100).unwrap();
        assert_eq!(config.server.connections.max_total, 100, "1024 descriptors stay for the rest");
        let roomy = FileConfig::load(None).unwrap().resolve(&serve_args(&[]), 1 << 20).unwrap();
        let node = NodeConfig { id: roomy.server.node.id.clone(), ..NodeConfig::default() };
        let expected = ServerConfig {
            node: NodeConfig {
                address: "http://127.0.0.1:8080".into(),
                capacity: roomy.native.max_boxes as u64,
                ..node
            },
            ..ServerConfig::default()
        };
        assert_eq!(roomy.server, expected, "no file: the server's own defaults");
        assert_ne!(
            roomy.server.node.id,
            FileConfig::load(None).unwrap().resolve(&serve_args(&[]), 1 << 20).unwrap().server.node.id,
            "a fresh id per start"
        );
        assert_eq!(roomy.objects, ObjectsConfig::local_in_data_dir(Path::new("/srv/bytesbox")));
        assert_eq!(roomy.sessions.grace, SessionConfig::default().grace);
    }

    #[test]
    fn connections_and_native_boxes_share_one_budget_of_descriptors() {
        let open_files = 20_000;
        let config = FileConfig::load(None).unwrap().resolve(&serve_args(&[]), open_files).unwrap();
        let boxes = config.native.max_boxes as u64;
        let connections = config.server.connections.max_total as u64;
        // Every box at its cap with its session's connection, and every
        // other connection the cap allows, still fit.
        assert!(connections + (FILES_PER_BOX - 1) * boxes <= open_files - RESERVED_FILES, "{connections} + {boxes}");
        assert!(connections >= boxes, "each box's session can be connected: {connections} for {boxes}");
        let mut fewer = FileConfig::load(None).unwrap();
        fewer.native.max_boxes = 1000;
        let config = fewer.resolve(&serve_args(&[]), open_files).unwrap();
        assert_eq!(config.server.connections.max_total, 10_000, "fewer boxes leave the configured connections");
    }

    #[test]
    fn the_native_box_cap_fits_the_open_files() {
        let derived = FileConfig::load(None).unwrap().resolve(&serve_args(&[]), 20_000).unwrap();
        assert_eq!(derived.native.max_boxes, (20_000 - 1024) / 4, "0 means what the open files hold");
        let mut file = FileConfig::load(None).unwrap();
        file.native.max_boxes = 100;
        assert_eq!(file.resolve(&serve_args(&[]), 20_000).unwrap().native.max_boxes, 100, "a lower cap stays");
        let mut file = FileConfig::load(None).unwrap();
        file.native.max_boxes = 1_000_000;
        assert_eq!(file.resolve(&serve_args(&[]), 5_024).unwrap().native.max_boxes, 1_000, "a higher cap is lowered");
    }

    #[test]
    fn objects_in_process_memory_are_refused() {
        let error = FileConfig::load(None).unwrap().resolve(&serve_args(&["--objects", "memory:"]), 1 << 20);
        let error = format!("{:#}", error.unwrap_err());
        assert!(error.contains("--objects") && error.contains("lost at the next restart"), "{error}");
    }

    #[test]
    fn defaults_are_consistent() {
        let config = FileConfig::load(None).unwrap();
        config.limits.validate().unwrap();
        assert_eq!(config.sessions.resolve().grace, SessionConfig::default().grace);
    }

    #[test]
    fn files_override_and_typos_are_errors() {
        let dir = std::env::temp_dir().join(format!("bytesbox-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.toml");
        std::fs::write(
            &good,
            "[sessions]\ngrace_secs = 5\nmax_terminals = 2\nterminal_idle_secs = 600\n[admission]\nmax_running = 3\n\
             [connections]\nmax_per_address = 7\n",
        )
        .unwrap();
        let config = FileConfig::load(Some(&good)).unwrap();
        assert_eq!(config.sessions.grace_secs, 5);
        let sessions = config.sessions.resolve();
        assert_eq!((sessions.max_terminals, sessions.terminal_idle), (2, Duration::from_secs(600)));
        assert_eq!(config.connections.max_per_address, 7);
        assert_eq!(config.connections.header_timeout_secs, 10, "unset settings keep their defaults");
        assert_eq!(config.admission.max_running, 3);
        let typo = dir.join("typo.toml");
        std::fs::write(&typo, "[sessions]\ngrace_sec = 5\n").unwrap();
        let err = format!("{:#}", FileConfig::load(Some(&typo)).unwrap_err());
        assert!(err.contains("grace_sec"), "{err}");
        let public = dir.join("public.toml");
        std::fs::write(&public, "[accounts]\npublic_url = \"https://IDE.example.com/\"\n").unwrap();
        let config = FileConfig::load(Some(&public)).unwrap();
        let accounts = config.accounts.to_config();
        assert_eq!(accounts.allowed_origins, ["https://ide.example.com"]);
        assert_eq!(accounts.secure_cookies, Some(true), "people reach an https public_url over TLS");
        assert_eq!(FileConfig::load(None).unwrap().accounts.to_config().secure_cookies, None);
        let not_a_url = dir.join("not_a_url.toml");
        std::fs::write(&not_a_url, "[accounts]\npublic_url = \"ide.example.com\"\n").unwrap();
        let err = format!("{:#}", FileConfig::load(Some(&not_a_url)).unwrap_err());
        assert!(err.contains("public_url"), "{err}");
        let pool = dir.join("pool.toml");
        std::fs::write(&pool, "[docker.spare_pool]\nmax = 3\nsafety = 1.5\n").unwrap();
        let docker = FileConfig::load(Some(&pool)).unwrap().resolve(&serve_args(&[]), 1 << 20).unwrap().docker;
        assert_eq!(docker.spare_pool, SparePoolConfig { max: 3, safety: 1.5, ..SparePoolConfig::default() });
        std::fs::write(&pool, "[docker.spare_pool]\nmin = 4\nmax = 3\n").unwrap();
        let err = format!("{:#}", FileConfig::load(Some(&pool)).unwrap_err());
        assert!(err.contains("[docker.spare_pool]") && err.contains("above max"), "{err}");
        let greedy = dir.join("greedy.toml");
        std::fs::write(&greedy, "[limits.default]\nmemory_bytes = 99999999999999\n").unwrap();
        assert!(FileConfig::load(Some(&greedy)).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn egress_is_resolved_once_and_only_plans_that_ask_get_it() {
        let offline: FileConfig = toml::from_str("[plans.dev]\negress = true\n").unwrap();
        let resolved = offline.resolve(&serve_args(&[]), 1 << 20).unwrap();
        assert_eq!(resolved.sessions.egress, None, "no rules: no box gets egress");
        let allowed: FileConfig = toml::from_str(
            "[egress]\nport = 3130\nrules = [{ hosts = [\"git.internal\", \"10.200.0.2/32\"], ports = [80] }]\n\
             [egress.hosts]\n\"git.internal\" = [\"10.200.0.2\"]\n[plans.dev]\negress = true\n",
        )
        .unwrap();
        let resolved = allowed.resolve(&serve_args(&[]), 1 << 20).unwrap();
        assert_eq!(resolved.sessions.egress.as_ref().map(|policy| policy.port), Some(3130));
        let egress_of = |name: &str| resolved.plans.get(name).egress;
        assert!(egress_of("dev"));
        assert!(!egress_of("guest") && !egress_of("default") && !egress_of("large"), "no built-in plan has egress");
        let bad: FileConfig = toml::from_str("[egress]\nrules = [{ hosts = [\"a b\"], ports = [80] }]\n").unwrap();
        assert!(format!("{:#}", bad.resolve(&serve_args(&[]), 1 << 20).unwrap_err()).contains("[egress]"));
    }

    #[test]
    fn account_limits_default_to_the_servers_and_are_read_from_the_file() {
        let defaults = FileConfig::load(None).unwrap().accounts.to_config();
        let builtin = AccountsConfig::default();
        assert_eq!((&defaults.sign_in, defaults.storage), (&builtin.sign_in, builtin.storage));

        let configured: FileConfig = toml::from_str(
            "[accounts]\nsignups_per_address_per_day = 3\nstorage_budget_bytes = 1000\nstorage_min_free_bytes = 0\n\
             [accounts.sign_in_per_address_and_username]\nper_minute = 2\nburst = 4\n",
        )
        .unwrap();
        let config = configured.accounts.to_config();
        assert_eq!(config.sign_in.signups_per_address_per_day, 3);
        assert_eq!(config.storage, StorageLimits { budget_bytes: Some(1000), min_free_bytes: 0 });
        assert_eq!(
            (config.sign_in.per_address_and_username.per_minute, config.sign_in.per_address_and_username.burst),
            (2, 4)
        );
        assert_eq!(config.sign_in.per_address, builtin.sign_in.per_address);
        let unbudgeted: FileConfig = toml::from_str("[accounts]\nstorage_budget_bytes = 0\n").unwrap();
        assert_eq!(unbudgeted.accounts.to_config().storage.budget_bytes, None);
    }

    #[test]
    fn the_node_section_and_flags_resolve_with_the_flags_first() {
        let file: FileConfig = toml::from_str(
            "[node]\nid = \"n-1\"\naddress = \"http://10.1.0.7:8080\"\nheartbeat_secs = 2\ntimeout_secs = 9\n",
        )
        .unwrap();
        let config = file.resolve(&serve_args(&["--listen", "0.0.0.0:9000"]), 1 << 20).unwrap();
        let node = &config.server.node;
        assert_eq!((node.id.as_str(), node.address.as_str()), ("n-1", "http://10.1.0.7:8080"));
        assert_eq!((node.heartbeat, node.timeout), (Duration::from_secs(2), Duration::from_secs(9)));
        let flags = ["--listen", "0.0.0.0:9000", "--node-id", "n-2", "--node-address", "http://n2:9000"];
        let file: FileConfig = toml::from_str("[node]\nid = \"n-1\"\n").unwrap();
        let config = file.resolve(&serve_args(&flags), 1 << 20).unwrap();
        assert_eq!((config.server.node.id.as_str(), config.server.node.address.as_str()), ("n-2", "http://n2:9000"));
        let config =
            FileConfig::load(None).unwrap().resolve(&serve_args(&["--listen", "0.0.0.0:9000"]), 1 << 20).unwrap();
        assert!(config.server.node.address.starts_with("http://") && config.server.node.address.ends_with(":9000"));
        assert!(!config.server.node.address.contains("0.0.0.0"), "the host's name stands for an unspecified IP");
        for bad in ["[node]\nid = \"a b\"\n", "[node]\nheartbeat_secs = 10\ntimeout_secs = 10\n"] {
            let file: FileConfig = toml::from_str(bad).unwrap();
            assert!(file.resolve(&serve_args(&[]), 1 << 20).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_monitoring_section_sets_the_flush_and_the_retention() {
        let file: FileConfig = toml::from_str("[monitoring]\nflush_secs = 5\nminutes_days = 2\n").unwrap();
        let monitoring = file.resolve(&serve_args(&[]), 1 << 20).unwrap().server.monitoring;
        assert_eq!(monitoring.flush_interval, Duration::from_secs(5));
        assert_eq!(monitoring.retention.minutes, Duration::from_secs(2 * 24 * 3600));
        assert_eq!(monitoring.retention.user_days, MonitoringConfig::default().retention.user_days);
        let defaults = FileConfig::load(None).unwrap().resolve(&serve_args(&[]), 1 << 20).unwrap();
        assert_eq!(defaults.server.monitoring, MonitoringConfig::default());
        for bad in ["[monitoring]\nflush_secs = 0\n", "[monitoring]\nminutes_days = 0\n", "[monitoring]\nhours = 1\n"] {
            let parsed: Result<FileConfig, _> = toml::from_str(bad);
            assert!(parsed.map_or(true, |file| file.resolve(&serve_args(&[]), 1 << 20).is_err()), "{bad}");
        }
    }
}
