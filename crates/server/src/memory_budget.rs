//! One budget, in bytes, for everything clients make the server hold while
//! it reads: request bodies being read and WebSocket messages being
//! assembled. A body reserves its declared length when a handler starts
//! reading it (so a request refused before that, by a rate limit or
//! admission, never takes any); a WebSocket connection reserves as its
//! bytes arrive (`crate::inbound`). Past the budget, a new reservation
//! waits a moment for room and is then refused: 503 `server_busy`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use http_body::{Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The most a body reserves up front: the largest body a route takes
/// (`crate::routes::router`'s limit). Anything past it is reserved as it
/// arrives, without waiting.
pub const UPFRONT_MAX_BYTES: usize = crate::protocol::MAX_FRAME_BYTES + 2 * 1024 * 1024;

/// Bytes a body or a WebSocket connection may hold without reserving, so
/// that ordinary small requests and messages never wait for the budget
/// (bounded anyway by the connection caps: 16 KiB times 10,000).
pub const UNBUDGETED_BYTES: usize = 16 * 1024;

/// Why the server stopped reading a body or message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadRefused {
    /// The budget stayed full for the whole wait.
    #[error("the server is reading too many large requests at once; try again in a moment")]
    Busy,
    /// The client stopped sending.
    #[error("the request body stopped arriving for {0} s")]
    Stalled(u64),
}

impl ReadRefused {
    /// The refusal somewhere in `error`'s chain of sources, if any (body
    /// errors reach handlers wrapped in axum's rejections).
    pub fn find<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a ReadRefused> {
        let mut next = Some(error);
        while let Some(error) = next {
            if let Some(refused) = error.downcast_ref::<ReadRefused>() {
                return Some(refused);
            }
            next = error.source();
        }
        None
    }
}

/// The server-wide budget.
#[derive(Debug)]
pub struct MemoryBudget {
    bytes: Arc<Semaphore>,
    total: usize,
    wait: Duration,
}

impl MemoryBudget {
    /// A budget of `total` bytes; a reservation waits up to `wait` for room.
    pub fn new(total: usize, wait: Duration) -> Arc<MemoryBudget> {
        let total = total.clamp(1, Semaphore::MAX_PERMITS);
        Arc::new(MemoryBudget { bytes: Arc::new(Semaphore::new(total)), total, wait })
    }

    /// Bytes reserved now.
    pub fn in_use(&self) -> usize {
        self.total - self.bytes.available_permits()
    }

    /// Reserves `bytes`, waiting up to the budget's wait for room. Not tied
    /// to `self`'s lifetime, so a body or socket can keep it while polled.
    pub fn reserve(
        self: &Arc<Self>,
        bytes: usize,
    ) -> impl Future<Output = Result<Reservation, ReadRefused>> + Send + 'static {
        let semaphore = self.bytes.clone();
        let (wait, total) = (self.wait, self.total);
        async move {
            // More than the whole budget would wait for ever.
            let count = u32::try_from(bytes).ok().filter(|_| bytes <= total).ok_or(ReadRefused::Busy)?;
            if count == 0 {
                return Ok(Reservation::default());
            }
            match tokio::time::timeout(wait, semaphore.acquire_many_owned(count)).await {
                Ok(Ok(permit)) => Ok(Reservation { permit: Some(permit) }),
                _ => Err(ReadRefused::Busy),
            }
        }
    }

    /// Reserves `bytes` if they are free now.
    pub fn try_reserve(&self, bytes: usize) -> Result<Reservation, ReadRefused> {
        let count = u32::try_from(bytes).map_err(|_| ReadRefused::Busy)?;
        if count == 0 {
            return Ok(Reservation::default());
        }
        let permit = self.bytes.clone().try_acquire_many_owned(count).map_err(|_| ReadRefused::Busy)?;
        Ok(Reservation { permit: Some(permit) })
    }
}

/// Bytes of the budget held until dropped.
#[derive(Debug, Default)]
pub struct Reservation {
    permit: Option<OwnedSemaphorePermit>,
}

impl Reservation {
    /// How many bytes it holds.
    pub fn bytes(&self) -> usize {
        self.permit.as_ref().map_or(0, OwnedSemaphorePermit::num_permits)
    }

    /// Adds `more` to this reservation.
    pub fn merge(&mut self, mut more: Reservation) {
        match (&mut self.permit, more.permit.take()) {
            (Some(permit), Some(other)) => permit.merge(other),
            (mine @ None, other) => *mine = other,
            (Some(_), None) => {}
        }
    }
}

type Reserving = Pin<Box<dyn Future<Output = Result<Reservation, ReadRefused>> + Send>>;

/// A request body that holds its share of the budget while it is read and
/// gives up when the client stops sending for the idle timeout.
pub struct BudgetedBody {
    inner: Body,
    budget: Arc<MemoryBudget>,
    idle_timeout: Duration,
    /// Empty until the body is first read.
    reserved: Option<Reservation>,
    reserving: Option<Reserving>,
    read: usize,
    idle: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl std::fmt::Debug for BudgetedBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BudgetedBody").field("reserved", &self.reserved).field("read", &self.read).finish()
    }
}

impl BudgetedBody {
    /// Wraps `body`; a body without content is returned as it is.
    pub fn wrap(body: Body, budget: &Arc<MemoryBudget>, idle_timeout: Duration) -> Body {
        if body.is_end_stream() {
            return body;
        }
        Body::new(BudgetedBody {
            inner: body,
            budget: budget.clone(),
            idle_timeout,
            reserved: None,
            reserving: None,
            read: 0,
            idle: None,
        })
    }

