//! The records of `__transaction_state`, in Kafka's own key/value schemas.
//!
//! Key: an int16 record type (0, `CoordinatorRecordType.TRANSACTION_LOG`), then
//! TransactionLogKey v0: the transactional id as an int16-length string. Value: an int16
//! version, then TransactionLogValue v0 (classic) or v1 (flexible: compact strings and
//! arrays, and the tagged fields PreviousProducerId (0), NextProducerId (1),
//! ClientTransactionVersion (2), NextProducerEpoch (3), each written only when it is not its
//! default). A missing value is a tombstone: the transactional id expired. As Kafka's
//! `TransactionLog.valueToBytes`, an Empty transaction is written with a null partition
//! list, and v1 carries the previous and next producer ids.
//!
//! Decoding is for hostile bytes: every count is checked against the bytes left before
//! anything is allocated for it, and nothing panics.
//!
//! # References
//! - `transaction-coordinator/src/main/resources/common/message/TransactionLogKey.json`,
//!   `TransactionLogValue.json`; `org.apache.kafka.coordinator.transaction.TransactionLog`

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use crate::coordinator_format::{FormatError, Reader, Writer};

use super::state::{
    NO_PRODUCER_EPOCH, NO_PRODUCER_ID, TopicPartition, TransactionMetadata, TransactionState,
    TransactionVersion,
};

/// `CoordinatorRecordType.TRANSACTION_LOG`: the key's leading int16.
pub const TRANSACTION_LOG_KEY_TYPE: i16 = 0;

/// One record of `__transaction_state`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionRecord {
    pub transactional_id: String,
    /// `None`: a tombstone (the id expired).
    pub value: Option<TransactionLogValue>,
}

/// Kafka's TransactionLogValue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionLogValue {
    /// The version it is (or is to be) written at: 0 or 1.
    pub version: i16,
    pub producer_id: i64,
    pub previous_producer_id: i64,
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    /// KIP-939 (two-phase commit); read and kept, -1 unless a Kafka broker wrote it.
    pub next_producer_epoch: i16,
    pub transaction_timeout_ms: i32,
    pub transaction_status: i8,
    /// Topic and partition ids; `None` (null) for an Empty transaction.
    pub transaction_partitions: Option<Vec<(String, Vec<i32>)>>,
    pub transaction_last_update_timestamp_ms: i64,
    pub transaction_start_timestamp_ms: i64,
    pub client_transaction_version: i16,
}

/// Why a record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxnRecordError {
    #[error("record truncated")]
    Truncated,
    #[error("invalid length {0}")]
    InvalidLength(i64),
    #[error("string is not UTF-8")]
    InvalidUtf8,
    #[error("unknown key type {0} (not a transaction log record)")]
    UnknownKeyType(i16),
    #[error("unsupported value version {0}")]
    UnknownValueVersion(i16),
    #[error("unknown transaction status {0}")]
    UnknownStatus(i8),
    #[error("unknown client transaction version {0}")]
    UnknownTransactionVersion(i16),
    #[error("trailing bytes")]
    Trailing,
    #[error("a value Kafka never writes: {0}")]
    NeverWritten(&'static str),
}

impl From<FormatError> for TxnRecordError {
    fn from(e: FormatError) -> TxnRecordError {
        match e {
            FormatError::Truncated => TxnRecordError::Truncated,
            FormatError::InvalidLength(n) => TxnRecordError::InvalidLength(n),
            FormatError::InvalidUtf8 => TxnRecordError::InvalidUtf8,
            FormatError::UnknownValueVersion(v) => TxnRecordError::UnknownValueVersion(v),
        }
    }
}

