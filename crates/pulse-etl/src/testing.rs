//! A connector without network for tests and demos: it "collects" synthetic items in pages,
//! writing each page's raw records with the checkpoint that covers them.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{json, Value};

use crate::connector::{Connector, ConnectorInfo, Convert, Extract, ScopeInfo, SyncContext};
use crate::error::SyncError;
use crate::ids::JobId;
use crate::integrations::IntegrationConfig;
use crate::lease::RawRecord;
use crate::model::{JobMode, Progress};

/// The kind [`CountingConnector`] registers under.
pub const COUNTING_KIND: &str = "counting";

/// One run of [`CountingConnector::sync`], for assertions about who ran what when.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// The job.
    pub job: JobId,
    /// Its attempt.
    pub attempt: u32,
    /// The worker (lease owner).
    pub owner: String,
    /// The first item this run collected (the checkpoint it resumed from).
    pub first_item: u64,
    /// Items written by this run.
    pub written: u64,
    /// When it started.
    pub started: Instant,
    /// When it returned.
    pub ended: Instant,
    /// How it ended (`ok` or the error).
    pub outcome: String,
    /// Incremental or full.
    pub mode: JobMode,
    /// The watermark handed over from the scope's last successful job.
    pub previous: Option<Value>,
}

/// Syncs `total` synthetic items per scope in pages of `page_size` into `raw_records`
/// (`endpoint = "items"`, `external_id = "<scope>-<n>"`), checkpointing `{"next": n}`.
#[derive(Debug)]
pub struct CountingConnector {
    /// Items per scope.
    pub total: u64,
    /// Items per page.
    pub page_size: u64,
    /// Simulated upstream latency per page.
    pub page_delay: Duration,
    faults: Mutex<HashMap<u64, VecDeque<SyncError>>>,
    runs: Mutex<Vec<RunRecord>>,
}

impl CountingConnector {
    /// A connector syncing `total` items in pages of `page_size`.
    pub fn new(total: u64, page_size: u64) -> Self {
        Self {
            total,
            page_size: page_size.max(1),
            page_delay: Duration::ZERO,
            faults: Mutex::new(HashMap::new()),
            runs: Mutex::new(Vec::new()),
        }
    }

    /// Waits `delay` before each page.
    pub fn with_page_delay(mut self, delay: Duration) -> Self {
        self.page_delay = delay;
        self
    }

    /// Fails once with `err` when about to fetch page `page` (0-based); queue several to fail
    /// several runs.
    pub fn fail_at_page(&self, page: u64, err: SyncError) {
        self.faults
            .lock()
            .expect("faults")
            .entry(page)
            .or_default()
            .push_back(err);
    }

    /// Every run so far.
    pub fn runs(&self) -> Vec<RunRecord> {
        self.runs.lock().expect("runs").clone()
    }

    async fn collect(&self, ctx: &mut SyncContext, next: &mut u64) -> Result<(), SyncError> {
        let scope = ctx.scope().to_string();
        let integration = ctx.job().integration;
        while *next < self.total {
            ctx.check()?;
            let page = *next / self.page_size;
            let fault = self
                .faults
                .lock()
                .expect("faults")
                .get_mut(&page)
                .and_then(VecDeque::pop_front);
            if let Some(err) = fault {
                return Err(err);
            }
            if !self.page_delay.is_zero() {
                tokio::time::sleep(self.page_delay).await;
            }
            let end = (*next + self.page_size).min(self.total);
            let records: Vec<RawRecord> = (*next..end)
                .map(|i| RawRecord {
                    endpoint: "items".into(),
                    external_id: format!("{scope}-{i}"),
                    payload: json!({"n": i, "scope": scope, "attempt": ctx.job().attempt}),
                })
                .collect();
            let tx = ctx.begin().await?;
            tx.upsert_raw(integration, &scope, &records).await?;
            ctx.commit(
                tx,
                json!({ "next": end }),
                Progress {
                    phase: "collect items".into(),
                    done: end,
                    total: Some(self.total),
                    current: Some(format!("{scope}-{end}")),
                },
            )
            .await?;
            *next = end;
        }
        Ok(())
    }
}

