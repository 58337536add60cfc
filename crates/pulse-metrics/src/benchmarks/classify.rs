//! Classifying a whole DORA report.

use super::table::{BenchmarkTable, DeploymentDayMedians, Metric, RecoveryMeasure, Tier};
use crate::dora::DoraReport;
use serde::{Deserialize, Serialize};

/// Tiers of a [`DoraReport`] for one benchmark year; `None` where the metric
/// had no data or the year has no rules for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DoraTiers {
    /// Report year used.
    pub year: u16,
    /// Deployment frequency tier (`None` when there was no deployment).
    pub deployment_frequency: Option<Tier>,
    /// Lead time tier, from the median lead time.
    pub lead_time: Option<Tier>,
    /// Change failure rate tier.
    pub change_failure_rate: Option<Tier>,
    /// Recovery tier, from the median of the year's recovery measure.
    pub recovery_time: Option<Tier>,
    /// Rework rate tier (no built-in year has rules for it yet).
    pub rework_rate: Option<Tier>,
}

impl BenchmarkTable {
    /// Classifies every metric of `report` with the rules of `year`. Returns
    /// `None` when the table has no such year.
    pub fn classify(&self, report: &DoraReport, year: u16) -> Option<DoraTiers> {
        let rules = self.year(year)?;
        let frequency = &report.deployment_frequency;
        let medians: DeploymentDayMedians = frequency.median_deployment_days;
        let recovery = match rules.recovery_measure {
            RecoveryMeasure::TimeToRestore => report.time_to_restore.distribution,
            RecoveryMeasure::FailedDeploymentRecovery => report.recovery_time.distribution,
        };
        Some(DoraTiers {
            year,
            deployment_frequency: (frequency.deployments > 0)
                .then(|| self.tier(Metric::DeploymentFrequency, year, medians))
                .flatten(),
            lead_time: report
                .lead_time
                .distribution
                .and_then(|d| self.tier(Metric::LeadTime, year, d.median)),
            change_failure_rate: report
                .change_failure_rate
                .rate
                .and_then(|r| self.tier(Metric::ChangeFailureRate, year, r)),
            recovery_time: recovery.and_then(|d| self.tier(Metric::RecoveryTime, year, d.median)),
            rework_rate: report
                .rework_rate
                .rate
                .and_then(|r| self.tier(Metric::ReworkRate, year, r)),
        })
    }
}

/// Classifies a report with the built-in table; see [`BenchmarkTable::classify`].
pub fn classify_dora(report: &DoraReport, year: u16) -> Option<DoraTiers> {
    BenchmarkTable::builtin().classify(report, year)
}
