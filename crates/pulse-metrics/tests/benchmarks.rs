//! Benchmark classification by report year.

use pulse_metrics::benchmarks::*;

const HOUR: f64 = 3600.0;
const DAY: f64 = 86400.0;

#[test]
fn scalar_cut_offs() {
    use Metric::*;
    use Tier::*;
    // (metric, year, value, expected tier) — edges of each band
    const CASES: &[(Metric, u16, f64, Option<Tier>)] = &[
        // lead time 2021: < 1h elite, < 7d high, < 180d medium
        (LeadTime, 2021, 0.5 * HOUR, Some(Elite)),
        (LeadTime, 2021, HOUR, Some(High)),
        (LeadTime, 2021, 7.0 * DAY, Some(Medium)),
        (LeadTime, 2021, 180.0 * DAY, Some(Low)),
        // lead time 2023 and 2024: < 1d, < 7d, < 30d
        (LeadTime, 2023, 23.0 * HOUR, Some(Elite)),
        (LeadTime, 2023, DAY, Some(High)),
        (LeadTime, 2023, 29.0 * DAY, Some(Medium)),
        (LeadTime, 2024, 30.0 * DAY, Some(Low)),
        // change failure rate 2021: <= 15%, <= 20%, <= 30%
        (ChangeFailureRate, 2021, 0.15, Some(Elite)),
        (ChangeFailureRate, 2021, 0.20, Some(High)),
        (ChangeFailureRate, 2021, 0.30, Some(Medium)),
        (ChangeFailureRate, 2021, 0.31, Some(Low)),
        // 2023: <= 5%, <= 10%, <= 15%
        (ChangeFailureRate, 2023, 0.05, Some(Elite)),
        (ChangeFailureRate, 2023, 0.10, Some(High)),
        (ChangeFailureRate, 2023, 0.15, Some(Medium)),
        (ChangeFailureRate, 2023, 0.16, Some(Low)),
        // 2024 (derived): <= 5%, <= 20%, < 40%
        (ChangeFailureRate, 2024, 0.05, Some(Elite)),
        (ChangeFailureRate, 2024, 0.15, Some(High)),
        (ChangeFailureRate, 2024, 0.20, Some(High)),
        (ChangeFailureRate, 2024, 0.39, Some(Medium)),
        (ChangeFailureRate, 2024, 0.40, Some(Low)),
        // recovery, all years: < 1h, < 1d, < 7d
        (RecoveryTime, 2021, 59.0 * 60.0, Some(Elite)),
        (RecoveryTime, 2023, HOUR, Some(High)),
        (RecoveryTime, 2024, DAY, Some(Medium)),
        (RecoveryTime, 2024, 7.0 * DAY, Some(Low)),
        // unknown year, metric without rules, not-a-number
        (LeadTime, 2022, HOUR, None),
        (ReworkRate, 2024, 0.1, None),
        (LeadTime, 2023, f64::NAN, None),
    ];
    for &(metric, year, value, expected) in CASES {
        assert_eq!(
            tier(metric, year, value),
            expected,
            "{metric:?} {year} {value}"
        );
    }
}

#[test]
fn deployment_frequency_uses_deployment_day_medians() {
    let m = |w, mo, six| DeploymentDayMedians {
        per_week: w,
        per_month: mo,
        per_six_months: six,
    };
    // (year, medians per week / month / six months, expected)
    let cases = [
        (2021, m(5.0, 20.0, 120.0), Tier::Elite),
        (2021, m(0.0, 1.0, 4.0), Tier::High), // >= 1 deployment-day per month
        (2021, m(0.0, 0.0, 2.0), Tier::Medium), // >= 1 per six months
        (2021, m(0.0, 0.0, 0.0), Tier::Low),
        (2023, m(4.5, 18.0, 100.0), Tier::High), // >= 1 per week
        (2023, m(0.5, 2.0, 12.0), Tier::Medium), // >= 1 per month
        (2024, m(0.0, 0.5, 3.0), Tier::Low),
    ];
    for (year, medians, expected) in cases {
        assert_eq!(
            tier(Metric::DeploymentFrequency, year, medians),
            Some(expected),
            "{year} {medians:?}"
        );
    }
    // A plain number cannot be classified as deployment frequency.
    assert_eq!(tier(Metric::DeploymentFrequency, 2023, 3.0), None);
}

#[test]
fn a_new_year_is_a_data_change() {
    let json = r#"{"years":[{"year":2030,"source":"test","recovery_measure":"failed_deployment_recovery",
        "metrics":{"rework_rate":[{"tier":"elite","op":"<=","threshold":0.02},{"tier":"low","op":"any"}]}}]}"#;
    let table = BenchmarkTable::from_json(json).expect("valid");
    assert_eq!(
        table.tier(Metric::ReworkRate, 2030, 0.01),
        Some(Tier::Elite)
    );
    assert_eq!(table.tier(Metric::ReworkRate, 2030, 0.5), Some(Tier::Low));
    assert_eq!(table.years(), vec![2030]);
}
