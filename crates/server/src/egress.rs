//! Egress for the session boxes of callers whose plan allows it
//! (`docs/egress.md`): the server holds a listener on `127.0.0.1:<port>`
//! inside such a box's network namespace ([`Backend::open_listener`]),
//! serves it with the proxy of `bytesbox-egress`, and every run of the box
//! (programs, terminals, `git`, language servers, kernels) gets the proxy
//! variables, added in one place: [`ProxyEnvBackend::run`]. The box's
//! proxy ends with the session's hold on the box ([`BoxEgress`]'s drop).

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use crate::metrics::EgressTotals;
use async_trait::async_trait;
use bytesbox_egress::{proxy_env, EgressPolicy, EgressProxy};
use bytesbox_sandbox::{
    Backend, BoxId, BoxInfo, BoxSpec, FileEntry, PutMode, RunHandle, RunSpec, SandboxError, WorkspaceSnapshot,
};

/// Which boxes have the proxy, and the variables their runs get.
type BoxEnvs = Arc<Mutex<HashMap<BoxId, Vec<(String, String)>>>>;

/// The server's egress: the proxy and the boxes it serves.
#[derive(Debug)]
pub struct Egress {
    proxy: Arc<EgressProxy>,
    envs: BoxEnvs,
}

impl Egress {
    /// The egress of `policy`, and the backend wrapper that gives the
    /// proxied boxes' runs their variables (the engine must run over it:
    /// [`bytesbox_engine::Engine::wrap_backend`]).
    pub fn new(policy: EgressPolicy) -> (Egress, impl FnOnce(Arc<dyn Backend>) -> Arc<dyn Backend>) {
        let envs = BoxEnvs::default();
        let wrap_envs = envs.clone();
        let wrap =
            move |inner: Arc<dyn Backend>| Arc::new(ProxyEnvBackend { inner, envs: wrap_envs }) as Arc<dyn Backend>;
        (Egress { proxy: EgressProxy::new(policy), envs }, wrap)
    }

    /// The proxy (its counters for metrics).
    pub fn proxy(&self) -> &Arc<EgressProxy> {
        &self.proxy
    }

    /// What the proxy counted since the server started, for `/metrics`.
    pub fn totals(&self) -> EgressTotals {
        let counters = self.proxy.counters();
        let read = |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed);
        EgressTotals {
            bytes_out: read(&counters.bytes_out),
            bytes_in: read(&counters.bytes_in),
            relayed: read(&counters.relayed),
            refused: read(&counters.refused),
            over_cap: read(&counters.over_cap),
        }
    }

    /// How many boxes have the proxy now.
    pub fn proxied_boxes(&self) -> usize {
        lock(&self.envs).len()
    }

    /// Starts the proxy in box `id`: a listener in its network namespace,
    /// served until the returned guard is dropped; from now on the box's
    /// runs get the proxy variables.
    pub async fn open(&self, backend: &dyn Backend, id: &BoxId) -> Result<BoxEgress, SandboxError> {
        let port = self.proxy.policy().port;
        let fd: OwnedFd = backend.open_listener(id, port).await?;
        let listener = tokio::net::TcpListener::from_std(std::net::TcpListener::from(fd))
            .map_err(|e| SandboxError::Internal(format!("registering the box's egress listener: {e}")))?;
        let task = tokio::spawn(self.proxy.clone().serve_box(listener));
        lock(&self.envs).insert(id.clone(), proxy_env(port));
        Ok(BoxEgress { id: id.clone(), task, envs: self.envs.clone() })
    }
}

fn lock(envs: &BoxEnvs) -> std::sync::MutexGuard<'_, HashMap<BoxId, Vec<(String, String)>>> {
    envs.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A box's proxy: dropping it ends the accept loop and every connection it
/// accepted, closes the listener (which would otherwise keep the box's
/// network namespace alive) and stops giving the box's runs the variables.
#[derive(Debug)]
pub struct BoxEgress {
    id: BoxId,
    task: tokio::task::JoinHandle<()>,
    envs: BoxEnvs,
}

impl Drop for BoxEgress {
    fn drop(&mut self) {
        self.task.abort();
        lock(&self.envs).remove(&self.id);
    }
}

/// The backend the server's engine runs over when egress is configured:
/// the real one, with the proxy variables added to runs of proxied boxes.
#[derive(Debug)]
struct ProxyEnvBackend {
    inner: Arc<dyn Backend>,
    envs: BoxEnvs,
}

#[async_trait]
impl Backend for ProxyEnvBackend {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn create(&self, spec: BoxSpec) -> Result<BoxId, SandboxError> {
        self.inner.create(spec).await
    }

    async fn put_files(&self, id: &BoxId, files: Vec<FileEntry>, mode: PutMode) -> Result<(), SandboxError> {
        self.inner.put_files(id, files, mode).await
    }

    async fn get_files(
        &self,
        id: &BoxId,
        paths: Vec<String>,
        max_total_bytes: u64,
    ) -> Result<WorkspaceSnapshot, SandboxError> {
        self.inner.get_files(id, paths, max_total_bytes).await
    }

    async fn open_socket(&self, id: &BoxId, path: &str) -> Result<OwnedFd, SandboxError> {
        self.inner.open_socket(id, path).await
    }

    async fn workspace_root(&self, id: &BoxId) -> Result<Arc<OwnedFd>, SandboxError> {
        self.inner.workspace_root(id).await
    }

    async fn open_listener(&self, id: &BoxId, port: u16) -> Result<OwnedFd, SandboxError> {
        self.inner.open_listener(id, port).await
    }

    async fn run(&self, id: &BoxId, mut spec: RunSpec) -> Result<RunHandle, SandboxError> {
        let added = lock(&self.envs).get(id).cloned();
        for (key, value) in added.unwrap_or_default() {
            if !spec.env.iter().any(|(k, _)| *k == key) {
                spec.env.push((key, value));
            }
        }
        self.inner.run(id, spec).await
    }

    async fn destroy(&self, id: &BoxId) -> Result<(), SandboxError> {
        self.inner.destroy(id).await
    }

    async fn list(&self) -> Vec<BoxInfo> {
        self.inner.list().await
    }

    fn live_boxes(&self) -> usize {
        self.inner.live_boxes()
    }

    fn health(&self) -> Result<(), String> {
        self.inner.health()
    }

    async fn shutdown(&self) {
        self.inner.shutdown().await
    }
}
