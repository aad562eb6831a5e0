//! JoinGroup and SyncGroup responses, shaped for the request's version the way Kafka's
//! `JoinGroupResponse` / `SyncGroupResponse` constructors shape them.
//!
//! # References
//! - `org.apache.kafka.common.requests.JoinGroupResponse` (protocol name: `""` before v7,
//!   null from v7 when empty)

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupResponse, SyncGroupResponse};

use super::classic::{ClassicGroup, str_bytes};

/// A JoinGroup error: no generation, leader or protocol.
pub(super) fn join_error(
    api_version: i16,
    member_id: &str,
    error: ResponseError,
) -> JoinGroupResponse {
    join_error_code(api_version, member_id, error.code())
}

pub(super) fn join_error_code(
    api_version: i16,
    member_id: &str,
    error_code: i16,
) -> JoinGroupResponse {
    let mut response = JoinGroupResponse::default()
        .with_error_code(error_code)
        .with_member_id(str_bytes(member_id))
        .with_protocol_name(None);
    shape_join(api_version, &mut response);
    response
}

/// A successful JoinGroup answer for `member_id` in the group's current generation.
pub(super) fn join_ok(
    api_version: i16,
    group: &ClassicGroup,
    member_id: &str,
    leader: Option<&str>,
    members: Vec<JoinGroupResponseMember>,
    skip_assignment: bool,
) -> JoinGroupResponse {
    let mut response = JoinGroupResponse::default()
        .with_generation_id(group.generation_id)
        .with_protocol_type(group.protocol_type.as_deref().map(str_bytes))
        .with_protocol_name(group.protocol_name.as_deref().map(str_bytes))
        .with_leader(str_bytes(leader.unwrap_or_default()))
        .with_skip_assignment(skip_assignment && api_version >= 9)
        .with_member_id(str_bytes(member_id))
        .with_members(members);
    shape_join(api_version, &mut response);
    response
}

pub(super) fn shape_join(api_version: i16, response: &mut JoinGroupResponse) {
    let empty = response.protocol_name.as_ref().is_none_or(|p| p.is_empty());
    if empty {
        response.protocol_name = if api_version < 7 {
            Some(str_bytes(""))
        } else {
            None
        };
    }
    if api_version < 7 {
        response.protocol_type = None;
    }
}

/// A SyncGroup answer: the assignment with the group's protocol on success, or an error.
pub(super) fn sync_response(
    group: Option<&ClassicGroup>,
    assignment: Bytes,
    error_code: i16,
) -> SyncGroupResponse {
    let ok = error_code == 0;
    let group = group.filter(|_| ok);
    SyncGroupResponse::default()
        .with_error_code(error_code)
        .with_protocol_type(
            group
                .and_then(|g| g.protocol_type.as_deref())
                .map(str_bytes),
        )
        .with_protocol_name(
            group
                .and_then(|g| g.protocol_name.as_deref())
                .map(str_bytes),
        )
        .with_assignment(assignment)
}

pub(super) fn sync_error(error: ResponseError) -> SyncGroupResponse {
    sync_response(None, Bytes::new(), error.code())
}
