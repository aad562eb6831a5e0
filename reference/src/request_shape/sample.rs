//! Request bodies generated from a [`Message`] table, for tests and fuzzing: random *valid*
//! bodies (which keep a table honest against `kafka-protocol`: they must decode, consume
//! exactly the body and re-encode to the same bytes), and *hostile* bodies that lie at one
//! length position (an array count, a string, bytes or records length, a tagged-field count
//! or size) with a few bytes after it, for every position the table knows.
//!
//! Valid bodies are canonical, as `kafka-protocol` encodes them: small counts (0..=3),
//! ASCII strings, booleans 0/1, minimal varints, tagged fields in ascending tag order, known
//! tags only with non-default values (a non-empty string, a random number), unknown tags
//! numbered just above every known one.
//!
//! # References
//! - Kafka protocol guide, primitive types: <https://kafka.apache.org/protocol.html#protocol_types>

use super::{Field, Message, Ty, min_wire_bytes};

/// The value written at a hostile length position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lie {
    /// 2^31-1 (`i16::MAX` for a non-compact string, whose length is an `i16`).
    Max,
    /// Null: -1, or the compact 0.
    Null,
    /// -2 (non-compact lengths only).
    MinusTwo,
    /// The varint 2^32-1 (compact lengths and tagged counts and sizes only).
    U32Max,
    /// A 6-byte varint (compact lengths and tagged counts and sizes only).
    Overlong,
}

impl Lie {
    pub const ALL: [Lie; 5] = [
        Lie::Max,
        Lie::Null,
        Lie::MinusTwo,
        Lie::U32Max,
        Lie::Overlong,
    ];

    /// Whether a well-formed request could carry this value (null, where the field is
    /// nullable): the others must always be refused by the walk.
    pub fn may_be_valid(self) -> bool {
        self == Lie::Null
    }
}

/// A body that lies at one length position.
#[derive(Debug, Clone)]
pub struct Hostile {
    /// The position's index among the body's length prefixes, in wire order.
    pub position: usize,
    /// The field's path, e.g. `topics.partitions.records`.
    pub field: String,
    pub lie: Lie,
    pub body: Vec<u8>,
}

/// The bytes after a lie: "a few bytes of body".
const TAIL: [u8; 3] = [0, 1, 2];

/// A random valid body of `message` at `version`.
pub fn valid_body(message: &Message, version: i16, seed: u64) -> Vec<u8> {
    let mut g = Gen::new(message, version, seed, None);
    // Without a hostile target the generation cannot stop early.
    let _ = g.fields(message.fields);
    g.out
}

/// Every hostile body of `message` at `version`: each length position (reached with counts
/// of 1 or 2 and every known tag present) with each lie that applies to it.
pub fn hostile_bodies(message: &Message, version: i16) -> Vec<Hostile> {
    let mut bodies = Vec::new();
    // A bound on positions, far above what any table has (a body has a few dozen).
    for position in 0..10_000 {
        let mut reached = false;
        for lie in Lie::ALL {
            let mut g = Gen::new(message, version, 7, Some((position, lie)));
            match g.fields(message.fields) {
                Ok(()) => return bodies,
                Err(Stop::NotApplicable) => reached = true,
                Err(Stop::Hit(field)) => {
                    reached = true;
                    bodies.push(Hostile {
                        position,
                        field,
                        lie,
                        body: g.out,
                    });
                }
            }
        }
        if !reached {
            break;
        }
    }
    bodies
}

/// A request frame as sent: the 4-byte length, a request header (v1 or v2, as `key` wants at
/// `version`; client id `client_id`) and `body`.
pub fn request_frame(
    key: kafka_protocol::messages::ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut frame = vec![0; 4];
    frame.extend_from_slice(&(key as i16).to_be_bytes());
    frame.extend_from_slice(&version.to_be_bytes());
    frame.extend_from_slice(&correlation_id.to_be_bytes());
    let header_version = key.request_header_version(version);
    if header_version >= 1 {
        frame.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
        frame.extend_from_slice(client_id.as_bytes());
    }
    if header_version >= 2 {
        frame.push(0);
    }
    frame.extend_from_slice(body);
    let length = (frame.len() - 4) as i32;
    frame[..4].copy_from_slice(&length.to_be_bytes());
    frame
}

