//! Opaque secrets: generation, hashing and constant-time comparison.
//!
//! Tokens are high-entropy random strings, so a single SHA-256 is the right storage hash (a slow
//! password hash would add cost, not security).

use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of personal API tokens, so they are recognisable (and findable by secret scanners).
pub const API_TOKEN_PREFIX: &str = "pulse_pat_";

/// `bytes` random bytes, URL-safe base64 without padding.
pub fn random_secret(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// A random password for generated accounts (demo, resets): 20 characters, no look-alikes.
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char)
        .collect()
}

/// Hex SHA-256 of a secret, for storage.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// HMAC-SHA256 of `message` under `key`, URL-safe base64.
pub fn sign(key: &[u8], message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(message.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The secret of a session's refresh token of one generation: an HMAC under the server key, so
/// tokens of every earlier generation can be recognised (as reuse) without storing them.
pub fn refresh_secret(key: &[u8], session: uuid::Uuid, generation: i64) -> String {
    sign(key, &format!("pulse-refresh-v1:{session}:{generation}"))
}

/// Formats a refresh token: `<session uuid>.<generation>.<secret>`.
pub fn format_refresh(key: &[u8], session: uuid::Uuid, generation: i64) -> String {
    format!(
        "{session}.{generation}.{}",
        refresh_secret(key, session, generation)
    )
}

/// Splits a refresh token into session, generation and secret.
pub fn split_refresh(token: &str) -> Option<(uuid::Uuid, i64, &str)> {
    let (id, rest) = token.split_once('.')?;
    let (generation, secret) = rest.split_once('.')?;
    let id = uuid::Uuid::parse_str(id).ok()?;
    let generation = generation.parse::<i64>().ok().filter(|g| *g >= 0)?;
    (!secret.is_empty()).then_some((id, generation, secret))
}

/// Splits `pulse_pat_<uuid-simple>_<secret>` into its parts.
pub fn split_api_token(token: &str) -> Option<(uuid::Uuid, &str)> {
    let rest = token.strip_prefix(API_TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id = uuid::Uuid::parse_str(id).ok()?;
    (!secret.is_empty()).then_some((id, secret))
}

/// Formats an API token from its id and secret.
pub fn format_api_token(id: uuid::Uuid, secret: &str) -> String {
    format!("{API_TOKEN_PREFIX}{}_{secret}", id.simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_round_trip_and_bind_their_generation() {
        let key = [7u8; 32];
        let sid = uuid::Uuid::now_v7();
        let token = format_refresh(&key, sid, 3);
        let (id, generation, secret) = split_refresh(&token).unwrap();
        assert_eq!((id, generation), (sid, 3));
        assert_eq!(secret, refresh_secret(&key, sid, 3));
        assert_ne!(secret, refresh_secret(&key, sid, 2));
        assert_ne!(secret, refresh_secret(&[8u8; 32], sid, 3));
        assert!(split_refresh(&format!("{sid}.-1.x")).is_none());
        assert!(split_refresh(&format!("{sid}.1.")).is_none());
        assert!(split_refresh(&format!("{sid}.abc")).is_none());
    }

    #[test]
    fn api_tokens_round_trip() {
        let id = uuid::Uuid::now_v7();
        let secret = random_secret(32);
        let token = format_api_token(id, &secret);
        assert_eq!(split_api_token(&token), Some((id, secret.as_str())));
        assert_eq!(split_api_token("pulse_pat_nope"), None);
    }

    #[test]
    fn secrets_are_random_and_hashes_stable() {
        assert_ne!(random_secret(32), random_secret(32));
        assert_eq!(hash_secret("a"), hash_secret("a"));
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
        assert_eq!(random_password().len(), 20);
    }
}
