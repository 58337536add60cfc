//! Incrementally maintained metric aggregates.
//!
//! - `rollup_cells`: one row per (client, fact family, dimension, UTC day) that has facts: item
//!   counts as plain columns and the day's per-item facts packed in `data` (see
//!   `pulse_analytics::rollup`).
//! - `rollup_dirty`: markers of what changed since the cells were computed, written by triggers on
//!   every metric input table **in the same transaction as the write**: `(kind, day)` of each
//!   changed instant (old and new values of an update), `org` for the organisation tables.
//! - `rollup_state`: one row per client, locked while its cells are refreshed; it keeps a
//!   fingerprint of the organisation the cells were computed with.
//!
//! Every client that exists when this migration runs gets an `all` marker, so its cells are
//! computed on first use.

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::prelude::*;

use crate::dialect::{disable_tenant_rls, enable_tenant_rls};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One kind of marker written for a changed row: `kind` at the instant `ts` (an SQL expression
/// over the changed row `r` and the aliases of `joins`); `ts` is `None` for a whole-client marker.
struct Mark {
    kind: &'static str,
    ts: Option<&'static str>,
    joins: &'static str,
}

const fn at(kind: &'static str, ts: &'static str) -> Mark {
    Mark {
        kind,
        ts: Some(ts),
        joins: "",
    }
}

const fn via(kind: &'static str, ts: &'static str, joins: &'static str) -> Mark {
    Mark {
        kind,
        ts: Some(ts),
        joins,
    }
}

const ORG: Mark = Mark {
    kind: "org",
    ts: None,
    joins: "",
};

/// A watched table: the columns whose change matters to a metric (an update that changes none of
/// them writes no marker), the markers, and whether inserts matter.
struct Watch {
    table: &'static str,
    columns: &'static [&'static str],
    marks: &'static [Mark],
    on_insert: bool,
}

const PR_OF_ROW: &str =
    "JOIN pull_requests p ON p.client_id = r.client_id AND p.id = r.pull_request_id";
const SPRINT_OF_ROW: &str = "JOIN sprints s ON s.client_id = r.client_id AND s.id = r.sprint_id";
const SPRINTS_OF_ISSUE: &str =
    "JOIN sprint_issues si ON si.client_id = r.client_id AND si.issue_id = r.id \
     JOIN sprints s ON s.client_id = si.client_id AND s.id = si.sprint_id";
const ISSUE_OF_ROW: &str = "JOIN issues i ON i.client_id = r.client_id AND i.id = r.issue_id";

