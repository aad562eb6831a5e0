//! Kafka's framing: every request and response is a 4-byte big-endian length, then that many
//! bytes; and the broker-wide budget of bytes held in requests (`queued.max.request.bytes`).
//!
//! Reading a request frame goes in three steps, each bounded before the next begins:
//! 1. the 4 length bytes are read and checked against `socket.request.max.bytes` (a negative
//!    or oversized length closes the connection before anything is allocated);
//! 2. budget for the whole declared length is taken from the broker's [`RequestBudget`]. While
//!    none is free the connection reads nothing more (Kafka mutes the channel the same way
//!    when its memory pool is depleted), so the bytes wait in the kernel, not in the broker;
//! 3. the body is read into a buffer that grows as bytes arrive: first at most
//!    [`READ_CHUNK_BYTES`], then doubling, never past the declared length. A peer that
//!    declares 100 MiB and sends 1 MiB costs about 1 MiB of memory (and 100 MiB of budget).
//!
//! The budget is taken for the declared length, not for the bytes read so far, as Kafka's
//! `MemoryPool` does: a frame either has room to complete or waits without holding anything,
//! so frames being read can never deadlock each other by each holding part of the budget.
//! Its price is that a few stalled large frames can hold budget they do not use; two things
//! bound that: frames larger than [`READ_CHUNK_BYTES`] may not take the last
//! [`RequestBudget::headroom_bytes`] (so small requests, ApiVersions, Metadata, heartbeats,
//! commits, are still read while large ones wait), and the connection's
//! `connections.max.idle.ms` closes a stalled frame with its budget (see
//! [`crate::connection`]). The budget is held by a [`BudgetGuard`] that gives it back when
//! dropped, so no path (error, timeout, cancelled task) can leak it.
//!
//! Writing a response frame never panics: a body over `i32::MAX` bytes is a
//! [`FrameError::ResponseTooLarge`] that closes the connection.
//!
//! # References
//! - Kafka protocol guide, "Common Request and Response Structure":
//!   <https://kafka.apache.org/protocol.html#protocol_common>
//! - `org.apache.kafka.common.network.NetworkReceive` (the size check, then the body)
//! - `org.apache.kafka.common.memory.SimpleMemoryPool` and `kafka.network.SocketServer`
//!   (`queued.max.request.bytes`, muting channels while the pool is depleted)
//! - Broker configs `socket.request.max.bytes`, `queued.max.request.bytes`:
//!   <https://kafka.apache.org/documentation/#brokerconfigs>

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::Notify;

/// A body buffer starts with room for at most this many bytes; it doubles as bytes arrive.
pub const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Why a connection's byte stream could not be read or written as frames.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("negative frame size {0}")]
    NegativeSize(i32),
    #[error("frame size {size} is larger than socket.request.max.bytes ({limit})")]
    TooLarge { size: i32, limit: i32 },
    #[error("frame size {size} can never fit in queued.max.request.bytes ({limit})")]
    OverBudget { size: usize, limit: usize },
    #[error("connection closed in the middle of a frame ({buffered} bytes buffered)")]
    Truncated { buffered: usize },
    #[error("response of {size} bytes is larger than a frame can carry (2 GiB)")]
    ResponseTooLarge { size: usize },
    #[error("a response frame was finished without being begun")]
    NotBegun,
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// One request frame's body (without its length prefix) and the budget it holds; the
/// budget goes back when the frame is dropped.
#[derive(Debug)]
pub struct Frame {
    pub body: Bytes,
    pub budget: BudgetGuard,
}

