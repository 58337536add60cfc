//! Progress events across processes on PostgreSQL (LISTEN/NOTIFY).
//!
//! Every [`Engine`] broadcasts its own [`ProgressEvent`]s in-process. With a [`Relay`] running,
//! it also sends each one as a `NOTIFY` on [`CHANNEL`] (a background task, so publishing never
//! waits on the database), and, when listening, a dedicated connection `LISTEN`s on the channel
//! and hands other processes' events to this engine's subscribers. Every payload names the engine
//! it came from, so an engine never delivers its own events twice. Events carry their client id
//! (subscribers filter on it) and never secrets; payloads stay under PostgreSQL's 8000-byte limit
//! ([`encode`] shortens the free-text fields when needed).
//!
//! Delivery is best effort, like the in-process broadcast: a notification sent while the
//! listener is reconnecting is lost (the job rows stay the source of truth). A lost listening
//! connection is re-established with backoff. SQLite has one process, so no relay runs there.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::engine::Engine;
use crate::model::ProgressEvent;

/// The notification channel.
pub const CHANNEL: &str = "pulse_etl_progress";
/// The longest payload sent: PostgreSQL refuses payloads of 8000 bytes or more.
pub const MAX_PAYLOAD: usize = 7999;
/// `application_name` of the listening connection (visible in `pg_stat_activity`).
pub const LISTENER_NAME: &str = "pulse_progress_listener";
/// Events waiting to be sent; beyond this, new events are dropped for other processes (this
/// process's subscribers still get them).
const OUTBOX: usize = 4096;

#[derive(Serialize)]
struct Outgoing<'a> {
    /// The engine that published the event.
    origin: Uuid,
    event: &'a ProgressEvent,
}

#[derive(Deserialize)]
struct Incoming {
    origin: Uuid,
    event: ProgressEvent,
}

/// The notification payload for `event` published by `origin`: JSON of at most [`MAX_PAYLOAD`]
/// bytes. Over-long free text (`message`, `current`, `phase`, `scope`) is cut, on character
/// boundaries, until it fits.
pub fn encode(origin: Uuid, event: &ProgressEvent) -> String {
    let mut limit = usize::MAX;
    let mut event = std::borrow::Cow::Borrowed(event);
    loop {
        let payload = serde_json::to_string(&Outgoing {
            origin,
            event: &event,
        })
        .expect("a progress event serializes");
        if payload.len() <= MAX_PAYLOAD {
            return payload;
        }
        limit = if limit == usize::MAX {
            1000
        } else {
            (limit / 2).max(1)
        };
        let e = event.to_mut();
        for text in [&mut e.phase, &mut e.scope] {
            cut(text, limit);
        }
        for text in [e.message.as_mut(), e.current.as_mut()]
            .into_iter()
            .flatten()
        {
            cut(text, limit);
        }
        if limit == 1 {
            e.message = None;
            e.current = None;
        }
    }
}

fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// Reads a payload back: the publishing engine and the event (`None` for anything else).
pub fn decode(payload: &str) -> Option<(Uuid, ProgressEvent)> {
    let incoming: Incoming = serde_json::from_str(payload).ok()?;
    Some((incoming.origin, incoming.event))
}

/// The running relay tasks of one engine; [`Relay::stop`] ends them.
pub struct Relay {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    listening: watch::Receiver<u64>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").finish_non_exhaustive()
    }
}

impl Relay {
    /// Starts relaying `engine`'s events to other processes over the database `url` (PostgreSQL;
    /// returns `None` for any other database), and, with `listen`, other processes' events to
    /// `engine`'s subscribers (servers listen; a worker-only process need not).
    pub fn start(engine: &Engine, url: &str, listen: bool) -> Option<Self> {
        if !url.starts_with("postgres") {
            return None;
        }
        let (stop, stop_rx) = watch::channel(false);
        let (outbox, rx) = mpsc::channel(OUTBOX);
        engine.set_outbox(Some(outbox));
        let mut tasks = JoinSet::new();
        tasks.spawn(notify_loop(engine.clone(), rx, stop_rx.clone()));
        let (connected, listening) = watch::channel(0u64);
        if listen {
            tasks.spawn(listen_loop(
                engine.clone(),
                listener_url(url),
                connected,
                stop_rx,
            ));
        }
        Some(Self {
            stop,
            tasks,
            listening,
        })
    }

    /// How many times the listening connection has been (re-)established; 0 until the first
    /// `LISTEN` is in place.
    pub fn connections(&self) -> u64 {
        *self.listening.borrow()
    }

