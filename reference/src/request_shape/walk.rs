//! The walk: a request frame checked against its [`Message`] without allocating.
//!
//! It follows exactly the path `kafka-protocol`'s generated decoders take (fields in order,
//! in the versions they are present; compact lengths in flexible versions; known tags decoded
//! with their type, unknown tags skipped by size), so that every length those decoders will
//! trust has been proven against the bytes left first. Where the walk is stricter than the
//! codec (an over-long varint, a known tag whose value does not take its declared size, a
//! negative length other than -1), it refuses: no client sends those.
//!
//! # References
//! - Kafka protocol guide, primitive types: <https://kafka.apache.org/protocol.html#protocol_types>
//! - KIP-482 (tagged fields, compact types)

use kafka_protocol::messages::ApiKey;

use super::memory::{
    UNKNOWN_TAG_BYTES, UNKNOWN_TAGS_NODE_BYTES, decoded_limit_bytes, element_memory_bytes,
    struct_memory_bytes,
};
use super::{Field, Message, Ty, min_wire_bytes, schema};

/// Why a frame does not have the shape of its request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("no request schema for {key:?} v{version}")]
    NoSchema { key: ApiKey, version: i16 },
    #[error("{field} at byte {at}: needs {needed} bytes, {remaining} left")]
    Truncated {
        field: &'static str,
        at: usize,
        needed: u64,
        remaining: usize,
    },
    #[error("{field} at byte {at}: length {length} is negative")]
    NegativeLength {
        field: &'static str,
        at: usize,
        length: i32,
    },
    #[error("{field} at byte {at}: {count} elements of {min_bytes}+ bytes, {remaining} bytes left")]
    Count {
        field: &'static str,
        at: usize,
        count: u64,
        min_bytes: usize,
        remaining: usize,
    },
    #[error("{field} at byte {at}: null marker {marker} is neither -1 nor 1")]
    NullMarker {
        field: &'static str,
        at: usize,
        marker: i8,
    },
    #[error("{field} at byte {at}: malformed varint")]
    Varint { field: &'static str, at: usize },
    #[error("tagged field {tag} at byte {at}: {reason}")]
    Tag { tag: u32, at: usize, reason: String },
    #[error(
        "{field} at byte {at}: would decode to {estimate_bytes}+ bytes in memory, \
         over the limit of {limit_bytes} for this frame"
    )]
    DecodedTooLarge {
        field: &'static str,
        at: usize,
        estimate_bytes: u64,
        limit_bytes: usize,
    },
}

/// What a walk proved about a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walked {
    /// The bytes the body takes (the codec's trailing bytes excluded).
    pub body_bytes: usize,
    /// The estimate of the heap bytes the decoded request holds ([`super::memory`]).
    pub decoded_bytes: usize,
}

/// Checks a whole request frame (after its 4-byte length): the request header of `key` at
/// `version`, then the body against its schema, and the decoded size against
/// [`decoded_limit_bytes`] of the frame's length.
pub fn check(key: ApiKey, version: i16, frame: &[u8]) -> Result<(), ShapeError> {
    check_within(key, version, frame, decoded_limit_bytes(frame.len())).map(drop)
}

/// [`check`] with the decoded-size limit given; returns the decoded-size estimate.
pub fn check_within(
    key: ApiKey,
    version: i16,
    frame: &[u8],
    limit_bytes: usize,
) -> Result<usize, ShapeError> {
    let message = schema(key, version).ok_or(ShapeError::NoSchema { key, version })?;
    let mut walk = Walk::new(frame, version, false, limit_bytes);
    walk.header(key.request_header_version(version))?;
    walk.flexible = message.is_flexible(version);
    walk.message(message)?;
    Ok(walk.decoded_bytes as usize)
}

/// Checks a request body alone (no header) against `message` at `version`, with the
/// decoded-size limit of a frame of its length; returns the number of bytes the body takes.
pub fn check_body(message: &Message, version: i16, body: &[u8]) -> Result<usize, ShapeError> {
    walk_body(message, version, body, decoded_limit_bytes(body.len())).map(|w| w.body_bytes)
}

/// Walks a request body alone against `message` at `version` with a decoded-size limit.
pub fn walk_body(
    message: &Message,
    version: i16,
    body: &[u8],
    limit_bytes: usize,
) -> Result<Walked, ShapeError> {
    let mut walk = Walk::new(body, version, message.is_flexible(version), limit_bytes);
    walk.message(message)?;
    Ok(Walked {
        body_bytes: walk.pos,
        decoded_bytes: walk.decoded_bytes as usize,
    })
}

