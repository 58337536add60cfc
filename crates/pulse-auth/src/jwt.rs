//! Access tokens: HMAC-signed JWTs bound to a session.
//!
//! The algorithm is allow-listed from configuration (HS256/384/512; never `none`), and `exp`, `nbf`,
//! `iat`, `aud`, `iss` and `sub` are required and checked with a 30-second leeway. A valid signature
//! is not enough: the caller must also check the session named by `sid` is still active.

use chrono::{DateTime, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use pulse_core::{ClientId, Role, SessionId, UserId};
use serde::{Deserialize, Serialize};

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 30;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: UserId,
    /// The user's client.
    pub cid: ClientId,
    /// The role at issue time (informational: the current role is read from the database).
    pub role: Role,
    /// The session.
    pub sid: SessionId,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Audience.
    pub aud: String,
    /// Issuer.
    pub iss: String,
}

/// Why a token was rejected (never shown in detail to the client).
#[derive(Debug, thiserror::Error)]
#[error("invalid access token: {0}")]
pub struct JwtError(#[from] jsonwebtoken::errors::Error);

/// Signing and verification keys with their rules.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    algorithm: Algorithm,
    issuer: String,
    audience: String,
    ttl: chrono::Duration,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKeys")
            .field("algorithm", &self.algorithm)
            .field("keys", &"[redacted]")
            .finish()
    }
}

impl JwtKeys {
    /// Keys from a shared secret. `algorithm` must be HS256, HS384 or HS512.
    pub fn new(
        secret: &[u8],
        algorithm: &str,
        issuer: &str,
        audience: &str,
        ttl_minutes: u64,
    ) -> anyhow::Result<Self> {
        let algorithm = match algorithm {
            "HS256" => Algorithm::HS256,
            "HS384" => Algorithm::HS384,
            "HS512" => Algorithm::HS512,
            other => anyhow::bail!("JWT algorithm {other} is not allowed"),
        };
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            algorithm,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            ttl: chrono::Duration::minutes(ttl_minutes as i64),
        })
    }

    /// Lifetime of the tokens this issues.
    pub fn ttl(&self) -> chrono::Duration {
        self.ttl
    }

    /// Issues an access token; returns it with its expiry.
    pub fn issue(
        &self,
        user: UserId,
        client: ClientId,
        role: Role,
        session: SessionId,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(String, DateTime<Utc>)> {
        let exp = now + self.ttl;
        let claims = Claims {
            sub: user,
            cid: client,
            role,
            sid: session,
            exp: exp.timestamp(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            aud: self.audience.clone(),
            iss: self.issuer.clone(),
        };
        Ok((
            encode(&Header::new(self.algorithm), &claims, &self.encoding)?,
            exp,
        ))
    }

    /// Verifies signature, algorithm, times, audience and issuer.
    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        let mut validation = Validation::new(self.algorithm);
        validation.algorithms = vec![self.algorithm];
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_audience(&[&self.audience]);
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "aud", "iss", "sub"]);
        Ok(decode::<Claims>(token, &self.decoding, &validation)?.claims)
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn keys() -> JwtKeys {
        JwtKeys::new(SECRET, "HS256", "pulse", "pulse-api", 15).unwrap()
    }

    fn b64(v: &serde_json::Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
    }

    fn claims_json(now: i64) -> serde_json::Value {
        serde_json::json!({
            "sub": UserId::new(), "cid": ClientId::new(), "role": "admin", "sid": SessionId::new(),
            "exp": now + 600, "iat": now, "nbf": now, "aud": "pulse-api", "iss": "pulse"
        })
    }

    fn sign_hs(alg: Algorithm, secret: &[u8], claims: &serde_json::Value) -> String {
        encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    #[test]
    fn round_trip() {
        let now = Utc::now();
        let (token, _) = keys()
            .issue(
                UserId::new(),
                ClientId::new(),
                Role::User,
                SessionId::new(),
                now,
            )
            .unwrap();
        let claims = keys().verify(&token).unwrap();
        assert_eq!(claims.role, Role::User);
    }

    #[test]
    fn rejections() {
        let now = Utc::now().timestamp();
        let good = claims_json(now);
        let mut cases: Vec<(&str, String)> = Vec::new();
        cases.push((
            "alg none",
            format!(
                "{}.{}.",
                b64(&serde_json::json!({"alg":"none","typ":"JWT"})),
                b64(&good)
            ),
        ));
        cases.push((
            "wrong key",
            sign_hs(Algorithm::HS256, b"another-secret-another-secret-xx", &good),
        ));
        cases.push(("other algorithm", sign_hs(Algorithm::HS512, SECRET, &good)));
        let mut expired = good.clone();
        expired["exp"] = (now - 3600).into();
        cases.push(("expired", sign_hs(Algorithm::HS256, SECRET, &expired)));
        let mut future = good.clone();
        future["nbf"] = (now + 3600).into();
        cases.push(("not yet valid", sign_hs(Algorithm::HS256, SECRET, &future)));
        let mut aud = good.clone();
        aud["aud"] = "someone-else".into();
        cases.push(("wrong audience", sign_hs(Algorithm::HS256, SECRET, &aud)));
        let mut iss = good.clone();
        iss["iss"] = "evil".into();
        cases.push(("wrong issuer", sign_hs(Algorithm::HS256, SECRET, &iss)));
        let mut no_exp = good.clone();
        no_exp.as_object_mut().unwrap().remove("exp");
        cases.push(("missing exp", sign_hs(Algorithm::HS256, SECRET, &no_exp)));
        let valid = sign_hs(Algorithm::HS256, SECRET, &good);
        let parts: Vec<&str> = valid.split('.').collect();
        let mut tampered_claims = good.clone();
        tampered_claims["role"] = "admin".into();
        tampered_claims["cid"] = serde_json::to_value(ClientId::new()).unwrap();
        cases.push((
            "tampered payload",
            format!("{}.{}.{}", parts[0], b64(&tampered_claims), parts[2]),
        ));
        cases.push(("garbage", "not.a.jwt".into()));

        assert!(keys().verify(&valid).is_ok());
        for (name, token) in cases {
            assert!(keys().verify(&token).is_err(), "{name} must be rejected");
        }
    }

    #[test]
    fn disallowed_algorithms_are_refused_at_configuration() {
        assert!(JwtKeys::new(SECRET, "none", "i", "a", 15).is_err());
        assert!(JwtKeys::new(SECRET, "RS256", "i", "a", 15).is_err());
    }
}