/// Reads the next frame from `reader`; `None` if the peer closed the stream between frames.
///
/// Not meant to be resumed after cancellation: the caller closes the connection when it
/// gives up (idle timeout, shutdown), and whatever budget was taken goes back with the guard.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_size: i32,
    budget: &Arc<RequestBudget>,
) -> Result<Option<Frame>, FrameError> {
    let mut prefix = [0u8; 4];
    let mut filled = 0;
    while filled < prefix.len() {
        let read = reader.read(&mut prefix[filled..]).await?;
        if read == 0 {
            if filled == 0 {
                return Ok(None);
            }
            return Err(FrameError::Truncated { buffered: filled });
        }
        filled += read;
    }
    let size = checked_size(prefix, max_size)?;
    let guard = budget.acquire(size).await?;
    let body = read_body(reader, size).await?;
    Ok(Some(Frame {
        body,
        budget: guard,
    }))
}

/// Reads exactly `size` bytes into a buffer that grows with them (see [`next_capacity`]).
async fn read_body<R: AsyncRead + Unpin>(reader: &mut R, size: usize) -> Result<Bytes, FrameError> {
    let mut body: Vec<u8> = Vec::with_capacity(next_capacity(0, size));
    while body.len() < size {
        if body.len() == body.capacity() {
            let wanted = next_capacity(body.len(), size);
            body.reserve_exact(wanted - body.len());
        }
        // Never read past this frame: the next frame's bytes stay in the kernel until this
        // request has been answered, so they are held by nobody's budget.
        let room = size - body.len();
        let read = reader.read_buf(&mut (&mut body).limit(room)).await?;
        if read == 0 {
            return Err(FrameError::Truncated {
                buffered: 4 + body.len(),
            });
        }
    }
    Ok(Bytes::from(body))
}

/// The capacity a body buffer of a `size`-byte frame grows to once `held` bytes fill it: at
/// least one chunk, at most twice what was received, never more than the frame.
pub fn next_capacity(held: usize, size: usize) -> usize {
    held.saturating_mul(2).max(READ_CHUNK_BYTES).min(size)
}

/// The checked body size given by a frame's 4 length bytes.
pub fn checked_size(prefix: [u8; 4], max_size: i32) -> Result<usize, FrameError> {
    let size = i32::from_be_bytes(prefix);
    if size < 0 {
        return Err(FrameError::NegativeSize(size));
    }
    if size > max_size {
        return Err(FrameError::TooLarge {
            size,
            limit: max_size,
        });
    }
    usize::try_from(size).map_err(|_| FrameError::NegativeSize(size))
}

/// The 4 length bytes of a `len`-byte body, or an error if no frame can carry it.
pub fn size_prefix(len: usize) -> Result<[u8; 4], FrameError> {
    i32::try_from(len)
        .map(i32::to_be_bytes)
        .map_err(|_| FrameError::ResponseTooLarge { size: len })
}

/// Writes `body` as a frame (length prefix then bytes) into `out`.
pub fn put_frame(out: &mut BytesMut, body: &[u8]) -> Result<(), FrameError> {
    let prefix = size_prefix(body.len())?;
    out.reserve(4 + body.len());
    out.extend_from_slice(&prefix);
    out.extend_from_slice(body);
    Ok(())
}

/// Starts a frame in `out` (an empty buffer) whose body is encoded in place after it;
/// [`finish_frame`] writes its length. Saves copying a large response into a second buffer.
pub fn begin_frame(out: &mut BytesMut) {
    out.clear();
    out.extend_from_slice(&[0; 4]);
}

/// Writes the length of the frame begun in `out` by [`begin_frame`].
pub fn finish_frame(out: &mut BytesMut) -> Result<(), FrameError> {
    let prefix = size_prefix(out.len().saturating_sub(4))?;
    let head = out.get_mut(..4).ok_or(FrameError::NotBegun)?;
    head.copy_from_slice(&prefix);
    Ok(())
}

/// The broker-wide bound on bytes held in requests being read or handled
/// (`queued.max.request.bytes`). Taken per frame for its declared length, first-fit: any
/// waiting frame that fits goes ahead (a large frame at the head of a queue would otherwise
/// stall every small request behind it).
#[derive(Debug)]
pub struct RequestBudget {
    limit_bytes: usize,
    headroom_bytes: usize,
    used_bytes: AtomicUsize,
    released: Notify,
}

