//! OffsetFetch: committed offsets of one group (v1-7) or of several (v8+, KIP-709).
//!
//! Null topics means every committed offset of the group. A partition without a committed
//! offset (or of a group that does not exist) answers offset -1, leader epoch -1, metadata
//! `""` and no error: the consumer then applies `auto.offset.reset`. The coordinator does not
//! check that topics exist here, as Kafka's does not. With `require_stable` (v7+), a partition
//! for which an open transaction of the group holds an offset answers UNSTABLE_OFFSET_COMMIT
//! (offset -1): the consumer asks again once the transaction ended.

//!
//! # References
//! - `OffsetMetadataManager.fetchOffsets`, `fetchAllOffsets`
//! - `OffsetFetchRequest.groups`, `OffsetFetchResponse(List<OffsetFetchResponseGroup>,
//!   short)` (the single-group shape; before v2 a group error goes to every partition)

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse};

use super::RequestContext;
use super::classic::{GroupState, str_bytes};
use super::coordinator::GroupCoordinator;
use super::offsets::topic_name;

/// One partition's answer.
struct Fetched {
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: String,
    error_code: i16,
}

/// One group's answer: topics with their partitions, or a group error.
struct GroupFetch {
    group_id: String,
    error_code: i16,
    topics: Vec<(String, Vec<Fetched>)>,
}

impl GroupCoordinator {
    /// Handles an OffsetFetch (read-only).
    pub fn offset_fetch(
        &self,
        ctx: &RequestContext<'_>,
        request: &OffsetFetchRequest,
    ) -> OffsetFetchResponse {
        let version = ctx.api_version;
        if version >= 8 {
            let groups = request
                .groups
                .iter()
                .map(|g| {
                    let topics = g.topics.as_ref().map(|ts| {
                        ts.iter()
                            .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
                            .collect::<Vec<_>>()
                    });
                    let member = (g.member_id.as_deref(), g.member_epoch);
                    let mut fetched =
                        self.fetch_group(g.group_id.as_str(), topics, request.require_stable);
                    if fetched.error_code == 0
                        && let Err(code) = self.validate_consumer_fetch(g.group_id.as_str(), member)
                    {
                        fetched.error_code = code;
                        fetched.topics.clear();
                    }
                    fetched
                })
                .collect();
            return multi_group_response(groups);
        }
        let topics = request.topics.as_ref().map(|ts| {
            ts.iter()
                .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
                .collect::<Vec<_>>()
        });
        let require_stable = version >= 7 && request.require_stable;
        let group = self.fetch_group(request.group_id.as_str(), topics, require_stable);
        single_group_response(version, group)
    }

    fn fetch_group(
        &self,
        group_id: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
        require_stable: bool,
    ) -> GroupFetch {
        let mut out = GroupFetch {
            group_id: group_id.to_string(),
            error_code: 0,
            topics: Vec::new(),
        };
        if !self.active {
            out.error_code = ResponseError::CoordinatorNotAvailable.code();
            return out;
        }
        if let Some(error) = self.shard_error(group_id) {
            out.error_code = error.code();
            return out;
        }
        let known = self
            .groups
            .get(group_id)
            .is_some_and(|g| !g.is_in(GroupState::Dead))
            || self.consumer_groups.contains_key(group_id);
        let Some(topics) = topics else {
            // Every committed offset of the group (none for an unknown group).
            if let Some(all) = self.offsets.group(group_id).filter(|_| known) {
                for (topic, partitions) in all {
                    let fetched = partitions
                        .keys()
                        .map(|p| self.fetched(group_id, topic, *p, known, require_stable))
                        .collect();
                    out.topics.push((topic.clone(), fetched));
                }
            }
            return out;
        };
        for (topic, partitions) in topics {
            let fetched = partitions
                .iter()
                .map(|p| self.fetched(group_id, &topic, *p, known, require_stable))
                .collect();
            out.topics.push((topic, fetched));
        }
        out
    }

