//! The limits Bytesbox puts on a box or run cgroup.

use crate::error::{CgroupError, Result};

/// The CFS period written with every CPU limit, in microseconds (100 ms,
/// the kernel default).
pub(crate) const CPU_PERIOD_US: u64 = 100_000;

/// The kernel refuses CFS quotas under 1 ms.
const MIN_CPU_QUOTA_US: u64 = 1_000;

/// Limits for one cgroup. `None` leaves that limit as it is; a freshly
/// created cgroup is unlimited (apart from its ancestors' limits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CgroupLimits {
    /// Memory in bytes. Always applied with swap off: the same value goes to
    /// the memory+swap limit (v1) or 0 to `memory.swap.max` (v2). It covers
    /// kernel memory the cgroup causes: on v2 all of it (socket buffers
    /// included) counts against this limit; on v1 slab and pipe buffers do,
    /// and TCP buffers get a separate cap of the same size.
    pub memory_bytes: Option<u64>,
    /// Processes and threads alive at once.
    pub pids: Option<u32>,
    /// CPU bandwidth in thousandths of one CPU (500 = half a CPU); at least
    /// 10, as the kernel's smallest quota is 1 ms per 100 ms period.
    pub cpu_millicores: Option<u32>,
}

/// How a cgroup's processes weigh against its siblings' when both want
/// the same CPU. Unlike a quota it limits nothing: an idle CPU is used
/// whatever the weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuWeight {
    /// The kernel's default weight.
    Normal,
    /// An eighth of the default: work that can wait (a box made ahead)
    /// takes little from a sibling that wants the same CPU, and is never
    /// starved by it.
    Background,
}

impl CpuWeight {
    /// The value of v1's `cpu.shares`.
    pub(crate) fn v1_shares(self) -> &'static str {
        match self {
            CpuWeight::Normal => "1024",
            CpuWeight::Background => "128",
        }
    }

    /// The value of v2's `cpu.weight`.
    pub(crate) fn v2_weight(self) -> &'static str {
        match self {
            CpuWeight::Normal => "100",
            CpuWeight::Background => "12",
        }
    }
}

impl CgroupLimits {
    /// The CFS quota for [`CPU_PERIOD_US`], after validation. Values the
    /// kernel would reject are an error here rather than a silent clamp.
    pub(crate) fn cpu_quota_us(&self) -> Result<Option<u64>> {
        let Some(millicores) = self.cpu_millicores else {
            return Ok(None);
        };
        // 1000 millicores = one CPU = the whole period.
        let quota = u64::from(millicores) * CPU_PERIOD_US / 1000;
        if quota < MIN_CPU_QUOTA_US {
            return Err(CgroupError::InvalidLimit(format!(
                "cpu_millicores {millicores} is below the kernel minimum of 10"
            )));
        }
        Ok(Some(quota))
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.memory_bytes == Some(0) {
            return Err(CgroupError::InvalidLimit("memory_bytes must be positive".to_owned()));
        }
        self.cpu_quota_us().map(|_| ())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quota_is_millicores_times_100() {
        let limits = |m| CgroupLimits { cpu_millicores: Some(m), ..CgroupLimits::default() };
        assert_eq!(limits(500).cpu_quota_us().unwrap(), Some(50_000));
        assert_eq!(limits(2500).cpu_quota_us().unwrap(), Some(250_000));
        assert_eq!(limits(10).cpu_quota_us().unwrap(), Some(1_000));
        assert_eq!(limits(u32::MAX).cpu_quota_us().unwrap(), Some(u64::from(u32::MAX) * 100));
        let err = limits(9).cpu_quota_us().unwrap_err().to_string();
        assert_eq!(err, "invalid cgroup limit: cpu_millicores 9 is below the kernel minimum of 10");
        assert_eq!(CgroupLimits::default().cpu_quota_us().unwrap(), None);
    }

    #[test]
    fn zero_memory_is_rejected() {
        let limits = CgroupLimits { memory_bytes: Some(0), ..CgroupLimits::default() };
        assert!(limits.validate().is_err());
        assert!(CgroupLimits::default().validate().is_ok());
    }
}