impl TransactionRecord {
    /// The record `metadata` is written as, at value `version` (0 or 1).
    pub fn of(metadata: &TransactionMetadata, version: i16) -> TransactionRecord {
        assert!(
            metadata.state != TransactionState::Empty || metadata.topic_partitions.is_empty(),
            "an Empty transaction has no partitions"
        );
        let partitions = (metadata.state != TransactionState::Empty).then(|| {
            let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for tp in &metadata.topic_partitions {
                by_topic.entry(&tp.topic).or_default().push(tp.partition);
            }
            by_topic
                .into_iter()
                .map(|(t, p)| (t.to_owned(), p))
                .collect()
        });
        let flexible = version >= 1;
        TransactionRecord {
            transactional_id: metadata.transactional_id.clone(),
            value: Some(TransactionLogValue {
                version,
                producer_id: metadata.producer_id,
                previous_producer_id: if flexible {
                    metadata.previous_producer_id
                } else {
                    NO_PRODUCER_ID
                },
                next_producer_id: if flexible {
                    metadata.next_producer_id
                } else {
                    NO_PRODUCER_ID
                },
                producer_epoch: metadata.producer_epoch,
                next_producer_epoch: NO_PRODUCER_EPOCH,
                transaction_timeout_ms: metadata.txn_timeout_ms,
                transaction_status: metadata.state.id(),
                transaction_partitions: partitions,
                transaction_last_update_timestamp_ms: metadata.txn_last_update_timestamp_ms,
                transaction_start_timestamp_ms: metadata.txn_start_timestamp_ms,
                client_transaction_version: if flexible {
                    metadata.client_transaction_version.level()
                } else {
                    0
                },
            }),
        }
    }

    pub fn tombstone(transactional_id: &str) -> TransactionRecord {
        TransactionRecord {
            transactional_id: transactional_id.to_owned(),
            value: None,
        }
    }

    /// The record key. Transactional ids are at most 32767 bytes (checked by the caller).
    pub fn key(&self) -> Bytes {
        let mut w = Writer::default();
        w.i16(TRANSACTION_LOG_KEY_TYPE);
        w.string(&self.transactional_id, false);
        w.finish()
    }

    /// The record value, `None` for a tombstone.
    pub fn value(&self) -> Option<Bytes> {
        self.value.as_ref().map(encode_value)
    }

    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<TransactionRecord, TxnRecordError> {
        let mut r = Reader::new(key);
        let key_type = r.i16()?;
        if key_type != TRANSACTION_LOG_KEY_TYPE {
            return Err(TxnRecordError::UnknownKeyType(key_type));
        }
        let transactional_id = r.string(false)?;
        let value = value.map(decode_value).transpose()?;
        Ok(TransactionRecord {
            transactional_id,
            value,
        })
    }
}

impl TransactionLogValue {
    /// The metadata a coordinator loads from this value, as Kafka's `TransactionLog.read`:
    /// no last epoch, and the partitions of an Empty transaction ignored.
    pub fn to_metadata(
        &self,
        transactional_id: &str,
    ) -> Result<TransactionMetadata, TxnRecordError> {
        let state = TransactionState::from_id(self.transaction_status)
            .ok_or(TxnRecordError::UnknownStatus(self.transaction_status))?;
        let version = TransactionVersion::from_level(self.client_transaction_version).ok_or(
            TxnRecordError::UnknownTransactionVersion(self.client_transaction_version),
        )?;
        let mut topic_partitions = BTreeSet::new();
        if state != TransactionState::Empty {
            for (topic, ids) in self.transaction_partitions.iter().flatten() {
                for id in ids {
                    topic_partitions.insert(TopicPartition::new(topic.clone(), *id));
                }
            }
        }
        Ok(TransactionMetadata {
            transactional_id: transactional_id.to_owned(),
            producer_id: self.producer_id,
            previous_producer_id: self.previous_producer_id,
            next_producer_id: self.next_producer_id,
            producer_epoch: self.producer_epoch,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            txn_timeout_ms: self.transaction_timeout_ms,
            state,
            topic_partitions,
            txn_start_timestamp_ms: self.transaction_start_timestamp_ms,
            txn_last_update_timestamp_ms: self.transaction_last_update_timestamp_ms,
            client_transaction_version: version,
        })
    }
}

const TAG_PREVIOUS_PRODUCER_ID: u64 = 0;
const TAG_NEXT_PRODUCER_ID: u64 = 1;
const TAG_CLIENT_TRANSACTION_VERSION: u64 = 2;
const TAG_NEXT_PRODUCER_EPOCH: u64 = 3;

