//! The Kernel Gateway API's kernels. Each is the one kernel of a session
//! of its own, made for it and owned by the API caller: so it lives in a
//! box of its own that counts against the caller's boxes, gets the
//! caller's limits, is culled when idle and ends with the server exactly
//! as a notebook's kernel in the IDE does (`crate::session_kernels`).
//!
//! A pump holds the session's queue for the kernel's whole life. It turns
//! kernel frames into Jupyter's JSON messages for the `channels`
//! connection attached now, waiting while that connection's queue is full
//! (a slow client slows its kernel, nothing else), and keeps a bounded
//! backlog while none is attached, replayed to the next one.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::message;
use crate::accounts::caller::Principal;
use crate::protocol::ServerMessage;
use crate::session::{Session, Sessions};

/// The session-local id of a gateway session's one kernel.
pub(crate) const SESSION_KERNEL_ID: &str = "gateway";
/// Messages kept for a kernel while no client is attached.
const BACKLOG_MESSAGES: usize = 256;
/// Bytes kept for a kernel while no client is attached.
const BACKLOG_BYTES: usize = 4 * 1024 * 1024;
/// Client request headers kept to answer with as parent headers.
const REQUEST_HEADERS: usize = 1024;
/// Messages queued for an attached client (each at most a kernel's
/// largest message).
const CLIENT_QUEUE: usize = 16;

/// Every gateway kernel of the server.
#[derive(Debug, Default)]
pub struct GatewayKernels {
    kernels: Mutex<HashMap<String, Arc<GatewayKernel>>>,
}

/// One kernel of the gateway.
#[derive(Debug)]
pub(crate) struct GatewayKernel {
    /// Its Jupyter id (a UUID: jupyter-server's routes want one).
    pub id: String,
    /// Its kernelspec's name: the catalog's language id.
    pub name: String,
    pub owner: Principal,
    pub session: Arc<Session>,
    lifecycle: Mutex<Lifecycle>,
    link: Mutex<Link>,
    pump: Mutex<Option<JoinHandle<()>>>,
    /// Woken when a client is attached or detached.
    relinked: tokio::sync::Notify,
}

#[derive(Debug)]
struct Lifecycle {
    execution_state: String,
    last_activity: SystemTime,
}

/// The attached client, or what waits for the next one.
#[derive(Debug, Default)]
struct Link {
    /// The attached connection's number and queue.
    client: Option<(u64, mpsc::Sender<String>)>,
    attached_so_far: u64,
    backlog: VecDeque<String>,
    backlog_bytes: usize,
    /// Recent client request headers by `msg_id`, oldest first.
    headers: VecDeque<(String, Value)>,
}

impl Link {
    fn keep(&mut self, text: String) {
        self.backlog_bytes += text.len();
        self.backlog.push_back(text);
        while self.backlog.len() > BACKLOG_MESSAGES || self.backlog_bytes > BACKLOG_BYTES {
            let Some(dropped) = self.backlog.pop_front() else { break };
            self.backlog_bytes -= dropped.len();
        }
    }
}

/// A model as `/api/kernels` answers it.
#[derive(Debug, serde::Serialize)]
pub(crate) struct KernelModel {
    pub id: String,
    pub name: String,
    pub last_activity: String,
    pub execution_state: String,
    pub connections: usize,
}

impl GatewayKernel {
    pub(crate) fn model(&self) -> KernelModel {
        let (execution_state, last_activity) = self
            .lifecycle
            .lock()
            .map(|l| (l.execution_state.clone(), l.last_activity))
            .unwrap_or_else(|_| ("unknown".into(), SystemTime::now()));
        let connections = self.link.lock().map(|link| usize::from(link.client.is_some())).unwrap_or(0);
        KernelModel {
            id: self.id.clone(),
            name: self.name.clone(),
            last_activity: message::iso8601(last_activity),
            execution_state,
            connections,
        }
    }

