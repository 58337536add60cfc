//! AES-256-GCM for credentials stored at rest.
//!
//! Each value gets a random 96-bit nonce and is bound to its row by associated data (the tenant and
//! the row id), so a ciphertext copied to another row or tenant does not decrypt. Stored form:
//! `v1:` + base64(nonce || ciphertext).

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::Engine;

const PREFIX: &str = "v1:";

/// Encrypts and decrypts with one 32-byte key.
#[derive(Clone)]
pub struct Cipher {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher([redacted])")
    }
}

/// Decryption failed: wrong key, wrong associated data, or a damaged value.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot decrypt the stored credential (wrong key or the value does not belong to this row)"
)]
pub struct DecryptError;

impl Cipher {
    /// A cipher from a 32-byte key.
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
        }
    }

    /// Encrypts `plaintext` bound to `aad`.
    pub fn encrypt(&self, plaintext: &[u8], aad: &[u8]) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(out)
        )
    }

    /// Decrypts a value produced by [`Cipher::encrypt`] with the same `aad`.
    pub fn decrypt(&self, stored: &str, aad: &[u8]) -> Result<Vec<u8>, DecryptError> {
        let body = stored.strip_prefix(PREFIX).ok_or(DecryptError)?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| DecryptError)?;
        if raw.len() < 12 + 16 {
            return Err(DecryptError);
        }
        let (nonce, ciphertext) = raw.split_at(12);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| DecryptError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_random_nonce_and_bound_to_aad() {
        let c = Cipher::new(&[7u8; 32]);
        let a = c.encrypt(b"ghp_secret", b"client-1/row-1");
        let b = c.encrypt(b"ghp_secret", b"client-1/row-1");
        assert_ne!(a, b, "equal plaintexts give different ciphertexts");
        assert!(!a.contains("ghp_secret"));
        assert_eq!(c.decrypt(&a, b"client-1/row-1").unwrap(), b"ghp_secret");
        assert!(c.decrypt(&a, b"client-2/row-1").is_err());
        assert!(Cipher::new(&[8u8; 32])
            .decrypt(&a, b"client-1/row-1")
            .is_err());
        assert!(c.decrypt("v1:AAAA", b"x").is_err());
    }
}