enum Stop {
    /// The hostile position was written (its field's path).
    Hit(String),
    /// The hostile position is one the lie does not apply to.
    NotApplicable,
}

#[derive(Clone, Copy)]
enum Prefix {
    /// A non-compact string length (`i16`).
    Short,
    /// A non-compact bytes or array length (`i32`).
    Wide,
    /// A compact length: the varint `n + 1`.
    Compact,
    /// A tagged-field count or size: the varint `n`.
    Raw,
}

/// splitmix64: small, seeded, good enough to vary bodies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct Gen {
    rng: Rng,
    version: i16,
    flexible: bool,
    out: Vec<u8>,
    hostile: Option<(usize, Lie)>,
    prefixes: usize,
    path: Vec<&'static str>,
}

impl Gen {
    fn new(message: &Message, version: i16, seed: u64, hostile: Option<(usize, Lie)>) -> Gen {
        Gen {
            rng: Rng(seed),
            version,
            flexible: message.is_flexible(version),
            out: Vec::new(),
            hostile,
            prefixes: 0,
            path: Vec::new(),
        }
    }

    /// Counts: 0..=3 for valid bodies, 1..=2 for hostile ones (every position reached).
    fn count(&mut self) -> u64 {
        match self.hostile {
            None => self.rng.below(4),
            Some(_) => 1 + self.rng.below(2),
        }
    }