    pub(crate) fn set_state(&self, execution_state: &str) {
        if let Ok(mut lifecycle) = self.lifecycle.lock() {
            lifecycle.execution_state = execution_state.to_string();
            lifecycle.last_activity = SystemTime::now();
        }
    }

    /// A status message of the kernel: its state now, unless a restart
    /// is going. The restart says when it is over: the new kernel's first
    /// status messages come while it is still being made ready, and a
    /// client that saw `idle` then would find it starting.
    pub(crate) fn observe_status(&self, execution_state: &str) {
        if let Ok(mut lifecycle) = self.lifecycle.lock() {
            if lifecycle.execution_state != "restarting" {
                lifecycle.execution_state = execution_state.to_string();
            }
            lifecycle.last_activity = SystemTime::now();
        }
    }

    pub(crate) fn is_dead(&self) -> bool {
        self.lifecycle.lock().map(|l| l.execution_state == "dead").unwrap_or(true)
    }

    /// Attaches a `channels` connection: it replaces the one before (whose
    /// queue then ends). Returns its number, the backlog to send first,
    /// and its queue.
    pub(crate) fn attach(&self) -> (u64, Vec<String>, mpsc::Receiver<String>) {
        let (sender, receiver) = mpsc::channel(CLIENT_QUEUE);
        let Ok(mut link) = self.link.lock() else { return (0, Vec::new(), receiver) };
        link.attached_so_far += 1;
        let number = link.attached_so_far;
        link.backlog_bytes = 0;
        let backlog = link.backlog.drain(..).collect();
        link.client = Some((number, sender));
        drop(link);
        self.relink();
        (number, backlog, receiver)
    }

    /// Detaches connection `number`, unless a newer one took its place.
    pub(crate) fn detach(&self, number: u64) {
        if let Ok(mut link) = self.link.lock() {
            if link.client.as_ref().is_some_and(|(attached, _)| *attached == number) {
                link.client = None;
            }
        }
        self.relink();
    }

    /// Notes a client's request header, the parent of its answers.
    pub(crate) fn remember_request(&self, msg_id: &str, header: Value) {
        if let Ok(mut link) = self.link.lock() {
            link.headers.push_back((msg_id.to_string(), header));
            if link.headers.len() > REQUEST_HEADERS {
                link.headers.pop_front();
            }
        }
        self.touch();
    }

    fn touch(&self) {
        if let Ok(mut lifecycle) = self.lifecycle.lock() {
            lifecycle.last_activity = SystemTime::now();
        }
    }

    fn request_header(&self, msg_id: &str) -> Option<Value> {
        let link = self.link.lock().ok()?;
        link.headers.iter().rev().find(|(id, _)| id == msg_id).map(|(_, header)| header.clone())
    }

    /// Sends Bytesbox's own message to the attached client without
    /// waiting: dropped if that client's queue is full (it is not reading),
    /// kept for the next client if none is attached.
    pub(crate) fn notify(&self, message: &Value) {
        let Ok(mut link) = self.link.lock() else { return };
        let text = message.to_string();
        match &link.client {
            Some((_, sender)) => {
                let _ = sender.try_send(text);
            }
            None => link.keep(text),
        }
    }

    /// Sends a message to the attached client (waiting while its queue is
    /// full), or keeps it for the next one. The wait ends when that client
    /// is replaced or detached, and the message goes to whoever is
    /// attached then (or to the backlog): a client that stopped reading
    /// holds its kernel up only while it is the one attached.
    pub(crate) async fn deliver(&self, message: &Value) {
        let text = message.to_string();
        loop {
            let relinked = self.relinked.notified();
            tokio::pin!(relinked);
            relinked.as_mut().enable();
            let Some(sender) = self.attached_sender() else { break };
            tokio::select! {
                permit = sender.reserve() => match permit {
                    Ok(permit) => return permit.send(text),
                    // That connection has ended (it detached before letting
                    // go of its queue): look again, unless it is still named.
                    Err(_) if self.attached_sender().is_some_and(|now| now.same_channel(&sender)) => break,
                    Err(_) => {}
                },
                () = relinked => {}
            }
        }
        if let Ok(mut link) = self.link.lock() {
            link.keep(text);
        }
    }

