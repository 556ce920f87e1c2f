//! Limit overrides: the run limits a request (or a plan of the
//! configuration) names, each over a default. They are typed once, where
//! they are read, merged with their defaults once, and checked against the
//! caller's maxima once, at the run intake (`crate::runs`); after that the
//! limits are trusted (the backend keeps its own final check).

use bytesbox_sandbox::RunLimits;
use serde::{Deserialize, Deserializer, Serialize};

/// The limits a request names; the rest keep the defaults they are put
/// over (a plan's, not the built-in ones, which an operator may have
/// changed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitOverrides {
    /// See [`RunLimits::memory_bytes`].
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// See [`RunLimits::cpu_millicores`].
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub cpu_millicores: Option<u32>,
    /// See [`RunLimits::pids`].
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub pids: Option<u32>,
    /// See [`RunLimits::wall_time_ms`].
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub wall_time_ms: Option<u64>,
    /// See [`RunLimits::input_wait_ms`].
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub input_wait_ms: Option<u64>,
    /// See [`RunLimits::cpu_time_ms`].
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub cpu_time_ms: Option<u64>,
    /// See [`RunLimits::output_bytes`].
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub output_bytes: Option<u64>,
    /// See [`RunLimits::open_files`].
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub open_files: Option<u32>,
    /// See [`RunLimits::file_size_bytes`].
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub file_size_bytes: Option<u64>,
    /// See [`RunLimits::stack_bytes`].
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub stack_bytes: Option<u64>,
}

/// A field that is there must hold a number: `null` is refused as for a
/// plain limit, never taken as "the default".
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

impl LimitOverrides {
    /// `defaults` with these overrides.
    pub fn over(&self, defaults: &RunLimits) -> RunLimits {
        RunLimits {
            memory_bytes: self.memory_bytes.unwrap_or(defaults.memory_bytes),
            cpu_millicores: self.cpu_millicores.unwrap_or(defaults.cpu_millicores),
            pids: self.pids.unwrap_or(defaults.pids),
            wall_time_ms: self.wall_time_ms.unwrap_or(defaults.wall_time_ms),
            input_wait_ms: self.input_wait_ms.unwrap_or(defaults.input_wait_ms),
            cpu_time_ms: self.cpu_time_ms.unwrap_or(defaults.cpu_time_ms),
            output_bytes: self.output_bytes.unwrap_or(defaults.output_bytes),
            open_files: self.open_files.unwrap_or(defaults.open_files),
            file_size_bytes: self.file_size_bytes.unwrap_or(defaults.file_size_bytes),
            stack_bytes: self.stack_bytes.unwrap_or(defaults.stack_bytes),
        }
    }

    /// These overrides, then `later`'s on top.
    pub fn then(&self, later: &LimitOverrides) -> LimitOverrides {
        LimitOverrides {
            memory_bytes: later.memory_bytes.or(self.memory_bytes),
            cpu_millicores: later.cpu_millicores.or(self.cpu_millicores),
            pids: later.pids.or(self.pids),
            wall_time_ms: later.wall_time_ms.or(self.wall_time_ms),
            input_wait_ms: later.input_wait_ms.or(self.input_wait_ms),
            cpu_time_ms: later.cpu_time_ms.or(self.cpu_time_ms),
            output_bytes: later.output_bytes.or(self.output_bytes),
            open_files: later.open_files.or(self.open_files),
            file_size_bytes: later.file_size_bytes.or(self.file_size_bytes),
            stack_bytes: later.stack_bytes.or(self.stack_bytes),
        }
    }
}

/// `limits` as a request or the configuration wrote them: the overrides,
/// or why they cannot be read ("limits: unknown field …"). A misspelt or
/// ill-typed field does not make the message around it unreadable (an
/// object is still required): the run is refused as that run's
/// `invalid_spec`, naming the field, and a plan as a bad plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestedLimits(Result<LimitOverrides, String>);

impl RequestedLimits {
    /// The overrides, or why they cannot be read.
    pub fn read(&self) -> Result<LimitOverrides, String> {
        self.0.clone()
    }

    /// These, then `later`'s on top; the first that cannot be read stays
    /// the reason.
    pub fn then(&self, later: &RequestedLimits) -> RequestedLimits {
        match (&self.0, &later.0) {
            (Ok(first), Ok(later)) => RequestedLimits(Ok(first.then(later))),
            (Err(reason), _) | (_, Err(reason)) => RequestedLimits(Err(reason.clone())),
        }
    }
}

impl Default for RequestedLimits {
    fn default() -> Self {
        RequestedLimits(Ok(LimitOverrides::default()))
    }
}

impl From<LimitOverrides> for RequestedLimits {
    fn from(overrides: LimitOverrides) -> Self {
        RequestedLimits(Ok(overrides))
    }
}

impl<'de> Deserialize<'de> for RequestedLimits {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let object = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        let read = LimitOverrides::deserialize(serde_json::Value::Object(object)).map_err(|e| format!("limits: {e}"));
        Ok(RequestedLimits(read))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requested(json: &str) -> RequestedLimits {
        serde_json::from_str(json).expect("an object")
    }

    #[test]
    fn overrides_keep_the_defaults_for_what_they_do_not_name() {
        let plan_defaults = RunLimits { memory_bytes: 512 << 20, ..RunLimits::default() };
        let limits = requested(r#"{"wall_time_ms": 5000}"#).read().expect("readable").over(&plan_defaults);
        assert_eq!(limits, RunLimits { wall_time_ms: 5000, ..plan_defaults });
        assert_eq!(LimitOverrides::default().over(&plan_defaults), plan_defaults);
    }

    #[test]
    fn a_field_that_cannot_be_read_is_named_but_the_object_still_parses() {
        for (json, reason) in [
            (r#"{"wall_time": 5000}"#, "limits: unknown field `wall_time`, expected one of `memory_bytes`"),
            (r#"{"memory_bytes": "1G"}"#, r#"limits: invalid type: string "1G", expected u64"#),
            (r#"{"pids": null}"#, "limits: invalid type: null, expected u32"),
            (r#"{"pids": 5000000000}"#, "limits: invalid value: integer `5000000000`, expected u32"),
        ] {
            let error = requested(json).read().expect_err(json);
            assert!(error.starts_with(reason), "{json}: {error}");
        }
        assert!(serde_json::from_str::<RequestedLimits>("5").is_err(), "limits are an object");
    }

    #[test]
    fn later_overrides_win_and_an_unreadable_one_stays_the_reason() {
        let base = RequestedLimits::from(LimitOverrides { pids: Some(8), wall_time_ms: Some(1), ..Default::default() });
        let merged = base.then(&requested(r#"{"wall_time_ms": 2}"#)).read().expect("readable");
        assert_eq!((merged.pids, merged.wall_time_ms), (Some(8), Some(2)));
        assert!(base.then(&requested(r#"{"memory": 1}"#)).read().unwrap_err().contains("memory"));
    }
}
