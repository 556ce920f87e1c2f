//! What a WebSocket client has sent that has not yet become a message.
//!
//! The WebSocket library assembles frames out of our sight, so the bytes
//! are counted where they come in: every connection's socket is wrapped in
//! a [`MeteredIo`] by the accept loop (`crate::listener`), and once a
//! handler has upgraded the connection it [`InboundMeter::arm`]s the meter.
//! From then on every byte read is charged to the memory budget
//! (`crate::memory_budget`) until the handler receives a message, which
//! gives the charge back. That bounds partial messages without parsing
//! frames (a client cannot desynchronise a parser it never meets), and it
//! dates the oldest unreceived byte, which is the message assembly clock.
//!
//! A connection may hold a few KiB unbudgeted (`UNBUDGETED_BYTES`), so small messages never
//! touch the budget. Past that, reading waits for room (the budget's
//! wait), then fails, which closes the connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::connections::ConnectionPermit;
use crate::memory_budget::{MemoryBudget, ReadRefused, Reservation, UNBUDGETED_BYTES};

/// A client's control frame beyond its payload: two header bytes (its
/// payload is at most 125 bytes) and the four-byte mask.
const CONTROL_FRAME_OVERHEAD: usize = 6;

/// Bytes reserved at a time past that.
const RESERVE_STEP: usize = 256 * 1024;

type Reserving = Pin<Box<dyn Future<Output = Result<Reservation, ReadRefused>> + Send>>;

/// The meter of one connection, shared by its socket and its handler (the
/// accept loop puts it in every request's extensions).
#[derive(Clone)]
pub struct InboundMeter {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for InboundMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundMeter").finish_non_exhaustive()
    }
}

struct Shared {
    budget: Arc<MemoryBudget>,
    /// Set once, after the upgrade; before it, reads pass without a lock.
    armed: AtomicBool,
    state: Mutex<State>,
    /// When the oldest byte not yet part of a received message came in.
    pending_since: watch::Sender<Option<Instant>>,
}

#[derive(Default)]
struct State {
    unreceived: usize,
    reserved: Reservation,
    reserving: Option<Reserving>,
    refused: bool,
}

impl InboundMeter {
    /// A disarmed meter charging `budget`.
    pub fn new(budget: Arc<MemoryBudget>) -> InboundMeter {
        let (pending_since, _) = watch::channel(None);
        InboundMeter {
            shared: Arc::new(Shared { budget, armed: AtomicBool::new(false), state: Mutex::default(), pending_since }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts charging: the connection now carries WebSocket frames.
    pub fn arm(&self) {
        self.shared.armed.store(true, Ordering::Release);
    }

    /// The handler received a ping or pong with `payload` bytes. Only that
    /// frame's bytes are given back: it may have come between the
    /// fragments of a data message the library still holds (RFC 6455
    /// allows control frames there), and pings must not reset its clock.
    pub fn received_control(&self, payload: usize) {
        let mut state = self.state();
        state.unreceived = state.unreceived.saturating_sub(payload + CONTROL_FRAME_OVERHEAD);
        if state.unreceived == 0 {
            state.reserved = Reservation::default();
            self.shared.pending_since.send_replace(None);
        }
    }

    /// The handler received a data message: what was read so far is no
    /// longer held by the WebSocket library.
    pub fn received(&self) {
        let mut state = self.state();
        state.unreceived = 0;
        state.reserved = Reservation::default();
        self.shared.pending_since.send_replace(None);
    }

    /// Whether reading stopped because the budget stayed full.
    pub fn refused(&self) -> bool {
        self.state().refused
    }

    /// Bytes read since the last received message.
    pub fn unreceived(&self) -> usize {
        self.state().unreceived
    }

    /// Resolves once bytes have waited more than `timeout` to become a
    /// message; cancel-safe.
    pub fn message_timed_out(&self, timeout: Duration) -> impl Future<Output = ()> + Send + 'static {
        let mut pending_since = self.shared.pending_since.subscribe();
        async move {
            loop {
                let since = *pending_since.borrow_and_update();
                match since {
                    Some(since) => tokio::select! {
                        () = tokio::time::sleep_until(since + timeout) => return,
                        changed = pending_since.changed() => if changed.is_err() { std::future::pending::<()>().await },
                    },
                    None => {
                        if pending_since.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    }
                }
            }
        }
    }

    /// How many bytes the socket may read now: `None` for any number
    /// (not armed), else at least one once the budget has room.
    fn poll_allowance(&self, cx: &mut Context<'_>) -> Poll<io::Result<Option<usize>>> {
        if !self.shared.armed.load(Ordering::Acquire) {
            return Poll::Ready(Ok(None));
        }
        let mut state = self.state();
        loop {
            let allowance = (UNBUDGETED_BYTES + state.reserved.bytes()).saturating_sub(state.unreceived);
            if allowance > 0 {
                return Poll::Ready(Ok(Some(allowance)));
            }
            let budget = &self.shared.budget;
            let reserving = state.reserving.get_or_insert_with(|| Box::pin(budget.reserve(RESERVE_STEP)));
            match reserving.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(more)) => {
                    state.reserving = None;
                    state.reserved.merge(more);
                }
                Poll::Ready(Err(refused)) => {
                    state.reserving = None;
                    state.refused = true;
                    return Poll::Ready(Err(io::Error::other(refused)));
                }
            }
        }
    }