    fn attached_sender(&self) -> Option<mpsc::Sender<String>> {
        self.link.lock().ok().and_then(|link| link.client.as_ref().map(|(_, sender)| sender.clone()))
    }

    /// Wakes deliveries waiting on the client that was attached.
    fn relink(&self) {
        self.relinked.notify_waiters();
    }
}

impl GatewayKernels {
    /// Registers a started kernel whose session's queue is `queue`, and
    /// starts its pump.
    pub(crate) fn add(
        self: &Arc<Self>,
        name: String,
        session: Arc<Session>,
        queue: mpsc::Receiver<ServerMessage>,
        sessions: Arc<Sessions>,
    ) -> Arc<GatewayKernel> {
        let kernel = Arc::new(GatewayKernel {
            id: uuid::Uuid::new_v4().to_string(),
            name,
            owner: session.owner.clone(),
            session,
            lifecycle: Mutex::new(Lifecycle { execution_state: "idle".into(), last_activity: SystemTime::now() }),
            link: Mutex::new(Link::default()),
            pump: Mutex::new(None),
            relinked: tokio::sync::Notify::new(),
        });
        if let Ok(mut kernels) = self.kernels.lock() {
            kernels.insert(kernel.id.clone(), kernel.clone());
        }
        let pump = tokio::spawn(pump(kernel.clone(), queue, Arc::downgrade(self), sessions));
        if let Ok(mut slot) = kernel.pump.lock() {
            *slot = Some(pump);
        }
        kernel
    }

    /// Kernel `id` if `owner` owns it (another caller's is as unknown).
    pub(crate) fn get(&self, id: &str, owner: &Principal) -> Option<Arc<GatewayKernel>> {
        self.kernels.lock().ok()?.get(id).filter(|kernel| kernel.owner == *owner).cloned()
    }

    /// `owner`'s kernels, oldest id first.
    pub(crate) fn owned_by(&self, owner: &Principal) -> Vec<Arc<GatewayKernel>> {
        let mut owned: Vec<_> = self
            .kernels
            .lock()
            .map(|kernels| kernels.values().filter(|k| k.owner == *owner).cloned().collect())
            .unwrap_or_default();
        owned.sort_by(|a, b| a.id.cmp(&b.id));
        owned
    }

    /// Gateway kernels live now.
    pub fn count(&self) -> usize {
        self.kernels.lock().map(|kernels| kernels.len()).unwrap_or(0)
    }

    /// Forgets kernel `id` and stops its pump; its session is the caller's
    /// to close.
    pub(crate) fn remove(&self, id: &str) -> Option<Arc<GatewayKernel>> {
        let kernel = self.kernels.lock().ok()?.remove(id)?;
        if let Some(pump) = kernel.pump.lock().ok().and_then(|mut slot| slot.take()) {
            pump.abort();
        }
        // Its connection's queue ends, and so does the connection.
        if let Ok(mut link) = kernel.link.lock() {
            link.client = None;
        }
        kernel.relink();
        Some(kernel)
    }

    /// Dead kernels (their process ended and nobody restarted them) whose
    /// last activity is older than `timeout`: removed, their sessions
    /// closed. Returns how many.
    pub(crate) async fn close_dead(&self, sessions: &Sessions, timeout: std::time::Duration) -> usize {
        let stale: Vec<String> = self
            .kernels
            .lock()
            .map(|kernels| {
                kernels
                    .values()
                    .filter(|k| {
                        k.is_dead()
                            && k.lifecycle
                                .lock()
                                .map(|l| l.last_activity.elapsed().unwrap_or_default() > timeout)
                                .unwrap_or(true)
                    })
                    .map(|k| k.id.clone())
                    .collect()
            })
            .unwrap_or_default();
        for id in &stale {
            if let Some(kernel) = self.remove(id) {
                sessions.close(&kernel.session).await;
            }
        }
        stale.len()
    }
}

