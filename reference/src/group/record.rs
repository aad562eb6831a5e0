//! The records of the group log, in Kafka's own `__consumer_offsets` key/value schemas.
//!
//! Kafka keeps committed offsets and classic group metadata as key/value records in its
//! internal `__consumer_offsets` topic, compacted by key, and rebuilds the coordinator by
//! replaying them. Using the same schemas here means a dump of the reference's group log
//! reads like Kafka's, and Kafka's own records can be replayed.
//!
//! Keys start with an int16 version that names the record type: 0 or 1 is an
//! OffsetCommitKey (group, topic, partition), 2 a GroupMetadataKey (group). Values start with
//! their own int16 version. A missing value is a tombstone. Written: OffsetCommitValue v3
//! (v1 when the commit carried a retention time, as Kafka does), GroupMetadataValue v3 (v4,
//! the flexible version, only if a string is too long for v3). Read: every version 0-4.
//! Decoding checks every length against the bytes present and never panics.
//!
//! # References
//! - `group-coordinator/src/main/resources/common/message/{OffsetCommitKey,
//!   OffsetCommitValue,GroupMetadataKey,GroupMetadataValue}.json`
//! - `org.apache.kafka.coordinator.group.GroupCoordinatorRecordHelpers`

use bytes::Bytes;

use crate::coordinator_format::{FormatError, Reader, Writer};

/// One record of the group log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupRecord {
    /// A committed offset (`value: None` deletes it).
    OffsetCommit {
        group_id: String,
        topic: String,
        partition: i32,
        value: Option<OffsetCommitValue>,
    },
    /// A classic group's metadata (`value: None` deletes the group).
    GroupMetadata {
        group_id: String,
        value: Option<GroupMetadataValue>,
    },
}

/// Kafka's OffsetCommitValue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitValue {
    pub offset: i64,
    /// -1 when unknown.
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
    /// Only for commits that set a retention time (OffsetCommit v2-4).
    pub expire_timestamp_ms: Option<i64>,
}

/// Kafka's GroupMetadataValue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadataValue {
    /// `""` for a group without one.
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// -1 when unknown.
    pub current_state_timestamp_ms: i64,
    pub members: Vec<MemberMetadata>,
}

/// One member in a GroupMetadataValue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadata {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// The member's metadata for the group's protocol.
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record truncated")]
    Truncated,
    #[error("invalid length {0}")]
    InvalidLength(i64),
    #[error("string is not UTF-8")]
    InvalidUtf8,
    #[error("unknown key version {0} (not a classic group or offset record)")]
    UnknownKeyVersion(i16),
    #[error("unsupported value version {0}")]
    UnknownValueVersion(i16),
}

impl From<FormatError> for RecordError {
    fn from(e: FormatError) -> RecordError {
        match e {
            FormatError::Truncated => RecordError::Truncated,
            FormatError::InvalidLength(n) => RecordError::InvalidLength(n),
            FormatError::InvalidUtf8 => RecordError::InvalidUtf8,
            FormatError::UnknownValueVersion(v) => RecordError::UnknownValueVersion(v),
        }
    }
}

const OFFSET_COMMIT_KEY_VERSION: i16 = 1;
const GROUP_METADATA_KEY_VERSION: i16 = 2;

impl GroupRecord {
    /// The record key. Group ids longer than 32767 bytes are rejected before a record is
    /// made (see the module docs of `group`).
    pub fn key(&self) -> Bytes {
        let mut w = Writer::default();
        match self {
            GroupRecord::OffsetCommit {
                group_id,
                topic,
                partition,
                ..
            } => {
                w.i16(OFFSET_COMMIT_KEY_VERSION);
                w.string(group_id, false);
                w.string(topic, false);
                w.i32(*partition);
            }
            GroupRecord::GroupMetadata { group_id, .. } => {
                w.i16(GROUP_METADATA_KEY_VERSION);
                w.string(group_id, false);
            }
        }
        w.finish()
    }

    /// The record value, `None` for a tombstone.
    pub fn value(&self) -> Option<Bytes> {
        match self {
            GroupRecord::OffsetCommit { value, .. } => value.as_ref().map(encode_offset_commit),
            GroupRecord::GroupMetadata { value, .. } => value.as_ref().map(encode_group_metadata),
        }
    }

    /// Decodes a key and value (`None` value: a tombstone).
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<GroupRecord, RecordError> {
        let mut r = Reader::new(key);
        match r.i16()? {
            0 | 1 => {
                let group_id = r.string(false)?;
                let topic = r.string(false)?;
                let partition = r.i32()?;
                let value = value.map(decode_offset_commit).transpose()?;
                Ok(GroupRecord::OffsetCommit {
                    group_id,
                    topic,
                    partition,
                    value,
                })
            }
            2 => {
                let group_id = r.string(false)?;
                let value = value.map(decode_group_metadata).transpose()?;
                Ok(GroupRecord::GroupMetadata { group_id, value })
            }
            v => Err(RecordError::UnknownKeyVersion(v)),
        }
    }
}

