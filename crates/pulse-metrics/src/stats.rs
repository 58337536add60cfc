//! Descriptive statistics over durations (seconds) or any other `f64` values.
//!
//! Definitions used throughout Pulse:
//!
//! * **Median**: the middle value of the sorted values; for an even count it is
//!   the mean of the two middle values (`[1, 2, 3, 10]` has median `2.5`).
//!   Apache DevLake uses the *lower* median instead (`2` in that example), so
//!   Pulse's median can be higher than DevLake's for even counts.
//! * **Percentiles** (p75, p90, ...): linear interpolation between closest
//!   ranks (the "type 7" estimator, the default of NumPy, R and spreadsheet
//!   `PERCENTILE.INC`). For sorted values `x[0..n]` and a fraction `p`, the
//!   rank is `h = (n - 1) * p`; the result is
//!   `x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])`.
//!   With `p = 0.5` this is exactly the median above.
//!
//! Non-finite values (NaN, infinities) are ignored by every function here.

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

/// Summary of a set of values (usually durations in seconds).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Distribution {
    /// Number of values summarised.
    pub count: usize,
    /// Median (mean of the two middle values for even counts).
    pub median: f64,
    /// 75th percentile (linear interpolation).
    pub p75: f64,
    /// 90th percentile (linear interpolation).
    pub p90: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl Distribution {
    /// Summarises `values`. Returns `None` when there is no finite value.
    pub fn from_values(values: &[f64]) -> Option<Self> {
        let sorted = sorted_finite(values);
        let count = sorted.len();
        if count == 0 {
            return None;
        }
        let sum: f64 = sorted.iter().sum();
        Some(Self {
            count,
            median: interpolate(&sorted, 0.5),
            p75: interpolate(&sorted, 0.75),
            p90: interpolate(&sorted, 0.9),
            mean: sum / count as f64,
            min: sorted[0],
            max: sorted[count - 1],
        })
    }

    /// Summarises whole-second durations. Returns `None` when empty.
    pub fn from_secs(values: &[i64]) -> Option<Self> {
        let as_f64: Vec<f64> = values.iter().map(|&v| v as f64).collect();
        Self::from_values(&as_f64)
    }
}

/// The median of `values`: the middle value, or for an even count the mean of
/// the two middle values. Returns `None` when there is no finite value.
pub fn median(values: &[f64]) -> Option<f64> {
    let sorted = sorted_finite(values);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The `p`-quantile of `values` (`p` in `[0, 1]`, e.g. `0.9` for p90) using
/// linear interpolation between closest ranks (see the module docs).
/// Returns `None` when there is no finite value or `p` is outside `[0, 1]`.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if !(0.0..=1.0).contains(&p) {
        return None;
    }
    let sorted = sorted_finite(values);
    if sorted.is_empty() {
        return None;
    }
    Some(interpolate(&sorted, p))
}

/// Converts a duration to seconds as `f64` (millisecond precision).
pub fn secs(duration: TimeDelta) -> f64 {
    duration.num_milliseconds() as f64 / 1000.0
}

/// Divides `numerator` by `denominator`, returning `None` instead of NaN or
/// infinity when the denominator is zero.
pub fn ratio(numerator: usize, denominator: usize) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

fn sorted_finite(values: &[f64]) -> Vec<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f64::total_cmp);
    sorted
}

/// Linear interpolation on a non-empty sorted slice.
fn interpolate(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (values, expected median, expected p75, expected p90) — computed by hand.
    const CASES: &[(&[f64], f64, f64, f64)] = &[
        // one value: every statistic is that value
        (&[7.0], 7.0, 7.0, 7.0),
        // odd count: middle value 3; p75 rank 0.75*4=3 -> 4; p90 rank 3.6 -> 4+0.6*(5-4)=4.6
        (&[5.0, 1.0, 3.0, 2.0, 4.0], 3.0, 4.0, 4.6),
        // even count: (2+3)/2; p75 rank 2.25 -> 3+0.25*7=4.75; p90 rank 2.7 -> 3+0.7*7=7.9
        (&[10.0, 1.0, 3.0, 2.0], 2.5, 4.75, 7.9),
        // two values: median is their mean; p90 rank 0.9 -> 0+0.9*100=90
        (&[0.0, 100.0], 50.0, 75.0, 90.0),
    ];

    #[test]
    fn hand_computed_cases() {
        for (values, med, p75, p90) in CASES {
            let d = Distribution::from_values(values).expect("non-empty");
            assert!((d.median - med).abs() < 1e-9, "median of {values:?}");
            assert!((d.p75 - p75).abs() < 1e-9, "p75 of {values:?}");
            assert!((d.p90 - p90).abs() < 1e-9, "p90 of {values:?}");
            assert_eq!(median(values), Some(*med));
        }
    }

    #[test]
    fn empty_and_non_finite() {
        assert_eq!(median(&[]), None);
        assert_eq!(Distribution::from_values(&[f64::NAN]), None);
        assert_eq!(percentile(&[1.0], 1.5), None);
        // NaN is ignored: median of [1, 3] = 2
        assert_eq!(median(&[1.0, f64::NAN, 3.0]), Some(2.0));
    }

    #[test]
    fn summary_fields() {
        // [1,2,3,10]: mean 16/4 = 4, min 1, max 10
        let d = Distribution::from_secs(&[3, 1, 10, 2]).expect("non-empty");
        assert_eq!((d.count, d.mean, d.min, d.max), (4, 4.0, 1.0, 10.0));
    }

    #[test]
    fn ratio_never_divides_by_zero() {
        assert_eq!(ratio(0, 0), None);
        assert_eq!(ratio(1, 4), Some(0.25));
    }
}