fn encode_value(v: &TransactionLogValue) -> Bytes {
    let flexible = v.version >= 1;
    let mut w = Writer::default();
    w.i16(if flexible { 1 } else { 0 });
    w.i64(v.producer_id);
    w.i16(v.producer_epoch);
    w.i32(v.transaction_timeout_ms);
    w.i8(v.transaction_status);
    match &v.transaction_partitions {
        None => w.array_len(None, flexible),
        Some(topics) => {
            w.array_len(Some(topics.len()), flexible);
            for (topic, ids) in topics {
                w.string(topic, flexible);
                w.array_len(Some(ids.len()), flexible);
                for id in ids {
                    w.i32(*id);
                }
                if flexible {
                    w.tagged_fields(&[]);
                }
            }
        }
    }
    w.i64(v.transaction_last_update_timestamp_ms);
    w.i64(v.transaction_start_timestamp_ms);
    if flexible {
        let mut tags: Vec<(u64, Vec<u8>)> = Vec::new();
        if v.previous_producer_id != NO_PRODUCER_ID {
            tags.push((
                TAG_PREVIOUS_PRODUCER_ID,
                v.previous_producer_id.to_be_bytes().to_vec(),
            ));
        }
        if v.next_producer_id != NO_PRODUCER_ID {
            tags.push((
                TAG_NEXT_PRODUCER_ID,
                v.next_producer_id.to_be_bytes().to_vec(),
            ));
        }
        if v.client_transaction_version != 0 {
            let level = v.client_transaction_version.to_be_bytes().to_vec();
            tags.push((TAG_CLIENT_TRANSACTION_VERSION, level));
        }
        if v.next_producer_epoch != NO_PRODUCER_EPOCH {
            tags.push((
                TAG_NEXT_PRODUCER_EPOCH,
                v.next_producer_epoch.to_be_bytes().to_vec(),
            ));
        }
        w.tagged_fields(&tags);
    }
    w.finish()
}

fn decode_value(bytes: &[u8]) -> Result<TransactionLogValue, TxnRecordError> {
    let mut r = Reader::new(bytes);
    let version = r.value_version(0..=1)?;
    let flexible = version >= 1;
    let producer_id = r.i64()?;
    let producer_epoch = r.i16()?;
    let transaction_timeout_ms = r.i32()?;
    let transaction_status = r.i8()?;
    // Each topic takes at least 2 (compact) or 6 bytes; each partition id 4.
    let transaction_partitions = match r.array_len(flexible, if flexible { 3 } else { 6 })? {
        None => None,
        Some(count) => {
            let mut topics = Vec::with_capacity(count);
            for _ in 0..count {
                let topic = r.string(flexible)?;
                let n = r
                    .array_len(flexible, 4)?
                    .ok_or(TxnRecordError::InvalidLength(-1))?;
                let mut ids = Vec::with_capacity(n);
                for _ in 0..n {
                    ids.push(r.i32()?);
                }
                if flexible {
                    r.skip_tagged_fields()?;
                }
                topics.push((topic, ids));
            }
            Some(topics)
        }
    };
    let mut value = TransactionLogValue {
        version,
        producer_id,
        previous_producer_id: NO_PRODUCER_ID,
        next_producer_id: NO_PRODUCER_ID,
        producer_epoch,
        next_producer_epoch: NO_PRODUCER_EPOCH,
        transaction_timeout_ms,
        transaction_status,
        transaction_partitions,
        transaction_last_update_timestamp_ms: r.i64()?,
        transaction_start_timestamp_ms: r.i64()?,
        client_transaction_version: 0,
    };
    if flexible {
        r.tagged_fields(|tag, data| {
            let mut d = Reader::new(data);
            match tag {
                TAG_PREVIOUS_PRODUCER_ID => value.previous_producer_id = d.i64()?,
                TAG_NEXT_PRODUCER_ID => value.next_producer_id = d.i64()?,
                TAG_CLIENT_TRANSACTION_VERSION => value.client_transaction_version = d.i16()?,
                TAG_NEXT_PRODUCER_EPOCH => value.next_producer_epoch = d.i16()?,
                _ => return Ok(()),
            }
            if d.is_empty() {
                Ok(())
            } else {
                Err(TxnRecordError::Trailing)
            }
        })?;
    }
    Ok(value)
}