#[async_trait]
impl Connector for CountingConnector {
    fn describe(&self) -> ConnectorInfo {
        ConnectorInfo {
            kind: COUNTING_KIND.into(),
            name: "Counting (test)".into(),
            rules_schema: json!({"type": "object"}),
            scope_label: "counter".into(),
        }
    }

    async fn test_connection(&self, _integration: &IntegrationConfig) -> Result<(), SyncError> {
        Ok(())
    }

    async fn discover_scopes(
        &self,
        _integration: &IntegrationConfig,
    ) -> Result<Vec<ScopeInfo>, SyncError> {
        Ok(vec![ScopeInfo {
            id: "main".into(),
            name: "main".into(),
        }])
    }

    async fn sync(&self, ctx: &mut SyncContext) -> Result<(), SyncError> {
        let start = ctx
            .checkpoint()
            .and_then(|c| c.get("next"))
            .and_then(|n| n.as_u64())
            .unwrap_or(0);
        let mut next = start;
        let started = Instant::now();
        let result = self.collect(ctx, &mut next).await;
        self.runs.lock().expect("runs").push(RunRecord {
            job: ctx.job().id,
            attempt: ctx.job().attempt,
            owner: ctx.lease().owner.clone(),
            first_item: start,
            written: next - start,
            started,
            ended: Instant::now(),
            outcome: match &result {
                Ok(()) => "ok".into(),
                Err(e) => e.to_string(),
            },
            mode: ctx.mode(),
            previous: ctx.previous_checkpoint().cloned(),
        });
        result
    }
}

/// The counting connector's row: one counted item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedItem {
    /// The scope it belongs to.
    pub scope: String,
    /// Its number.
    pub n: u64,
}

/// The counting connector's normalized model: an item keyed like every normalized row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalizedItem {
    /// `(source, external_id)` identify it within a client.
    pub source: String,
    /// The upstream id.
    pub external_id: String,
    /// Its value.
    pub value: u64,
}

/// Extract stage of the counting connector.
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingExtract;

impl Extract for CountingExtract {
    type Row = CountedItem;

    fn extract(&self, raw: &RawRecord) -> Result<Vec<CountedItem>, SyncError> {
        let n = raw.payload.get("n").and_then(Value::as_u64);
        let scope = raw.payload.get("scope").and_then(Value::as_str);
        match (n, scope) {
            (Some(n), Some(scope)) => Ok(vec![CountedItem {
                scope: scope.to_string(),
                n,
            }]),
            _ => Err(SyncError::Permanent(format!(
                "raw record {} has no item number or scope",
                raw.external_id
            ))),
        }
    }
}

/// Convert stage of the counting connector.
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingConvert;

impl Convert for CountingConvert {
    type Row = CountedItem;
    type Model = NormalizedItem;

    fn convert(&self, rows: &[CountedItem]) -> Vec<NormalizedItem> {
        rows.iter()
            .map(|r| NormalizedItem {
                source: COUNTING_KIND.into(),
                external_id: format!("{}-{}", r.scope, r.n),
                value: r.n,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::extract_convert;

    #[test]
    fn stages_turn_recorded_payloads_into_normalized_rows() {
        let raw = vec![
            RawRecord {
                endpoint: "items".into(),
                external_id: "main-0".into(),
                payload: json!({"n": 0, "scope": "main", "attempt": 1}),
            },
            RawRecord {
                endpoint: "items".into(),
                external_id: "main-1".into(),
                payload: json!({"n": 1, "scope": "main", "attempt": 1}),
            },
        ];
        let rows = extract_convert(&CountingExtract, &CountingConvert, &raw).unwrap();
        assert_eq!(
            rows,
            vec![
                NormalizedItem {
                    source: "counting".into(),
                    external_id: "main-0".into(),
                    value: 0
                },
                NormalizedItem {
                    source: "counting".into(),
                    external_id: "main-1".into(),
                    value: 1
                },
            ]
        );
        let broken = RawRecord {
            endpoint: "items".into(),
            external_id: "x".into(),
            payload: json!({}),
        };
        assert!(matches!(
            CountingExtract.extract(&broken),
            Err(SyncError::Permanent(_))
        ));
    }
}
