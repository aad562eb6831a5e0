//! The byte format of the coordinators' records: Kafka's generated message format as the
//! `__consumer_offsets` ([`crate::group`]) and `__transaction_state` ([`crate::txn`]) keys
//! and values use it.
//!
//! Big-endian integers, unsigned varints, and for each string, byte string and array a
//! classic (int16 / int32 length, -1 for null) or compact (unsigned varint of length + 1, 0
//! for null) form, and tagged fields after the fields of a flexible version.
//!
//! [`Reader`] is for hostile bytes: every length and count is checked against the bytes left
//! before anything is copied or allocated for it, and nothing panics. [`Writer`] panics only
//! for a value its field cannot hold (a string over 32767 bytes in a classic field), which
//! the callers rule out before they make a record.
//!
//! # References
//! - `clients/src/main/java/org/apache/kafka/common/protocol/{Readable,Writable}.java`,
//!   `ByteUtils.readUnsignedVarint`

use bytes::Bytes;

/// Why bytes could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FormatError {
    #[error("record truncated")]
    Truncated,
    /// A negative length or count (other than -1 for null), one larger than the bytes left,
    /// or an unsigned varint longer than 5 bytes (`-1`).
    #[error("invalid length {0}")]
    InvalidLength(i64),
    #[error("string is not UTF-8")]
    InvalidUtf8,
    /// A value's version outside those read.
    #[error("unsupported value version {0}")]
    UnknownValueVersion(i16),
}

/// Writes a record key or value.
#[derive(Default)]
pub(crate) struct Writer(Vec<u8>);

