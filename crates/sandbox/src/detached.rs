//! Work that must finish even when its caller stops waiting.
//!
//! A server drops a request's future at any await when its client goes.
//! Making a box or starting a run is a conversation with a helper process
//! or the container engine: cut short, it leaves a reply unread, a
//! container half made, a cgroup that someone still uses. So backends run
//! such work on a task of its own and the caller only awaits the result;
//! when the caller is gone by the time the work is done, the result is
//! handed to an undo step (destroy the box, kill the run) instead.
//!
//! The tasks are tracked, so a backend's shutdown first waits for the work
//! in flight, then destroys everything, including what that work made.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio_util::task::TaskTracker;

use crate::SandboxError;

type Undo<T> = Box<dyn FnOnce(T) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// Work in flight on detached tasks; see the module documentation.
#[derive(Clone, Debug, Default)]
pub struct DetachedWork {
    tracker: TaskTracker,
}

/// A result on its way to the caller. Dropped undelivered (the caller went
/// away before reading it), it undoes itself on a tracked task.
struct Delivery<T: Send + 'static> {
    value: Option<T>,
    undo: Option<Undo<T>>,
    tracker: TaskTracker,
}

impl<T: Send + 'static> Delivery<T> {
    fn accept(mut self) -> T {
        self.undo = None;
        // The value is only taken here or in `drop`.
        self.value.take().expect("a delivery is accepted once")
    }
}

impl<T: Send + 'static> Drop for Delivery<T> {
    fn drop(&mut self) {
        if let (Some(value), Some(undo)) = (self.value.take(), self.undo.take()) {
            // Outside a runtime (the server's runtime is being torn down)
            // the value is simply dropped; shutdown has destroyed the rest.
            if tokio::runtime::Handle::try_current().is_ok() {
                self.tracker.spawn(undo(value));
            }
        }
    }
}

impl DetachedWork {
    /// A new, empty set of work.
    pub fn new() -> DetachedWork {
        DetachedWork::default()
    }

    /// Runs `work` to completion on its own task and returns its result.
    /// If the caller is dropped first, a successful result goes to `undo`
    /// (also run on a tracked task) instead of being lost.
    pub async fn run<T, W, U, F>(&self, work: W, undo: U) -> Result<T, SandboxError>
    where
        T: Send + 'static,
        W: Future<Output = Result<T, SandboxError>> + Send + 'static,
        U: FnOnce(T) -> F + Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let (deliver, delivered) = oneshot::channel();
        let tracker = self.tracker.clone();
        self.tracker.spawn(async move {
            // Checked on the tracked task, so shutdown either waits for
            // this work or the work sees the shutdown and does nothing.
            if tracker.is_closed() {
                let _ = deliver.send(Err(SandboxError::ShuttingDown));
                return;
            }
            let result = work.await.map(|value| Delivery {
                value: Some(value),
                undo: Some(Box::new(move |value| Box::pin(undo(value)) as Pin<Box<dyn Future<Output = ()> + Send>>)),
                tracker,
            });
            // A caller that is gone drops the delivery here, which undoes it.
            let _ = deliver.send(result);
        });
        match delivered.await {
            Ok(result) => result.map(Delivery::accept),
            Err(_) => Err(SandboxError::Internal("a detached task ended without a result".into())),
        }
    }

    /// Runs `work` to its end on a tracked task, even if the caller stops
    /// waiting, and returns its result; never refused, so that undoing
    /// (destroying a box already taken out of its table) also works during
    /// shutdown, which waits for it.
    pub async fn finish<T, W>(&self, work: W) -> Result<T, SandboxError>
    where
        T: Send + 'static,
        W: Future<Output = Result<T, SandboxError>> + Send + 'static,
    {
        match self.tracker.spawn(work).await {
            Ok(result) => result,
            Err(e) => Err(SandboxError::Internal(format!("a detached task ended without a result: {e}"))),
        }
    }

    /// For shutdown: refuses new work (`ShuttingDown`) and waits up to
    /// `within` for the work in flight and the undo steps it started;
    /// whether everything finished.
    pub async fn close_and_wait(&self, within: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(within, self.tracker.wait()).await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn a_caller_that_waits_gets_the_result_and_nothing_is_undone() {
        let work = DetachedWork::new();
        let undone = Arc::new(AtomicUsize::new(0));
        let counter = undone.clone();
        let got = work
            .run(async { Ok(7) }, move |_| async move {
                counter.fetch_add(1, Ordering::SeqCst);
            })
            .await;
        assert_eq!(got.unwrap(), 7);
        assert!(work.close_and_wait(Duration::from_secs(5)).await);
        assert_eq!(undone.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_caller_dropped_mid_work_has_the_result_undone() {
        let work = DetachedWork::new();
        let (release, released) = oneshot::channel::<()>();
        let (undone_tx, undone_rx) = oneshot::channel::<u32>();
        let caller = work.run(
            async move {
                let _ = released.await;
                Ok(42u32)
            },
            move |value| async move {
                let _ = undone_tx.send(value);
            },
        );
        // The caller is polled once (the work starts), then dropped.
        let mut caller = Box::pin(caller);
        assert!(futures_poll_once(caller.as_mut()).await.is_none());
        drop(caller);
        release.send(()).unwrap();
        assert_eq!(undone_rx.await.unwrap(), 42, "the finished work was undone");
        assert!(work.close_and_wait(Duration::from_secs(5)).await);
    }

    #[tokio::test]
    async fn failed_work_needs_no_undo() {
        let work = DetachedWork::new();
        let undone = Arc::new(AtomicUsize::new(0));
        let counter = undone.clone();
        let got: Result<u8, _> = work
            .run(async { Err(SandboxError::Internal("no".into())) }, move |_| async move {
                counter.fetch_add(1, Ordering::SeqCst);
            })
            .await;
        assert!(got.is_err());
        assert!(work.close_and_wait(Duration::from_secs(5)).await);
        assert_eq!(undone.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn finished_work_runs_to_its_end_when_its_caller_is_dropped() {
        let work = DetachedWork::new();
        let (release, released) = oneshot::channel::<()>();
        let (done_tx, done_rx) = oneshot::channel::<()>();
        let mut caller = Box::pin(work.finish(async move {
            let _ = released.await;
            let _ = done_tx.send(());
            Ok(())
        }));
        assert!(futures_poll_once(caller.as_mut()).await.is_none());
        drop(caller);
        release.send(()).unwrap();
        done_rx.await.unwrap();
        assert!(work.close_and_wait(Duration::from_secs(5)).await);
    }

    #[tokio::test]
    async fn after_shutdown_no_work_starts() {
        let work = DetachedWork::new();
        assert!(work.close_and_wait(Duration::from_secs(5)).await);
        let got = work.run(async { Ok(1) }, |_| async {}).await;
        assert!(matches!(got, Err(SandboxError::ShuttingDown)), "{got:?}");
    }

    /// Polls a future once; its output if it was ready.
    async fn futures_poll_once<F: Future + Unpin>(mut future: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| match Pin::new(&mut future).poll(cx) {
            std::task::Poll::Ready(out) => std::task::Poll::Ready(Some(out)),
            std::task::Poll::Pending => std::task::Poll::Ready(None),
        })
        .await
    }
}