fn encode_offset_commit(v: &OffsetCommitValue) -> Bytes {
    let mut w = Writer::default();
    let version = if v.expire_timestamp_ms.is_some() {
        1
    } else {
        3
    };
    let flexible = !fits(&v.metadata);
    w.i16(if flexible { 4 } else { version });
    w.i64(v.offset);
    if flexible || version == 3 {
        w.i32(v.leader_epoch);
    }
    w.string(&v.metadata, flexible);
    w.i64(v.commit_timestamp_ms);
    if !flexible && version == 1 {
        w.i64(v.expire_timestamp_ms.unwrap_or(-1));
    }
    if flexible {
        w.tagged_fields(&[]);
    }
    w.finish()
}

fn decode_offset_commit(bytes: &[u8]) -> Result<OffsetCommitValue, RecordError> {
    let mut r = Reader::new(bytes);
    let version = r.value_version(0..=4)?;
    let flexible = version >= 4;
    let offset = r.i64()?;
    let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
    let metadata = r.string(flexible)?;
    let commit_timestamp_ms = r.i64()?;
    let expire = if version == 1 { r.i64()? } else { -1 };
    if flexible {
        r.skip_tagged_fields()?;
    }
    Ok(OffsetCommitValue {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp_ms,
        expire_timestamp_ms: (expire != -1).then_some(expire),
    })
}

fn encode_group_metadata(v: &GroupMetadataValue) -> Bytes {
    let strings_fit = fits(&v.protocol_type)
        && v.protocol.as_deref().is_none_or(fits)
        && v.leader.as_deref().is_none_or(fits)
        && v.members.iter().all(|m| {
            fits(&m.member_id)
                && m.group_instance_id.as_deref().is_none_or(fits)
                && fits(&m.client_id)
                && fits(&m.client_host)
        });
    let flexible = !strings_fit;
    let mut w = Writer::default();
    w.i16(if flexible { 4 } else { 3 });
    w.string(&v.protocol_type, flexible);
    w.i32(v.generation);
    w.nullable_string(v.protocol.as_deref(), flexible);
    w.nullable_string(v.leader.as_deref(), flexible);
    w.i64(v.current_state_timestamp_ms);
    w.array_len(Some(v.members.len()), flexible);
    for m in &v.members {
        w.string(&m.member_id, flexible);
        w.nullable_string(m.group_instance_id.as_deref(), flexible);
        w.string(&m.client_id, flexible);
        w.string(&m.client_host, flexible);
        w.i32(m.rebalance_timeout_ms);
        w.i32(m.session_timeout_ms);
        w.bytes(&m.subscription, flexible);
        w.bytes(&m.assignment, flexible);
        if flexible {
            w.tagged_fields(&[]);
        }
    }
    if flexible {
        w.tagged_fields(&[]);
    }
    w.finish()
}

fn decode_group_metadata(bytes: &[u8]) -> Result<GroupMetadataValue, RecordError> {
    let mut r = Reader::new(bytes);
    let version = r.value_version(0..=4)?;
    let flexible = version >= 4;
    let protocol_type = r.string(flexible)?;
    let generation = r.i32()?;
    let protocol = r.nullable_string(flexible)?;
    let leader = r.nullable_string(flexible)?;
    let current_state_timestamp_ms = if version >= 2 { r.i64()? } else { -1 };
    let count = r.array_len(flexible, MIN_MEMBER_BYTES)?.unwrap_or(0);
    let mut members = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        members.push(decode_member(&mut r, version)?);
    }
    if flexible {
        r.skip_tagged_fields()?;
    }
    Ok(GroupMetadataValue {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp_ms,
        members,
    })
}

fn decode_member(r: &mut Reader<'_>, version: i16) -> Result<MemberMetadata, RecordError> {
    let flexible = version >= 4;
    let member_id = r.string(flexible)?;
    let group_instance_id = if version >= 3 {
        r.nullable_string(flexible)?
    } else {
        None
    };
    let client_id = r.string(flexible)?;
    let client_host = r.string(flexible)?;
    let rebalance_timeout_ms = if version >= 1 { r.i32()? } else { -1 };
    let session_timeout_ms = r.i32()?;
    let subscription = r.bytes(flexible)?;
    let assignment = r.bytes(flexible)?;
    if flexible {
        r.skip_tagged_fields()?;
    }
    Ok(MemberMetadata {
        member_id,
        group_instance_id,
        client_id,
        client_host,
        rebalance_timeout_ms,
        session_timeout_ms,
        subscription,
        assignment,
    })
}

/// The fewest bytes a member takes in any version (v4: six compact fields, empty or null,
/// two int32s and an empty tagged-field count).
const MIN_MEMBER_BYTES: usize = 15;

/// Whether `s` fits a non-flexible (int16-length) string.
fn fits(s: &str) -> bool {
    s.len() <= i16::MAX as usize
}