    fn uvarint(&mut self, mut n: u32) {
        while n >= 0x80 {
            self.out.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.out.push(n as u8);
    }

    fn prefix(&mut self, kind: Prefix, n: u64) -> Result<(), Stop> {
        let position = self.prefixes;
        self.prefixes += 1;
        match self.hostile {
            Some((target, lie)) if target == position => self.lie(kind, lie),
            _ => {
                match kind {
                    Prefix::Short => self.out.extend_from_slice(&(n as i16).to_be_bytes()),
                    Prefix::Wide => self.out.extend_from_slice(&(n as i32).to_be_bytes()),
                    Prefix::Compact => self.uvarint(n as u32 + 1),
                    Prefix::Raw => self.uvarint(n as u32),
                }
                Ok(())
            }
        }
    }

    fn lie(&mut self, kind: Prefix, lie: Lie) -> Result<(), Stop> {
        let varint = matches!(kind, Prefix::Compact | Prefix::Raw);
        match (lie, kind) {
            (Lie::Max, Prefix::Short) => self.out.extend_from_slice(&i16::MAX.to_be_bytes()),
            (Lie::Max, Prefix::Wide) => self.out.extend_from_slice(&i32::MAX.to_be_bytes()),
            (Lie::Max, Prefix::Compact) => self.uvarint(i32::MAX as u32 + 1),
            (Lie::Max, Prefix::Raw) => self.uvarint(i32::MAX as u32),
            (Lie::Null, Prefix::Short) => self.out.extend_from_slice(&(-1i16).to_be_bytes()),
            (Lie::Null, Prefix::Wide) => self.out.extend_from_slice(&(-1i32).to_be_bytes()),
            (Lie::Null, Prefix::Compact) => self.out.push(0),
            (Lie::MinusTwo, Prefix::Short) => self.out.extend_from_slice(&(-2i16).to_be_bytes()),
            (Lie::MinusTwo, Prefix::Wide) => self.out.extend_from_slice(&(-2i32).to_be_bytes()),
            (Lie::U32Max, _) if varint => self.uvarint(u32::MAX),
            (Lie::Overlong, _) if varint => self.out.extend_from_slice(&[0xff; 5]),
            _ => return Err(Stop::NotApplicable),
        }
        if lie == Lie::Overlong {
            self.out.push(0x01);
        }
        self.out.extend_from_slice(&TAIL);
        Err(Stop::Hit(self.path.join(".")))
    }

    fn fields(&mut self, fields: &'static [Field]) -> Result<(), Stop> {
        for f in fields {
            if f.tag.is_none() && f.versions.contains(self.version) {
                self.path.push(f.name);
                self.value(&f.ty, false)?;
                self.path.pop();
            }
        }
        if self.flexible {
            self.tagged(fields)?;
        }
        Ok(())
    }

    /// One value of `ty`; `non_default`: never the codec's default (tagged fields).
    fn value(&mut self, ty: &'static Ty, non_default: bool) -> Result<(), Stop> {
        let compact = self.flexible;
        match ty {
            Ty::Bool => self.out.push(self.rng.below(2) as u8),
            Ty::Float64 => {
                let x = (self.rng.next() as i32) as f64 / 8.0;
                self.out.extend_from_slice(&x.to_be_bytes());
            }
            Ty::String => {
                let n = self.rng.below(8) + u64::from(non_default || self.hostile.is_some());
                self.prefix(
                    if compact {
                        Prefix::Compact
                    } else {
                        Prefix::Short
                    },
                    n,
                )?;
                for _ in 0..n {
                    let c = b'a' + self.rng.below(26) as u8;
                    self.out.push(c);
                }
            }
            Ty::Bytes | Ty::Records => {
                let n = self.rng.below(8) + u64::from(non_default);
                self.prefix(
                    if compact {
                        Prefix::Compact
                    } else {
                        Prefix::Wide
                    },
                    n,
                )?;
                for _ in 0..n {
                    let b = self.rng.next() as u8;
                    self.out.push(b);
                }
            }
            Ty::Array(element) => {
                let n = self.count() + u64::from(non_default);
                self.prefix(
                    if compact {
                        Prefix::Compact
                    } else {
                        Prefix::Wide
                    },
                    n,
                )?;
                for _ in 0..n {
                    self.value(element, false)?;
                }
            }
            Ty::Structs(fields) => {
                let n = self.count() + u64::from(non_default);
                self.prefix(
                    if compact {
                        Prefix::Compact
                    } else {
                        Prefix::Wide
                    },
                    n,
                )?;
                for _ in 0..n {
                    self.fields(fields)?;
                }
            }
            Ty::Struct(fields) => self.fields(fields)?,
            Ty::NullableStruct(fields) => {
                if non_default || self.rng.below(3) > 0 {
                    self.out.push(1);
                    self.fields(fields)?;
                } else {
                    self.out.push(0xff);
                }
            }
            fixed => {
                for _ in 0..min_wire_bytes(fixed, self.version, self.flexible) {
                    let b = self.rng.next() as u8;
                    self.out.push(b);
                }
            }
        }
        Ok(())
    }

    /// A tagged buffer: a random subset of the known tags present in this version (all of
    /// them in hostile bodies), and sometimes an unknown tag after them, in ascending order.
    fn tagged(&mut self, fields: &'static [Field]) -> Result<(), Stop> {
        let mut known: Vec<&'static Field> = fields
            .iter()
            .filter(|f| f.tag.is_some() && f.versions.contains(self.version))
            .filter(|_| self.hostile.is_some() || self.rng.below(2) == 0)
            .collect();
        known.sort_by_key(|f| f.tag);
        let unknown = self.hostile.is_none() && self.rng.below(4) == 0;
        self.prefix(Prefix::Raw, (known.len() + usize::from(unknown)) as u64)?;
        for f in known {
            self.path.push(f.name);
            self.tag(f.tag.unwrap_or_default(), |g| g.value(&f.ty, true))?;
            self.path.pop();
        }
        if unknown {
            // Just after the table's known tags: a tag the codec knows and the table does not
            // is then decoded as known and fails the round trip.
            let next = fields
                .iter()
                .filter_map(|f| f.tag)
                .max()
                .map_or(0, |t| t + 1);
            let tag = next + self.rng.below(3) as u32;
            let n = self.rng.below(6);
            self.tag(tag, |g| {
                for _ in 0..n {
                    let b = g.rng.next() as u8;
                    g.out.push(b);
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    /// One tagged field: the tag, the size of what `value` writes, then its bytes. A hostile
    /// position inside the value still gets its tag and the size of what was written.
    fn tag(
        &mut self,
        tag: u32,
        value: impl FnOnce(&mut Gen) -> Result<(), Stop>,
    ) -> Result<(), Stop> {
        let outer = std::mem::take(&mut self.out);
        let result = value(self);
        let inner = std::mem::replace(&mut self.out, outer);
        self.uvarint(tag);
        self.prefix(Prefix::Raw, inner.len() as u64)?;
        self.out.extend_from_slice(&inner);
        result
    }
}