    fn read(&self, bytes: usize) {
        if bytes == 0 || !self.shared.armed.load(Ordering::Acquire) {
            return;
        }
        let mut state = self.state();
        if state.unreceived == 0 {
            self.shared.pending_since.send_replace(Some(Instant::now()));
        }
        state.unreceived += bytes;
    }
}

/// A connection's socket: reads are metered, writes that make no progress
/// for the send timeout fail, and the connection's place among the open
/// ones is held for as long as the socket lives (through a WebSocket
/// upgrade too).
///
/// The send timeout is the writing side of the read timeouts: a client
/// that stops reading would otherwise hold its connection's task in a
/// write for ever, and with it whatever that task holds (a kernel's
/// output, a partial message's share of the memory budget, whose own
/// timeout is checked by the same stuck task). Failing the write ends the
/// connection wherever it is.
#[derive(Debug)]
pub struct MeteredIo<T> {
    inner: T,
    meter: InboundMeter,
    send_timeout: Duration,
    /// Running while a write waits for the client to take bytes.
    write_stalled: Option<Pin<Box<tokio::time::Sleep>>>,
    _permit: ConnectionPermit,
}

impl<T> MeteredIo<T> {
    /// Wraps `inner`; a write that makes no progress for `send_timeout`
    /// fails with `TimedOut`.
    pub fn new(inner: T, meter: InboundMeter, permit: ConnectionPermit, send_timeout: Duration) -> MeteredIo<T> {
        MeteredIo { inner, meter, send_timeout, write_stalled: None, _permit: permit }
    }