/// Every metric input. Marker kinds (what the refresh widens them to is documented in
/// `pulse_analytics::rollup`): `pr` a merged pull request's row, `prd` its commits and reviews,
/// `dep` a deployment, `inc` an incident, `work` an issue's completion, `spr` a sprint, `org` the
/// organisation (teams, membership, projects and what they cover).
const WATCHED: &[Watch] = &[
    Watch {
        table: "pull_requests",
        columns: &[
            "merged_at",
            "repository_id",
            "author_person_id",
            "author_login",
            "first_commit_at",
            "created_at",
            "draft",
            "ready_for_review_at",
            "additions",
            "deletions",
            "comment_count",
        ],
        marks: &[at("pr", "r.merged_at")],
        on_insert: true,
    },
    Watch {
        table: "pr_commits",
        columns: &["pull_request_id", "commit_id"],
        marks: &[via("prd", "p.merged_at", PR_OF_ROW)],
        on_insert: true,
    },
    Watch {
        // A new commit has no pull request yet (`pr_commits` is written after it).
        table: "commits",
        columns: &["authored_at"],
        marks: &[via(
            "prd",
            "p.merged_at",
            "JOIN pr_commits pc ON pc.client_id = r.client_id AND pc.commit_id = r.id \
             JOIN pull_requests p ON p.client_id = pc.client_id AND p.id = pc.pull_request_id",
        )],
        on_insert: false,
    },
    Watch {
        table: "pr_reviews",
        columns: &[
            "pull_request_id",
            "reviewer_login",
            "reviewer_person_id",
            "state",
            "submitted_at",
        ],
        marks: &[via("prd", "p.merged_at", PR_OF_ROW)],
        on_insert: true,
    },
    Watch {
        table: "deployments",
        columns: &[
            "finished_at",
            "started_at",
            "status",
            "is_production",
            "environment",
            "origin",
        ],
        marks: &[at("dep", "r.finished_at")],
        on_insert: true,
    },
    Watch {
        // A deployment's repositories also decide which scopes the incidents charged to it
        // (`caused_by_deployment_id`) belong to, whenever they were created.
        table: "deployment_repositories",
        columns: &["deployment_id", "repository_id"],
        marks: &[
            via(
                "dep",
                "d.finished_at",
                "JOIN deployments d ON d.client_id = r.client_id AND d.id = r.deployment_id",
            ),
            via(
                "inc",
                "i.created_at",
                "JOIN incidents i ON i.client_id = r.client_id AND i.caused_by_deployment_id = r.deployment_id",
            ),
        ],
        on_insert: true,
    },
    Watch {
        table: "incidents",
        columns: &[
            "created_at",
            "resolved_at",
            "deployment_id",
            "repository_id",
            "team_id",
            "caused_by_deployment_id",
        ],
        marks: &[at("inc", "r.created_at")],
        on_insert: true,
    },
    Watch {
        // Completion is one of the creation, resolution or transition instants; the sprints the
        // issue is in count it as committed or completed.
        table: "issues",
        columns: &[
            "created_at",
            "resolved_at",
            "status_category",
            "project_key",
            "assignee_person_id",
            "story_points",
        ],
        marks: &[
            at("work", "r.created_at"),
            at("work", "r.resolved_at"),
            via(
                "work",
                "t.at",
                "JOIN issue_transitions t ON t.client_id = r.client_id AND t.issue_id = r.id",
            ),
            via("spr", "s.start_at", SPRINTS_OF_ISSUE),
            via("spr", "s.end_at", SPRINTS_OF_ISSUE),
            via("spr", "s.complete_at", SPRINTS_OF_ISSUE),
        ],
        on_insert: true,
    },
    Watch {
        table: "issue_transitions",
        columns: &[
            "issue_id",
            "at",
            "from_category",
            "to_category",
            "from_status",
            "to_status",
        ],
        marks: &[
            at("work", "r.at"),
            via("work", "i.created_at", ISSUE_OF_ROW),
            via("work", "i.resolved_at", ISSUE_OF_ROW),
            via(
                "work",
                "t.at",
                "JOIN issue_transitions t ON t.client_id = r.client_id AND t.issue_id = r.issue_id",
            ),
        ],
        on_insert: true,
    },
    Watch {
        table: "sprints",
        columns: &["start_at", "end_at", "complete_at", "board_id", "state"],
        marks: &[
            at("spr", "r.start_at"),
            at("spr", "r.end_at"),
            at("spr", "r.complete_at"),
        ],
        on_insert: true,
    },
    Watch {
        table: "sprint_issues",
        columns: &["sprint_id", "issue_id", "added_at", "removed_at"],
        marks: &[
            via("spr", "s.start_at", SPRINT_OF_ROW),
            via("spr", "s.end_at", SPRINT_OF_ROW),
            via("spr", "s.complete_at", SPRINT_OF_ROW),
        ],
        on_insert: true,
    },
    Watch {
        table: "teams",
        columns: &["parent_id"],
        marks: &[ORG],
        on_insert: true,
    },
    Watch {
        table: "team_members",
        columns: &["team_id", "person_id"],
        marks: &[ORG],
        on_insert: true,
    },
    Watch {
        table: "project_teams",
        columns: &["project_id", "team_id"],
        marks: &[ORG],
        on_insert: true,
    },
    Watch {
        table: "project_repositories",
        columns: &["project_id", "repository_id"],
        marks: &[ORG],
        on_insert: true,
    },
    Watch {
        table: "project_jira_projects",
        columns: &["project_id", "jira_key"],
        marks: &[ORG],
        on_insert: true,
    },
    Watch {
        table: "project_boards",
        columns: &["project_id", "board_id"],
        marks: &[ORG],
        on_insert: true,
    },
    Watch {
        table: "boards",
        columns: &["project_key"],
        marks: &[ORG],
        on_insert: true,
    },
];

/// The UTC day (days since 1970-01-01, floored) of a timestamp expression.
fn day_of(backend: DatabaseBackend, ts: &str) -> String {
    match backend {
        DatabaseBackend::Postgres => format!("floor(extract(epoch FROM {ts}) / 86400)::bigint"),
        _ => {
            let secs = format!("CAST(strftime('%s', {ts}) AS INTEGER)");
            format!("(({secs}) - ((({secs}) % 86400) + 86400) % 86400) / 86400")
        }
    }
}

