//! ListGroups, DescribeGroups and DeleteGroups: what admin tools see and do to groups.
//!
//! ListGroups filters by state (v4+, case-insensitive) and type (v5+: `classic`, or
//! `consumer` for the KIP-848 groups, listed with protocol type `consumer` and their
//! states Empty, Assigning, Reconciling, Stable). DescribeGroups v6 answers a consumer
//! group GROUP_ID_NOT_FOUND "Group g is not a classic group." (state Dead), as Kafka 4.3;
//! before v6, Dead without error. DescribeGroups shows member metadata only for a Stable group (and the chosen
//! protocol as its protocol data); an unknown group is "Dead", with GROUP_ID_NOT_FOUND from
//! v6 on. DeleteGroups deletes only Empty groups (else NON_EMPTY_GROUP), with their offsets.
//!
//! `authorized_operations` is left at its default: the wire layer, which knows about
//! authorization, fills it when `include_authorized_operations` asks for it.
//!
//! # References
//! - `GroupMetadataManager.listGroups`, `describeGroups`; `GroupCoordinatorShard.deleteGroups`
//! - `ClassicGroup.validateDeleteGroup`, `ClassicGroupMember.describe`
//! - `KafkaApis.handleDeleteGroupsRequest` (duplicate group ids are dropped)
//! - KIP-518 (states filter), KIP-848 (types filter), KIP-1043 (DescribeGroups v6 errors)

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    GroupId, ListGroupsRequest, ListGroupsResponse,
};

use super::classic::{ClassicGroup, GroupState, str_bytes};
use super::coordinator::GroupCoordinator;
use super::record::GroupRecord;
use super::{Effects, Reply, RequestContext, ShardState};

/// The only group type of the classic protocol, as ListGroups names it.
const GROUP_TYPE: &str = "classic";
/// The type (and protocol type) of a KIP-848 consumer group.
const CONSUMER_GROUP_TYPE: &str = "consumer";

impl GroupCoordinator {
    /// Handles a ListGroups (read-only).
    pub fn list_groups(
        &self,
        ctx: &RequestContext<'_>,
        request: &ListGroupsRequest,
    ) -> ListGroupsResponse {
        if !self.active {
            return ListGroupsResponse::default()
                .with_error_code(ResponseError::CoordinatorNotAvailable.code());
        }
        // As Kafka's service: partitions led elsewhere are skipped, but one still loading
        // fails the whole answer.
        if self
            .loaded_partitions()
            .iter()
            .any(|(_, state, _)| *state == ShardState::Loading)
        {
            return ListGroupsResponse::default()
                .with_error_code(ResponseError::CoordinatorLoadInProgress.code());
        }
        let states: Vec<String> = if ctx.api_version >= 4 {
            request
                .states_filter
                .iter()
                .map(|s| s.trim().to_lowercase())
                .collect()
        } else {
            Vec::new()
        };
        let types: Vec<String> = if ctx.api_version >= 5 {
            request
                .types_filter
                .iter()
                .map(|t| t.to_lowercase())
                .collect()
        } else {
            Vec::new()
        };
        let classic = self.groups.values().map(|g| {
            let protocol_type = g.protocol_type.as_deref().unwrap_or_default();
            (
                g.group_id.as_str(),
                protocol_type,
                g.state.name(),
                GROUP_TYPE,
            )
        });
        // Kafka lists a consumer group with the protocol type "consumer".
        let consumer = self.consumer_groups.values().map(|g| {
            let state = g.state().name();
            (
                g.group_id.as_str(),
                CONSUMER_GROUP_TYPE,
                state,
                CONSUMER_GROUP_TYPE,
            )
        });
        let mut listed: Vec<_> = classic
            .chain(consumer)
            .filter(|(id, ..)| self.serves(id))
            .filter(|(_, _, state, _)| states.is_empty() || states.contains(&state.to_lowercase()))
            .filter(|(.., kind)| types.is_empty() || types.iter().any(|t| t == kind))
            .collect();
        listed.sort_by_key(|(id, ..)| *id);
        let groups = listed
            .into_iter()
            .map(|(id, protocol_type, state, kind)| {
                ListedGroup::default()
                    .with_group_id(GroupId(str_bytes(id)))
                    .with_protocol_type(str_bytes(protocol_type))
                    .with_group_state(str_bytes(state))
                    .with_group_type(str_bytes(kind))
            })
            .collect();
        ListGroupsResponse::default().with_groups(groups)
    }

