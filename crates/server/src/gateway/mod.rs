//! The Jupyter Kernel Gateway API (`docs/notebooks.md`): `/api/kernelspecs`,
//! `/api/kernels` and each kernel's `channels` WebSocket, so that Jupyter
//! clients (jupyter-server with `--gateway-url`, JupyterLab through it,
//! nbclient) get their kernels from Bytesbox's boxes. Authentication is
//! Bytesbox's: an API token (`Authorization: token bbx_…` as Jupyter sends
//! it, or `Bearer`), or a signed-in user's cookie.

pub(crate) mod channels;
mod kernels;
mod message;
pub(crate) mod rest;

pub use kernels::GatewayKernels;

use std::sync::Weak;

use crate::session::{Sessions, IDLE_SWEEP_INTERVAL};

/// Closes the sessions of gateway kernels that died and were neither
/// restarted nor deleted for as long as an idle kernel is kept (`[sessions]
/// kernel_idle_secs`), while the registry exists. (A live idle kernel is
/// culled like any; its end removes it at once.)
pub(crate) async fn close_dead_kernels(gateway: Weak<GatewayKernels>, sessions: Weak<Sessions>) {
    loop {
        tokio::time::sleep(IDLE_SWEEP_INTERVAL).await;
        let (Some(gateway), Some(sessions)) = (gateway.upgrade(), sessions.upgrade()) else { return };
        let closed = gateway.close_dead(&sessions, sessions.config().kernels.idle_timeout).await;
        if closed > 0 {
            tracing::info!(closed, "closed the sessions of dead gateway kernels");
        }
    }
}