/// `INSERT`s writing the markers of `w` for the rows of `src` (a `FROM` item aliased `r`, plus
/// its join condition) that satisfy `cond`. On PostgreSQL every statement adds its own marker rows
/// (a marker is never shared with a concurrent writer, so a refresh that deletes the markers it
/// read cannot swallow a write it did not see); SQLite has a single writer, so a marker already
/// pending is not repeated.
fn mark_statements(backend: DatabaseBackend, w: &Watch, src: &str, cond: &str) -> Vec<String> {
    let unseen = match backend {
        DatabaseBackend::Postgres => String::new(),
        _ => "WHERE NOT EXISTS (SELECT 1 FROM rollup_dirty x WHERE x.client_id = m.client_id \
              AND x.kind = m.kind AND x.day = m.day)"
            .to_string(),
    };
    w.marks
        .iter()
        .map(|mark| {
            let (day, not_null, joins) = match mark.ts {
                None => ("0".to_string(), String::new(), ""),
                Some(ts) => (
                    day_of(backend, ts),
                    format!(" AND {ts} IS NOT NULL"),
                    mark.joins,
                ),
            };
            format!(
                "INSERT INTO rollup_dirty (client_id, kind, day) SELECT m.client_id, m.kind, m.day \
                 FROM (SELECT DISTINCT r.client_id AS client_id, '{kind}' AS kind, {day} AS day \
                 FROM {src} {joins} WHERE {cond}{not_null}) m {unseen};",
                kind = mark.kind,
            )
        })
        .collect()
}

