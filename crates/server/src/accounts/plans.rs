//! Resource plans: named sets of run limits, concurrency and storage
//! quotas. Each user has one; guests share the `guest` plan. A plan's
//! limits are overrides of the server's `[limits.default]` and
//! `[limits.max]`, and never exceed `[limits.max]`.

use std::collections::BTreeMap;

use bytesbox_sandbox::RunLimits;
use serde::{Deserialize, Serialize};

use crate::limits::{LimitOverrides, RequestedLimits};

/// The plan of every caller who is not signed in.
pub const GUEST_PLAN: &str = "guest";
/// The plan new accounts get.
pub const DEFAULT_PLAN: &str = "default";

const MIB: u64 = 1024 * 1024;

/// A plan as written in the configuration (`[plans.NAME]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlanConfig {
    /// Limits of a run that asks for none, over `[limits.default]`.
    pub limits: RequestedLimits,
    /// The most a run may ask for, over `[limits.max]`.
    pub max_limits: RequestedLimits,
    /// Runs going at once, over all of the caller's sessions and APIs.
    pub max_concurrent_runs: Option<usize>,
    /// The share of the server's run slots (percent) that all callers of
    /// this plan together may hold; 100: no share of their own.
    pub run_slot_share_percent: Option<u8>,
    /// Session boxes the caller may keep alive at once.
    pub max_boxes: Option<usize>,
    /// Bytes the caller's idle session boxes may hold together (their
    /// files in `/workspace`, `/tmp`, `/dev/shm` and other memory); beyond
    /// it, the longest idle boxes are destroyed.
    pub max_idle_box_bytes: Option<u64>,
    /// Saved projects.
    pub max_projects: Option<u64>,
    /// Saved files over all projects.
    pub max_files: Option<u64>,
    /// Saved bytes over all projects.
    pub max_bytes: Option<u64>,
    /// Whether the caller's session boxes get the egress proxy
    /// (`docs/egress.md`); no built-in plan has it.
    pub egress: Option<bool>,
}

/// A plan with every value resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Its name.
    pub name: String,
    /// Limits of a run that asks for none.
    pub limits: RunLimits,
    /// The most a run may ask for.
    pub max_limits: RunLimits,
    /// Runs going at once.
    pub max_concurrent_runs: usize,
    /// The share of the server's run slots its callers may hold together.
    pub run_slot_share_percent: u8,
    /// Session boxes per caller.
    pub max_boxes: usize,
    /// Bytes a caller's idle session boxes may hold.
    pub max_idle_box_bytes: u64,
    /// Saved projects.
    pub max_projects: u64,
    /// Saved files over all projects.
    pub max_files: u64,
    /// Saved bytes over all projects.
    pub max_bytes: u64,
    /// Whether the caller's session boxes reach the hosts `[egress]` allows.
    pub egress: bool,
}

/// Every plan of a server.
#[derive(Clone, Debug)]
pub struct Plans {
    by_name: BTreeMap<String, Plan>,
    guest: Plan,
}

/// Why the plan configuration is refused.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A limit override that is not a known field or has the wrong type.
    #[error("plan {plan:?}: {message}")]
    BadLimits {
        /// The plan.
        plan: String,
        /// What is wrong.
        message: String,
    },
    /// A plan whose default limits are invalid.
    #[error("plan {plan:?}: default limits are invalid: {message}")]
    InvalidDefaults {
        /// The plan.
        plan: String,
        /// What is wrong.
        message: String,
    },
}

