//! `pulse keys`: the encryption key of integration credentials.
//!
//! Rotation, as an operator runs it:
//!
//! 1. `pulse keys generate --out FILE` writes a fresh key to a new owner-only file (or bring
//!    your own: 32 random bytes, base64).
//! 2. Stop every `pulse serve` and `pulse worker` process (a process still running the old key
//!    cannot read credentials rotated under it: its jobs would fail until restarted).
//! 3. `pulse keys rotate --new-key-file FILE`, with the configuration the processes use (so the
//!    current key is the one in `PULSE_ENCRYPTION_KEY`, or the generated one in the data
//!    directory on SQLite). Every credential is re-encrypted in one transaction: a crash or any
//!    error leaves every row under the old key. Rows already under the new key are skipped, so
//!    running it again (say, unsure whether it finished) is harmless.
//! 4. Make FILE's content the configured key (`PULSE_ENCRYPTION_KEY`, or replace
//!    `<data_dir>/encryption-key`), start the processes again, and keep no copy of the old key.
//!
//! Keys are never printed or logged; only file paths and counts are. The same key derives the HMAC
//! key of refresh and CSRF tokens, so after a rotation users sign in again.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use clap::Subcommand;
use pulse_auth::crypto::Cipher;
use pulse_config::Config;

#[derive(Subcommand)]
pub enum KeysAction {
    /// Re-encrypt every integration credential from the configured key to the key in a file (one
    /// transaction; stop Pulse's processes first, then configure the new key and start them).
    Rotate {
        /// File holding the new key: 32 random bytes, base64 (as `pulse keys generate` writes).
        #[arg(long)]
        new_key_file: PathBuf,
    },
    /// Write a new random encryption key to a new file readable by its owner only (the key is
    /// not printed).
    Generate {
        /// The file to create (refused if it exists).
        #[arg(long)]
        out: PathBuf,
    },
}

pub async fn keys(config: Config, action: KeysAction) -> anyhow::Result<()> {
    match action {
        KeysAction::Rotate { new_key_file } => rotate(config, &new_key_file).await,
        KeysAction::Generate { out } => generate(&out),
    }
}

/// Reads a key file: base64 of exactly 32 bytes, surrounding whitespace ignored. The error names
/// the file and what is wrong, never the content.
pub fn read_key_file(path: &Path) -> anyhow::Result<[u8; 32]> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the new key file '{shown}': {e}"))?;
    let text = text.trim();
    anyhow::ensure!(
        !text.is_empty(),
        "the new key file '{shown}' is empty; write a key with `pulse keys generate --out {shown}`"
    );
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| {
            anyhow::anyhow!(
                "the new key file '{shown}' does not hold base64 text; it must hold 32 random \
                 bytes in base64 (as `pulse keys generate` writes)"
            )
        })?;
    let len = bytes.len();
    bytes.try_into().map_err(|_| {
        anyhow::anyhow!("the key in '{shown}' is {len} bytes long; it must be exactly 32 bytes")
    })
}

async fn rotate(config: Config, new_key_file: &Path) -> anyhow::Result<()> {
    let new_key = read_key_file(new_key_file)?;
    let keys = pulse_auth::keys::load(&config)?;
    anyhow::ensure!(
        new_key != keys.encryption_key,
        "the key in '{}' is the key already configured; generate a new one with `pulse keys \
         generate`",
        new_key_file.display()
    );
    let db = crate::runtime::connect(&config).await?;
    pulse_db::migration::ensure_current(db.system()).await?;
    let done = pulse_etl::integrations::rotate_key(
        db.system(),
        &Cipher::new(&keys.encryption_key),
        &Cipher::new(&new_key),
    )
    .await?;
    println!(
        "re-encrypted {} integration credential(s) under the new key ({} already were)",
        done.rewritten, done.already_new
    );
    let place = if config.auth.encryption_key.is_empty() {
        format!(
            "replace the content of {} with it",
            config.data_dir.join("encryption-key").display()
        )
    } else {
        "set PULSE_ENCRYPTION_KEY (auth.encryption_key) to it".to_string()
    };
    println!(
        "next: {place} (the content of {}), then start Pulse's processes again",
        new_key_file.display()
    );
    Ok(())
}

fn generate(out: &Path) -> anyhow::Result<()> {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    write_new_private(out, &text)
        .map_err(|e| anyhow::anyhow!("cannot create the key file '{}': {e}", out.display()))?;
    println!("wrote a new encryption key to {}", out.display());
    Ok(())
}

#[cfg(unix)]
fn write_new_private(path: &Path, value: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(value.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_new_private(path: &Path, value: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(value.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}