/// `a.c1 IS DISTINCT FROM b.c1 OR ...` in the backend's spelling (`true` when no columns).
fn changed(backend: DatabaseBackend, cols: &[&str], a: &str, b: &str) -> String {
    if cols.is_empty() {
        return "1 = 1".into();
    }
    let op = match backend {
        DatabaseBackend::Postgres => "IS DISTINCT FROM",
        _ => "IS NOT",
    };
    cols.iter()
        .map(|c| format!("{a}.{c} {op} {b}.{c}"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

fn trigger_name(table: &str, event: &str) -> String {
    format!("rollup_{table}_{event}")
}

/// How a PostgreSQL trigger function runs its statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Planning {
    /// Static SQL: PL/pgSQL plans each statement once per connection and keeps the plan. This
    /// migration's original form; the plans are made on the tables as they were at the first call.
    Cached,
    /// `EXECUTE`: each statement is planned when it runs, on the tables' current size and the
    /// actual number of rows the statement wrote ([`m20261206_000080_rollup_trigger_planning`]).
    ///
    /// [`m20261206_000080_rollup_trigger_planning`]: super::m20261206_000080_rollup_trigger_planning
    PerCall,
}

/// The PostgreSQL trigger functions of `w`: `(name, trigger timing clause, function body)`.
/// Statement-level triggers with transition tables: one marker insert per statement, however many
/// rows it wrote.
fn pg_functions(w: &Watch, planning: Planning) -> Vec<(String, String, String)> {
    let backend = DatabaseBackend::Postgres;
    let t = w.table;
    let mut events: Vec<(&str, &str, Vec<String>)> = Vec::new();
    if w.on_insert {
        events.push((
            "ins",
            "AFTER INSERT ON {t} REFERENCING NEW TABLE AS new_rows",
            mark_statements(backend, w, "new_rows r", "true"),
        ));
    }
    let mut upd = mark_statements(
        backend,
        w,
        "new_rows r JOIN old_rows o ON o.id = r.id",
        &format!("({})", changed(backend, w.columns, "o", "r")),
    );
    upd.extend(mark_statements(
        backend,
        w,
        "old_rows r JOIN new_rows n ON n.id = r.id",
        &format!("({})", changed(backend, w.columns, "r", "n")),
    ));
    if !w.columns.is_empty() {
        events.push((
            "upd",
            "AFTER UPDATE ON {t} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
            upd,
        ));
    }
    events.push((
        "del",
        "AFTER DELETE ON {t} REFERENCING OLD TABLE AS old_rows",
        mark_statements(backend, w, "old_rows r", "true"),
    ));
    events
        .into_iter()
        .map(|(event, when, body)| {
            let body: Vec<String> = match planning {
                Planning::Cached => body,
                Planning::PerCall => body
                    .iter()
                    .map(|sql| format!("EXECUTE $sql${}$sql$;", sql.trim_end_matches(';')))
                    .collect(),
            };
            (
                trigger_name(t, event),
                when.replace("{t}", t),
                format!("BEGIN\n{}\nRETURN NULL;\nEND", body.join("\n")),
            )
        })
        .collect()
}

/// `CREATE OR REPLACE FUNCTION` for every PostgreSQL trigger function, planned as `planning` says
/// (the triggers themselves stay as they are).
pub(super) fn replace_pg_functions(planning: Planning) -> Vec<String> {
    WATCHED
        .iter()
        .flat_map(|w| pg_functions(w, planning))
        .map(|(name, _, body)| {
            format!("CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n{body}\n$$;")
        })
        .collect()
}

/// The statements creating the triggers of `w`.
fn create_triggers(backend: DatabaseBackend, w: &Watch) -> Vec<String> {
    let t = w.table;
    let mut out = Vec::new();
    match backend {
        DatabaseBackend::Postgres => {
            for (name, when, body) in pg_functions(w, Planning::Cached) {
                out.push(format!(
                    "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n{body}\n$$;"
                ));
                out.push(format!(
                    "CREATE TRIGGER {name} {when} FOR EACH STATEMENT EXECUTE FUNCTION {name}();"
                ));
            }
        }
        _ => {
            // Row-level triggers: new values are read back by rowid after the write, old values
            // before it (the row still holds them).
            let src = format!("{t} r");
            let new_cond = "r.rowid = NEW.rowid";
            let old_cond = "r.rowid = OLD.rowid";
            let when = if w.columns.is_empty() {
                String::new()
            } else {
                format!(" WHEN {}", changed(backend, w.columns, "OLD", "NEW"))
            };
            let mut events: Vec<(String, String, Vec<String>)> = Vec::new();
            if w.on_insert {
                events.push((
                    "ins".into(),
                    format!("AFTER INSERT ON {t} FOR EACH ROW"),
                    mark_statements(backend, w, &src, new_cond),
                ));
            }
            if !w.columns.is_empty() {
                events.push((
                    "upd_old".into(),
                    format!("BEFORE UPDATE ON {t} FOR EACH ROW{when}"),
                    mark_statements(backend, w, &src, old_cond),
                ));
                events.push((
                    "upd_new".into(),
                    format!("AFTER UPDATE ON {t} FOR EACH ROW{when}"),
                    mark_statements(backend, w, &src, new_cond),
                ));
            }
            events.push((
                "del".into(),
                format!("BEFORE DELETE ON {t} FOR EACH ROW"),
                mark_statements(backend, w, &src, old_cond),
            ));
            for (event, when, body) in events {
                out.push(format!(
                    "CREATE TRIGGER {} {when} BEGIN\n{}\nEND;",
                    trigger_name(t, &event),
                    body.join("\n")
                ));
            }
        }
    }
    out
}

fn drop_triggers(backend: DatabaseBackend, w: &Watch) -> Vec<String> {
    let t = w.table;
    match backend {
        DatabaseBackend::Postgres => ["ins", "upd", "del"]
            .iter()
            .flat_map(|e| {
                let name = trigger_name(t, e);
                [
                    format!("DROP TRIGGER IF EXISTS {name} ON {t};"),
                    format!("DROP FUNCTION IF EXISTS {name}();"),
                ]
            })
            .collect(),
        _ => ["ins", "upd_old", "upd_new", "del"]
            .iter()
            .map(|e| format!("DROP TRIGGER IF EXISTS {};", trigger_name(t, e)))
            .collect(),
    }
}

fn tables(backend: DatabaseBackend) -> Vec<&'static str> {
    match backend {
        DatabaseBackend::Postgres => vec![
            "CREATE TABLE rollup_dirty (
               client_id uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
               id bigint GENERATED ALWAYS AS IDENTITY,
               kind text NOT NULL,
               day bigint NOT NULL,
               PRIMARY KEY (client_id, id))",
            "CREATE INDEX ix_rollup_dirty_kind ON rollup_dirty (client_id, kind, day)",
            "CREATE TABLE rollup_state (
               client_id uuid NOT NULL PRIMARY KEY REFERENCES clients (id) ON DELETE CASCADE,
               org_hash text NULL,
               refreshed_at timestamptz NULL)",
            "CREATE TABLE rollup_cells (
               client_id uuid NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
               family smallint NOT NULL,
               dim_kind smallint NOT NULL,
               dim_id uuid NOT NULL,
               day bigint NOT NULL,
               items bigint NOT NULL,
               extra bigint NOT NULL,
               data bytea NOT NULL,
               PRIMARY KEY (client_id, family, dim_kind, dim_id, day))",
            "CREATE INDEX ix_rollup_cells_day ON rollup_cells (client_id, family, dim_kind, day) \
             INCLUDE (dim_id, items, extra)",
        ],
        _ => vec![
            "CREATE TABLE rollup_dirty (
               id INTEGER PRIMARY KEY AUTOINCREMENT,
               client_id uuid_text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
               kind text NOT NULL,
               day bigint NOT NULL)",
            "CREATE UNIQUE INDEX ux_rollup_dirty_key ON rollup_dirty (client_id, kind, day)",
            "CREATE TABLE rollup_state (
               client_id uuid_text NOT NULL PRIMARY KEY REFERENCES clients (id) ON DELETE CASCADE,
               org_hash text NULL,
               refreshed_at timestamp_with_timezone_text NULL)",
            "CREATE TABLE rollup_cells (
               client_id uuid_text NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
               family integer NOT NULL,
               dim_kind integer NOT NULL,
               dim_id uuid_text NOT NULL,
               day bigint NOT NULL,
               items bigint NOT NULL,
               extra bigint NOT NULL,
               data blob NOT NULL)",
            "CREATE UNIQUE INDEX ux_rollup_cells_key ON rollup_cells \
             (client_id, family, dim_kind, dim_id, day)",
            "CREATE INDEX ix_rollup_cells_day ON rollup_cells \
             (client_id, family, dim_kind, day, dim_id, items, extra)",
        ],
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let conn = m.get_connection();
        let backend = m.get_database_backend();
        for sql in tables(backend) {
            conn.execute_unprepared(sql).await?;
        }
        for table in ["rollup_dirty", "rollup_state", "rollup_cells"] {
            enable_tenant_rls(m, table, "client_id").await?;
        }
        for w in WATCHED {
            for sql in create_triggers(backend, w) {
                conn.execute_unprepared(&sql).await?;
            }
        }
        // Clients that already have data get their cells computed on first use.
        conn.execute_unprepared(
            "INSERT INTO rollup_dirty (client_id, kind, day) SELECT id, 'all', 0 FROM clients",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let conn = m.get_connection();
        let backend = m.get_database_backend();
        for w in WATCHED {
            for sql in drop_triggers(backend, w) {
                conn.execute_unprepared(&sql).await?;
            }
        }
        for table in ["rollup_cells", "rollup_state", "rollup_dirty"] {
            disable_tenant_rls(m, table).await?;
            conn.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_are_generated_for_both_backends() {
        for w in WATCHED {
            let pg = create_triggers(DatabaseBackend::Postgres, w).join("\n");
            let lite = create_triggers(DatabaseBackend::Sqlite, w).join("\n");
            assert!(pg.contains(&format!("ON {} REFERENCING", w.table)), "{pg}");
            assert!(lite.contains(&format!("ON {}", w.table)), "{lite}");
            for m in w.marks {
                assert!(pg.contains(&format!("'{}'", m.kind)));
                assert!(lite.contains(&format!("'{}'", m.kind)));
            }
        }
    }

    #[test]
    fn per_call_functions_execute_the_same_statements() {
        let cached = replace_pg_functions(Planning::Cached);
        let per_call = replace_pg_functions(Planning::PerCall);
        assert_eq!(cached.len(), per_call.len());
        for (c, p) in cached.iter().zip(&per_call) {
            let statements: Vec<&str> = c.lines().filter(|l| l.starts_with("INSERT")).collect();
            assert!(!statements.is_empty(), "{c}");
            for sql in statements {
                let wrapped = format!("EXECUTE $sql${}$sql$;", sql.trim_end_matches(';'));
                assert!(p.contains(&wrapped), "{p}");
            }
            assert!(!p.lines().any(|l| l.starts_with("INSERT")), "{p}");
        }
    }
}