    /// Waits until the listening connection has been established `n` times in all (at most
    /// `timeout`); returns whether it has.
    pub async fn wait_connected(&self, n: u64, timeout: Duration) -> bool {
        let mut rx = self.listening.clone();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Stops the relay tasks (events published afterwards stay in this process).
    pub async fn stop(mut self, engine: &Engine) {
        engine.set_outbox(None);
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// `url` with the listener's `application_name`.
fn listener_url(url: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}application_name={LISTENER_NAME}")
}

async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

async fn notify_loop(
    engine: Engine,
    mut rx: mpsc::Receiver<ProgressEvent>,
    mut stop: watch::Receiver<bool>,
) {
    use pulse_db::sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
    let origin = engine.origin();
    loop {
        let event = tokio::select! {
            _ = stopped(&mut stop) => break,
            e = rx.recv() => match e {
                Some(e) => e,
                None => break,
            },
        };
        let payload = encode(origin, &event);
        let sent = engine
            .db()
            .system()
            .execute(Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [CHANNEL.into(), payload.into()],
            ))
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, job = %event.job, "sending a progress event to other processes failed");
        }
    }
}

async fn listen_loop(
    engine: Engine,
    url: String,
    connected: watch::Sender<u64>,
    mut stop: watch::Receiver<bool>,
) {
    use pulse_db::sea_orm::sqlx::postgres::PgListener;
    let origin = engine.origin();
    let mut backoff = Duration::from_millis(200);
    loop {
        let attempt = async {
            let mut listener = PgListener::connect(&url).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, pulse_db::sea_orm::sqlx::Error>(listener)
        };
        let listener = tokio::select! {
            _ = stopped(&mut stop) => return,
            l = attempt => l,
        };
        let mut listener = match listener {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "listening for other processes' progress events failed");
                tokio::select! {
                    _ = stopped(&mut stop) => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        backoff = Duration::from_millis(200);
        connected.send_modify(|n| *n += 1);
        tracing::debug!("listening for other processes' progress events");
        loop {
            let next = tokio::select! {
                _ = stopped(&mut stop) => return,
                n = listener.try_recv() => n,
            };
            match next {
                Ok(Some(notification)) => match decode(notification.payload()) {
                    Some((from, event)) if from != origin => engine.deliver(event),
                    Some(_) => {}
                    None => tracing::warn!("ignored a malformed progress notification"),
                },
                Ok(None) => {
                    // The connection dropped and was re-established (notifications in between
                    // are lost).
                    tracing::warn!("the progress listener's connection dropped; listening again");
                    connected.send_modify(|n| *n += 1);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the progress listener's connection failed; reconnecting");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{IntegrationId, JobId};
    use crate::model::JobStatus;
    use chrono::Utc;
    use pulse_core::ClientId;

    fn event(message: Option<String>, current: Option<String>) -> ProgressEvent {
        ProgressEvent {
            client: ClientId::new(),
            job: JobId::new(),
            integration: IntegrationId::new(),
            scope: "main".into(),
            status: JobStatus::Running,
            attempt: 2,
            phase: "commits".into(),
            done: 10,
            total: Some(20),
            rate: Some(1.5),
            eta_seconds: Some(7),
            current,
            waiting_until: None,
            message,
            at: Utc::now(),
        }
    }

    #[test]
    fn round_trips_with_its_origin() {
        let origin = Uuid::new_v4();
        let e = event(Some("claimed by w1".into()), Some("repo".into()));
        let payload = encode(origin, &e);
        assert_eq!(decode(&payload), Some((origin, e)));
        assert_eq!(decode("{\"not\":\"an event\"}"), None);
        assert_eq!(decode("garbage"), None);
    }

    #[test]
    fn long_text_is_cut_to_fit_the_payload_limit() {
        let origin = Uuid::new_v4();
        for (message, current) in [
            ("é".repeat(20_000), "x".repeat(20_000)),
            // Control characters expand six-fold when escaped as JSON.
            ("\u{1}".repeat(5_000), "\u{1}".repeat(5_000)),
        ] {
            let e = event(Some(message), Some(current));
            let payload = encode(origin, &e);
            assert!(payload.len() <= MAX_PAYLOAD, "{} bytes", payload.len());
            let (from, back) = decode(&payload).unwrap();
            assert_eq!(from, origin);
            assert_eq!(
                (back.client, back.job, back.done),
                (e.client, e.job, e.done)
            );
            assert!(back.message.unwrap_or_default().len() < 20_000);
        }
        let short = event(Some("ok".into()), None);
        assert_eq!(decode(&encode(origin, &short)).unwrap().1, short);
    }
}
