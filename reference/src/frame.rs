//! Kafka's framing: every request and response is a 4-byte big-endian length, then that many
//! bytes.
//!
//! The length is checked against `socket.request.max.bytes` **before** any buffer is grown
//! for it, so a hostile or broken peer cannot make the broker allocate 2 GiB by sending four
//! bytes. A negative length, an oversized one, or a stream that ends mid-frame is a
//! [`FrameError`] that closes that one connection.
//!
//! # References
//! - Kafka protocol guide, "Common Request and Response Structure":
//!   <https://kafka.apache.org/protocol.html#protocol_common>
//! - `org.apache.kafka.common.network.NetworkReceive` (the same size check)

use bytes::{Buf, BytesMut};

/// Why a connection's byte stream could not be read as frames.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("negative frame size {0}")]
    NegativeSize(i32),
    #[error("frame size {size} is larger than socket.request.max.bytes ({limit})")]
    TooLarge { size: i32, limit: i32 },
    #[error("connection closed in the middle of a frame ({buffered} bytes buffered)")]
    Truncated { buffered: usize },
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Takes one whole frame (without its length prefix) off the front of `buf`, if it holds one.
///
/// Checks the length before reserving room for the body, so the caller can reserve exactly
/// what is left to read.
pub fn take_frame(buf: &mut BytesMut, max_size: i32) -> Result<Option<BytesMut>, FrameError> {
    let Some(size) = peek_size(buf, max_size)? else {
        return Ok(None);
    };
    let needed = 4 + size;
    if buf.len() < needed {
        buf.reserve(needed - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(size)))
}

/// The checked size of the frame at the front of `buf`, once its 4 length bytes are there.
fn peek_size(buf: &BytesMut, max_size: i32) -> Result<Option<usize>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if size < 0 {
        return Err(FrameError::NegativeSize(size));
    }
    if size > max_size {
        return Err(FrameError::TooLarge {
            size,
            limit: max_size,
        });
    }
    Ok(Some(size as usize))
}

/// Writes `body` as a frame (length prefix then bytes) into `out`.
pub fn put_frame(out: &mut BytesMut, body: &[u8]) {
    let size = i32::try_from(body.len()).expect("response larger than 2 GiB");
    out.reserve(4 + body.len());
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_frame_is_taken_and_the_rest_kept() {
        let mut buf = BytesMut::new();
        put_frame(&mut buf, b"hello");
        buf.extend_from_slice(&[0, 0]);
        let frame = take_frame(&mut buf, 100).unwrap().unwrap();
        assert_eq!(&frame[..], b"hello");
        assert_eq!(&buf[..], &[0, 0]);
        assert!(take_frame(&mut buf, 100).unwrap().is_none());
    }

    #[test]
    fn oversized_and_negative_sizes_are_refused_before_allocating() {
        let mut buf = BytesMut::from(&i32::MAX.to_be_bytes()[..]);
        let capacity = buf.capacity();
        assert!(matches!(
            take_frame(&mut buf, 1024),
            Err(FrameError::TooLarge { .. })
        ));
        assert_eq!(buf.capacity(), capacity);
        let mut buf = BytesMut::from(&(-1i32).to_be_bytes()[..]);
        assert!(matches!(
            take_frame(&mut buf, 1024),
            Err(FrameError::NegativeSize(-1))
        ));
    }

    #[test]
    fn a_partial_frame_waits_for_more_bytes() {
        let mut buf = BytesMut::from(&10i32.to_be_bytes()[..]);
        buf.extend_from_slice(b"abc");
        assert!(take_frame(&mut buf, 100).unwrap().is_none());
        buf.extend_from_slice(b"defghij");
        assert_eq!(
            &take_frame(&mut buf, 100).unwrap().unwrap()[..],
            b"abcdefghij"
        );
    }
}
