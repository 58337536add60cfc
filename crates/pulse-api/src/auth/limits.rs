//! Brute-force limits on login.
//!
//! - Per account: at most `max_failures_per_account` failures in a sliding hour (default 100).
//!   The account key is a hash of the typed e-mail, counted whether or not the account exists, so
//!   the limit says nothing about existence.
//! - Per address: at most `max_failures_per_address` failures in 15 minutes (default 50).
//!
//! An attacker who keeps an account at its limit must not lock its owner out: a browser that has
//! logged in to the account before carries a signed trusted-device cookie, and attempts that present
//! it are exempt from the account limit (they still count against their own address). Counts live in
//! the database, so every process enforces the same limits.

use chrono::{DateTime, Duration, Utc};
use pulse_auth::token::{constant_time_eq, hash_secret, sign};
use pulse_core::{Error, Result};
use pulse_db::repo::login_failures;

use crate::state::AppState;

const ACCOUNT_WINDOW_MINUTES: i64 = 60;
const ADDRESS_WINDOW_MINUTES: i64 = 15;

/// The key failures of an e-mail are counted under.
pub fn account_key(email: &str) -> String {
    hash_secret(&format!(
        "login:{}",
        pulse_db::repo::users::normalize_email(email)
    ))
}

/// The trusted-device token for an account key.
pub fn device_token(state: &AppState, account_key: &str) -> String {
    format!(
        "{}.{}",
        &account_key[..16],
        sign(state.hmac_key(), &format!("device:{account_key}"))
    )
}

/// Whether `token` is a valid trusted-device token for `account_key`.
pub fn is_trusted_device(state: &AppState, account_key: &str, token: Option<&str>) -> bool {
    token.is_some_and(|t| constant_time_eq(t, &device_token(state, account_key)))
}

fn retry_after(oldest: Option<DateTime<Utc>>, window: Duration) -> u64 {
    let until = oldest.map(|o| o + window).unwrap_or_else(Utc::now);
    (until - Utc::now()).num_seconds().max(1) as u64
}

/// Refuses the attempt if a limit is reached.
pub async fn check(
    state: &AppState,
    account_key: &str,
    ip: &str,
    trusted_device: bool,
) -> Result<()> {
    let db = state.db().system();
    let auth = &state.config().auth;
    let now = Utc::now();
    let address_window = Duration::minutes(ADDRESS_WINDOW_MINUTES);
    let (count, oldest) = login_failures::for_address(db, ip, now - address_window).await?;
    if count >= u64::from(auth.max_failures_per_address) {
        return Err(Error::RateLimited {
            retry_after_secs: retry_after(oldest, address_window),
        });
    }
    if !trusted_device {
        let account_window = Duration::minutes(ACCOUNT_WINDOW_MINUTES);
        let (count, oldest) =
            login_failures::for_account(db, account_key, now - account_window).await?;
        if count >= u64::from(auth.max_failures_per_account) {
            return Err(Error::RateLimited {
                retry_after_secs: retry_after(oldest, account_window),
            });
        }
    }
    Ok(())
}

/// Records a failure and prunes old rows now and then.
pub async fn record_failure(state: &AppState, account_key: &str, ip: &str) -> Result<()> {
    let db = state.db().system();
    login_failures::record(db, account_key, ip).await?;
    if rand_tick() {
        login_failures::prune(
            db,
            Utc::now() - Duration::minutes(ACCOUNT_WINDOW_MINUTES * 2),
        )
        .await?;
    }
    Ok(())
}

fn rand_tick() -> bool {
    uuid::Uuid::new_v4().as_bytes()[0] < 8
}
