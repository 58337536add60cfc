//! Failpoints: a **testing hook** that aborts the process at a named point of the commit path, so
//! the crash tests (`crates/pulse/tests/crash.rs`) can stop a real `pulse worker` exactly between a
//! data write and its checkpoint, and at the other points where a crash must lose nothing.
//!
//! `PULSE_FAILPOINTS=<name>=abort[@N][,<name>=abort[@N]...]` is read once when the process starts
//! ([`install_from_env`], called by `pulse`'s `main`). `abort@N` aborts the process (like a crash:
//! no unwinding, no destructor, no rollback sent to the database) the N-th time the point is
//! reached in this process; plain `abort` the first time. An unknown name or action is refused, so
//! a typo cannot make a test pass without exercising anything.
//!
//! Unset (production), [`hit`] costs one atomic load of an empty [`OnceLock`]: no allocation, no
//! lock, no string comparison. Never set `PULSE_FAILPOINTS` outside tests.
//!
//! The points, in the order a run reaches them (see [`NAMES`]):
//!
//! | name | where | state when it aborts |
//! |---|---|---|
//! | `worker.after_claim` | `Worker`, right after a claim committed | job `running` under the new attempt, nothing else done |
//! | `lease.after_fence` | `Lease::begin`, after the fencing update | a write transaction open (job row locked on PostgreSQL), nothing written |
//! | `git.after_raw_records` | git connector, after a page's raw records | raw records written, normalized rows and checkpoint not |
//! | `sync.before_checkpoint` | `SyncContext::commit`, before the checkpoint | a page's rows written, its checkpoint not |
//! | `sync.before_commit` | `SyncContext::commit`, before `COMMIT` | rows and checkpoint written, not committed |
//! | `sync.after_commit` | `SyncContext::commit`, after `COMMIT` | the page committed, the connector not told |
//! | `worker.before_succeed` | `Worker`, the sync returned, before the success is recorded | every page committed, job still `running` |
//! | `worker.succeed_before_commit` | `JobTx::succeed`, before `COMMIT` | status `succeeded` and its event written, not committed |

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The environment variable holding the failpoints to arm.
pub const ENV: &str = "PULSE_FAILPOINTS";

/// Every failpoint, in the order a run reaches them.
pub const NAMES: &[&str] = &[
    "worker.after_claim",
    "lease.after_fence",
    "git.after_raw_records",
    "sync.before_checkpoint",
    "sync.before_commit",
    "sync.after_commit",
    "worker.before_succeed",
    "worker.succeed_before_commit",
];

#[derive(Debug)]
struct Point {
    name: &'static str,
    at: u64,
    hits: AtomicU64,
}

static ARMED: OnceLock<Vec<Point>> = OnceLock::new();

/// Parses a `PULSE_FAILPOINTS` value into `(name, N)` pairs.
pub fn parse(spec: &str) -> Result<Vec<(&'static str, u64)>, String> {
    let mut out = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, action) = item
            .split_once('=')
            .ok_or_else(|| format!("'{item}' is not <name>=abort[@N]"))?;
        let name = NAMES
            .iter()
            .copied()
            .find(|n| *n == name.trim())
            .ok_or_else(|| {
                format!(
                    "unknown failpoint '{}' (known: {})",
                    name.trim(),
                    NAMES.join(", ")
                )
            })?;
        let at = match action.trim().split_once('@') {
            None if action.trim() == "abort" => 1,
            Some(("abort", n)) => {
                n.parse::<u64>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                    format!("'{item}': N in abort@N must be a whole number from 1")
                })?
            }
            _ => {
                return Err(format!(
                    "'{item}': the only action is abort (abort@N for the N-th hit)"
                ))
            }
        };
        out.push((name, at));
    }
    Ok(out)
}

/// Arms the failpoints of `spec` for the rest of the process. Only the first call arms anything.
/// Returns what was armed.
pub fn install(spec: &str) -> Result<Vec<(&'static str, u64)>, String> {
    let points = parse(spec)?;
    if points.is_empty() {
        return Ok(points);
    }
    let armed = points
        .iter()
        .map(|(name, at)| Point {
            name,
            at: *at,
            hits: AtomicU64::new(0),
        })
        .collect();
    ARMED
        .set(armed)
        .map_err(|_| "failpoints are already armed".to_string())?;
    Ok(points)
}

/// Arms the failpoints named by `PULSE_FAILPOINTS`, if set. Call once, at start.
pub fn install_from_env() -> Result<Vec<(&'static str, u64)>, String> {
    match std::env::var(ENV) {
        Ok(spec) => install(&spec).map_err(|e| format!("invalid {ENV}: {e}")),
        Err(_) => Ok(Vec::new()),
    }
}

/// Marks the failpoint `name`: aborts the process when it is armed and this is its N-th hit.
#[inline]
pub fn hit(name: &'static str) {
    if let Some(points) = ARMED.get() {
        reached(points, name);
    }
}

#[cold]
fn reached(points: &[Point], name: &'static str) {
    for point in points.iter().filter(|p| p.name == name) {
        let n = point.hits.fetch_add(1, Ordering::SeqCst) + 1;
        if n == point.at {
            eprintln!("failpoint {name} reached (hit {n}): aborting the process");
            std::process::abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_typos_are_refused() {
        assert_eq!(parse("").unwrap(), vec![]);
        assert_eq!(
            parse("sync.before_checkpoint=abort, worker.after_claim=abort@3").unwrap(),
            vec![("sync.before_checkpoint", 1), ("worker.after_claim", 3)]
        );
        for bad in [
            "sync.before_checkpiont=abort",
            "sync.before_checkpoint",
            "sync.before_checkpoint=panic",
            "sync.before_checkpoint=abort@0",
            "sync.before_checkpoint=abort@x",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("nope=abort")
            .unwrap_err()
            .contains("known: worker.after_claim"));
    }

    #[test]
    fn unarmed_points_do_nothing() {
        // Nothing is armed in unit tests: every point passes.
        for name in NAMES {
            hit(name);
        }
    }

    #[test]
    fn every_name_is_placed_in_the_code() {
        let sources = [
            include_str!("worker.rs"),
            include_str!("lease.rs"),
            include_str!("connector.rs"),
            include_str!("connectors/git.rs"),
        ]
        .concat();
        for name in NAMES {
            assert!(
                sources.contains(&format!("failpoint::hit(\"{name}\")")),
                "failpoint {name} is not placed anywhere"
            );
        }
    }
}
