//! The two default key partitioners, re-implemented to predict where a key lands.
//!
//! "Hash the key, modulo the number of partitions" is true, but *which* hash depends on the
//! client: Apache Kafka's Java producer (and librdkafka with `partitioner=murmur2_random`)
//! uses `toPositive(murmur2(key)) % partitions`; librdkafka's own default
//! (`consistent_random`) uses `crc32(key) % partitions`. The same key can land in different
//! partitions depending on the client that wrote it. Both are pinned by scenarios, and the
//! murmur2 implementation here is checked against vectors computed by Kafka's own Java
//! `Utils.murmur2` (`fixtures/partitioning/murmur2.tsv`).
//!
//! # References
//!
//! - Kafka `org.apache.kafka.common.utils.Utils#murmur2`, `#toPositive`, and
//!   `BuiltInPartitioner.partitionForKey`.
//! - librdkafka `CONFIGURATION.md`, `partitioner`; `rd_kafka_msg_partitioner_consistent`
//!   (CRC32) and `rd_kafka_msg_partitioner_murmur2`.

/// Which client-side partitioner put a keyed message into a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPartitioner {
    /// Java's default, librdkafka's `murmur2` / `murmur2_random`.
    Murmur2,
    /// librdkafka's default `consistent_random` (and `consistent`): CRC32 of the key.
    Crc32,
}

impl KeyPartitioner {
    /// The partitioner behind a librdkafka `partitioner` setting, if it hashes keys
    /// deterministically.
    pub fn from_librdkafka(setting: &str) -> Option<KeyPartitioner> {
        match setting {
            "murmur2" | "murmur2_random" => Some(KeyPartitioner::Murmur2),
            "consistent" | "consistent_random" => Some(KeyPartitioner::Crc32),
            _ => None,
        }
    }

    /// The partition a non-empty key goes to.
    pub fn partition(self, key: &[u8], partitions: u32) -> u32 {
        assert!(partitions > 0, "a topic has at least one partition");
        match self {
            KeyPartitioner::Murmur2 => to_positive(murmur2(key)) % partitions,
            KeyPartitioner::Crc32 => crc32fast::hash(key) % partitions,
        }
    }
}

/// Kafka's `Utils.toPositive`: clear the sign bit (not `abs`, which overflows on `MIN`).
pub fn to_positive(hash: i32) -> u32 {
    (hash & 0x7fff_ffff) as u32
}

/// Kafka's 32-bit murmur2 with Kafka's seed, as `Utils.murmur2` computes it.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;

    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        if tail.len() >= 3 {
            h ^= u32::from(tail[2]) << 16;
        }
        if tail.len() >= 2 {
            h ^= u32::from(tail[1]) << 8;
        }
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `key<TAB>partitions<TAB>partition` lines computed by Kafka's Java `Utils.murmur2`.
    fn java_vectors() -> Vec<(String, u32, u32)> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/partitioning/murmur2.tsv");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        text.lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let fields: Vec<&str> = line.split('\t').collect();
                assert_eq!(fields.len(), 3, "malformed vector line {line:?}");
                let partitions = fields[1].parse().expect("partition count");
                let partition = fields[2].parse().expect("partition");
                (fields[0].to_owned(), partitions, partition)
            })
            .collect()
    }

    #[test]
    fn murmur2_matches_every_java_vector() {
        let vectors = java_vectors();
        assert!(vectors.len() > 100, "only {} vectors", vectors.len());
        for (key, partitions, expected) in vectors {
            let got = KeyPartitioner::Murmur2.partition(key.as_bytes(), partitions);
            assert_eq!(got, expected, "key {key:?} over {partitions} partitions");
        }
    }

    #[test]
    fn to_positive_clears_only_the_sign_bit() {
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(-1), 0x7fff_ffff);
        assert_eq!(to_positive(42), 42);
    }

    #[test]
    fn crc32_is_the_zlib_polynomial() {
        // The check value of CRC-32/ISO-HDLC, the one zlib and librdkafka's rd_crc32 compute.
        assert_eq!(crc32fast::hash(b"123456789"), 0xcbf4_3926);
    }
}
