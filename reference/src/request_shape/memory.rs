//! The decoded-size model: an upper estimate of the heap bytes `kafka-protocol` allocates to
//! hold a decoded request, computed by the walk from the counts it has proven, and the limit
//! a request's estimate must stay under.
//!
//! # The model
//!
//! The codec allocates in three places only (read in `kafka-protocol` 0.18's
//! `protocol/types.rs` and generated `messages/*_request.rs`):
//! - an array: `Vec::with_capacity(count)` of its element type, filled without regrowth:
//!   `count * size_of::<T>()`. `T` is a primitive, a `StrBytes`/`Bytes` (32 bytes, a slice
//!   of the frame: strings, bytes and records are never copied) or a generated struct;
//! - a generated struct holds every field of every version the codec knows, inline, plus
//!   (in messages with a flexible version) a `BTreeMap<i32, Bytes>` of unknown tagged fields
//!   (24 bytes, empty until a tag is inserted);
//! - an unknown tagged field: one entry in that map. The first allocates a B-tree node;
//!   later ones fill it and split it. Every node but the root holds at least 5 of its 11
//!   entries, so `n` entries take at most `n / 5 + 1` nodes, each at most an internal node's
//!   size (~504 bytes for `(i32, Bytes)` entries): at most [`UNKNOWN_TAGS_NODE_BYTES`] for
//!   the buffer plus [`UNKNOWN_TAG_BYTES`] per tag.
//!
//! A struct's in-memory size is computed from its table: the sum of its fields' inline sizes
//! and the map, rounded up to its alignment (the codec's field types all have sizes that are
//! multiples of their alignment, and Rust orders fields so that only the tail is padded).
//! Where the codec's struct holds fields of versions past the table's range, the table lists
//! them with those versions (never walked, only counted here). The tests keep the model
//! honest: for every struct of every table it equals `size_of` of the codec's type, and a
//! counting allocator checks it against the bytes decoding really allocates
//! (`tests/decoded_memory.rs`).
//!
//! # The limit
//!
//! [`decoded_limit_bytes`]: `max(`[`DECODED_LIMIT_FLOOR_BYTES`]` (32 MiB), `
//! [`DECODED_LIMIT_FRAME_MULTIPLE`]` (8) * frame bytes)`. Kafka has no such setting (its
//! generated readers bound each count by the bytes left, as the walk does, and live with the
//! amplification), so the names are ours. Why these values, from what clients send (figures
//! from `large::honest_requests`, decoded with a counting allocator):
//! - Records, the only large payload of a normal workload, are slices of the frame: a
//!   100 MiB Produce decodes to a few hundred bytes.
//! - The other large requests are lists of topics and partitions, with names. Measured:
//!   Metadata of 100,000 topics of 20 characters 3.3x its frame in v4 (7 MiB), 1.9x in v12;
//!   Fetch of 10,000 partitions 2.4x (4.2x as 10,000 topics of one partition); CreateTopics
//!   of 100,000 assigned partitions 3.4x to 3.8x; OffsetCommit with empty metadata, the
//!   worst, 4.4x (v8+) to 5.1x (v2-v5: 14 wire bytes, a 72-byte struct per partition). A
//!   Metadata v0-v8 topic with a 10-character name is 6x. A multiple of 4 would refuse an
//!   OffsetCommit of 500,000 partitions (~9 MiB); 8 leaves room above all of them.
//! - Small requests are dominated by fixed sizes (the request struct, one B-tree node for
//!   a tag), and requests with very short names reach 24x (a Metadata v0 topic with a
//!   one-character name); the floor admits all of them up to sizes no client sends: 32 MiB
//!   is a Metadata v0 request for 460,000 one-character topic names.
//! - What is refused is what only a hostile client sends: MiBs of empty names, empty
//!   compact strings or unknown tags, which the codec turns into 32 to 172 times their wire
//!   size (an empty compact string is 1 wire byte and a 32-byte `StrBytes`; a flexible
//!   Metadata topic with an empty name and one empty unknown tag is 4 wire bytes, 72 bytes
//!   of struct and a ~500-byte B-tree node).
//!
//! So one request decodes to at most 800 MiB under the default `socket.request.max.bytes`
//! (100 MiB). Across connections (one request at a time each, its frame counted in
//! `queued.max.request.bytes` until it is answered, see [`crate::frame`]), the requests in
//! hand hold at most 8 times `queued.max.request.bytes` plus 32 MiB for each request whose
//! frame is under 4 MiB; that second term is not bounded by the frame budget alone (a frame
//! of ~190 KiB can decode to 32 MiB), only by `max.connections`. A broker-wide budget of
//! decoded bytes, taken with [`super::check_within`]'s estimate, would bound it.
//!
//! # References
//! - `kafka-protocol` 0.18: `protocol::types::{Array, CompactArray}` (the
//!   `Vec::with_capacity`), the generated `decode` of every request message (unknown tags
//!   inserted into a `BTreeMap`)
//! - Rust's `alloc::collections::btree::node` (`CAPACITY` 11, `MIN_LEN` 5)
//! - `org.apache.kafka.message.MessageDataGenerator` (Kafka's collection-size check)