    fn refuse(&mut self, refused: ReadRefused) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        // Nothing more is read from a refused body; what it held goes back.
        self.reserved = Some(Reservation::default());
        self.reserving = None;
        Poll::Ready(Some(Err(axum::Error::new(refused))))
    }
}

impl HttpBody for BudgetedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        if this.reserved.is_none() {
            let declared = this.inner.size_hint().exact().and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
            let upfront = declared.saturating_sub(UNBUDGETED_BYTES).min(UPFRONT_MAX_BYTES);
            let reserving = this.reserving.get_or_insert_with(|| Box::pin(this.budget.reserve(upfront)));
            match reserving.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(refused)) => return this.refuse(refused),
                Poll::Ready(Ok(reservation)) => {
                    this.reserving = None;
                    this.reserved = Some(reservation);
                }
            }
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => {
                let deadline = tokio::time::Instant::now() + this.idle_timeout;
                let idle = this.idle.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match idle.as_mut().poll(cx) {
                    Poll::Ready(()) => this.refuse(ReadRefused::Stalled(this.idle_timeout.as_secs())),
                    Poll::Pending => Poll::Pending,
                }
            }
            Poll::Ready(Some(Ok(frame))) => {
                // The idle clock starts again with the next wait.
                this.idle = None;
                if let Some(data) = frame.data_ref() {
                    this.read += data.len();
                    let reserved = this.reserved.get_or_insert_with(Reservation::default);
                    let missing = this.read.saturating_sub(UNBUDGETED_BYTES + reserved.bytes());
                    if missing > 0 {
                        match this.budget.try_reserve(missing) {
                            Ok(more) => reserved.merge(more),
                            Err(refused) => return this.refuse(refused),
                        }
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    const MIB: usize = 1024 * 1024;

    #[tokio::test]
    async fn reservations_past_the_budget_wait_then_are_refused_and_dropping_gives_room_back() {
        let budget = MemoryBudget::new(10 * MIB, Duration::from_millis(50));
        let held = budget.reserve(8 * MIB).await.expect("room");
        assert_eq!(budget.in_use(), 8 * MIB);
        assert_eq!(budget.reserve(4 * MIB).await.unwrap_err(), ReadRefused::Busy);
        assert_eq!(budget.reserve(11 * MIB).await.unwrap_err(), ReadRefused::Busy, "more than the whole budget");
        drop(held);
        let again = budget.reserve(4 * MIB).await.expect("room again");
        assert_eq!(again.bytes(), 4 * MIB);
    }

    #[tokio::test]
    async fn a_body_holds_its_length_while_read_and_nothing_before() {
        let budget = MemoryBudget::new(10 * MIB, Duration::from_millis(50));
        let body = BudgetedBody::wrap(Body::from(vec![7u8; 3 * MIB]), &budget, Duration::from_secs(5));
        assert_eq!(budget.in_use(), 0, "an unread body takes nothing");
        let bytes = body.collect().await.expect("read").to_bytes();
        assert_eq!(bytes.len(), 3 * MIB);
        assert_eq!(budget.in_use(), 0, "a finished body gives its share back");
    }

    #[tokio::test]
    async fn small_bodies_pass_even_when_the_budget_is_full() {
        let budget = MemoryBudget::new(MIB, Duration::from_millis(50));
        let _all = budget.reserve(MIB).await.expect("room");
        let body = BudgetedBody::wrap(Body::from(vec![b'{'; UNBUDGETED_BYTES]), &budget, Duration::from_secs(5));
        assert_eq!(body.collect().await.expect("read").to_bytes().len(), UNBUDGETED_BYTES);
    }

    #[tokio::test]
    async fn a_body_past_the_budget_is_refused_as_busy() {
        let budget = MemoryBudget::new(4 * MIB, Duration::from_millis(50));
        let _held = budget.reserve(2 * MIB).await.expect("room");
        let body = BudgetedBody::wrap(Body::from(vec![0u8; 3 * MIB]), &budget, Duration::from_secs(5));
        let error = body.collect().await.expect_err("refused");
        assert_eq!(ReadRefused::find(&error), Some(&ReadRefused::Busy));
    }

    #[tokio::test]
    async fn a_body_of_unknown_length_is_charged_as_it_arrives() {
        let budget = MemoryBudget::new(MIB, Duration::from_millis(50));
        let chunks = (0..3).map(|_| Ok::<_, std::io::Error>(Frame::data(Bytes::from(vec![1u8; 512 * 1024]))));
        let stream = http_body_util::StreamBody::new(futures_util::stream::iter(chunks));
        let body = BudgetedBody::wrap(Body::new(stream), &budget, Duration::from_secs(5));
        let error = body.collect().await.expect_err("the third half MiB does not fit");
        assert_eq!(ReadRefused::find(&error), Some(&ReadRefused::Busy));
        assert_eq!(budget.in_use(), 0);
    }

    #[tokio::test]
    async fn a_stalled_body_is_given_up_after_the_idle_timeout() {
        let budget = MemoryBudget::new(MIB, Duration::from_millis(50));
        use futures_util::StreamExt;
        let first = Ok::<_, std::io::Error>(Frame::data(Bytes::from_static(b"{")));
        let stream = futures_util::stream::iter([first]).chain(futures_util::stream::pending());
        let body =
            BudgetedBody::wrap(Body::new(http_body_util::StreamBody::new(stream)), &budget, Duration::from_millis(300));
        let error = body.collect().await.expect_err("stalled");
        assert_eq!(ReadRefused::find(&error), Some(&ReadRefused::Stalled(0)));
    }
}
