//! `pulse rules show|set|clear` as an operator runs them, on SQLite and (when
//! `PULSE_TEST_DATABASE_URL` is set) PostgreSQL: the same validation, recomputation and audit as
//! the API.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::Backend;
use serde_json::{json, Value};

const EXAMPLE: &str = "../../docs/examples/import.jsonl";

struct Sandbox {
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Sandbox {
    fn new(backend: &Backend) -> Self {
        let dir = std::env::temp_dir().join(format!("pulse-rules-cli-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut env = common::test_env(backend, &dir.join("data"), &[]);
        env.push(("PULSE_LOG".into(), "warn".into()));
        Self { dir, env }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_pulse"))
            .args(args)
            .current_dir(&self.dir)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .output()
            .expect("run pulse")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "pulse {args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("pulse {args:?} printed {out}: {e}"))
    }

    fn file(&self, name: &str, content: &Value) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, content.to_string()).unwrap();
        path.display().to_string()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn rules_from_the_command_line(backend: Backend) {
    let s = Sandbox::new(&backend);
    tokio::task::block_in_place(|| {
        s.ok(&["migrate", "up"]);
        s.ok(&["client", "create", "Acme"]);
        let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(EXAMPLE);
        s.ok(&["import", example.to_str().unwrap(), "--client", "Acme"]);
    });

    let shown = tokio::task::block_in_place(|| s.json(&["rules", "show", "--client", "Acme"]));
    assert_eq!(shown["customized"], false);
    assert_eq!(shown["rules"]["incidents"]["revert_prs"], false);

    // The client's rules from a file: the revert rule finds nothing new (api#3 is INC-2's), the
    // window leaves INC-2 uncharged.
    let rules = s.file(
        "rules.json",
        &json!({"incidents": {"revert_prs": true}, "attribution": {"window_hours": 1}}),
    );
    let set = tokio::task::block_in_place(|| {
        s.json(&["rules", "set", "--client", "Acme", "--file", &rules])
    });
    assert_eq!(
        set["changed"],
        json!(["attribution.window_hours", "incidents.revert_prs"])
    );
    assert_eq!(set["recomputed"]["incidents_created"], 0);
    assert_eq!(set["recomputed"]["incidents_reattributed"], 1);

    // A project override, named by the project's external id.
    let over = s.file(
        "checkout.json",
        &json!({"production": {"environment": "^production$"}}),
    );
    let set = tokio::task::block_in_place(|| {
        s.json(&[
            "rules",
            "set",
            "--client",
            "Acme",
            "--project",
            "checkout",
            "--file",
            &over,
        ])
    });
    assert_eq!(
        set["rules"]["overridden"],
        json!(["production.environment"])
    );
    let shown = tokio::task::block_in_place(|| {
        s.json(&["rules", "show", "--client", "Acme", "--project", "checkout"])
    });
    assert_eq!(shown["rules"]["attribution"]["window_hours"], 1);
    assert_eq!(shown["rules"]["production"]["environment"], "^production$");

    // A bad document lists every problem and changes nothing.
    let bad = s.file(
        "bad.json",
        &json!({"production": {"environment": "(prod"}, "attribution": {"window_hours": 0}}),
    );
    let out = tokio::task::block_in_place(|| {
        s.run(&["rules", "set", "--client", "Acme", "--file", &bad])
    });
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("production.environment: is not a valid regular expression"),
        "{stderr}"
    );
    assert!(
        stderr.contains("attribution.window_hours: must be 1 to"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the rules were not changed: 2 problems"),
        "{stderr}"
    );
    let not_json = s.dir.join("not.json");
    std::fs::write(&not_json, "{").unwrap();
    let out = tokio::task::block_in_place(|| {
        s.run(&[
            "rules",
            "set",
            "--client",
            "Acme",
            "--file",
            not_json.to_str().unwrap(),
        ])
    });
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not JSON"));
    let unknown = tokio::task::block_in_place(|| {
        s.run(&["rules", "show", "--client", "Acme", "--project", "nope"])
    });
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no project 'nope'"));
    let shown = tokio::task::block_in_place(|| s.json(&["rules", "show", "--client", "Acme"]));
    assert_eq!(shown["rules"]["attribution"]["window_hours"], 1);
    assert_eq!(shown["rules"]["production"]["environment"], "(?i)prod");

    let cleared = tokio::task::block_in_place(|| {
        s.json(&[
            "rules",
            "clear",
            "--client",
            "Acme",
            "--project",
            "checkout",
        ])
    });
    assert_eq!(cleared["rules"]["override"], Value::Null);

    // Audited as command-line changes.
    let config = pulse_config::load_from(pulse_config::Sources {
        file: None,
        env: s.env.clone(),
    })
    .unwrap();
    let db = pulse_db::Db::connect(&config).await.unwrap();
    use pulse_db::entity::audit_log;
    use pulse_db::sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let entries = audit_log::Entity::find()
        .filter(audit_log::Column::Action.starts_with("rules."))
        .order_by_asc(audit_log::Column::At)
        .all(db.system())
        .await
        .unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "rules.replace",
            "rules.project_override",
            "rules.project_override_clear"
        ]
    );
    assert!(entries
        .iter()
        .all(|e| e.details.as_ref().unwrap()["via"] == "cli" && e.actor_id.is_none()));
}
both_backends!(rules_cli, rules_from_the_command_line);