    /// Kafka's `ConsumerGroup.validateOffsetFetch` (v9+): a fetch that names a member or a
    /// member epoch must come from a member (UNKNOWN_MEMBER_ID) at its current epoch
    /// (STALE_MEMBER_EPOCH). Classic groups are not checked.
    fn validate_consumer_fetch(
        &self,
        group_id: &str,
        (member_id, member_epoch): (Option<&str>, i32),
    ) -> Result<(), i16> {
        let Some(group) = self.consumer_groups.get(group_id) else {
            return Ok(());
        };
        if member_id.is_none() && member_epoch < 0 {
            return Ok(());
        }
        let member = member_id.and_then(|id| group.members.get(id));
        match member {
            None => Err(ResponseError::UnknownMemberId.code()),
            Some(m) if m.member_epoch != member_epoch => {
                Err(ResponseError::StaleMemberEpoch.code())
            }
            Some(_) => Ok(()),
        }
    }

    fn fetched(
        &self,
        group_id: &str,
        topic: &str,
        partition: i32,
        known: bool,
        require_stable: bool,
    ) -> Fetched {
        if require_stable && self.has_pending_transactional_offsets(group_id, topic, partition) {
            return Fetched {
                partition,
                offset: -1,
                leader_epoch: -1,
                metadata: String::new(),
                error_code: ResponseError::UnstableOffsetCommit.code(),
            };
        }
        match self
            .offsets
            .get(group_id, topic, partition)
            .filter(|_| known)
        {
            Some(o) => Fetched {
                partition,
                offset: o.committed_offset,
                leader_epoch: o.leader_epoch,
                metadata: o.metadata.clone(),
                error_code: 0,
            },
            None => Fetched {
                partition,
                offset: -1,
                leader_epoch: -1,
                metadata: String::new(),
                error_code: 0,
            },
        }
    }
}

fn multi_group_response(groups: Vec<GroupFetch>) -> OffsetFetchResponse {
    let groups = groups
        .into_iter()
        .map(|g| {
            let topics = g
                .topics
                .into_iter()
                .map(|(name, partitions)| {
                    let partitions = partitions
                        .into_iter()
                        .map(|f| {
                            OffsetFetchResponsePartitions::default()
                                .with_partition_index(f.partition)
                                .with_committed_offset(f.offset)
                                .with_committed_leader_epoch(f.leader_epoch)
                                .with_metadata(Some(str_bytes(&f.metadata)))
                                .with_error_code(f.error_code)
                        })
                        .collect();
                    OffsetFetchResponseTopics::default()
                        .with_name(topic_name(&name))
                        .with_partitions(partitions)
                })
                .collect();
            OffsetFetchResponseGroup::default()
                .with_group_id(GroupId(str_bytes(&g.group_id)))
                .with_error_code(g.error_code)
                .with_topics(topics)
        })
        .collect();
    OffsetFetchResponse::default().with_groups(groups)
}

fn single_group_response(version: i16, group: GroupFetch) -> OffsetFetchResponse {
    // Before v2 there is no top-level error: a group error goes on every partition.
    let partition_error = if version < 2 { group.error_code } else { 0 };
    let topics = group
        .topics
        .into_iter()
        .map(|(name, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|f| {
                    let mut p = OffsetFetchResponsePartition::default()
                        .with_partition_index(f.partition)
                        .with_committed_offset(f.offset)
                        .with_committed_leader_epoch(f.leader_epoch)
                        .with_metadata(Some(str_bytes(&f.metadata)))
                        .with_error_code(if partition_error != 0 {
                            partition_error
                        } else {
                            f.error_code
                        });
                    if partition_error != 0 {
                        p = p
                            .with_committed_offset(-1)
                            .with_metadata(Some(str_bytes("")));
                    }
                    p
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(topic_name(&name))
                .with_partitions(partitions)
        })
        .collect();
    let top_error = if version >= 2 { group.error_code } else { 0 };
    OffsetFetchResponse::default()
        .with_error_code(top_error)
        .with_topics(topics)
}
