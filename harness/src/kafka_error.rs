//! Kafka error codes by Kafka's own names.
//!
//! Scenarios name errors the way Kafka's protocol guide does (`UNKNOWN_TOPIC_OR_PARTITION`,
//! code 3) and traces record them that way, whether the error came from a broker's response
//! (read by the raw client) or from librdkafka. librdkafka's *local* errors (the client decided
//! on its own, no broker said so) have negative codes and names starting with `_`, as in
//! librdkafka's `rd_kafka_err2name` (`_UNKNOWN_PARTITION`, `_MSG_TIMED_OUT`).
//!
//! # References
//!
//! - Kafka protocol guide, "Error Codes": <https://kafka.apache.org/protocol#protocol_error_codes>
//! - librdkafka `rdkafka.h`, `rd_kafka_resp_err_t`.

use std::fmt;

use kafka_protocol::error::ResponseError;
use rdkafka::types::RDKafkaErrorCode;

/// An error code with its name: `UNKNOWN_TOPIC_OR_PARTITION (3)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode {
    /// Kafka's numeric code; negative for librdkafka's local errors.
    pub code: i32,
    /// Kafka's (or librdkafka's) name for it.
    pub name: String,
}

impl ErrorCode {
    /// The error a broker sent in a response (`0` is `NONE`).
    pub fn from_kafka(code: i16) -> ErrorCode {
        let name = if code == 0 {
            "NONE".to_owned()
        } else {
            match ResponseError::try_from_code(code) {
                Some(error) => screaming_snake(&format!("{error:?}")),
                None => format!("UNKNOWN_CODE_{code}"),
            }
        };
        ErrorCode {
            code: i32::from(code),
            name,
        }
    }

    /// The error librdkafka reported, local (negative) or from a broker.
    pub fn from_rdkafka(error: RDKafkaErrorCode) -> ErrorCode {
        let code = error as i32;
        if let Ok(kafka_code) = i16::try_from(code)
            && code >= 0
        {
            return ErrorCode::from_kafka(kafka_code);
        }
        let name = match error {
            RDKafkaErrorCode::MessageTimedOut => "_MSG_TIMED_OUT".to_owned(),
            RDKafkaErrorCode::PollExceeded => "_MAX_POLL_EXCEEDED".to_owned(),
            other => format!("_{}", screaming_snake(&format!("{other:?}"))),
        };
        ErrorCode { code, name }
    }

    /// Whether this is the error a scenario names, by name and by code.
    pub fn is(&self, name: &str, code: i32) -> bool {
        self.name == name && self.code == code
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.code)
    }
}

/// `UnknownTopicOrPartition` → `UNKNOWN_TOPIC_OR_PARTITION`.
fn screaming_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_names_match_the_protocol_guide() {
        assert_eq!(ErrorCode::from_kafka(0).name, "NONE");
        assert_eq!(ErrorCode::from_kafka(1).name, "OFFSET_OUT_OF_RANGE");
        assert_eq!(ErrorCode::from_kafka(3).name, "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(ErrorCode::from_kafka(10).name, "MESSAGE_TOO_LARGE");
        assert_eq!(ErrorCode::from_kafka(19).name, "NOT_ENOUGH_REPLICAS");
        assert_eq!(ErrorCode::from_kafka(37).name, "INVALID_PARTITIONS");
    }

    #[test]
    fn librdkafka_errors_keep_kafka_names_and_local_ones_get_an_underscore() {
        let too_large = ErrorCode::from_rdkafka(RDKafkaErrorCode::MessageSizeTooLarge);
        assert!(too_large.is("MESSAGE_TOO_LARGE", 10));
        let unknown = ErrorCode::from_rdkafka(RDKafkaErrorCode::UnknownPartition);
        assert!(unknown.is("_UNKNOWN_PARTITION", -190));
        let timed_out = ErrorCode::from_rdkafka(RDKafkaErrorCode::MessageTimedOut);
        assert!(timed_out.is("_MSG_TIMED_OUT", -192));
    }
}
