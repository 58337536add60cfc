//! The benchmark commands at a small size: they run end to end, print every figure they promise,
//! and `bench metrics` loads its dataset in several chunks (references cross chunk boundaries),
//! then reuses it on the next run.

use std::path::Path;
use std::process::{Command, Output};

fn pulse(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pulse"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PULSE_LOG", "warn")
        .env("PULSE_DATA_DIR", dir.join("data"))
        .output()
        .expect("the pulse binary runs")
}

fn stdout_of(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The `p50 .. p95 .. p99 ..` figures of an endpoint's summary line.
fn summary(stdout: &str, endpoint: &str) -> [f64; 3] {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with(endpoint) && l.contains(" p95 "))
        .unwrap_or_else(|| panic!("no summary line for {endpoint} in:\n{stdout}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let value = |name: &str| -> f64 {
        let at = words.iter().position(|w| *w == name).expect(name);
        words[at + 1].parse().expect("a number")
    };
    [value("p50"), value("p95"), value("p99")]
}

#[test]
fn bench_metrics_loads_in_chunks_measures_and_reuses_the_dataset() {
    let dir = std::env::temp_dir().join(format!("pulse-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let work = dir.join("work");
    let args = [
        "bench",
        "metrics",
        "--prs",
        "300",
        "--chunk",
        "1000",
        "--iterations",
        "2",
        "--dir",
        work.to_str().unwrap(),
    ];
    let first = stdout_of(&pulse(&dir, &args), "the first run");
    let chunks = first
        .lines()
        .filter(|l| l.trim_start().starts_with("chunk "))
        .count();
    assert!(chunks >= 3, "expected several chunks:\n{first}");
    assert!(first.contains("generated "), "{first}");
    assert!(
        first.contains(" records in ") && first.contains("loaded "),
        "{first}"
    );
    for endpoint in ["dora", "pull-requests", "executive"] {
        let [p50, p95, p99] = summary(&first, endpoint);
        assert!(
            p50 > 0.0 && p50 <= p95 && p95 <= p99,
            "{endpoint}: {p50} {p95} {p99}"
        );
    }

    let second = stdout_of(&pulse(&dir, &args), "the second run");
    assert!(second.contains("already loaded"), "{second}");
    assert!(!second.contains("chunk 1:"), "{second}");
    for endpoint in ["dora", "pull-requests", "executive"] {
        summary(&second, endpoint);
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bench_ingest_prints_both_rates() {
    let dir = std::env::temp_dir().join(format!("pulse-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = pulse(
        &dir,
        &["bench", "ingest", "--records", "3000", "--page", "500"],
    );
    let stdout = stdout_of(&out, "bench ingest");
    assert!(stdout.contains("raw bulk load"), "{stdout}");
    let ratios: Vec<f64> = stdout
        .lines()
        .filter(|l| l.starts_with("pipeline"))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let at = words.iter().rposition(|w| *w == "x").expect("a ratio");
            words[at - 1].parse().expect("a number")
        })
        .collect();
    assert_eq!(ratios.len(), 2, "{stdout}");
    assert!(ratios.iter().all(|r| *r > 0.0), "{stdout}");
    std::fs::remove_dir_all(&dir).ok();
}