/// The plans every server has, before the configuration changes them:
/// guests get the least, users a comfortable amount, `large` what the
/// server allows.
fn builtin(name: &str) -> PlanConfig {
    match name {
        GUEST_PLAN => PlanConfig {
            limits: RequestedLimits::default(),
            max_limits: RequestedLimits::from(LimitOverrides {
                memory_bytes: Some(256 * MIB),
                cpu_millicores: Some(1000),
                pids: Some(128),
                wall_time_ms: Some(60_000),
                cpu_time_ms: Some(60_000),
                output_bytes: Some(8 * MIB),
                ..LimitOverrides::default()
            }),
            max_concurrent_runs: Some(4),
            // Guests together leave a quarter of the slots (at least one)
            // to signed-in users.
            run_slot_share_percent: Some(75),
            max_boxes: Some(4),
            max_idle_box_bytes: Some(128 * MIB),
            max_projects: Some(0),
            max_files: Some(0),
            max_bytes: Some(0),
            egress: None,
        },
        DEFAULT_PLAN => PlanConfig {
            limits: RequestedLimits::default(),
            max_limits: RequestedLimits::from(LimitOverrides {
                memory_bytes: Some(1024 * MIB),
                cpu_millicores: Some(2000),
                pids: Some(512),
                wall_time_ms: Some(300_000),
                cpu_time_ms: Some(300_000),
                output_bytes: Some(64 * MIB),
                ..LimitOverrides::default()
            }),
            max_concurrent_runs: Some(8),
            run_slot_share_percent: Some(100),
            max_boxes: Some(16),
            max_idle_box_bytes: Some(1024 * MIB),
            max_projects: Some(100),
            max_files: Some(5_000),
            max_bytes: Some(200 * MIB),
            egress: None,
        },
        _ => PlanConfig {
            max_concurrent_runs: Some(32),
            run_slot_share_percent: Some(100),
            max_boxes: Some(64),
            max_idle_box_bytes: Some(4096 * MIB),
            max_projects: Some(1_000),
            max_files: Some(50_000),
            max_bytes: Some(2048 * MIB),
            ..PlanConfig::default()
        },
    }
}

impl Plans {
    /// The built-in `guest`, `default` and `large` plans, changed or joined
    /// by `configured`, resolved against the server's limits.
    pub fn new(
        configured: &BTreeMap<String, PlanConfig>,
        server_defaults: &RunLimits,
        server_max: &RunLimits,
    ) -> Result<Plans, PlanError> {
        let mut configs: BTreeMap<String, PlanConfig> =
            [GUEST_PLAN, DEFAULT_PLAN, "large"].iter().map(|name| ((*name).to_string(), builtin(name))).collect();
        for (name, config) in configured {
            // A configured built-in plan changes only what it names.
            let merged = match configs.remove(name) {
                Some(base) => PlanConfig {
                    limits: base.limits.then(&config.limits),
                    max_limits: base.max_limits.then(&config.max_limits),
                    max_concurrent_runs: config.max_concurrent_runs.or(base.max_concurrent_runs),
                    run_slot_share_percent: config.run_slot_share_percent.or(base.run_slot_share_percent),
                    max_boxes: config.max_boxes.or(base.max_boxes),
                    max_idle_box_bytes: config.max_idle_box_bytes.or(base.max_idle_box_bytes),
                    max_projects: config.max_projects.or(base.max_projects),
                    max_files: config.max_files.or(base.max_files),
                    max_bytes: config.max_bytes.or(base.max_bytes),
                    egress: config.egress.or(base.egress),
                },
                None => config.clone(),
            };
            configs.insert(name.clone(), merged);
        }
        let mut by_name = BTreeMap::new();
        for (name, config) in configs {
            let bad = |message: String| PlanError::BadLimits { plan: name.clone(), message };
            let max_limits = config.max_limits.read().map_err(bad)?.over(server_max).capped_by(server_max);
            let limits = config.limits.read().map_err(bad)?.over(server_defaults).capped_by(&max_limits);
            limits
                .validate_within(&max_limits)
                .map_err(|e| PlanError::InvalidDefaults { plan: name.clone(), message: e.to_string() })?;
            let fallback = builtin("large");
            let plan = Plan {
                name: name.clone(),
                limits,
                max_limits,
                max_concurrent_runs: config.max_concurrent_runs.or(fallback.max_concurrent_runs).unwrap_or(1).max(1),
                run_slot_share_percent: config
                    .run_slot_share_percent
                    .or(fallback.run_slot_share_percent)
                    .unwrap_or(100)
                    .clamp(1, 100),
                max_boxes: config.max_boxes.or(fallback.max_boxes).unwrap_or(1).max(1),
                max_idle_box_bytes: config.max_idle_box_bytes.or(fallback.max_idle_box_bytes).unwrap_or(0),
                max_projects: config.max_projects.or(fallback.max_projects).unwrap_or(0),
                max_files: config.max_files.or(fallback.max_files).unwrap_or(0),
                max_bytes: config.max_bytes.or(fallback.max_bytes).unwrap_or(0),
                egress: config.egress.unwrap_or(false),
            };
            by_name.insert(name, plan);
        }
        let guest = by_name.get(GUEST_PLAN).cloned().ok_or_else(|| PlanError::BadLimits {
            plan: GUEST_PLAN.to_string(),
            message: "the guest plan is missing".to_string(),
        })?;
        Ok(Plans { by_name, guest })
    }

