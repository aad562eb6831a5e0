//! ListTransactions: the transactions this broker coordinates, filtered by state, producer
//! id, duration (v1, KIP-994) and a transactional id pattern (v2, KIP-1152: a Java regular
//! expression matched against the whole id; an invalid one is INVALID_REGULAR_EXPRESSION).
//! The pattern is compiled with the `regex` crate: Java's syntax beyond it (lookaround,
//! backreferences, possessive quantifiers) is INVALID_REGULAR_EXPRESSION here.
//! An admin client asks every broker and merges the answers.
//!
//! # References
//! - KIP-664, KIP-994, KIP-1152
//! - `kafka.server.KafkaApis.handleListTransactionsRequest`,
//!   `kafka.coordinator.transaction.TransactionStateManager.listTransactionStates`

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use crate::server::Shared;
use crate::txn::ListFilters;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 2 };

/// The longest pattern compiled (a bound of the reference's: the pattern comes from a
/// client).
const MAX_PATTERN_BYTES: usize = 4096;

pub fn handle(
    shared: &Shared,
    req: ListTransactionsRequest,
    version: i16,
) -> ListTransactionsResponse {
    let pattern = match compile(
        req.transactional_id_pattern
            .as_deref()
            .filter(|_| version >= 2),
    ) {
        Ok(p) => p,
        Err(()) => {
            return ListTransactionsResponse::default()
                .with_error_code(ResponseError::InvalidRegularExpression.code());
        }
    };
    let matches = pattern.as_ref().map(|re| move |id: &str| re.is_match(id));
    let filters = ListFilters {
        producer_ids: req.producer_id_filters.iter().map(|p| p.0).collect(),
        states: req
            .state_filters
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>(),
        duration_ms: if version >= 1 {
            req.duration_filter
        } else {
            -1
        },
        transactional_id_matches: matches.as_ref().map(|m| m as &dyn Fn(&str) -> bool),
    };
    let listed = shared.txns.read(|c, now| c.list(&filters, now));
    ListTransactionsResponse::default()
        .with_error_code(listed.error_code)
        .with_unknown_state_filters(
            listed
                .unknown_state_filters
                .iter()
                .map(|s| crate::api::str(s))
                .collect(),
        )
        .with_transaction_states(
            listed
                .transactions
                .into_iter()
                .map(|(id, producer_id, state)| {
                    TransactionState::default()
                        .with_transactional_id(TransactionalId(crate::api::str(&id)))
                        .with_producer_id(ProducerId(producer_id))
                        .with_transaction_state(StrBytes::from_static_str(state))
                })
                .collect(),
        )
}

/// The pattern anchored at both ends (Java's `Matcher.matches`); `None`: no pattern (null
/// or empty, as Kafka treats an empty one).
fn compile(pattern: Option<&str>) -> Result<Option<regex::Regex>, ()> {
    let Some(pattern) = pattern.filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    if pattern.len() > MAX_PATTERN_BYTES {
        return Err(());
    }
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(1 << 20)
        .build()
        .map(Some)
        .map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_matches_whole_ids() {
        let re = compile(Some("orders-.*")).unwrap().unwrap();
        assert!(re.is_match("orders-1"));
        assert!(!re.is_match("x-orders-1"));
        assert!(compile(Some("")).unwrap().is_none());
        assert!(compile(None).unwrap().is_none());
        assert!(compile(Some("(")).is_err());
    }
}
