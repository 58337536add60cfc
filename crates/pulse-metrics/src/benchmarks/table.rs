//! Benchmark data model, parsing and rule evaluation.

use crate::MetricsError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

const BUILTIN_JSON: &str = include_str!("dora_benchmarks.json");

/// A DORA performance tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Elite performers.
    Elite,
    /// High performers.
    High,
    /// Medium performers.
    Medium,
    /// Low performers.
    Low,
}

/// A metric that can be classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Deployment frequency (measured as [`DeploymentDayMedians`]).
    DeploymentFrequency,
    /// Lead time for changes, seconds (median).
    LeadTime,
    /// Change failure rate, fraction.
    ChangeFailureRate,
    /// Recovery time, seconds (median); see [`RecoveryMeasure`].
    RecoveryTime,
    /// Deployment rework rate, fraction (no published cut-offs yet).
    ReworkRate,
}

/// Medians of the number of distinct deployment days per calendar period,
/// over every period of the measured range (periods without deployments count
/// as 0).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeploymentDayMedians {
    /// Median deployment-days per ISO week.
    pub per_week: f64,
    /// Median deployment-days per calendar month.
    pub per_month: f64,
    /// Median deployment-days per half-year.
    pub per_six_months: f64,
}

/// A measured value to classify.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Measurement {
    /// A single number (seconds or a fraction, depending on the metric).
    Value(f64),
    /// Deployment-day medians, for deployment frequency.
    DeploymentDays(DeploymentDayMedians),
}

impl From<f64> for Measurement {
    fn from(value: f64) -> Self {
        Measurement::Value(value)
    }
}

impl From<DeploymentDayMedians> for Measurement {
    fn from(value: DeploymentDayMedians) -> Self {
        Measurement::DeploymentDays(value)
    }
}

/// Which number of a [`Measurement`] a rule compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    /// The plain value of [`Measurement::Value`].
    #[default]
    Value,
    /// [`DeploymentDayMedians::per_week`].
    MedianDeploymentDaysPerWeek,
    /// [`DeploymentDayMedians::per_month`].
    MedianDeploymentDaysPerMonth,
    /// [`DeploymentDayMedians::per_six_months`].
    MedianDeploymentDaysPerSixMonths,
}

impl Measurement {
    /// The number a rule with `statistic` compares, if this measurement has it.
    pub fn statistic(&self, statistic: Statistic) -> Option<f64> {
        match (self, statistic) {
            (Measurement::Value(v), Statistic::Value) => Some(*v),
            (Measurement::DeploymentDays(m), Statistic::MedianDeploymentDaysPerWeek) => {
                Some(m.per_week)
            }
            (Measurement::DeploymentDays(m), Statistic::MedianDeploymentDaysPerMonth) => {
                Some(m.per_month)
            }
            (Measurement::DeploymentDays(m), Statistic::MedianDeploymentDaysPerSixMonths) => {
                Some(m.per_six_months)
            }
            _ => None,
        }
    }
}

/// How a rule compares the statistic with its threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Comparison {
    /// `value < threshold`
    #[serde(rename = "<")]
    Lt,
    /// `value <= threshold`
    #[serde(rename = "<=")]
    Le,
    /// `value > threshold`
    #[serde(rename = ">")]
    Gt,
    /// `value >= threshold`
    #[serde(rename = ">=")]
    Ge,
    /// Always matches (the fallback tier).
    #[serde(rename = "any")]
    Any,
}

/// One classification rule: "tier T if statistic OP threshold".
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rule {
    /// Tier assigned when the rule matches.
    pub tier: Tier,
    /// Number compared.
    #[serde(default)]
    pub statistic: Statistic,
    /// Comparison.
    pub op: Comparison,
    /// Threshold (required unless `op` is `any`).
    #[serde(default)]
    pub threshold: Option<f64>,
}

impl Rule {
    fn matches(&self, value: f64) -> bool {
        let t = self.threshold.unwrap_or(f64::NAN);
        match self.op {
            Comparison::Lt => value < t,
            Comparison::Le => value <= t,
            Comparison::Gt => value > t,
            Comparison::Ge => value >= t,
            Comparison::Any => true,
        }
    }
}

/// Which recovery measure a report year classifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RecoveryMeasure {
    /// Incident created to resolved (DORA up to 2022).
    TimeToRestore,
    /// Failed-deployment recovery time (DORA 2023 and later).
    FailedDeploymentRecovery,
}