    /// A plan by name. An account whose plan was removed from the
    /// configuration gets the guest plan, the least, until an admin moves it.
    pub fn get(&self, name: &str) -> &Plan {
        self.by_name.get(name).unwrap_or(&self.guest)
    }

    /// Whether a plan of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Every plan, by name.
    pub fn all(&self) -> impl Iterator<Item = &Plan> {
        self.by_name.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plans(configured: &str) -> Plans {
        let configured: BTreeMap<String, PlanConfig> = toml::from_str(configured).expect("valid plans");
        Plans::new(&configured, &RunLimits::default(), &RunLimits::hard_maximum()).expect("plans resolve")
    }

    #[test]
    fn guests_get_the_least() {
        let plans = plans("");
        let guest = plans.get(GUEST_PLAN);
        let user = plans.get(DEFAULT_PLAN);
        assert!(guest.max_limits.memory_bytes < user.max_limits.memory_bytes);
        assert!(guest.max_concurrent_runs < user.max_concurrent_runs);
        assert!(guest.run_slot_share_percent < 100, "guests leave slots to users");
        assert_eq!(user.run_slot_share_percent, 100);
        assert!(guest.max_boxes < user.max_boxes);
        assert!(guest.max_idle_box_bytes < user.max_idle_box_bytes);
        assert_eq!(guest.max_projects, 0);
        assert_eq!(guest.limits, RunLimits::default(), "defaults follow [limits.default]");
    }

    #[test]
    fn configuration_changes_only_what_it_names() {
        let plans = plans(
            "[guest]\nmax_concurrent_runs = 1\nrun_slot_share_percent = 50\nmax_boxes = 2\n\
             [guest.max_limits]\nwall_time_ms = 5000\n",
        );
        let guest = plans.get(GUEST_PLAN);
        assert_eq!(guest.max_concurrent_runs, 1);
        assert_eq!((guest.run_slot_share_percent, guest.max_boxes), (50, 2));
        assert_eq!(guest.max_idle_box_bytes, 128 * MIB, "the built-in value stays");
        assert_eq!(guest.max_limits.wall_time_ms, 5000);
        assert_eq!(guest.max_limits.memory_bytes, 256 * MIB, "the built-in value stays");
        assert_eq!(guest.limits.wall_time_ms, 5000, "defaults are capped by the plan's maxima");
    }

    #[test]
    fn a_share_of_the_run_slots_is_at_least_one_percent() {
        let guest = plans("[guest]\nrun_slot_share_percent = 0\n").get(GUEST_PLAN).clone();
        assert_eq!(guest.run_slot_share_percent, 1);
    }

    #[test]
    fn plans_never_exceed_the_server_maxima() {
        let configured: BTreeMap<String, PlanConfig> =
            toml::from_str("[huge.max_limits]\nmemory_bytes = 1099511627776\n").expect("valid plans");
        let server_max = RunLimits { memory_bytes: 512 * MIB, ..RunLimits::hard_maximum() };
        let plans = Plans::new(&configured, &RunLimits::default(), &server_max).expect("plans resolve");
        assert_eq!(plans.get("huge").max_limits.memory_bytes, 512 * MIB);
    }

    #[test]
    fn unknown_plans_and_fields_fall_back_or_fail() {
        let plans = plans("");
        assert_eq!(plans.get("no-such-plan").name, GUEST_PLAN);
        let configured: BTreeMap<String, PlanConfig> =
            toml::from_str("[odd.max_limits]\nmemory = 1\n").expect("valid toml");
        let error = Plans::new(&configured, &RunLimits::default(), &RunLimits::hard_maximum())
            .expect_err("an unknown limit is refused");
        assert!(error.to_string().contains("memory"), "{error}");
    }
}
