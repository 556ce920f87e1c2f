//! A box made for one request, one connection or one session alone,
//! destroyed when that ends, however it ends: a handler dropped at any
//! await because its client went away destroys its box at once instead of
//! leaving it to the idle sweep.

use std::sync::Arc;

use bytesbox_sandbox::{Backend, BoxId, BoxSpec, SandboxError};
use tokio::sync::Semaphore;

/// A box owned by one request, connection or session.
#[derive(Debug)]
pub(crate) struct BoxLease {
    backend: Arc<dyn Backend>,
    id: Option<BoxId>,
}

impl BoxLease {
    /// Makes a box.
    pub(crate) async fn create(backend: &Arc<dyn Backend>, spec: BoxSpec) -> Result<BoxLease, SandboxError> {
        let id = backend.create(spec).await?;
        Ok(BoxLease { backend: backend.clone(), id: Some(id) })
    }

    /// The box's id.
    pub(crate) fn id(&self) -> &BoxId {
        // Only `destroy` and `drop` take the id, and both consume the lease.
        self.id.as_ref().unwrap_or_else(|| unreachable!("a lease holds its box until it ends"))
    }

    /// Destroys the box now, waiting for it.
    pub(crate) async fn destroy(mut self) {
        if let Some(id) = self.id.take() {
            let _ = self.backend.destroy(&id).await;
        }
    }

    /// Lets go of a box the backend has destroyed already.
    pub(crate) fn forget(mut self) {
        self.id.take();
    }

    /// Destroys the box after the caller's answer is sent, on a task of
    /// its own holding one of `teardowns`' permits; when every permit is
    /// taken (teardowns fall behind the arrival of new boxes), waits for
    /// the destruction here instead, so boxes being torn down never grow
    /// past the permits however fast clients come.
    pub(crate) async fn destroy_after_answer(mut self, teardowns: &Arc<Semaphore>) {
        let Ok(permit) = teardowns.clone().try_acquire_owned() else {
            return self.destroy().await;
        };
        if let Some(id) = self.id.take() {
            let backend = self.backend.clone();
            tokio::spawn(async move {
                let _ = backend.destroy(&id).await;
                drop(permit);
            });
        }
    }
}

impl Drop for BoxLease {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let backend = self.backend.clone();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = backend.destroy(&id).await;
                });
            }
        }
    }
}
