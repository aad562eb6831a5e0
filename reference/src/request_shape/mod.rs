//! The shape of every request the broker advertises, and a checked walk of each request frame
//! against it before `kafka-protocol` decodes it.
//!
//! # Why
//!
//! `kafka-protocol` 0.18 (the newest release) trusts the wire: its `Array` and `CompactArray`
//! decoders call `Vec::with_capacity(count)` with the count read from the frame before
//! reading a single element, so a Metadata v1 request of about 20 bytes whose topic count is
//! 2^31-1 asks for ~150 GB, and an allocation failure aborts the whole process (every broker
//! of a cluster with it). The frame length limit (`socket.request.max.bytes`) does not help:
//! the count inside is unbounded.
//!
//! # How
//!
//! [`check`] walks the frame (request header and body) against our own description of the
//! message ([`Message`]: per API key, its fields in order, each with its type and the versions
//! in which it is present, and the version from which the message is flexible) without
//! allocating anything: every array count, string length and bytes length is checked against
//! the bytes left in the frame (an array's count times the smallest wire size of one element,
//! at least one byte, must fit), every element is walked, tagged-field buffers are walked,
//! the walk must end within the frame, and the heap the request will take once decoded,
//! added up on the way, must stay under a limit (see "The bound" below). Only a frame that
//! passes reaches `RequestKind::decode`; one that does not closes its connection with the
//! reason logged
//! ([`crate::connection::ConnectionError::Shape`]), as Kafka closes a connection whose request
//! it cannot parse. An API or version without a schema here is refused the same way, and a
//! test asserts that every advertised API and version has one.
//!
//! Kafka itself does the same in its generated readers (`MessageDataGenerator`: "Tried to
//! allocate a collection of size N, but there are only M bytes remaining"); the walk is a
//! little stricter (count times the element's smallest size, not count alone).
//!
//! Considered and not taken: our own decoders for every message (a second codec to keep in
//! step with Kafka's schemas, for ~22 APIs now and ~50 more soon, and every handler rewritten
//! onto its types); switching codec crate (the same rewrite, for a guard that fits in one
//! module); copying or forking `kafka-protocol` (not allowed). The pre-pass is one small
//! interpreter (`walk.rs`) plus tables that read like Kafka's JSON message definitions, and a
//! generator ([`sample`]) keeps every table honest against the codec: random valid bodies
//! from the table must decode with `kafka-protocol`, consume exactly the body, re-encode to
//! the same bytes and pass the walk. Its cost is one extra pass over the request's bytes
//! without allocation (records are skipped by length, not read).
//!
//! Adding an API: write its table in the file of its group (`log.rs`, `admin.rs`, `groups.rs`, `txn.rs`)
//! from Kafka's `clients/src/main/resources/common/message/<Name>Request.json` (`versions`,
//! `taggedVersions`/`tag`, `flexibleVersions`; nullability is not needed: null is accepted
//! wherever a length is, and the codec refuses it where the schema does not allow it), list
//! it in [`MESSAGES`], and the round-trip and coverage tests check it. Every tag the codec
//! knows must be listed, even one of a later version (FetchPartition's `high_watermark`, v18):
//! the codec decodes a known tag with its type in any version, so the walk must refuse it
//! where the codec does; the round trip catches a missing one (its unknown tags are numbered
//! just after the table's).
//!
//! # The bound
//!
//! Once the walk has passed, every count the decoder sees was proven against the bytes that
//! follow it, so each `Vec::with_capacity(count)` is at most
//! `frame bytes / min_wire(T) * size_of::<T>()`. That alone still lets a request decode to
//! `R` times its frame, `R` up to ~172 for these schemas (the test
//! `the_walk_alone_bounds_amplification_loosely`): a Metadata v0 topic with an empty name is
//! 2 wire bytes and a 72-byte struct, an empty compact string 1 byte and a 32-byte
//! `StrBytes`, a flexible Metadata topic with an empty name and one empty unknown tag 4 bytes,
//! a 72-byte struct and a ~500-byte B-tree node. One 100 MiB frame (`socket.request.max.bytes`)
//! of those decodes to 3 to 17 GiB, and `queued.max.request.bytes`, which counts frame bytes,
//! does not see it.
//!
//! So the walk also adds up the decoded request's size as it goes, from the counts it has
//! proven ([`memory`]: each array's `count * size_of(element)`, the request struct, the
//! B-tree nodes of unknown tags), and refuses the frame
//! ([`ShapeError::DecodedTooLarge`], the connection closed with the reason logged, as for
//! any other malformed frame) as soon as the sum exceeds [`decoded_limit_bytes`]:
//! `max(32 MiB, 8 * frame bytes)`. The guarantee: **a request that reaches the codec
//! decodes to at most `max(32 MiB, 8 x its frame bytes)` of heap**, 800 MiB for the largest
//! frame, and never more than `R x its frame bytes`. The model is exact for arrays (its
//! struct sizes equal `size_of` of the codec's types, checked for every struct of every
//! table) and an upper bound for unknown tags; a counting allocator checks it against what
//! decoding really allocates (`tests/decoded_memory.rs`). Why 32 MiB and 8 (no real client
//! request comes near either; the largest honest ones decode to at most ~5x their frame)
//! is in [`memory`]; [`large`] builds both the big honest requests that must pass (Metadata
//! of 100,000 topics, Fetch of 10,000 partitions, OffsetCommit of 100,000 and 500,000
//! partitions, CreateTopics of 100,000 assigned partitions, Produce of 100 MiB) and the
//! amplifying frames that must not.
//!
//! # The other decoders, read for anything else that trusts the wire
//!
//! - `String`/`CompactString` into `StrBytes`, `Bytes`/`CompactBytes` into `bytes::Bytes`
//!   (what every request message uses): `try_get_bytes(n)` checks `n` against the buffer
//!   before slicing the frame (no copy). The `Vec<u8>` and `std::string::String` decoders do
//!   allocate `vec![0; n]` first, but no request message of these APIs uses them. The walk
//!   proves every length anyway.
//! - `UnsignedVarInt` reads at most 5 bytes and drops the bits of a 5th byte beyond 32; the walk
//!   refuses such varints (a 5th byte above 0x0f) instead of guessing.
//! - Tagged-field buffers: the tag count is a varint looped over; every iteration reads at
//!   least 2 bytes, so the loop is bounded by the frame, and the walk refuses a count above
//!   `remaining / 2`. Unknown tags are `try_get_bytes(size)` (checked) and inserted into a
//!   `BTreeMap` (one entry per 2 wire bytes at most; its nodes are counted in the decoded
//!   size, see [`memory`]). Known tags
//!   (Fetch's `cluster_id`, `replica_state`, `replica_directory_id`) are decoded from the
//!   buffer with their own type, not bounded by the tag's size: the walk knows them, walks
//!   their type, and also requires it to take exactly the declared size.
//! - The request header (v1, v2): `client_id` is a nullable non-compact string even in the
//!   flexible v2 (`flexibleVersions: none` in `RequestHeader.json`), then v2 has a tagged
//!   buffer with no known tags; both are walked here.
//! - Trailing bytes after the body are allowed, as `kafka-protocol` and Kafka's
//!   `AbstractRequest.parseRequest` allow them.
//! - Record batches inside Produce's `records` are opaque bytes here (bounded by the frame);
//!   their own counts are checked by [`crate::record_batch`]. `kafka-protocol`'s
//!   `RecordBatchDecoder` trusts a record's header count (`IndexMap::with_capacity`); the
//!   broker uses it only on its own `__consumer_offsets` log, which no client can append to.
//!
//! # References
//! - Kafka protocol guide, protocol primitive types and the message schemas:
//!   <https://kafka.apache.org/protocol.html#protocol_types>
//! - KIP-482 (tagged fields, compact strings/arrays/bytes, flexible versions)
//! - Kafka's message definitions: `clients/src/main/resources/common/message/*Request.json`
//! - `org.apache.kafka.common.requests.AbstractRequest.parseRequest`,
//!   `org.apache.kafka.message.MessageDataGenerator` (the collection-size check)