/// Carries a kernel's frames to its client until the kernel is removed.
async fn pump(
    kernel: Arc<GatewayKernel>,
    mut queue: mpsc::Receiver<ServerMessage>,
    registry: Weak<GatewayKernels>,
    sessions: Arc<Sessions>,
) {
    while let Some(frame) = queue.recv().await {
        match frame {
            ServerMessage::KernelMessage(frame) => {
                if frame.msg_type == "status" {
                    if let Some(state) = frame.content.get("execution_state").and_then(Value::as_str) {
                        kernel.observe_status(state);
                    }
                }
                kernel.touch();
                let parent = frame.parent.as_deref().and_then(|id| kernel.request_header(id));
                kernel.deliver(&message::from_kernel(&frame, parent.as_ref())).await;
            }
            ServerMessage::KernelExited { status, exit_code, signal, memory_bytes, .. } => {
                kernel.set_state("dead");
                if status == "culled" || status == "shutdown" {
                    // Idle too long, or shut down by a request: gone.
                    if let Some(registry) = registry.upgrade() {
                        let (sessions, id) = (sessions.clone(), kernel.id.clone());
                        tokio::spawn(async move {
                            if let Some(kernel) = registry.remove(&id) {
                                sessions.close(&kernel.session).await;
                            }
                        });
                    }
                    kernel.deliver(&message::status("dead")).await;
                    continue;
                }
                let why = exit_reason(&status, exit_code, signal, memory_bytes);
                kernel.deliver(&message::stderr_text(&format!("{why}\n"))).await;
                kernel.deliver(&message::status("dead")).await;
            }
            _ => {}
        }
    }
}

/// Why a kernel's process ended, as a person would say it.
pub(crate) fn exit_reason(status: &str, exit_code: Option<i32>, signal: Option<i32>, memory_bytes: u64) -> String {
    let peak = memory_bytes / (1024 * 1024);
    let what = match status {
        "memory_limit" => format!("it ran out of memory (its limit; peak {peak} MiB)"),
        "message_too_large" => "it sent a message larger than the server accepts".to_string(),
        "nonzero" => format!("it exited with code {}", exit_code.unwrap_or(-1)),
        "ok" => "it exited".to_string(),
        "signaled" => format!("it was ended by signal {}", signal.unwrap_or(0)),
        "killed" => "it was killed".to_string(),
        other => format!("it ended ({other})"),
    };
    format!("[bytesbox] The kernel is dead: {what}. Restart it to go on.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_kernel_is_explained_in_words() {
        assert_eq!(
            exit_reason("memory_limit", None, Some(9), 300 * 1024 * 1024),
            "[bytesbox] The kernel is dead: it ran out of memory (its limit; peak 300 MiB). Restart it to go on."
        );
        assert!(exit_reason("nonzero", Some(3), None, 0).contains("exited with code 3"));
        assert!(exit_reason("signaled", None, Some(11), 0).contains("signal 11"));
        assert!(exit_reason("message_too_large", None, None, 0).contains("larger than the server accepts"));
    }

    #[test]
    fn the_backlog_keeps_the_newest_within_its_bounds() {
        let mut link = Link::default();
        for n in 0..(BACKLOG_MESSAGES + 10) {
            link.keep(format!("m{n}"));
        }
        assert_eq!(link.backlog.len(), BACKLOG_MESSAGES);
        assert_eq!(link.backlog.front().map(String::as_str), Some("m10"));
        let big = "x".repeat(BACKLOG_BYTES / 2 + 1);
        link.keep(big.clone());
        link.keep(big);
        assert!(link.backlog_bytes <= BACKLOG_BYTES, "{}", link.backlog_bytes);
        assert_eq!(link.backlog.len(), 1, "the older big message and the small ones made room");
    }
}
