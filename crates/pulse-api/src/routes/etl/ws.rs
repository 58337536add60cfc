//! `GET /etl/ws`: live job progress for client admins over a WebSocket.
//!
//! The handshake is refused before the upgrade unless the caller is an admin and the request's
//! `Origin` (when a browser sends one) is Pulse's own origin or a configured CORS origin, so another
//! site cannot open the socket with a visitor's cookies. Only the caller's client's events are
//! delivered ([`pulse_etl::Engine::subscribe_client`]). The credential is checked again every few
//! seconds (the session-cache bound); a revoked session, a lost admin role or a deactivated user
//! closes the socket with code 1008.
//!
//! Messages are JSON text frames: first `{"type":"ready"}`, then one
//! `{"type":"progress", "job": ..., "status": ..., "done": ..., ...}` per event.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request};
use axum::response::Response;
use pulse_core::{Error, Result, Role};
use pulse_etl::{ClientEvents, ProgressEvent};

use crate::auth::{authenticate, check_request_origin, Admin};
use crate::state::AppState;

/// Close code for a credential that stopped being valid (policy violation).
const POLICY: u16 = 1008;

/// Live progress of the client's jobs (WebSocket; admins only).
#[utoipa::path(get, path = "/etl/ws", tag = "etl",
    responses(
        (status = 101, description = "Switching to the WebSocket protocol: JSON text messages, \
            `{\"type\":\"ready\"}` then one `{\"type\":\"progress\", ...}` per job event of the \
            caller's client"),
        (status = 400, description = "Not a WebSocket handshake", body = pulse_core::ErrorBody),
        (status = 403, description = "Not an admin, or a foreign Origin", body = pulse_core::ErrorBody)))]
pub async fn etl_events(
    State(state): State<AppState>,
    Admin(ctx): Admin,
    headers: HeaderMap,
    upgrade: std::result::Result<
        WebSocketUpgrade,
        axum::extract::ws::rejection::WebSocketUpgradeRejection,
    >,
) -> Result<Response> {
    check_request_origin(&state, &headers)?;
    let upgrade = upgrade.map_err(|e| {
        Error::bad_request(
            "websocket_required",
            format!("this route only accepts a WebSocket handshake ({e})"),
        )
    })?;
    // Subscribe before answering, so no event between the handshake and the first poll is lost.
    let events = state.engine().subscribe_client(ctx.client);
    tracing::info!(user = %ctx.user, "job progress socket opened");
    let client = ctx.client;
    Ok(upgrade.on_upgrade(move |socket| pump(socket, state, client, events, headers)))
}

/// Whether the credential the socket was opened with still names an admin of the same client.
async fn still_admin(state: &AppState, headers: &HeaderMap, client: pulse_core::ClientId) -> bool {
    let mut request = Request::builder()
        .method(Method::GET)
        .uri("/api/v1/etl/ws")
        .body(())
        .expect("a static request");
    *request.headers_mut() = headers.clone();
    let (parts, ()) = request.into_parts();
    matches!(
        authenticate(state, &parts).await,
        Ok(ctx) if ctx.client == client && ctx.role.includes(Role::Admin)
    )
}

fn progress_message(event: &ProgressEvent) -> Option<String> {
    let mut value = serde_json::to_value(event).ok()?;
    value
        .as_object_mut()?
        .insert("type".into(), "progress".into());
    Some(value.to_string())
}

async fn pump(
    mut socket: WebSocket,
    state: AppState,
    client: pulse_core::ClientId,
    mut events: ClientEvents,
    headers: HeaderMap,
) {
    let every = Duration::from_secs(state.config().auth.session_cache_seconds.clamp(1, 30));
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    if socket
        .send(Message::Text(r#"{"type":"ready"}"#.into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                let Some(text) = progress_message(&event) else { continue };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                // Pings are answered by the protocol layer; clients have nothing to say.
                Some(Ok(_)) => {}
            },
            _ = recheck.tick() => {
                if !still_admin(&state, &headers, client).await {
                    let _ = socket
                        .send(Message::Close(Some(CloseFrame {
                            code: POLICY,
                            reason: "the credential is no longer valid".into(),
                        })))
                        .await;
                    break;
                }
            }
        }
    }
}