    /// Handles a DescribeGroups (read-only).
    pub fn describe_groups(
        &self,
        ctx: &RequestContext<'_>,
        request: &DescribeGroupsRequest,
    ) -> DescribeGroupsResponse {
        let groups = request
            .groups
            .iter()
            .map(|group_id| {
                let described = DescribedGroup::default().with_group_id(group_id.clone());
                if !self.active {
                    return described
                        .with_error_code(ResponseError::CoordinatorNotAvailable.code());
                }
                if let Some(error) = self.shard_error(group_id.as_str()) {
                    return described.with_error_code(error.code());
                }
                // Kafka 4.3 describes only classic groups here: a consumer group is "not a
                // classic group" (ConsumerGroupDescribe describes it).
                if ctx.api_version >= 6 && self.consumer_groups.contains_key(group_id.as_str()) {
                    return described
                        .with_group_state(str_bytes(GroupState::Dead.name()))
                        .with_error_code(ResponseError::GroupIdNotFound.code())
                        .with_error_message(Some(str_bytes(&format!(
                            "Group {} is not a classic group.",
                            group_id.as_str()
                        ))));
                }
                match self.groups.get(group_id.as_str()) {
                    Some(group) => describe(group, described),
                    None if ctx.api_version >= 6 => described
                        .with_group_state(str_bytes(GroupState::Dead.name()))
                        .with_error_code(ResponseError::GroupIdNotFound.code())
                        .with_error_message(Some(str_bytes(&format!(
                            "Group {} not found.",
                            group_id.as_str()
                        )))),
                    None => described.with_group_state(str_bytes(GroupState::Dead.name())),
                }
            })
            .collect();
        DescribeGroupsResponse::default().with_groups(groups)
    }

    /// Handles a DeleteGroups: Empty groups go, with their committed offsets.
    pub fn delete_groups(
        &mut self,
        _ctx: &RequestContext<'_>,
        request: &DeleteGroupsRequest,
    ) -> Reply<DeleteGroupsResponse> {
        let mut fx = Effects::default();
        let mut seen: Vec<&str> = Vec::new();
        let mut results = Vec::new();
        for group_id in &request.groups_names {
            if seen.contains(&group_id.as_str()) {
                continue;
            }
            seen.push(group_id.as_str());
            let code = self.delete_group(group_id.as_str(), &mut fx);
            results.push(
                DeletableGroupResult::default()
                    .with_group_id(group_id.clone())
                    .with_error_code(code),
            );
        }
        Reply {
            response: DeleteGroupsResponse::default().with_results(results),
            effects: fx,
        }
    }

    fn delete_group(&mut self, group_id: &str, fx: &mut Effects) -> i16 {
        if !self.active {
            return ResponseError::CoordinatorNotAvailable.code();
        }
        if let Some(error) = self.shard_error(group_id) {
            return error.code();
        }
        if let Some(group) = self.consumer_groups.get(group_id) {
            if !group.members.is_empty() {
                return ResponseError::NonEmptyGroup.code();
            }
            for record in self.offsets.tombstones(group_id) {
                self.apply(record, fx);
            }
            self.consumer_groups.remove(group_id);
            return 0;
        }
        let Some(group) = self.groups.get(group_id) else {
            return ResponseError::GroupIdNotFound.code();
        };
        match group.state {
            GroupState::Dead => return ResponseError::GroupIdNotFound.code(),
            GroupState::Empty => {}
            _ => return ResponseError::NonEmptyGroup.code(),
        }
        // Kafka's `deleteAllOffsets`: committed offsets, then those only pending.
        let mut records = self.offsets.tombstones(group_id);
        for (topic, partition) in self.pending_txn.partitions_of(group_id) {
            if self.offsets.get(group_id, &topic, partition).is_none() {
                records.push(super::offsets::tombstone(group_id, &topic, partition));
            }
        }
        for record in records {
            self.apply(record, fx);
        }
        self.apply(
            GroupRecord::GroupMetadata {
                group_id: group_id.to_string(),
                value: None,
            },
            fx,
        );
        0
    }
}

/// Kafka's DescribeGroups view of a group: metadata and protocol only when Stable.
fn describe(group: &ClassicGroup, described: DescribedGroup) -> DescribedGroup {
    let stable_protocol = group
        .protocol_name
        .as_deref()
        .filter(|_| group.is_in(GroupState::Stable));
    let members = group
        .members
        .values()
        .map(|m| {
            DescribedGroupMember::default()
                .with_member_id(str_bytes(&m.member_id))
                .with_group_instance_id(m.group_instance_id.as_deref().map(str_bytes))
                .with_client_id(str_bytes(&m.client_id))
                .with_client_host(str_bytes(&m.client_host))
                .with_member_metadata(stable_protocol.map(|p| m.metadata(p)).unwrap_or_default())
                .with_member_assignment(m.assignment.clone())
        })
        .collect();
    described
        .with_group_state(str_bytes(group.state.name()))
        .with_protocol_type(str_bytes(
            group.protocol_type.as_deref().unwrap_or_default(),
        ))
        .with_protocol_data(str_bytes(stable_protocol.unwrap_or_default()))
        .with_members(members)
}