impl RequestBudget {
    /// A budget of `limit_bytes` (`None`: unbounded, Kafka's -1) for frames of at most
    /// `max_frame_bytes`. The limit is raised to `max_frame_bytes` if below it, so that every
    /// frame the size check lets through can be admitted.
    pub fn new(limit_bytes: Option<usize>, max_frame_bytes: usize) -> Arc<RequestBudget> {
        let limit_bytes = limit_bytes.map_or(usize::MAX, |l| l.max(max_frame_bytes));
        // An eighth of the budget is kept for small frames, as far as the largest frame still
        // fits beside it.
        let headroom_bytes = (limit_bytes / 8).min(limit_bytes - max_frame_bytes);
        Arc::new(RequestBudget {
            limit_bytes,
            headroom_bytes,
            used_bytes: AtomicUsize::new(0),
            released: Notify::new(),
        })
    }

    /// The bound (`usize::MAX` when unbounded).
    pub fn limit_bytes(&self) -> usize {
        self.limit_bytes
    }

    /// The part of the budget that only frames of at most [`READ_CHUNK_BYTES`] may take.
    pub fn headroom_bytes(&self) -> usize {
        self.headroom_bytes
    }

    /// Bytes held right now by frames being read or handled.
    pub fn used_bytes(&self) -> usize {
        self.used_bytes.load(Ordering::Acquire)
    }

    /// Takes `bytes` if they fit now.
    pub fn try_acquire(self: &Arc<Self>, bytes: usize) -> Option<BudgetGuard> {
        let limit = if bytes > READ_CHUNK_BYTES {
            self.limit_bytes - self.headroom_bytes
        } else {
            self.limit_bytes
        };
        let mut used = self.used_bytes.load(Ordering::Acquire);
        loop {
            let next = used.checked_add(bytes).filter(|n| *n <= limit)?;
            match self.used_bytes.compare_exchange_weak(
                used,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    return Some(BudgetGuard {
                        budget: Some(self.clone()),
                        bytes,
                    });
                }
                Err(now) => used = now,
            }
        }
    }

    /// Takes `bytes`, waiting until other frames give enough back; an error at once if they
    /// can never fit.
    pub async fn acquire(self: &Arc<Self>, bytes: usize) -> Result<BudgetGuard, FrameError> {
        let room = self.limit_bytes - self.headroom_bytes;
        if bytes > READ_CHUNK_BYTES && bytes > room {
            return Err(FrameError::OverBudget {
                size: bytes,
                limit: room,
            });
        }
        loop {
            // Registered before trying, so a release between the try and the wait is seen.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if let Some(guard) = self.try_acquire(bytes) {
                return Ok(guard);
            }
            released.await;
        }
    }

    fn release(&self, bytes: usize) {
        let before = self.used_bytes.fetch_sub(bytes, Ordering::AcqRel);
        assert!(before >= bytes, "request budget released more than it lent");
        self.released.notify_waiters();
    }
}

/// Budget held by one frame; given back on drop.
#[derive(Debug)]
pub struct BudgetGuard {
    budget: Option<Arc<RequestBudget>>,
    bytes: usize,
}