use super::{Field, Ty};

/// The floor of [`decoded_limit_bytes`]: any request may decode to this much.
pub const DECODED_LIMIT_FLOOR_BYTES: usize = 32 << 20;

/// Above the floor, a request may decode to this many times its frame's bytes.
pub const DECODED_LIMIT_FRAME_MULTIPLE: usize = 8;

/// The most a request of `frame_bytes` (after its 4-byte length) may decode to.
pub const fn decoded_limit_bytes(frame_bytes: usize) -> usize {
    let scaled = frame_bytes.saturating_mul(DECODED_LIMIT_FRAME_MULTIPLE);
    if scaled > DECODED_LIMIT_FLOOR_BYTES {
        scaled
    } else {
        DECODED_LIMIT_FLOOR_BYTES
    }
}

/// `Vec<T>` and `Option<Vec<T>>` (pointer, capacity, length; `None` is a niche).
const VEC_BYTES: usize = 24;
/// `StrBytes`, `bytes::Bytes` and their `Option`s.
const BYTES_BYTES: usize = 32;
/// The `BTreeMap<i32, Bytes>` of unknown tagged fields every generated struct holds.
const TAG_MAP_BYTES: usize = 24;

/// The B-tree node a tagged buffer's first unknown tag allocates (an internal node of
/// `(i32, Bytes)` entries is ~504 bytes, a leaf ~408).
pub const UNKNOWN_TAGS_NODE_BYTES: usize = 512;

/// Each unknown tag's share of the nodes (at least 5 entries per ~504-byte node).
pub const UNKNOWN_TAG_BYTES: usize = 104;

/// The inline size of a decoded value of `ty` (a struct field or an array element);
/// `tag_maps`: whether the message's structs hold a map of unknown tags (every message that
/// has a flexible version; the codec leaves it out of the others).
pub fn memory_bytes(ty: &Ty, tag_maps: bool) -> usize {
    match ty {
        Ty::Int8 | Ty::Bool => 1,
        Ty::Int16 | Ty::UInt16 => 2,
        Ty::Int32 | Ty::UInt32 => 4,
        Ty::Int64 | Ty::Float64 => 8,
        Ty::Uuid => 16,
        Ty::String | Ty::Bytes | Ty::Records => BYTES_BYTES,
        Ty::Array(_) | Ty::Structs(_) => VEC_BYTES,
        // `Option<T>` of a generated struct takes no more than the struct (a niche).
        Ty::Struct(fields) | Ty::NullableStruct(fields) => struct_memory_bytes(fields, tag_maps),
    }
}

/// The size of a generated struct with `fields` (every version's): its fields and its map
/// of unknown tags, rounded up to its alignment (every field's size is a multiple of its
/// alignment and Rust orders fields so that only the tail is padded).
pub fn struct_memory_bytes(fields: &[Field], tag_maps: bool) -> usize {
    let own: usize = fields.iter().map(|f| memory_bytes(&f.ty, tag_maps)).sum();
    let map = if tag_maps { TAG_MAP_BYTES } else { 0 };
    (own + map).next_multiple_of(struct_align_bytes(fields, tag_maps))
}

fn struct_align_bytes(fields: &[Field], tag_maps: bool) -> usize {
    let map = if tag_maps { 8 } else { 1 };
    fields
        .iter()
        .map(|f| align_bytes(&f.ty, tag_maps))
        .fold(map, usize::max)
}

fn align_bytes(ty: &Ty, tag_maps: bool) -> usize {
    match ty {
        // `uuid::Uuid` is a `[u8; 16]`.
        Ty::Int8 | Ty::Bool | Ty::Uuid => 1,
        Ty::Int16 | Ty::UInt16 => 2,
        Ty::Int32 | Ty::UInt32 => 4,
        Ty::Struct(fields) | Ty::NullableStruct(fields) => struct_align_bytes(fields, tag_maps),
        _ => 8,
    }
}

/// The size of one element of an array: `array` is the array's type for arrays of structs,
/// the element's type otherwise (as the walk passes them).
pub fn element_memory_bytes(array: &Ty, tag_maps: bool) -> usize {
    match array {
        Ty::Structs(fields) => struct_memory_bytes(fields, tag_maps),
        element => memory_bytes(element, tag_maps),
    }
}
