//! What every handler can reach.

use std::sync::Arc;

use pulse_auth::jwt::JwtKeys;
use pulse_auth::password::Hasher;
use pulse_config::Config;
use pulse_core::ClientId;
use pulse_db::Db;
use pulse_etl::{Engine, EngineConfig, Registry};

use crate::auth::cache::SessionCache;
use crate::metrics::Metrics;

/// Shared application state (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    db: Db,
    jwt: JwtKeys,
    hasher: Hasher,
    hmac_key: [u8; 32],
    sessions: SessionCache,
    metrics: Metrics,
    pinned_client: Option<ClientId>,
    engine: Engine,
    registry: Arc<Registry>,
}

impl AppState {
    /// Builds the state from loaded parts, with a job engine of default settings and no
    /// connectors (integrations can be managed, but no worker of this process runs jobs).
    pub fn new(
        config: Config,
        db: Db,
        keys: pulse_auth::keys::Keys,
        pinned_client: Option<ClientId>,
    ) -> anyhow::Result<Self> {
        let engine = Engine::new(db.clone(), EngineConfig::default())
            .with_cipher(pulse_auth::crypto::Cipher::new(&keys.encryption_key));
        Self::with_etl(
            config,
            db,
            keys,
            pinned_client,
            engine,
            Arc::new(Registry::new()),
        )
    }

    /// Builds the state around a job engine shared with this process's workers (so their
    /// progress reaches the WebSocket) and the connectors they run. The engine must have the
    /// credential cipher set.
    pub fn with_etl(
        config: Config,
        db: Db,
        keys: pulse_auth::keys::Keys,
        pinned_client: Option<ClientId>,
        engine: Engine,
        registry: Arc<Registry>,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            engine.cipher().is_some(),
            "the job engine needs the credential cipher"
        );
        let jwt = JwtKeys::new(
            &keys.jwt_secret,
            &config.auth.jwt_algorithm,
            &config.auth.issuer,
            &config.auth.audience,
            config.auth.access_token_minutes,
        )?;
        let hasher = Hasher::new(config.auth.hash_concurrency);
        let sessions = SessionCache::new(std::time::Duration::from_secs(
            config.auth.session_cache_seconds,
        ));
        // Derive a separate key for HMACs so the at-rest key is never used for two purposes.
        let hmac_key: [u8; 32] = {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            h.update(b"pulse-hmac-v1");
            h.update(keys.encryption_key);
            h.finalize().into()
        };
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                db,
                jwt,
                hasher,
                hmac_key,
                sessions,
                metrics: Metrics::default(),
                pinned_client,
                engine,
                registry,
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }
    /// The database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }
    /// JWT keys.
    pub fn jwt(&self) -> &JwtKeys {
        &self.inner.jwt
    }
    /// Password hasher.
    pub fn hasher(&self) -> &Hasher {
        &self.inner.hasher
    }
    /// Key for CSRF and device-token HMACs.
    pub fn hmac_key(&self) -> &[u8; 32] {
        &self.inner.hmac_key
    }
    /// Verified-session cache.
    pub fn sessions(&self) -> &SessionCache {
        &self.inner.sessions
    }
    /// Request metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
    /// The client this process is pinned to (`CLIENT_NAME`), if any.
    pub fn pinned_client(&self) -> Option<ClientId> {
        self.inner.pinned_client
    }
    /// The job engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }
    /// The connectors known to this process (test connection, allowed integration kinds).
    pub fn registry(&self) -> &Arc<Registry> {
        &self.inner.registry
    }
}
