//! A member the scenario drives over the raw protocol (JoinGroup, SyncGroup) that then goes
//! silent, sending no heartbeat, with its connection left open: a dynamic member failing
//! without a word, which a librdkafka consumer cannot be made to do (closing one always sends
//! LeaveGroup).
//!
//! It joins only a group that already has a leader, so that it never has to compute an
//! assignment; the coordinator reports it under the raw client's `client.id`
//! ([`RAW_MEMBER_CLIENT_ID`]).
//!
//! # References
//!
//! - Kafka protocol guide: JoinGroup, SyncGroup, Heartbeat; "consumer protocol"
//!   (ConsumerProtocolSubscription).
//! - KIP-394 (a JoinGroup without a member id is answered MEMBER_ID_REQUIRED with one).

use std::collections::BTreeSet;

use anyhow::{Context, ensure};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::{
    ConsumerProtocolSubscription, GroupId, HeartbeatRequest, JoinGroupRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::{Encodable, StrBytes};

use super::TopicPartition;
use super::coordinator::{check_group_answer, decode_assignment};
use super::member::MemberSpec;
use crate::kafka_error::ErrorCode;
use crate::raw_client::RawConnection;

/// The `client.id` the raw client puts in every request header, and so the one the
/// coordinator reports for a raw member.
pub const RAW_MEMBER_CLIENT_ID: &str = "kafka-spec-raw";

/// A group member the scenario drives over the raw protocol: it joins, takes its assignment
/// in SyncGroup, and then sends nothing at all, not even heartbeats; its connection stays
/// open, as a hung process's would.
#[derive(Debug)]
pub struct RawMember {
    /// Its logical name in the scenario.
    pub name: String,
    /// The logical group.
    pub group: String,
    /// The partitions SyncGroup gave it, by physical topic name.
    pub assignment: BTreeSet<TopicPartition>,
    /// The physical group id.
    group_id: String,
    /// The member id the coordinator gave it (never shown in traces).
    member_id: StrBytes,
    /// The generation it joined.
    generation_id: i32,
    /// Kept open and silent until a step makes it speak again.
    connection: RawConnection,
}

impl RawMember {
    /// Sends one Heartbeat for the generation it joined and returns the error code.
    pub async fn heartbeat(&mut self) -> anyhow::Result<ErrorCode> {
        let request = HeartbeatRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(self.group_id.clone())))
            .with_generation_id(self.generation_id)
            .with_member_id(self.member_id.clone());
        let response = self.connection.call(&request).await?;
        Ok(ErrorCode::from_kafka(response.error_code))
    }
}

/// The assignor a raw member offers; librdkafka's default list includes it.
const RAW_MEMBER_PROTOCOL: &str = "range";

/// JoinGroup then SyncGroup as a follower, on the group's coordinator; fails if the raw
/// member became the leader (it computes no assignments: it joins groups that have one).
pub async fn raw_member_joins(
    coordinator_address: &str,
    spec: &MemberSpec,
    session_timeout_ms: i32,
) -> anyhow::Result<RawMember> {
    let mut connection = RawConnection::connect(coordinator_address).await?;
    let group_id = GroupId(StrBytes::from_string(spec.group_id.clone()));
    let mut metadata = bytes::BytesMut::new();
    bytes::BufMut::put_i16(&mut metadata, 0);
    ConsumerProtocolSubscription::default()
        .with_topics(
            spec.topics
                .iter()
                .map(|(_, physical)| StrBytes::from_string(physical.clone()))
                .collect(),
        )
        .encode(&mut metadata, 0)
        .context("encoding a ConsumerProtocolSubscription")?;
    let mut join = JoinGroupRequest::default()
        .with_group_id(group_id.clone())
        .with_session_timeout_ms(session_timeout_ms)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(StrBytes::from_static_str(RAW_MEMBER_PROTOCOL))
                .with_metadata(metadata.freeze()),
        ]);
    // Since JoinGroup v4 a member without an id is first given one (MEMBER_ID_REQUIRED) and
    // joins again with it.
    let mut joined = connection.call(&join).await?;
    if joined.error_code == MEMBER_ID_REQUIRED {
        join = join.with_member_id(joined.member_id.clone());
        joined = connection.call(&join).await?;
    }
    check_group_answer(joined.error_code, || {
        "the raw member's JoinGroup".to_owned()
    })?;
    ensure!(
        joined.leader != joined.member_id,
        "the raw member became the group's leader; it only joins a group that has one"
    );
    let sync = SyncGroupRequest::default()
        .with_group_id(group_id)
        .with_generation_id(joined.generation_id)
        .with_member_id(joined.member_id.clone())
        .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
        .with_protocol_name(joined.protocol_name.clone());
    let synced = connection.call(&sync).await?;
    check_group_answer(synced.error_code, || {
        "the raw member's SyncGroup".to_owned()
    })?;
    Ok(RawMember {
        name: spec.name.clone(),
        group: spec.group.clone(),
        assignment: decode_assignment(synced.assignment)?,
        group_id: spec.group_id.clone(),
        member_id: joined.member_id,
        generation_id: joined.generation_id,
        connection,
    })
}

/// `MEMBER_ID_REQUIRED`: a JoinGroup (v4+) without a member id is told its id and rejoins.
const MEMBER_ID_REQUIRED: i16 = 79;
