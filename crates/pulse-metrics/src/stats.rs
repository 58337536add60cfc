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
//! * **Mean**: the exact sum of the values, rounded once, divided by their count, so it does not
//!   depend on the order the values were read in.
//!
//! Quantiles are found by selection (linear time), not by sorting; they are the same order
//! statistics. Non-finite values (NaN, infinities) are ignored by every function here.

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
        let mut finite = finite(values);
        let count = finite.len();
        if count == 0 {
            return None;
        }
        let (min, max) = finite
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        let mean = exact_sum(&finite) / count as f64;
        Some(Self {
            count,
            median: select(&mut finite, 0.5),
            p75: select(&mut finite, 0.75),
            p90: select(&mut finite, 0.9),
            mean,
            min,
            max,
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
    let mut finite = finite(values);
    (!finite.is_empty()).then(|| select(&mut finite, 0.5))
}

/// The `p`-quantile of `values` (`p` in `[0, 1]`, e.g. `0.9` for p90) using
/// linear interpolation between closest ranks (see the module docs).
/// Returns `None` when there is no finite value or `p` is outside `[0, 1]`.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if !(0.0..=1.0).contains(&p) {
        return None;
    }
    let mut finite = finite(values);
    (!finite.is_empty()).then(|| select(&mut finite, p))
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

fn finite(values: &[f64]) -> Vec<f64> {
    values.iter().copied().filter(|v| v.is_finite()).collect()
}

/// The interpolated `p`-quantile (see the module docs) of non-empty `values`, found by selection
/// rather than a full sort: linear time, and the same order statistics a sort would give. The
/// values are reordered, not changed.
fn select(values: &mut [f64], p: f64) -> f64 {
    let n = values.len();
    let h = (n - 1) as f64 * p;
    let lo = h.floor() as usize;
    let (_, &mut at_lo, above) = values.select_nth_unstable_by(lo, f64::total_cmp);
    let frac = h - lo as f64;
    if frac == 0.0 || above.is_empty() {
        return at_lo;
    }
    // The next order statistic is the smallest value above the selected one.
    let at_hi = above.iter().copied().fold(f64::INFINITY, f64::min);
    at_lo + frac * (at_hi - at_lo)
}

/// The sum of finite `values` rounded once, so it does not depend on their order (the same values
/// read in another order give the same mean). Whole numbers, which durations in seconds and counts
/// are, are added exactly as integers; anything else by exact partial sums (Shewchuk's algorithm,
/// as Python's `math.fsum`).
fn exact_sum(values: &[f64]) -> f64 {
    const LIMIT: f64 = 9.007_199_254_740_992e15; // 2^53: every whole number below is exact
    if values.iter().all(|v| v.fract() == 0.0 && v.abs() < LIMIT) {
        let total: i128 = values.iter().map(|&v| v as i128).sum();
        return total as f64;
    }
    let mut partials: Vec<f64> = Vec::new();
    for &value in values {
        let mut x = value;
        let mut kept = 0;
        for j in 0..partials.len() {
            let mut y = partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        partials.truncate(kept);
        partials.push(x);
    }
    // Add the partials from the largest down, then correct a tie rounded the wrong way.
    let mut n = partials.len();
    if n == 0 {
        return 0.0;
    }
    n -= 1;
    let mut hi = partials[n];
    let mut lo = 0.0;
    while n > 0 {
        let x = hi;
        n -= 1;
        let y = partials[n];
        hi = x + y;
        let y_rounded = hi - x;
        lo = y - y_rounded;
        if lo != 0.0 {
            break;
        }
    }
    if n > 0 && ((lo < 0.0 && partials[n - 1] < 0.0) || (lo > 0.0 && partials[n - 1] > 0.0)) {
        let y = lo * 2.0;
        let x = hi + y;
        if y == x - hi {
            hi = x;
        }
    }
    hi
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

    /// Reference: the statistics by a full sort, as the module docs define them.
    fn by_sort(values: &[f64], p: f64) -> f64 {
        let mut sorted = finite(values);
        sorted.sort_by(f64::total_cmp);
        let h = (sorted.len() - 1) as f64 * p;
        let lo = h.floor() as usize;
        let hi = (lo + 1).min(sorted.len() - 1);
        sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
    }

    #[test]
    fn selection_gives_the_sorted_order_statistics() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for n in 1..200 {
            // Long-tailed values with ties.
            let values: Vec<f64> = (0..n)
                .map(|_| ((next() % 1000) as f64).powi(2) / 7.0)
                .collect();
            let d = Distribution::from_values(&values).unwrap();
            for (got, p) in [(d.median, 0.5), (d.p75, 0.75), (d.p90, 0.9)] {
                assert_eq!(got, by_sort(&values, p), "n={n} p={p}");
            }
            assert_eq!(median(&values), Some(by_sort(&values, 0.5)));
            assert_eq!(percentile(&values, 0.33), Some(by_sort(&values, 0.33)));
        }
    }

    #[test]
    fn the_mean_does_not_depend_on_the_order() {
        // Naive left-to-right sums of these differ by order; the exact sum does not.
        let values = [0.1, 0.2, 0.3, 1e16, -1e16, 0.7];
        let mut reversed = values;
        reversed.reverse();
        assert_eq!(exact_sum(&values), exact_sum(&reversed));
        assert_eq!(exact_sum(&values), 1.3);
        assert_eq!(exact_sum(&[0.1; 10]), 1.0);
        // Whole numbers take the integer path and stay exact beyond what f64 steps can hold.
        assert_eq!(exact_sum(&[9e15, 9e15, 1.0, -9e15]), 9e15 + 1.0);
        let a = Distribution::from_values(&[0.1, 0.2, 0.3]).unwrap();
        let b = Distribution::from_values(&[0.3, 0.2, 0.1]).unwrap();
        assert_eq!(a.mean, b.mean);
    }

    #[test]
    fn ratio_never_divides_by_zero() {
        assert_eq!(ratio(0, 0), None);
        assert_eq!(ratio(1, 4), Some(0.25));
    }
}