mod admin;
mod groups;
pub mod large;
mod log;
pub mod memory;
pub mod sample;
mod txn;
mod walk;

#[cfg(test)]
mod tests;

use kafka_protocol::messages::ApiKey;

pub use memory::{DECODED_LIMIT_FLOOR_BYTES, DECODED_LIMIT_FRAME_MULTIPLE, decoded_limit_bytes};
pub use walk::{ShapeError, Walked, check, check_body, check_within, walk_body};

/// The versions of a field (or of a message), both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    pub min: i16,
    pub max: i16,
}

impl Versions {
    pub const fn contains(self, version: i16) -> bool {
        version >= self.min && version <= self.max
    }
}

/// `min..=max`.
pub const fn v(min: i16, max: i16) -> Versions {
    Versions { min, max }
}

/// `min` and every later version (Kafka's `"min+"`).
pub const fn from(min: i16) -> Versions {
    Versions { min, max: i16::MAX }
}

/// `flexible_from` of a message that is never flexible (Kafka's `"flexibleVersions": "none"`).
pub const NEVER: i16 = i16::MAX;

/// A field's wire type. Strings, bytes, records and arrays are compact (varint lengths) in
/// the message's flexible versions and carry an `i16`/`i32` length before.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    Int8,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    Float64,
    Bool,
    Uuid,
    String,
    Bytes,
    /// A record batch set (Produce): bytes on the wire.
    Records,
    /// An array of a primitive type.
    Array(&'static Ty),
    /// An array of structs with these fields.
    Structs(&'static [Field]),
    /// One struct with these fields.
    Struct(&'static [Field]),
    /// One nullable struct (Kafka's `"nullableVersions"` on a struct field): an `int8` null
    /// marker, -1 for null, 1 before the struct's fields (the codec reads any other marker
    /// as null without the fields, Kafka as a struct: the walk refuses both readings).
    NullableStruct(&'static [Field]),
}

pub const INT8: Ty = Ty::Int8;
pub const INT16: Ty = Ty::Int16;
pub const UINT16: Ty = Ty::UInt16;
pub const INT32: Ty = Ty::Int32;
pub const UINT32: Ty = Ty::UInt32;
pub const INT64: Ty = Ty::Int64;
pub const FLOAT64: Ty = Ty::Float64;
pub const BOOL: Ty = Ty::Bool;
pub const UUID: Ty = Ty::Uuid;
pub const STRING: Ty = Ty::String;
pub const BYTES: Ty = Ty::Bytes;
pub const RECORDS: Ty = Ty::Records;

/// One field of a message or struct.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub versions: Versions,
    /// `Some(tag)`: the field travels in the struct's tagged-field buffer (in `versions`,
    /// Kafka's `taggedVersions`).
    pub tag: Option<u32>,
}

/// A field present, in order, in `versions`.
pub const fn field(name: &'static str, versions: Versions, ty: Ty) -> Field {
    Field {
        name,
        ty,
        versions,
        tag: None,
    }
}

/// A tagged field with its tag number, present in the tagged buffer in `versions`.
pub const fn tagged(tag: u32, name: &'static str, versions: Versions, ty: Ty) -> Field {
    Field {
        name,
        ty,
        versions,
        tag: Some(tag),
    }
}

/// One request message: its API key, the versions this table describes, the first flexible
/// version, and the top-level fields.
#[derive(Debug, Clone, Copy)]
pub struct Message {
    pub key: ApiKey,
    pub versions: Versions,
    pub flexible_from: i16,
    pub fields: &'static [Field],
}

impl Message {
    pub const fn is_flexible(&self, version: i16) -> bool {
        version >= self.flexible_from
    }
}

/// Every request message described here.
pub const MESSAGES: &[Message] = &[
    log::PRODUCE,
    log::FETCH,
    log::LIST_OFFSETS,
    log::OFFSET_FOR_LEADER_EPOCH,
    log::DELETE_RECORDS,
    admin::METADATA,
    admin::API_VERSIONS,
    admin::CREATE_TOPICS,
    admin::DELETE_TOPICS,
    admin::DESCRIBE_CONFIGS,
    admin::ALTER_CONFIGS,
    admin::DESCRIBE_LOG_DIRS,
    admin::CREATE_PARTITIONS,
    admin::ELECT_LEADERS,
    admin::INCREMENTAL_ALTER_CONFIGS,
    admin::ALTER_PARTITION_REASSIGNMENTS,
    admin::LIST_PARTITION_REASSIGNMENTS,
    admin::DESCRIBE_QUORUM,
    admin::DESCRIBE_CLUSTER,
    admin::DESCRIBE_TOPIC_PARTITIONS,
    groups::FIND_COORDINATOR,
    groups::JOIN_GROUP,
    groups::SYNC_GROUP,
    groups::HEARTBEAT,
    groups::LEAVE_GROUP,
    groups::OFFSET_COMMIT,
    groups::OFFSET_FETCH,
    groups::LIST_GROUPS,
    groups::DESCRIBE_GROUPS,
    groups::DELETE_GROUPS,
    groups::OFFSET_DELETE,
    groups::CONSUMER_GROUP_HEARTBEAT,
    groups::CONSUMER_GROUP_DESCRIBE,
    txn::INIT_PRODUCER_ID,
    txn::DESCRIBE_PRODUCERS,
    txn::ADD_PARTITIONS_TO_TXN,
    txn::ADD_OFFSETS_TO_TXN,
    txn::END_TXN,
    txn::DESCRIBE_TRANSACTIONS,
    txn::LIST_TRANSACTIONS,
    txn::TXN_OFFSET_COMMIT,
    txn::WRITE_TXN_MARKERS,
];

/// The schema of `key` at `version`, if this module describes it.
pub fn schema(key: ApiKey, version: i16) -> Option<&'static Message> {
    MESSAGES
        .iter()
        .find(|m| m.key == key && m.versions.contains(version))
}

/// The smallest number of bytes `ty` takes on the wire at `version` (empty arrays, strings
/// and bytes; an empty tagged buffer).
pub fn min_wire_bytes(ty: &Ty, version: i16, flexible: bool) -> usize {
    let length_prefix = |non_flexible: usize| if flexible { 1 } else { non_flexible };
    match ty {
        Ty::Int8 | Ty::Bool => 1,
        Ty::Int16 | Ty::UInt16 => 2,
        Ty::Int32 | Ty::UInt32 => 4,
        Ty::Int64 | Ty::Float64 => 8,
        Ty::Uuid => 16,
        Ty::String => length_prefix(2),
        Ty::Bytes | Ty::Records | Ty::Array(_) | Ty::Structs(_) => length_prefix(4),
        Ty::Struct(fields) => min_struct_bytes(fields, version, flexible),
        Ty::NullableStruct(_) => 1,
    }
}

/// The smallest wire size of a struct with `fields` at `version`.
pub fn min_struct_bytes(fields: &[Field], version: i16, flexible: bool) -> usize {
    let own: usize = fields
        .iter()
        .filter(|f| f.tag.is_none() && f.versions.contains(version))
        .map(|f| min_wire_bytes(&f.ty, version, flexible))
        .sum();
    own + usize::from(flexible)
}
