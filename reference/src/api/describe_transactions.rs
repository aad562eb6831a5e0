//! DescribeTransactions: the state of transactional ids this broker coordinates (others
//! answer NOT_COORDINATOR, unknown ones TRANSACTIONAL_ID_NOT_FOUND), as
//! `kafka-transactions.sh describe` shows them.
//!
//! # References
//! - KIP-664
//! - `kafka.server.KafkaApis.handleDescribeTransactionsRequest`,
//!   `kafka.coordinator.transaction.TransactionCoordinator.handleDescribeTransactions`

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
    TransactionalId,
};
use kafka_protocol::protocol::{StrBytes, VersionRange};

use crate::server::Shared;

pub const VERSIONS: VersionRange = VersionRange { min: 0, max: 0 };

pub fn handle(shared: &Shared, req: DescribeTransactionsRequest) -> DescribeTransactionsResponse {
    let ids: Vec<&str> = req.transactional_ids.iter().map(|t| t.0.as_str()).collect();
    let described = shared.txns.read(|c, _| c.describe(&ids));
    let states = described
        .into_iter()
        .map(|d| {
            let topics = d
                .topics
                .into_iter()
                .map(|(topic, partitions)| {
                    TopicData::default()
                        .with_topic(TopicName(crate::api::str(&topic)))
                        .with_partitions(partitions)
                })
                .collect();
            TransactionState::default()
                .with_error_code(d.error_code)
                .with_transactional_id(TransactionalId(crate::api::str(&d.transactional_id)))
                .with_transaction_state(StrBytes::from_static_str(d.state))
                .with_transaction_timeout_ms(d.txn_timeout_ms)
                .with_transaction_start_time_ms(d.txn_start_timestamp_ms)
                .with_producer_id(ProducerId(d.producer_id))
                .with_producer_epoch(d.producer_epoch)
                .with_topics(topics)
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