impl BudgetGuard {
    /// A guard that holds nothing (for frames that are not the broker's to count).
    pub fn none() -> BudgetGuard {
        BudgetGuard {
            budget: None,
            bytes: 0,
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for BudgetGuard {
    fn drop(&mut self) {
        if let Some(budget) = self.budget.take()
            && self.bytes > 0
        {
            budget.release(self.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    const MIB: usize = 1024 * 1024;

    fn unbounded() -> Arc<RequestBudget> {
        RequestBudget::new(None, 100 * MIB)
    }

    #[tokio::test]
    async fn whole_frames_are_read_one_at_a_time() {
        let mut wire = BytesMut::new();
        put_frame(&mut wire, b"hello").unwrap();
        put_frame(&mut wire, b"").unwrap();
        put_frame(&mut wire, b"world!").unwrap();
        let mut reader = &wire[..];
        let budget = unbounded();
        let mut bodies = Vec::new();
        while let Some(frame) = read_frame(&mut reader, 100, &budget).await.unwrap() {
            bodies.push(frame.body);
        }
        let expected: [&[u8]; 3] = [b"hello", b"", b"world!"];
        assert_eq!(bodies, expected);
        assert_eq!(budget.used_bytes(), 0);
    }

    #[tokio::test]
    async fn oversized_and_negative_sizes_are_refused_before_budget_or_memory() {
        let budget = RequestBudget::new(Some(4096), 1024);
        let mut reader = &i32::MAX.to_be_bytes()[..];
        let err = read_frame(&mut reader, 1024, &budget).await.unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { .. }), "{err}");
        let mut reader = &(-1i32).to_be_bytes()[..];
        let err = read_frame(&mut reader, 1024, &budget).await.unwrap_err();
        assert!(matches!(err, FrameError::NegativeSize(-1)), "{err}");
        assert_eq!(budget.used_bytes(), 0);
    }

    #[tokio::test]
    async fn a_stream_that_ends_mid_frame_is_truncated_and_gives_its_budget_back() {
        let budget = unbounded();
        let mut wire = (100 * MIB as i32).to_be_bytes().to_vec();
        wire.extend_from_slice(b"abc");
        let mut reader = &wire[..];
        let err = read_frame(&mut reader, i32::MAX, &budget)
            .await
            .unwrap_err();
        assert!(
            matches!(err, FrameError::Truncated { buffered: 7 }),
            "{err}"
        );
        let mut reader = &[0u8, 0][..];
        let err = read_frame(&mut reader, 100, &budget).await.unwrap_err();
        assert!(
            matches!(err, FrameError::Truncated { buffered: 2 }),
            "{err}"
        );
        assert_eq!(budget.used_bytes(), 0);
    }

    #[tokio::test]
    async fn a_frame_arriving_in_pieces_holds_its_budget_until_dropped() {
        let budget = unbounded();
        let (mut client, mut server) = tokio::io::duplex(16);
        let reading = {
            let budget = budget.clone();
            tokio::spawn(async move { read_frame(&mut server, 1000, &budget).await })
        };
        client.write_all(&40i32.to_be_bytes()).await.unwrap();
        for piece in (0..40u8).collect::<Vec<_>>().chunks(7) {
            client.write_all(piece).await.unwrap();
            tokio::task::yield_now().await;
        }
        let frame = reading.await.unwrap().unwrap().unwrap();
        assert_eq!(frame.body, (0..40u8).collect::<Vec<_>>());
        assert_eq!(budget.used_bytes(), 40);
        drop(frame);
        assert_eq!(budget.used_bytes(), 0);
    }

    #[test]
    fn a_body_buffer_grows_with_what_arrived_never_past_the_frame() {
        let size = 100 * MIB;
        assert_eq!(next_capacity(0, 10), 10);
        assert_eq!(next_capacity(0, size), READ_CHUNK_BYTES);
        let mut capacity = next_capacity(0, size);
        let mut steps = 1;
        while capacity < size {
            let grown = next_capacity(capacity, size);
            assert!(grown > capacity && grown <= 2 * capacity && grown <= size);
            capacity = grown;
            steps += 1;
        }
        assert_eq!(capacity, size);
        assert!(steps <= 12, "{steps} reallocations for 100 MiB");
    }

    #[test]
    fn a_response_over_2_gib_is_an_error_not_a_panic() {
        let too_big = i32::MAX as usize + 1;
        assert!(matches!(
            size_prefix(too_big),
            Err(FrameError::ResponseTooLarge { size }) if size == too_big
        ));
        assert_eq!(size_prefix(5).unwrap(), [0, 0, 0, 5]);
        let mut out = BytesMut::new();
        begin_frame(&mut out);
        out.extend_from_slice(b"abc");
        finish_frame(&mut out).unwrap();
        assert_eq!(&out[..], &[0, 0, 0, 3, b'a', b'b', b'c']);
        assert!(matches!(
            finish_frame(&mut BytesMut::new()),
            Err(FrameError::NotBegun)
        ));
    }

    #[test]
    fn the_budget_is_never_exceeded_and_large_frames_leave_headroom() {
        let budget = RequestBudget::new(Some(256 * MIB), 100 * MIB);
        assert_eq!(budget.headroom_bytes(), 32 * MIB);
        let a = budget.try_acquire(100 * MIB).unwrap();
        let b = budget.try_acquire(100 * MIB).unwrap();
        // 56 MiB are free, but 32 of them are kept for small frames.
        assert!(budget.try_acquire(30 * MIB).is_none());
        let c = budget.try_acquire(24 * MIB).unwrap();
        assert!(budget.try_acquire(READ_CHUNK_BYTES + 1).is_none());
        let small: Vec<_> = (0..512)
            .map(|_| budget.try_acquire(READ_CHUNK_BYTES).unwrap())
            .collect();
        assert_eq!(budget.used_bytes(), 256 * MIB);
        assert!(budget.try_acquire(1).is_none());
        drop((a, b, c, small));
        assert_eq!(budget.used_bytes(), 0);
    }

    #[test]
    fn the_limit_is_raised_to_the_largest_frame_and_unbounded_has_no_limit() {
        let budget = RequestBudget::new(Some(MIB), 100 * MIB);
        assert_eq!(budget.limit_bytes(), 100 * MIB);
        assert_eq!(budget.headroom_bytes(), 0);
        assert!(budget.try_acquire(100 * MIB).is_some());
        let unbounded = unbounded();
        let held: Vec<_> = (0..50)
            .map(|_| unbounded.try_acquire(100 * MIB).unwrap())
            .collect();
        assert_eq!(unbounded.used_bytes(), 5000 * MIB);
        drop(held);
    }

    #[tokio::test]
    async fn a_frame_that_can_never_fit_is_refused_at_once() {
        let budget = RequestBudget::new(Some(256 * MIB), 100 * MIB);
        let err = budget.acquire(250 * MIB).await.unwrap_err();
        assert!(matches!(err, FrameError::OverBudget { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_waiting_frame_goes_ahead_when_budget_comes_back() {
        let budget = RequestBudget::new(Some(10 * MIB), 10 * MIB);
        let held = budget.try_acquire(8 * MIB).unwrap();
        let waiting = {
            let budget = budget.clone();
            tokio::spawn(async move { budget.acquire(4 * MIB).await.map(|g| g.bytes()) })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        // A small frame that fits goes ahead of the large one waiting.
        assert!(budget.acquire(MIB).await.is_ok());
        drop(held);
        let got = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert_eq!(got.unwrap().unwrap().unwrap(), 4 * MIB);
        assert_eq!(budget.used_bytes(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_frames_never_hold_more_than_the_budget() {
        let limit = 4 * MIB;
        let budget = RequestBudget::new(Some(limit), MIB);
        let peak = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..64usize)
            .map(|task| {
                let (budget, peak) = (budget.clone(), peak.clone());
                tokio::spawn(async move {
                    for round in 0..50usize {
                        let bytes = 1 + (task * 7919 + round * 104_729) % MIB;
                        let guard = budget.acquire(bytes).await.unwrap();
                        peak.fetch_max(budget.used_bytes(), Ordering::AcqRel);
                        tokio::task::yield_now().await;
                        drop(guard);
                    }
                })
            })
            .collect();
        for task in tasks {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("no frame waits forever")
                .unwrap();
        }
        assert!(peak.load(Ordering::Acquire) <= limit);
        assert!(peak.load(Ordering::Acquire) > MIB, "the budget was shared");
        assert_eq!(budget.used_bytes(), 0);
    }
}