/// The benchmark rules of one report year.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BenchmarkYear {
    /// Report year.
    pub year: u16,
    /// Where the cut-offs come from.
    pub source: String,
    /// Recovery measure the `recovery_time` rules apply to.
    pub recovery_measure: RecoveryMeasure,
    /// Ordered rules per metric; the first matching rule gives the tier.
    pub metrics: BTreeMap<Metric, Vec<Rule>>,
}

/// A set of benchmark years.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BenchmarkTable {
    /// Years, in any order (each at most once).
    pub years: Vec<BenchmarkYear>,
}

impl BenchmarkTable {
    /// Parses and validates a table: years are unique, every metric has at
    /// least one rule, and every rule other than `any` has a finite threshold.
    pub fn from_json(json: &str) -> Result<Self, MetricsError> {
        let table: BenchmarkTable = serde_json::from_str(json)
            .map_err(|e| MetricsError::InvalidBenchmarkData(e.to_string()))?;
        let mut seen = BTreeSet::new();
        for y in &table.years {
            if !seen.insert(y.year) {
                return Err(invalid(format!("year {} appears twice", y.year)));
            }
            for (metric, rules) in &y.metrics {
                if rules.is_empty() {
                    return Err(invalid(format!("{} {metric:?} has no rule", y.year)));
                }
                if rules
                    .iter()
                    .any(|r| r.op != Comparison::Any && !r.threshold.is_some_and(f64::is_finite))
                {
                    return Err(invalid(format!(
                        "{} {metric:?} has a rule without threshold",
                        y.year
                    )));
                }
            }
        }
        Ok(table)
    }

    /// The built-in table (report years 2021, 2023 and 2024), parsed once.
    pub fn builtin() -> &'static BenchmarkTable {
        static TABLE: OnceLock<BenchmarkTable> = OnceLock::new();
        TABLE.get_or_init(|| {
            BenchmarkTable::from_json(BUILTIN_JSON).unwrap_or(BenchmarkTable { years: Vec::new() })
        })
    }

    /// Report years available, ascending.
    pub fn years(&self) -> Vec<u16> {
        let mut years: Vec<u16> = self.years.iter().map(|y| y.year).collect();
        years.sort_unstable();
        years
    }

    /// The rules of one report year.
    pub fn year(&self, year: u16) -> Option<&BenchmarkYear> {
        self.years.iter().find(|y| y.year == year)
    }

    /// Classifies a measurement. Returns `None` when the year or the metric
    /// has no rules, when the measurement is not of the kind the rules need
    /// (e.g. a plain value for deployment frequency), when a compared number
    /// is not finite, or when no rule matches.
    pub fn tier(&self, metric: Metric, year: u16, value: impl Into<Measurement>) -> Option<Tier> {
        let measurement = value.into();
        let rules = self.year(year)?.metrics.get(&metric)?;
        for rule in rules {
            let v = measurement
                .statistic(rule.statistic)
                .filter(|v| v.is_finite())?;
            if rule.matches(v) {
                return Some(rule.tier);
            }
        }
        None
    }
}

fn invalid(message: String) -> MetricsError {
    MetricsError::InvalidBenchmarkData(message)
}

/// Classifies a measurement with the built-in table; see [`BenchmarkTable::tier`].
pub fn tier(metric: Metric, year: u16, value: impl Into<Measurement>) -> Option<Tier> {
    BenchmarkTable::builtin().tier(metric, year, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_table_parses() {
        assert!(BenchmarkTable::from_json(BUILTIN_JSON).is_ok());
        assert_eq!(BenchmarkTable::builtin().years(), vec![2021, 2023, 2024]);
    }

    #[test]
    fn validation_errors() {
        let dup = r#"{"years":[
            {"year":2030,"source":"x","recovery_measure":"time_to_restore","metrics":{}},
            {"year":2030,"source":"y","recovery_measure":"time_to_restore","metrics":{}}]}"#;
        assert!(BenchmarkTable::from_json(dup).is_err());
        let no_threshold = r#"{"years":[{"year":2030,"source":"x","recovery_measure":"time_to_restore",
            "metrics":{"lead_time":[{"tier":"elite","op":"<"}]}}]}"#;
        assert!(BenchmarkTable::from_json(no_threshold).is_err());
        assert!(BenchmarkTable::from_json("not json").is_err());
    }
}
