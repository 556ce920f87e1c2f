//! A run's output on its way to the consumer: the per-stream cap, the byte
//! counts of the exit report, and the backpressure of a bounded queue.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use bytesbox_sandbox::{RunEvent, Stream};
use tokio::sync::{mpsc, Notify};

/// Output events buffered per run before the readers stop reading (and
/// the program blocks on a full pipe): at most 16 chunks of at most 64 KiB.
pub const EVENT_QUEUE: usize = 16;
/// Largest chunk a reader reads at once; a flood arrives in chunks this
/// big, not a frame per write.
pub const READ_CHUNK: usize = 64 * 1024;

/// What became of a chunk handed to [`RunOutput::deliver`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Delivered whole.
    Delivered,
    /// The stream reached its cap: what fitted was delivered, the rest
    /// (and anything later on this stream) is dropped.
    OverCap,
    /// Nobody reads the run's events any more.
    ConsumerGone,
}

/// The output side of one run, shared by its readers and its supervisor.
#[derive(Debug)]
pub struct RunOutput {
    cap: u64,
    events: mpsc::Sender<RunEvent>,
    delivered: [AtomicU64; 2],
    over_cap: [AtomicBool; 2],
    cap_hit: Notify,
}

fn index(stream: Stream) -> usize {
    usize::from(stream == Stream::Stderr)
}

impl RunOutput {
    pub(crate) fn new(cap: u64, events: mpsc::Sender<RunEvent>) -> RunOutput {
        RunOutput { cap, events, delivered: Default::default(), over_cap: Default::default(), cap_hit: Notify::new() }
    }

    /// Sends what of `data` fits under the stream's cap, waiting while the
    /// event queue is full.
    pub async fn deliver(&self, stream: Stream, data: Bytes) -> Delivery {
        let i = index(stream);
        if self.over_cap[i].load(Ordering::Acquire) {
            return Delivery::OverCap;
        }
        let delivered = self.delivered[i].load(Ordering::Acquire);
        let room = self.cap.saturating_sub(delivered);
        let take = (data.len() as u64).min(room) as usize;
        if take > 0 {
            self.delivered[i].fetch_add(take as u64, Ordering::AcqRel);
            if self.events.send(RunEvent::Output { stream, data: data.slice(..take) }).await.is_err() {
                return Delivery::ConsumerGone;
            }
        }
        if data.len() > take {
            self.over_cap[i].store(true, Ordering::Release);
            self.cap_hit.notify_one();
            return Delivery::OverCap;
        }
        Delivery::Delivered
    }

    /// Bytes delivered on `stream` so far.
    pub(crate) fn delivered(&self, stream: Stream) -> u64 {
        self.delivered[index(stream)].load(Ordering::Acquire)
    }

    /// Whether a stream went over the cap.
    pub(crate) fn cap_was_hit(&self) -> bool {
        self.over_cap.iter().any(|hit| hit.load(Ordering::Acquire))
    }

    /// Resolves when a stream goes over the cap.
    pub(crate) async fn cap_hit(&self) {
        self.cap_hit.notified().await;
    }

    /// The queue the run's events go through.
    pub(crate) fn events(&self) -> &mpsc::Sender<RunEvent> {
        &self.events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn each_stream_is_capped_on_its_own() {
        let (tx, mut rx) = mpsc::channel(EVENT_QUEUE);
        let output = RunOutput::new(4, tx);
        assert_eq!(output.deliver(Stream::Stdout, Bytes::from_static(b"abc")).await, Delivery::Delivered);
        assert_eq!(output.deliver(Stream::Stdout, Bytes::from_static(b"def")).await, Delivery::OverCap);
        assert_eq!(output.deliver(Stream::Stdout, Bytes::from_static(b"g")).await, Delivery::OverCap);
        assert_eq!(output.deliver(Stream::Stderr, Bytes::from_static(b"1234")).await, Delivery::Delivered);
        assert_eq!((output.delivered(Stream::Stdout), output.delivered(Stream::Stderr)), (4, 4));
        assert!(output.cap_was_hit());
        let mut stdout = Vec::new();
        while let Ok(RunEvent::Output { stream: Stream::Stdout, data }) = rx.try_recv() {
            stdout.extend_from_slice(&data);
        }
        assert_eq!(stdout, b"abcd");
    }
}