    /// Passes a write's outcome on; a pending one starts (or checks) the
    /// stall clock, a finished one stops it.
    fn after_write<R>(&mut self, cx: &mut Context<'_>, polled: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if polled.is_ready() {
            self.write_stalled = None;
            return polled;
        }
        let timeout = self.send_timeout;
        let stalled = self.write_stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.write_stalled = None;
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the client took nothing for {} s", timeout.as_secs()),
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for MeteredIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let allowance = match self.meter.poll_allowance(cx) {
            Poll::Ready(Ok(allowance)) => allowance,
            Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            Poll::Pending => return Poll::Pending,
        };
        match allowance {
            Some(allowed) if allowed < buf.remaining() => {
                // Read no more than the budget allows, through a small
                // buffer of our own.
                let mut scratch = vec![0u8; allowed];
                let mut limited = ReadBuf::new(&mut scratch);
                let polled = Pin::new(&mut self.inner).poll_read(cx, &mut limited);
                if let Poll::Ready(Ok(())) = polled {
                    let filled = limited.filled();
                    buf.put_slice(filled);
                    self.meter.read(filled.len());
                }
                polled
            }
            _ => {
                let before = buf.filled().len();
                let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
                if let Poll::Ready(Ok(())) = polled {
                    self.meter.read(buf.filled().len() - before);
                }
                polled
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for MeteredIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        self.after_write(cx, polled)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        // A finished flush of a socket wrote nothing: no sign that the
        // client takes bytes, so it leaves a running stall clock alone.
        if polled.is_ready() {
            return polled;
        }
        self.after_write(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.after_write(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A handler's view of its connection's meter: a no-op when the server was
/// not started by `crate::listener` (in-process tests, embedders).
#[derive(Debug)]
pub struct Inbound {
    meter: Option<InboundMeter>,
    timeout: Duration,
}

impl Inbound {
    /// Arms `meter`, if any; messages must be whole within `timeout`.
    pub fn start(meter: Option<InboundMeter>, timeout: Duration) -> Inbound {
        if let Some(meter) = &meter {
            meter.arm();
        }
        Inbound { meter, timeout }
    }

    /// A data message arrived.
    pub fn received(&self) {
        if let Some(meter) = &self.meter {
            meter.received();
        }
    }

    /// A ping or pong with `payload` bytes arrived.
    pub fn received_control(&self, payload: usize) {
        if let Some(meter) = &self.meter {
            meter.received_control(payload);
        }
    }

    /// Whether the connection ended because the budget stayed full.
    pub fn refused(&self) -> bool {
        self.meter.as_ref().is_some_and(InboundMeter::refused)
    }

    /// Resolves when a message took longer than the timeout to arrive.
    pub fn timed_out(&self) -> impl Future<Output = ()> + Send + 'static {
        let timed_out = self.meter.as_ref().map(|meter| meter.message_timed_out(self.timeout));
        async move {
            match timed_out {
                Some(timed_out) => timed_out.await,
                None => std::future::pending().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connections::ConnectionLimits;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const MIB: usize = 1024 * 1024;

    fn metered(
        budget: &Arc<MemoryBudget>,
    ) -> (MeteredIo<tokio::io::DuplexStream>, tokio::io::DuplexStream, InboundMeter) {
        let (server, client) = tokio::io::duplex(4 * MIB);
        let meter = InboundMeter::new(budget.clone());
        let permit = ConnectionLimits::new(None, 10).admit("127.0.0.1".parse().expect("ip")).expect("admitted");
        (MeteredIo::new(server, meter.clone(), permit, SEND_TIMEOUT), client, meter)
    }

    const SEND_TIMEOUT: Duration = Duration::from_millis(300);

    #[tokio::test]
    async fn before_the_upgrade_nothing_is_charged() {
        let budget = MemoryBudget::new(MIB, Duration::from_millis(20));
        let (mut server, mut client, meter) = metered(&budget);
        client.write_all(&vec![1u8; 2 * MIB]).await.expect("write");
        let mut read = vec![0u8; 2 * MIB];
        server.read_exact(&mut read).await.expect("more than the budget passes while disarmed");
        assert_eq!(meter.unreceived(), 0);
        assert_eq!(budget.in_use(), 0);
    }

    #[tokio::test]
    async fn partial_messages_hold_the_budget_until_received_and_reading_stops_past_it() {
        let budget = MemoryBudget::new(MIB, Duration::from_millis(20));
        let (mut server, mut client, meter) = metered(&budget);
        meter.arm();
        client.write_all(&vec![1u8; 2 * MIB]).await.expect("write");
        let mut read = vec![0u8; 2 * MIB];
        let error = server.read_exact(&mut read).await.expect_err("the budget runs out");
        assert!(meter.refused());
        assert!(meter.unreceived() <= MIB + UNBUDGETED_BYTES, "{}", meter.unreceived());
        assert!(budget.in_use() <= MIB);
        assert!(error.to_string().contains("too many"), "{error}");
        meter.received();
        assert_eq!(budget.in_use(), 0, "a received message gives its bytes back");
    }

    #[tokio::test]
    async fn pings_between_fragments_give_back_only_their_own_bytes() {
        let budget = MemoryBudget::new(MIB, Duration::from_millis(20));
        let (mut server, mut client, meter) = metered(&budget);
        meter.arm();
        // A fragment of a data message, then a ping with a 4-byte payload.
        client.write_all(&[0u8; 100 + 10]).await.expect("write");
        let mut read = [0u8; 110];
        server.read_exact(&mut read).await.expect("read");
        meter.received_control(4);
        assert_eq!(meter.unreceived(), 100, "the fragment is still held");
        meter.received_control(94);
        assert_eq!(meter.unreceived(), 0);
    }

    #[tokio::test]
    async fn the_message_clock_runs_from_the_first_unreceived_byte() {
        let budget = MemoryBudget::new(MIB, Duration::from_millis(20));
        let (mut server, mut client, meter) = metered(&budget);
        let inbound = Inbound::start(Some(meter.clone()), Duration::from_millis(200));
        let timed_out = inbound.timed_out();
        tokio::pin!(timed_out);
        // Nothing sent: no clock, however long it is quiet.
        assert!(tokio::time::timeout(Duration::from_millis(600), &mut timed_out).await.is_err());
        client.write_all(b"half a frame").await.expect("write");
        let mut read = [0u8; 12];
        server.read_exact(&mut read).await.expect("read");
        timed_out.await;
        inbound.received();
        assert!(tokio::time::timeout(Duration::from_millis(600), inbound.timed_out()).await.is_err());
    }

    #[tokio::test]
    async fn a_write_the_client_takes_nothing_of_fails_after_the_send_timeout() {
        let budget = MemoryBudget::new(MIB, Duration::from_millis(20));
        let (mut server, mut client, _meter) = metered(&budget);
        // The duplex holds 4 MiB; the client reads none of it.
        let started = std::time::Instant::now();
        let error = server.write_all(&vec![1u8; 8 * MIB]).await.expect_err("the write is given up");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut, "{error}");
        assert!(started.elapsed() >= SEND_TIMEOUT);
        // What was taken before the stall stays readable.
        let mut taken = vec![0u8; 4 * MIB];
        client.read_exact(&mut taken).await.expect("the first 4 MiB");
    }

    #[tokio::test]
    async fn a_slow_reader_that_keeps_taking_bytes_is_not_cut_off() {
        let budget = MemoryBudget::new(MIB, Duration::from_millis(20));
        let (mut server, mut client, _meter) = metered(&budget);
        // 8 MiB through a 4 MiB pipe, read 1 MiB at a time with pauses
        // that add up to far more than the send timeout, each shorter.
        let reader = tokio::spawn(async move {
            let mut chunk = vec![0u8; MIB];
            for _ in 0..8 {
                tokio::time::sleep(SEND_TIMEOUT / 3).await;
                client.read_exact(&mut chunk).await.expect("a chunk");
            }
        });
        server.write_all(&vec![1u8; 8 * MIB]).await.expect("every byte goes out");
        reader.await.expect("the reader");
    }
}