impl Writer {
    pub(crate) fn finish(self) -> Bytes {
        Bytes::from(self.0)
    }
    pub(crate) fn i8(&mut self, v: i8) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn i16(&mut self, v: i16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    /// A string, compact or int16-length (panics if it is over 32767 bytes).
    pub(crate) fn string(&mut self, s: &str, compact: bool) {
        self.nullable_string(Some(s), compact);
    }
    pub(crate) fn nullable_string(&mut self, s: Option<&str>, compact: bool) {
        match (s, compact) {
            (None, false) => self.i16(-1),
            (None, true) => self.uvarint(0),
            (Some(s), false) => {
                let len = i16::try_from(s.len()).unwrap_or_else(|_| {
                    panic!("string of {} bytes in a non-flexible record field", s.len())
                });
                self.i16(len);
                self.0.extend_from_slice(s.as_bytes());
            }
            (Some(s), true) => {
                self.uvarint(s.len() as u64 + 1);
                self.0.extend_from_slice(s.as_bytes());
            }
        }
    }
    /// A byte string, compact or int32-length.
    pub(crate) fn bytes(&mut self, b: &[u8], compact: bool) {
        self.length(Some(b.len()), compact);
        self.0.extend_from_slice(b);
    }
    /// An array's length (`None`: null), compact or int32.
    pub(crate) fn array_len(&mut self, len: Option<usize>, compact: bool) {
        self.length(len, compact);
    }
    fn length(&mut self, len: Option<usize>, compact: bool) {
        match (len, compact) {
            (None, true) => self.uvarint(0),
            (None, false) => self.i32(-1),
            (Some(n), true) => self.uvarint(n as u64 + 1),
            (Some(n), false) => self.i32(i32::try_from(n).expect("length over i32::MAX")),
        }
    }
    /// The tagged fields of a flexible version, in the order given (ascending tags).
    pub(crate) fn tagged_fields(&mut self, fields: &[(u64, Vec<u8>)]) {
        self.uvarint(fields.len() as u64);
        for (tag, data) in fields {
            self.uvarint(*tag);
            self.uvarint(data.len() as u64);
            self.0.extend_from_slice(data);
        }
    }
}

/// Reads a record key or value from untrusted bytes.
pub(crate) struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader(bytes)
    }
    /// Whether every byte has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        if self.0.len() < n {
            return Err(FormatError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], FormatError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    pub(crate) fn i8(&mut self) -> Result<i8, FormatError> {
        Ok(i8::from_be_bytes(self.array()?))
    }
    pub(crate) fn i16(&mut self) -> Result<i16, FormatError> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    pub(crate) fn i32(&mut self) -> Result<i32, FormatError> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    pub(crate) fn i64(&mut self) -> Result<i64, FormatError> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    /// A value's leading int16 version, refused unless it is one of `versions`.
    pub(crate) fn value_version(
        &mut self,
        versions: std::ops::RangeInclusive<i16>,
    ) -> Result<i16, FormatError> {
        let version = self.i16()?;
        if !versions.contains(&version) {
            return Err(FormatError::UnknownValueVersion(version));
        }
        Ok(version)
    }
    /// An unsigned varint of at most 5 bytes, as Kafka's `readUnsignedVarint`.
    pub(crate) fn uvarint(&mut self) -> Result<u64, FormatError> {
        let mut v = 0u64;
        for shift in (0..35).step_by(7) {
            let b = self.take(1)?[0];
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(FormatError::InvalidLength(-1))
    }
    /// A length: int16 / int32 (`wide`) or compact; `None` for null. Not checked against
    /// the bytes left: `take` does that for bytes, `array_len` for elements.
    fn length(&mut self, compact: bool, wide: bool) -> Result<Option<usize>, FormatError> {
        let n: i64 = if compact {
            // At most 35 bits: no overflow.
            self.uvarint()? as i64 - 1
        } else if wide {
            i64::from(self.i32()?)
        } else {
            i64::from(self.i16()?)
        };
        match n {
            -1 => Ok(None),
            n => usize::try_from(n)
                .map(Some)
                .map_err(|_| FormatError::InvalidLength(n)),
        }
    }
    pub(crate) fn nullable_string(&mut self, compact: bool) -> Result<Option<String>, FormatError> {
        let Some(len) = self.length(compact, false)? else {
            return Ok(None);
        };
        let raw = self.take(len)?;
        let s = std::str::from_utf8(raw).map_err(|_| FormatError::InvalidUtf8)?;
        Ok(Some(s.to_owned()))
    }
    /// A string; null is `InvalidLength(-1)`.
    pub(crate) fn string(&mut self, compact: bool) -> Result<String, FormatError> {
        self.nullable_string(compact)?
            .ok_or(FormatError::InvalidLength(-1))
    }
    /// A byte string; null reads as empty.
    pub(crate) fn bytes(&mut self, compact: bool) -> Result<Bytes, FormatError> {
        let len = self.length(compact, true)?.unwrap_or(0);
        Ok(Bytes::copy_from_slice(self.take(len)?))
    }
    /// An array's length (`None`: null), refused unless `len * min_size` bytes are left: the
    /// caller may then allocate for `len` elements of at least `min_size` (> 0) bytes each.
    pub(crate) fn array_len(
        &mut self,
        compact: bool,
        min_size: usize,
    ) -> Result<Option<usize>, FormatError> {
        let Some(len) = self.length(compact, true)? else {
            return Ok(None);
        };
        if (len as u64).saturating_mul(min_size as u64) > self.0.len() as u64 {
            return Err(FormatError::InvalidLength(len as i64));
        }
        Ok(Some(len))
    }
    /// Reads the tagged fields of a flexible version, handing each `(tag, data)` to `field`.
    pub(crate) fn tagged_fields<E: From<FormatError>>(
        &mut self,
        mut field: impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let count = self.uvarint()?;
        // Each field takes at least 2 bytes; a count past the bytes left is refused at once.
        if count > self.0.len() as u64 {
            return Err(FormatError::InvalidLength(count as i64).into());
        }
        for _ in 0..count {
            let tag = self.uvarint()?;
            let size = self.uvarint()?;
            if size > self.0.len() as u64 {
                return Err(FormatError::InvalidLength(size as i64).into());
            }
            let data = self.take(size as usize)?;
            field(tag, data)?;
        }
        Ok(())
    }
    /// Skips the tagged fields of a flexible version (none is known).
    pub(crate) fn skip_tagged_fields(&mut self) -> Result<(), FormatError> {
        self.tagged_fields(|_, _| Ok::<(), FormatError>(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_and_compact_forms() {
        let mut w = Writer::default();
        w.string("ab", false);
        w.string("ab", true);
        w.nullable_string(None, false);
        w.nullable_string(None, true);
        w.bytes(b"x", false);
        w.array_len(None, false);
        w.array_len(Some(300), true);
        w.tagged_fields(&[(2, vec![0, 2])]);
        let bytes = w.finish();
        let expected: &[u8] = &[
            0, 2, b'a', b'b', 3, b'a', b'b', 0xff, 0xff, 0, 0, 0, 0, 1, b'x', 0xff, 0xff, 0xff,
            0xff, 0xad, 0x02, 1, 2, 2, 0, 2,
        ];
        assert_eq!(&bytes[..], expected);

        let mut r = Reader::new(&bytes);
        assert_eq!(r.string(false), Ok("ab".to_owned()));
        assert_eq!(r.string(true), Ok("ab".to_owned()));
        assert_eq!(r.nullable_string(false), Ok(None));
        assert_eq!(r.nullable_string(true), Ok(None));
        assert_eq!(r.bytes(false), Ok(Bytes::from_static(b"x")));
        assert_eq!(r.array_len(false, 1), Ok(None));
        // 300 elements of at least one byte, but only 5 bytes left.
        assert_eq!(r.array_len(true, 1), Err(FormatError::InvalidLength(300)));
    }

    #[test]
    fn value_versions_outside_the_range_are_errors() {
        assert_eq!(Reader::new(&[0, 4]).value_version(0..=4), Ok(4));
        assert_eq!(
            Reader::new(&[0, 5]).value_version(0..=4),
            Err(FormatError::UnknownValueVersion(5))
        );
        assert_eq!(
            Reader::new(&[0xff, 0xff]).value_version(0..=1),
            Err(FormatError::UnknownValueVersion(-1))
        );
        assert_eq!(
            Reader::new(&[0]).value_version(0..=1),
            Err(FormatError::Truncated)
        );
    }

    #[test]
    fn hostile_lengths_are_errors() {
        // A varint of 6 bytes, longer than Kafka allows.
        let long = [0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
        assert_eq!(
            Reader::new(&long).uvarint(),
            Err(FormatError::InvalidLength(-1))
        );
        // The largest 5-byte varint as a compact length: no overflow, just too long.
        let max = [0xff, 0xff, 0xff, 0xff, 0x7f];
        assert_eq!(Reader::new(&max).string(true), Err(FormatError::Truncated));
        assert_eq!(
            Reader::new(&[0xff, 0xfe]).string(false),
            Err(FormatError::InvalidLength(-2))
        );
        assert_eq!(
            Reader::new(&[0xff, 0xff]).string(false),
            Err(FormatError::InvalidLength(-1))
        );
        assert_eq!(
            Reader::new(&[0, 1, 0xff]).string(false),
            Err(FormatError::InvalidUtf8)
        );
        assert_eq!(
            Reader::new(&[0x7f, 0xff, 0xff, 0xff]).bytes(false),
            Err(FormatError::Truncated)
        );
        assert_eq!(
            Reader::new(&[0x7f, 0xff, 0xff, 0xff]).array_len(false, 1),
            Err(FormatError::InvalidLength(i64::from(i32::MAX)))
        );
        // Two tagged fields announced, one byte left; then a field longer than the rest.
        assert_eq!(
            Reader::new(&[2, 0]).skip_tagged_fields(),
            Err(FormatError::InvalidLength(2))
        );
        assert_eq!(
            Reader::new(&[1, 0, 5, 0]).skip_tagged_fields(),
            Err(FormatError::InvalidLength(5))
        );
    }
}
