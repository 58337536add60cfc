//! `pulse keys generate` and `pulse keys rotate` as an operator runs them, on SQLite and (when
//! `PULSE_TEST_DATABASE_URL` is set) PostgreSQL: credentials open with the new key afterwards
//! and no longer with the old one, bad key files are refused with a clear error and change
//! nothing, and no key is ever printed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use common::Backend;
use pulse_auth::crypto::Cipher;
use pulse_config::Secret;
use pulse_core::ClientId;
use pulse_db::entity::integrations as rows;
use pulse_db::sea_orm::{ActiveModelTrait, EntityTrait, QueryOrder, Set};
use pulse_db::Db;
use pulse_etl::integrations::{self, NewIntegration};
use pulse_etl::IntegrationId;

struct Sandbox {
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Sandbox {
    fn new(backend: &Backend) -> Self {
        let dir = std::env::temp_dir().join(format!("pulse-keys-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut env = common::test_env(backend, &dir.join("data"), &[]);
        env.push(("PULSE_LOG".into(), "debug".into()));
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

    fn config(&self) -> pulse_config::Config {
        pulse_config::load_from(pulse_config::Sources {
            file: None,
            env: self.env.clone(),
        })
        .unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// Neither stream shows any of `keys` (as base64, the form operators handle).
fn assert_no_key_printed(out: &Output, keys: &[[u8; 32]]) {
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    for key in keys {
        let b64 = base64::engine::general_purpose::STANDARD.encode(key);
        assert!(!all.contains(&b64), "a key was printed:\n{all}");
    }
    assert!(!all.contains("panicked"), "{all}");
}

fn key_of(path: &Path) -> [u8; 32] {
    let text = std::fs::read_to_string(path).unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .unwrap()
        .try_into()
        .unwrap()
}

/// Every stored credential ciphertext, by integration id.
async fn stored(db: &Db) -> Vec<(uuid::Uuid, Option<String>)> {
    rows::Entity::find()
        .order_by_asc(rows::Column::Id)
        .all(db.system())
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.id, m.credentials))
        .collect()
}

async fn secret_with(
    db: &Db,
    client: ClientId,
    id: IntegrationId,
    cipher: &Cipher,
) -> Result<String, String> {
    let tx = db.tenant(client).await.unwrap();
    let got = integrations::config(&tx, Some(cipher), id).await;
    tx.commit().await.unwrap();
    got.map(|c| c.credentials.unwrap().expose().to_string())
        .map_err(|e| e.to_string())
}

async fn rotation(backend: Backend) {
    let sandbox = Sandbox::new(&backend);
    let out = sandbox.run(&["migrate", "up"]);
    assert!(out.status.success(), "{}", describe(&out));
    let config = sandbox.config();
    let db = Db::connect(&config).await.unwrap();
    let old_key = pulse_auth::keys::load(&config).unwrap().encryption_key;
    let old = Cipher::new(&old_key);

    // Two clients' integrations with credentials, and one without.
    let mut made = Vec::new();
    for (name, secret) in [
        ("acme", Some("ghp_rotation_canary_acme")),
        ("globex", Some("jira_rotation_canary_globex")),
        ("initech", None),
    ] {
        let client = ClientId::from_uuid(
            pulse_db::repo::clients::create(db.system(), name)
                .await
                .unwrap()
                .id,
        );
        let tx = db.tenant(client).await.unwrap();
        let created = integrations::create(
            &tx,
            &old,
            NewIntegration {
                kind: "git".into(),
                name: format!("{name} source"),
                credentials: secret.map(Secret::new),
                scopes: vec!["main".into()],
                ..Default::default()
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        made.push((client, created.id, secret));
    }
    let before = stored(&db).await;

    // Bad key files are refused, saying what is wrong, and change nothing.
    std::fs::write(sandbox.path("not-base64.key"), "this is not a key!\n").unwrap();
    std::fs::write(
        sandbox.path("short.key"),
        base64::engine::general_purpose::STANDARD.encode([7u8; 16]),
    )
    .unwrap();
    std::fs::write(sandbox.path("empty.key"), "\n").unwrap();
    std::fs::write(
        sandbox.path("same.key"),
        base64::engine::general_purpose::STANDARD.encode(old_key),
    )
    .unwrap();
    for (file, expected) in [
        ("missing.key", "cannot read the new key file"),
        ("not-base64.key", "does not hold base64 text"),
        ("short.key", "is 16 bytes long; it must be exactly 32 bytes"),
        ("empty.key", "is empty"),
        ("same.key", "is the key already configured"),
    ] {
        let path = sandbox.path(file);
        let out = sandbox.run(&["keys", "rotate", "--new-key-file", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{file}: {}", describe(&out));
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(expected) && stderr.contains(file),
            "{file}: {stderr}"
        );
        assert_no_key_printed(&out, &[old_key]);
        assert_eq!(
            stored(&db).await,
            before,
            "{file} changed stored credentials"
        );
    }

    // A new key, written to an owner-only file and not printed.
    let new_path = sandbox.path("new.key");
    let out = sandbox.run(&["keys", "generate", "--out", new_path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let new_key = key_of(&new_path);
    assert_ne!(new_key, old_key);
    assert_no_key_printed(&out, &[new_key]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&new_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = sandbox.run(&["keys", "generate", "--out", new_path.to_str().unwrap()]);
    assert_eq!(
        again.status.code(),
        Some(1),
        "an existing file is not overwritten"
    );
    assert_eq!(key_of(&new_path), new_key);

    // A credential no key opens stops the rotation before anything is written.
    let (broken_client, broken_id, _) = made[1];
    let original = before
        .iter()
        .find(|(id, _)| *id == broken_id.uuid())
        .unwrap()
        .1
        .clone();
    let mut damaged: rows::ActiveModel = rows::Entity::find_by_id(broken_id.uuid())
        .one(db.system())
        .await
        .unwrap()
        .unwrap()
        .into();
    damaged.credentials = Set(Some(Cipher::new(&[42u8; 32]).encrypt(b"x", b"y")));
    damaged.update(db.system()).await.unwrap();
    let with_damage = stored(&db).await;
    let out = sandbox.run(&[
        "keys",
        "rotate",
        "--new-key-file",
        new_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("nothing was changed") && stderr.contains(&broken_id.to_string()),
        "{stderr}"
    );
    assert_eq!(
        stored(&db).await,
        with_damage,
        "a failed rotation wrote rows"
    );
    let mut repaired: rows::ActiveModel = rows::Entity::find_by_id(broken_id.uuid())
        .one(db.system())
        .await
        .unwrap()
        .unwrap()
        .into();
    repaired.credentials = Set(original);
    repaired.update(db.system()).await.unwrap();
    assert_eq!(
        secret_with(&db, broken_client, broken_id, &old).await,
        Ok("jira_rotation_canary_globex".into())
    );

    // The rotation.
    let out = sandbox.run(&[
        "keys",
        "rotate",
        "--new-key-file",
        new_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("re-encrypted 2 integration credential(s)") && stdout.contains("0 already"),
        "{stdout}"
    );
    assert!(stdout.contains("next:"), "{stdout}");
    assert_no_key_printed(&out, &[old_key, new_key]);
    let new = Cipher::new(&new_key);
    for (client, id, secret) in &made {
        match secret {
            Some(secret) => {
                assert_eq!(
                    secret_with(&db, *client, *id, &new).await.as_deref(),
                    Ok(*secret)
                );
                let err = secret_with(&db, *client, *id, &old).await.unwrap_err();
                assert!(err.contains("cannot be decrypted"), "{err}");
            }
            None => {
                let tx = db.tenant(*client).await.unwrap();
                let c = integrations::config(&tx, Some(&new), *id).await.unwrap();
                tx.commit().await.unwrap();
                assert!(c.credentials.is_none());
            }
        }
    }
    let rotated = stored(&db).await;
    for ((id, was), (_, now)) in before.iter().zip(&rotated) {
        if was.is_some() {
            assert_ne!(was, now, "{id} was rewritten");
        } else {
            assert_eq!(now, &None);
        }
    }

    // Running it again (unsure whether it finished) changes nothing.
    let out = sandbox.run(&[
        "keys",
        "rotate",
        "--new-key-file",
        new_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains(
            "re-encrypted 0 integration credential(s) under the new key (2 already were)"
        ),
        "{}",
        describe(&out)
    );
    assert_eq!(stored(&db).await, rotated);
    db.close().await;
}

#[test]
fn rotation_on_sqlite() {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(rotation(Backend::Sqlite));
}

#[test]
fn rotation_on_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let Some(url) = rt.block_on(common::postgres_database()) else {
        eprintln!("PULSE_TEST_DATABASE_URL is not set: PostgreSQL case skipped");
        return;
    };
    rt.block_on(rotation(Backend::Postgres(url)));
}