struct Walk<'a> {
    buf: &'a [u8],
    pos: usize,
    version: i16,
    flexible: bool,
    /// The decoded-size estimate so far, and its limit.
    decoded_bytes: u64,
    limit_bytes: usize,
    /// Whether the message's structs hold a map of unknown tags (it has a flexible version).
    tag_maps: bool,
}

impl<'a> Walk<'a> {
    fn new(buf: &'a [u8], version: i16, flexible: bool, limit_bytes: usize) -> Walk<'a> {
        Walk {
            buf,
            pos: 0,
            version,
            flexible,
            decoded_bytes: 0,
            limit_bytes,
            tag_maps: true,
        }
    }

    /// The request struct itself, then its fields.
    fn message(&mut self, message: &Message) -> Result<(), ShapeError> {
        self.tag_maps = message.flexible_from != super::NEVER;
        self.charge(
            "request",
            1,
            struct_memory_bytes(message.fields, self.tag_maps),
        )?;
        self.fields(message.fields)
    }

    /// Adds `count` values of `bytes` each to the decoded-size estimate.
    fn charge(&mut self, field: &'static str, count: u64, bytes: usize) -> Result<(), ShapeError> {
        self.decoded_bytes = self
            .decoded_bytes
            .saturating_add(count.saturating_mul(bytes as u64));
        if self.decoded_bytes > self.limit_bytes as u64 {
            return Err(ShapeError::DecodedTooLarge {
                field,
                at: self.pos,
                estimate_bytes: self.decoded_bytes,
                limit_bytes: self.limit_bytes,
            });
        }
        Ok(())
    }
    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn skip(&mut self, field: &'static str, n: u64) -> Result<(), ShapeError> {
        if n > self.remaining() as u64 {
            return Err(ShapeError::Truncated {
                field,
                at: self.pos,
                needed: n,
                remaining: self.remaining(),
            });
        }
        self.pos += n as usize;
        Ok(())
    }

    fn int(&mut self, field: &'static str, bytes: usize) -> Result<i64, ShapeError> {
        let at = self.pos;
        self.skip(field, bytes as u64)?;
        Ok(self.buf[at..self.pos]
            .iter()
            .fold(0i64, |acc, b| (acc << 8) | i64::from(*b)))
    }

    /// An unsigned varint of at most 32 bits (5 bytes, the 5th at most 0x0f).
    fn uvarint(&mut self, field: &'static str) -> Result<u32, ShapeError> {
        let at = self.pos;
        let mut value = 0u32;
        for i in 0..5 {
            let byte = self.int(field, 1)? as u8;
            if i == 4 && byte > 0x0f {
                return Err(ShapeError::Varint { field, at });
            }
            value |= u32::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(ShapeError::Varint { field, at })
    }

    /// A string, bytes or array length: `None` for null. `wide`: an `i32` length rather
    /// than an `i16` one in non-flexible versions.
    fn length(&mut self, field: &'static str, wide: bool) -> Result<Option<u64>, ShapeError> {
        let at = self.pos;
        if self.flexible {
            let n = self.uvarint(field)?;
            return Ok(n.checked_sub(1).map(u64::from));
        }
        let n = if wide {
            self.int(field, 4)? as i32
        } else {
            i32::from(self.int(field, 2)? as i16)
        };
        match n {
            -1 => Ok(None),
            n if n < 0 => Err(ShapeError::NegativeLength {
                field,
                at,
                length: n,
            }),
            n => Ok(Some(n as u64)),
        }
    }

    fn header(&mut self, header_version: i16) -> Result<(), ShapeError> {
        self.skip("request header", 8)?;
        if header_version >= 1 {
            // client_id: a nullable non-compact string even in the flexible header v2.
            self.flexible = false;
            if let Some(n) = self.length("client_id", false)? {
                self.skip("client_id", n)?;
            }
        }
        if header_version >= 2 {
            self.flexible = true;
            self.tagged(&[])?;
        }
        Ok(())
    }

    /// The fields of one struct in order, then its tagged buffer in flexible versions.
    fn fields(&mut self, fields: &'static [Field]) -> Result<(), ShapeError> {
        for f in fields {
            if f.tag.is_none() && f.versions.contains(self.version) {
                self.value(f.name, &f.ty)?;
            }
        }
        if self.flexible {
            self.tagged(fields)?;
        }
        Ok(())
    }

    fn value(&mut self, name: &'static str, ty: &'static Ty) -> Result<(), ShapeError> {
        let fixed = match ty {
            Ty::String => return self.sized(name, false),
            Ty::Bytes | Ty::Records => return self.sized(name, true),
            Ty::Array(element) => return self.array(name, element, |w| w.value(name, element)),
            Ty::Structs(fields) => return self.array(name, ty, |w| w.fields(fields)),
            Ty::Struct(fields) => return self.fields(fields),
            Ty::NullableStruct(fields) => return self.nullable_struct(name, fields),
            fixed => min_wire_bytes(fixed, self.version, self.flexible),
        };
        self.skip(name, fixed as u64)
    }

    /// A nullable struct's marker (-1: null, 1: present), then its fields.
    fn nullable_struct(
        &mut self,
        name: &'static str,
        fields: &'static [Field],
    ) -> Result<(), ShapeError> {
        let at = self.pos;
        match self.int(name, 1)? as u8 as i8 {
            -1 => Ok(()),
            1 => self.fields(fields),
            marker => Err(ShapeError::NullMarker {
                field: name,
                at,
                marker,
            }),
        }
    }

    fn sized(&mut self, name: &'static str, wide: bool) -> Result<(), ShapeError> {
        match self.length(name, wide)? {
            Some(n) => self.skip(name, n),
            None => Ok(()),
        }
    }

    /// An array: its count proven against the bytes left (`count * min_wire(element)`), its
    /// `Vec` charged to the decoded size (`count * size(element)`), then every element walked. `element` is the array's element type, or the array type
    /// itself for arrays of structs.
    fn array(
        &mut self,
        name: &'static str,
        element: &'static Ty,
        mut walk_element: impl FnMut(&mut Self) -> Result<(), ShapeError>,
    ) -> Result<(), ShapeError> {
        let at = self.pos;
        let Some(count) = self.length(name, true)? else {
            return Ok(());
        };
        let min_bytes = match element {
            Ty::Structs(fields) => super::min_struct_bytes(fields, self.version, self.flexible),
            other => min_wire_bytes(other, self.version, self.flexible),
        }
        .max(1);
        if count.saturating_mul(min_bytes as u64) > self.remaining() as u64 {
            return Err(ShapeError::Count {
                field: name,
                at,
                count,
                min_bytes,
                remaining: self.remaining(),
            });
        }
        self.charge(name, count, element_memory_bytes(element, self.tag_maps))?;
        for _ in 0..count {
            walk_element(self)?;
        }
        Ok(())
    }

    /// A tagged-field buffer: known tags (of `fields`, present in this version) walked with
    /// their type and required to take exactly their declared size; unknown tags skipped and
    /// charged as entries of the struct's `BTreeMap` (its first node with the first).
    fn tagged(&mut self, fields: &'static [Field]) -> Result<(), ShapeError> {
        let at = self.pos;
        let count = self.uvarint("tagged fields")?;
        if u64::from(count) * 2 > self.remaining() as u64 {
            return Err(ShapeError::Count {
                field: "tagged fields",
                at,
                count: u64::from(count),
                min_bytes: 2,
                remaining: self.remaining(),
            });
        }
        // The map's first node is charged with the buffer's first unknown tag.
        let mut node_bytes = UNKNOWN_TAGS_NODE_BYTES;
        for _ in 0..count {
            let at = self.pos;
            let tag = self.uvarint("tag")?;
            let size = u64::from(self.uvarint("tag size")?);
            if size > self.remaining() as u64 {
                return Err(ShapeError::Truncated {
                    field: "tag size",
                    at,
                    needed: size,
                    remaining: self.remaining(),
                });
            }
            let Some(known) = fields.iter().find(|f| f.tag == Some(tag)) else {
                self.pos += size as usize;
                let bytes = std::mem::take(&mut node_bytes) + UNKNOWN_TAG_BYTES;
                self.charge("tagged fields", 1, bytes)?;
                continue;
            };
            if !known.versions.contains(self.version) {
                return Err(ShapeError::Tag {
                    tag,
                    at,
                    reason: format!("not valid in version {}", self.version),
                });
            }
            let start = self.pos;
            self.value(known.name, &known.ty)?;
            if (self.pos - start) as u64 != size {
                return Err(ShapeError::Tag {
                    tag,
                    at,
                    reason: format!("{} bytes declared, {} taken", size, self.pos - start),
                });
            }
        }
        Ok(())
    }
}
