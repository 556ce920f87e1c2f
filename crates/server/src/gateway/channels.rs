//! `GET /api/kernels/{id}/channels`: one WebSocket carrying all of a
//! kernel's channels in Jupyter's JSON message format. One connection per
//! kernel at a time: a new one replaces the one before (a client that
//! reconnects need not wait for its old connection to time out), and
//! gets what the kernel said while none was attached (bounded).

use std::sync::Arc;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Extension;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;

use super::kernels::{GatewayKernel, SESSION_KERNEL_ID};
use super::message::{self, ClientRequest};
use crate::accounts::caller::Caller;
use crate::api_error::ApiError;
use crate::app::AppState;
use crate::inbound::{Inbound, InboundMeter};
use crate::protocol::MAX_FRAME_BYTES;
use crate::rate_limit::Client;

/// `GET /api/kernels/{id}/channels`.
pub async fn channels(
    State(state): State<Arc<AppState>>,
    client: Client,
    caller: Caller,
    Path(id): Path<String>,
    meter: Option<Extension<InboundMeter>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    // Whose kernel first: another caller's id is unknown, upgrade or not.
    let kernel = super::rest::owned(&state, &caller, &id)?;
    let ws = ws.map_err(|rejection| {
        ApiError::new(rejection.status(), "websocket_required", format!("the channels are a WebSocket: {rejection}"))
    })?;
    Ok(ws
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(crate::ws::READ_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            let inbound =
                Inbound::start(meter.map(|Extension(meter)| meter), state.config.connections.message_timeout());
            serve(socket, state, client, kernel, inbound)
        }))
}

type Sink = SplitSink<WebSocket, Message>;

async fn serve(socket: WebSocket, state: Arc<AppState>, client: Client, kernel: Arc<GatewayKernel>, inbound: Inbound) {
    let (mut sink, mut stream) = socket.split();
    let (number, backlog, mut queue) = kernel.attach();
    let mut sent = true;
    for text in backlog {
        sent = sent && sink.send(Message::Text(text.into())).await.is_ok();
    }
    let message_timed_out = inbound.timed_out();
    tokio::pin!(message_timed_out);
    let close = loop {
        if !sent {
            break None;
        }
        tokio::select! {
            () = &mut message_timed_out => break crate::ws::inbound_close(&inbound, true),
            outgoing = queue.recv() => match outgoing {
                Some(text) => sent = sink.send(Message::Text(text.into())).await.is_ok(),
                None => break Some(CloseFrame {
                    code: close_code::NORMAL,
                    reason: "the kernel was shut down, or a newer connection to it took over".into(),
                }),
            },
            frame = crate::ws::next_message(&mut stream, &inbound) => match frame {
                Some(Ok(Message::Text(text))) => match handle(&state, client, &kernel, text.as_str()).await {
                    Ok(None) => {}
                    // Straight to this client: through the kernel's queue,
                    // which this loop drains, a client that sends without
                    // reading would wedge its own connection.
                    Ok(Some(reply)) => sent = sink.send(Message::Text(reply.to_string().into())).await.is_ok(),
                    Err(why) => break Some(CloseFrame { code: close_code::INVALID, reason: close_reason(&why).into() }),
                },
                Some(Ok(Message::Binary(_))) => break Some(CloseFrame {
                    code: close_code::UNSUPPORTED,
                    reason: "binary messages are not supported; send Jupyter messages as JSON text".into(),
                }),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_)) | Err(_)) | None => break inbound_refused(&inbound),
            },
        }
    };
    kernel.detach(number);
    close_with(&mut sink, close).await;
}

/// Why the connection ends when a read fails: the memory budget's refusal,
/// if it was that.
fn inbound_refused(inbound: &Inbound) -> Option<CloseFrame> {
    crate::ws::inbound_close(inbound, false)
}

async fn close_with(sink: &mut Sink, close: Option<CloseFrame>) {
    if let Some(close) = close {
        let _ = sink.send(Message::Close(Some(close))).await;
    }
}

/// A close frame's reason: at most 123 bytes, cut at a character.
fn close_reason(why: &str) -> String {
    let mut reason = format!("invalid_message: {why}");
    while reason.len() > 123 {
        reason.pop();
    }
    reason
}

/// Passes one client message to the kernel. A message that cannot be read
/// ends the connection (the error says why); one the kernel cannot take
/// now gets an error reply for this client, if its type wants a reply.
async fn handle(state: &AppState, client: Client, kernel: &GatewayKernel, text: &str) -> Result<Option<Value>, String> {
    let request = message::parse_request(text)?;
    kernel.remember_request(&request.msg_id, request.header.clone());
    // Running code costs a token, as a run does.
    if request.msg_type == "execute_request" {
        if let Err(retry_after_secs) = state.rate_limits.check(client.0) {
            return Ok(message::error_reply(&request, &ApiError::rate_limited_message(retry_after_secs)));
        }
    }
    let running = match kernel.session.kernels().get(SESSION_KERNEL_ID) {
        Ok(running) => running,
        Err(e) => return Ok(message::error_reply(&request, &e.to_string())),
    };
    let ClientRequest { channel, msg_id, msg_type, content, metadata, .. } = &request;
    match running.request(*channel, msg_id, msg_type, content.clone(), metadata.clone()).await {
        Ok(()) => Ok(None),
        Err(e) => Ok(message::error_reply(&request, &e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_reason_fits_a_close_frame() {
        let reason = close_reason(&"é".repeat(200));
        assert!(reason.len() <= 123, "{}", reason.len());
        assert!(reason.starts_with("invalid_message: é"));
    }
}
