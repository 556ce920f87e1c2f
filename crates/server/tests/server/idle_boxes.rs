//! A session's box lives as long as it is used, and no longer. It is
//! destroyed as idle only when nothing uses it: an operation between
//! getting the box and being done with it (here the client's
//! `files_write`, slowed by the backend past several sweeps of idle bytes)
//! keeps it, and the sweep takes it once the operation ends. And once the
//! session has ended, nothing makes it a box again: a run cut short by the
//! session's end (its files being written when the box went) is not
//! retried on a new box that nobody would destroy.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use bytesbox_sandbox::{
    Backend, BoxId, BoxInfo, BoxSpec, FileEntry, PutMode, RunHandle, RunSpec, SandboxError, WorkspaceSnapshot,
};
use bytesbox_server::accounts::{AccountsConfig, Principal};
use bytesbox_server::session::{BoxCaps, SessionBoxError};
use bytesbox_testkit::host_double::HostDouble;
use serde_json::json;

use crate::test_server::{Stores, TestServer};
use crate::{connect, next, run, send, until_done};

/// What the slow write waits: longer than two sweeps of idle bytes
/// (every 2 s).
const SLOW_WRITE: Duration = Duration::from_secs(5);

/// The host double, whose boxes weigh 1 GiB once a write of `slow.txt`
/// has begun, and whose writes of `slow.txt` take [`SLOW_WRITE`]. A write
/// into a box destroyed meanwhile answers `box_gone`, as the Docker
/// backend's does.
#[derive(Debug, Default)]
struct SlowWrites {
    inner: HostDouble,
    heavy: AtomicBool,
    destroyed: Mutex<HashSet<BoxId>>,
    boxes_made: AtomicUsize,
    slow_writes_ended: AtomicUsize,
}

#[async_trait]
impl Backend for SlowWrites {
    fn name(&self) -> &'static str {
        "slow-writes"
    }

    async fn create(&self, spec: BoxSpec) -> Result<BoxId, SandboxError> {
        self.boxes_made.fetch_add(1, Ordering::AcqRel);
        self.inner.create(spec).await
    }

    async fn put_files(&self, id: &BoxId, files: Vec<FileEntry>, mode: PutMode) -> Result<(), SandboxError> {
        if !files.iter().any(|file| file.path == "slow.txt") {
            return self.inner.put_files(id, files, mode).await;
        }
        self.heavy.store(true, Ordering::Release);
        tokio::time::sleep(SLOW_WRITE).await;
        let destroyed = self.destroyed.lock().unwrap().contains(id);
        let written = match destroyed {
            true => Err(SandboxError::BoxGone(id.to_string())),
            false => self.inner.put_files(id, files, mode).await,
        };
        self.slow_writes_ended.fetch_add(1, Ordering::AcqRel);
        written
    }

    async fn get_files(
        &self,
        id: &BoxId,
        paths: Vec<String>,
        max_total_bytes: u64,
    ) -> Result<WorkspaceSnapshot, SandboxError> {
        self.inner.get_files(id, paths, max_total_bytes).await
    }

    async fn run(&self, id: &BoxId, spec: RunSpec) -> Result<RunHandle, SandboxError> {
        self.inner.run(id, spec).await
    }

    async fn destroy(&self, id: &BoxId) -> Result<(), SandboxError> {
        self.destroyed.lock().unwrap().insert(id.clone());
        self.inner.destroy(id).await
    }

    async fn list(&self) -> Vec<BoxInfo> {
        let heavy = self.heavy.load(Ordering::Acquire);
        let mut boxes = self.inner.list().await;
        for info in boxes.iter_mut().filter(|_| heavy) {
            info.memory_bytes = Some(1 << 30);
        }
        boxes
    }

    fn live_boxes(&self) -> usize {
        self.inner.live_boxes()
    }

    async fn shutdown(&self) {
        self.inner.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_box_in_use_is_not_destroyed_as_idle_and_is_once_the_use_ends() {
    let backend = Arc::new(SlowWrites::default());
    // A guest may keep 1 byte in idle boxes: any box of theirs that is
    // idle is over the cap.
    let plans = "[guest]\nmax_idle_box_bytes = 1\n";
    let server = TestServer::new()
        .backend(backend.clone())
        .accounts(AccountsConfig::default(), plans, Stores::SqliteAndFiles)
        .start()
        .await;
    let (mut socket, _) = connect(&server.url).await;
    send(&mut socket, run("r1", "echo made")).await;
    until_done(&mut socket, "r1").await;

    let write = json!({"type": "files_write", "id": "w1", "files": [{"path": "slow.txt", "content": "kept"}]});
    send(&mut socket, write).await;
    let answer = loop {
        let frame = next(&mut socket).await;
        if frame["id"] == "w1" {
            break frame;
        }
    };
    assert_eq!(answer, json!({"type": "files_written", "id": "w1", "count": 1}), "the box was kept while in use");
    assert_eq!(backend.live_boxes(), 1, "the write went into the session's box");

    // Idle now, and over its cap: the sweep takes it.
    server.wait_for_boxes(0, "the idle box over its caller's cap to be destroyed").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cut_short_by_its_sessions_end_leaves_no_box() {
    let backend = Arc::new(SlowWrites::default());
    let server = TestServer::new().backend(backend.clone()).grace(Duration::from_millis(200)).start().await;
    let (mut socket, _) = connect(&server.url).await;
    let files = json!([{"path": "main.sh", "content": "echo never"}, {"path": "slow.txt", "content": "x"}]);
    send(&mut socket, json!({"type": "run", "id": "r1", "language": "sh", "files": files})).await;
    loop {
        if next(&mut socket).await["type"] == "accepted" {
            break;
        }
    }
    // The client goes while the run's files are being written; the
    // session ends after its grace, its run killed and its box destroyed
    // under the write, which then fails as the box's end.
    drop(socket);
    server.wait_for_boxes(0, "the ended session's box to be destroyed").await;
    bytesbox_testkit::wait_until("the slow write to end", SLOW_WRITE * 2, || {
        let ended = backend.slow_writes_ended.load(Ordering::Acquire);
        async move { ended == 1 }
    })
    .await;
    // Had the run been retried on a new box, that box would be made now:
    // watch for a while that none is.
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(backend.boxes_made.load(Ordering::Acquire), 1, "a box was made for an ended session");
        assert_eq!(backend.live_boxes(), 0, "a box outlived its session");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_session_gets_no_box() {
    let server = TestServer::new().start().await;
    let session = server.sessions.open(Principal::Anonymous, None);
    let made = server.sessions.sandbox(&session, BoxCaps::UNLIMITED).await.unwrap();
    assert!(made.created);
    drop(made);
    server.sessions.close(&session).await;
    server.wait_for_boxes(0, "the closed session's box to be destroyed").await;
    let refused = server.sessions.sandbox(&session, BoxCaps::UNLIMITED).await.map(|acquired| acquired.id);
    assert!(matches!(refused, Err(SessionBoxError::SessionEnded)), "an ended session asked for a box: {refused:?}");
    assert_eq!(server.backend.list().await.len(), 0, "no box was made");
    server.stop().await;
}
