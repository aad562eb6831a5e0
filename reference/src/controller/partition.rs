//! A partition's registration (replicas, ISR, leader, epochs) and how one change to it is
//! computed: leader election and ISR updates, as Kafka's `PartitionChangeBuilder` does them.
//!
//! One function decides every change so that the controller's reasons (a broker fenced or
//! unfenced, an AlterPartition from the leader, a preferred or unclean election) cannot apply
//! different rules:
//!
//! - A change starts from a *target ISR* and an [`Election`] kind. The current leader stays
//!   while it is in the target ISR and acceptable (registered, unfenced). Otherwise the first
//!   replica, in assignment order, that is in the target ISR and acceptable leads. A
//!   preferred election tries the first assigned replica before keeping the current leader.
//! - With no such replica and an unclean election allowed, the first acceptable replica leads
//!   and the ISR becomes just that replica: records only it had are what everyone keeps, and
//!   acknowledged records elsewhere may be lost (Kafka's documented trade-off). Otherwise the
//!   partition has no leader (-1).
//! - An empty target ISR leaves the ISR as it was: without ELR (KIP-966) the ISR never
//!   empties, so the last member stays in it even when fenced.
//! - A change of leader (including to none) bumps the leader epoch; every change bumps the
//!   partition epoch; a change that changes nothing is no change at all.
//!
//! # References
//! - Apache Kafka sources: `PartitionChangeBuilder` (`electLeader`, `electAnyLeader`,
//!   `electPreferredLeader`, `tryElection`, `build`), `PartitionRegistration.merge`,
//!   `ReplicationControlManager.buildPartitionRegistration`
//! - KIP-631 (KRaft partition records), KIP-966 (eligible leader replicas: not modelled)

/// `LeaderConstants.NO_LEADER`.
pub const NO_LEADER: i32 = -1;

/// One partition as the controller records it (`PartitionRegistration`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRegistration {
    /// Assigned replicas; the first is the preferred leader.
    pub replicas: Vec<i32>,
    /// In-sync replicas; never empty.
    pub isr: Vec<i32>,
    /// The leader's broker id, or [`NO_LEADER`].
    pub leader: i32,
    /// Bumped on every leader change (KIP-101).
    pub leader_epoch: i32,
    /// Bumped on every change; AlterPartition must name the current one (KIP-497).
    pub partition_epoch: i32,
    /// A reassignment in progress: the target replicas not in the original assignment
    /// (they are in `replicas`, catching up), sorted.
    pub adding_replicas: Vec<i32>,
    /// A reassignment in progress: the original replicas not in the target (still in
    /// `replicas` until the reassignment completes), sorted.
    pub removing_replicas: Vec<i32>,
}

/// What a broker does for a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaRole {
    Leader,
    /// Follow `leader` ([`NO_LEADER`]: wait for one).
    Follower {
        leader: i32,
    },
    /// The broker holds no replica of the partition.
    None,
}

impl PartitionRegistration {
    /// A new partition: `isr` is the assigned replicas that are usable now, and the first of
    /// them leads at epoch 0.
    pub fn new(replicas: Vec<i32>, isr: Vec<i32>) -> PartitionRegistration {
        let leader = isr.first().copied().unwrap_or(NO_LEADER);
        PartitionRegistration {
            replicas,
            isr,
            leader,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }
    }

    /// A reassignment is in progress (`PartitionReassignmentReplicas.isReassignmentInProgress`).
    pub fn is_reassigning(&self) -> bool {
        !self.adding_replicas.is_empty() || !self.removing_replicas.is_empty()
    }

    /// The replicas a reassignment in progress moves to: `replicas` without the removing.
    pub fn target_replicas(&self) -> Vec<i32> {
        let removing = &self.removing_replicas;
        self.replicas
            .iter()
            .copied()
            .filter(|r| !removing.contains(r))
            .collect()
    }

    pub fn has_leader(&self) -> bool {
        self.leader != NO_LEADER
    }

    pub fn preferred_leader(&self) -> i32 {
        self.replicas.first().copied().unwrap_or(NO_LEADER)
    }

    /// The first assigned replica leads.
    pub fn has_preferred_leader(&self) -> bool {
        self.has_leader() && self.leader == self.preferred_leader()
    }

    /// What `broker_id` should be doing for this partition.
    pub fn role_of(&self, broker_id: i32) -> ReplicaRole {
        if !self.replicas.contains(&broker_id) {
            ReplicaRole::None
        } else if self.leader == broker_id {
            ReplicaRole::Leader
        } else {
            ReplicaRole::Follower {
                leader: self.leader,
            }
        }
    }
}

/// How a new leader may be chosen (`PartitionChangeBuilder.Election`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Election {
    /// The first assigned replica if it is in the ISR and acceptable.
    Preferred,
    /// Any acceptable ISR member.
    Online,
    /// Any acceptable ISR member, else any acceptable replica (may lose data).
    Unclean,
}

/// The after-image of one change to `partition`, or `None` when nothing changes.
pub(super) fn change_partition(
    partition: &PartitionRegistration,
    target_isr: &[i32],
    election: Election,
    is_acceptable_leader: &dyn Fn(i32) -> bool,
) -> Option<PartitionRegistration> {
    let is_valid = |r: i32| target_isr.contains(&r) && is_acceptable_leader(r);
    let (leader, unclean) = elect_leader(partition, election, &is_valid, is_acceptable_leader);
    let mut next = partition.clone();
    let mut isr_set_by_election = false;
    if leader != partition.leader {
        next.leader = leader;
        if unclean {
            next.isr = vec![leader];
            isr_set_by_election = true;
        }
    }
    if !isr_set_by_election && !target_isr.is_empty() && target_isr != partition.isr.as_slice() {
        next.isr = target_isr.to_vec();
    }
    finish_change(partition, next, is_acceptable_leader)
}

/// A reassignment's first change (`changePartitionReassignment`): the replicas become
/// `target` followed by the current replicas it leaves out (removing), the target replicas
/// not there yet are adding; the ISR stays. It completes at once when the ISR already holds
/// every target replica ([`finish_change`]). `None`: nothing changes.
pub(super) fn start_reassignment(
    partition: &PartitionRegistration,
    target: &[i32],
    is_acceptable_leader: &dyn Fn(i32) -> bool,
) -> Option<PartitionRegistration> {
    let current = &partition.replicas;
    let mut removing: Vec<i32> = current
        .iter()
        .copied()
        .filter(|r| !target.contains(r))
        .collect();
    removing.sort_unstable();
    let mut adding: Vec<i32> = target
        .iter()
        .copied()
        .filter(|r| !current.contains(r))
        .collect();
    adding.sort_unstable();
    let mut next = partition.clone();
    next.replicas = target
        .iter()
        .copied()
        .chain(removing.iter().copied())
        .collect();
    next.adding_replicas = adding;
    next.removing_replicas = removing;
    finish_change(partition, next, is_acceptable_leader)
}

/// Cancels a reassignment in progress (`PartitionReassignmentRevert`): back to the original
/// replicas (`replicas` without the adding), the adding ones out of the ISR. `Err(())` when
/// no original replica is in the ISR (the revert would need an unclean election).
pub(super) fn revert_reassignment(
    partition: &PartitionRegistration,
    is_acceptable_leader: &dyn Fn(i32) -> bool,
) -> Result<Option<PartitionRegistration>, ()> {
    let adding = &partition.adding_replicas;
    let mut next = partition.clone();
    next.replicas.retain(|r| !adding.contains(r));
    next.isr.retain(|r| !adding.contains(r));
    if next.isr.is_empty() {
        return Err(());
    }
    next.adding_replicas.clear();
    next.removing_replicas.clear();
    if !next.isr.contains(&next.leader) || !is_acceptable_leader(next.leader) {
        next.leader = first_leader(&next, is_acceptable_leader);
    }
    Ok(finish_change(partition, next, is_acceptable_leader))
}

/// The common end of every change (`PartitionChangeBuilder.build`): a reassignment in
/// progress completes once the ISR, without the removing replicas, holds every target
/// replica (`maybeCompleteReassignment`): the replicas become the target, the removing ones
/// leave the ISR, and a leader that is leaving hands over to the first target replica in
/// the ISR. The leader epoch is bumped when the leader changes or replicas leave
/// (`triggerLeaderEpochBumpForReplicaReassignmentIfNeeded`: a removed replica's fetches are
/// then fenced); the partition epoch on every change.
fn finish_change(
    partition: &PartitionRegistration,
    mut next: PartitionRegistration,
    is_acceptable_leader: &dyn Fn(i32) -> bool,
) -> Option<PartitionRegistration> {
    if next.is_reassigning() {
        let removing = next.removing_replicas.clone();
        let isr: Vec<i32> = next
            .isr
            .iter()
            .copied()
            .filter(|r| !removing.contains(r))
            .collect();
        let replicas = next.target_replicas();
        if !isr.is_empty() && !replicas.is_empty() && replicas.iter().all(|r| isr.contains(r)) {
            next.replicas = replicas;
            next.isr = isr;
            next.adding_replicas.clear();
            next.removing_replicas.clear();
            if !next.replicas.contains(&next.leader) {
                next.leader = first_leader(&next, is_acceptable_leader);
            }
        }
    }
    let replicas_left = partition
        .replicas
        .iter()
        .any(|r| !next.replicas.contains(r));
    if next.leader != partition.leader || replicas_left {
        next.leader_epoch = partition.leader_epoch + 1;
    }
    if next == *partition {
        return None;
    }
    next.partition_epoch = partition.partition_epoch + 1;
    Some(next)
}

/// The first replica, in assignment order, that is in the ISR and may lead; else none.
fn first_leader(next: &PartitionRegistration, is_acceptable_leader: &dyn Fn(i32) -> bool) -> i32 {
    next.replicas
        .iter()
        .copied()
        .find(|r| next.isr.contains(r) && is_acceptable_leader(*r))
        .unwrap_or(NO_LEADER)
}

/// `(leader, unclean)`, see the module docs.
fn elect_leader(
    partition: &PartitionRegistration,
    election: Election,
    is_valid: &dyn Fn(i32) -> bool,
    is_acceptable_leader: &dyn Fn(i32) -> bool,
) -> (i32, bool) {
    let preferred = partition.preferred_leader();
    if election == Election::Preferred && is_valid(preferred) {
        return (preferred, false);
    }
    if partition.has_leader() && is_valid(partition.leader) {
        return (partition.leader, false);
    }
    if let Some(&r) = partition.replicas.iter().find(|&&r| is_valid(r)) {
        return (r, false);
    }
    let unclean = partition
        .replicas
        .iter()
        .find(|&&r| election == Election::Unclean && is_acceptable_leader(r));
    match unclean {
        Some(&r) => (r, true),
        None => (NO_LEADER, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(replicas: &[i32], isr: &[i32], leader: i32) -> PartitionRegistration {
        PartitionRegistration {
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            leader,
            leader_epoch: 4,
            partition_epoch: 9,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }
    }

    #[test]
    fn the_leader_stays_while_it_is_in_the_isr_and_alive() {
        let p = partition(&[1, 2, 3], &[1, 2, 3], 2);
        let changed = change_partition(&p, &[2, 3], Election::Online, &|_| true).unwrap();
        assert_eq!((changed.leader, changed.leader_epoch), (2, 4));
        assert_eq!(
            (changed.isr.as_slice(), changed.partition_epoch),
            (&[2, 3][..], 10)
        );
        assert_eq!(
            change_partition(&p, &[1, 2, 3], Election::Online, &|_| true),
            None
        );
    }

    #[test]
    fn a_lost_leader_is_replaced_by_the_first_isr_member_in_assignment_order() {
        let p = partition(&[1, 2, 3], &[1, 2, 3], 1);
        let alive = |b: i32| b != 1;
        let changed = change_partition(&p, &[2, 3], Election::Online, &alive).unwrap();
        assert_eq!((changed.leader, changed.leader_epoch), (2, 5));
        assert_eq!(changed.partition_epoch, 10);
    }

    #[test]
    fn the_last_isr_member_stays_and_the_partition_goes_leaderless() {
        let p = partition(&[1, 2, 3], &[1], 1);
        let changed = change_partition(&p, &[], Election::Online, &|b| b != 1).unwrap();
        assert_eq!(
            (changed.leader, changed.isr.as_slice()),
            (NO_LEADER, &[1][..])
        );
        assert_eq!(changed.leader_epoch, 5);
    }

    #[test]
    fn unclean_election_picks_an_out_of_sync_replica_and_resets_the_isr() {
        let p = partition(&[1, 2, 3], &[1], NO_LEADER);
        let alive = |b: i32| b == 3;
        assert_eq!(change_partition(&p, &[1], Election::Online, &alive), None);
        let changed = change_partition(&p, &[1], Election::Unclean, &alive).unwrap();
        assert_eq!((changed.leader, changed.isr.as_slice()), (3, &[3][..]));
    }

    #[test]
    fn preferred_election_moves_leadership_back_to_the_first_replica() {
        let p = partition(&[1, 2, 3], &[1, 2, 3], 2);
        let changed = change_partition(&p, &p.isr, Election::Preferred, &|_| true).unwrap();
        assert!(changed.has_preferred_leader());
        let not_in_sync = partition(&[1, 2, 3], &[2, 3], 2);
        assert_eq!(
            change_partition(&not_in_sync, &[2, 3], Election::Preferred, &|_| true),
            None
        );
    }

    #[test]
    fn roles() {
        let p = partition(&[1, 2, 3], &[1, 2], 2);
        assert_eq!(p.role_of(2), ReplicaRole::Leader);
        assert_eq!(p.role_of(3), ReplicaRole::Follower { leader: 2 });
        assert_eq!(p.role_of(4), ReplicaRole::None);
    }

    #[test]
    fn a_reassignment_adds_first_and_completes_when_the_isr_holds_the_target() {
        let p = partition(&[1, 2], &[1, 2], 1);
        let started = start_reassignment(&p, &[2, 3], &|_| true).unwrap();
        assert_eq!(
            started.replicas,
            [2, 3, 1],
            "target first, then the removing"
        );
        assert_eq!(
            (
                started.adding_replicas.as_slice(),
                started.removing_replicas.as_slice()
            ),
            (&[3][..], &[1][..])
        );
        assert_eq!(
            (started.isr.as_slice(), started.leader, started.leader_epoch),
            (&[1, 2][..], 1, 4)
        );
        assert_eq!(started.partition_epoch, 10);
        // The leader adds 3 to the ISR: the move completes, 1 leaves, 2 takes over.
        let done = change_partition(&started, &[1, 2, 3], Election::Online, &|_| true).unwrap();
        assert_eq!(
            (done.replicas.as_slice(), done.isr.as_slice()),
            (&[2, 3][..], &[2, 3][..])
        );
        assert!(!done.is_reassigning());
        assert_eq!(
            (done.leader, done.leader_epoch, done.partition_epoch),
            (2, 5, 11)
        );
    }

    #[test]
    fn a_reorder_completes_at_once_and_a_shrink_bumps_the_leader_epoch() {
        let p = partition(&[1, 2, 3], &[1, 2, 3], 1);
        let reordered = start_reassignment(&p, &[3, 2, 1], &|_| true).unwrap();
        assert_eq!(
            (reordered.replicas.as_slice(), reordered.leader),
            (&[3, 2, 1][..], 1)
        );
        assert!(!reordered.is_reassigning());
        assert_eq!(reordered.leader_epoch, 4, "nobody left, the leader stays");
        let shrunk = start_reassignment(&p, &[1, 2], &|_| true).unwrap();
        assert_eq!(
            (shrunk.replicas.as_slice(), shrunk.isr.as_slice()),
            (&[1, 2][..], &[1, 2][..])
        );
        assert_eq!(
            shrunk.leader_epoch, 5,
            "a replica left: its fetches are fenced"
        );
        assert_eq!(
            start_reassignment(&p, &[1, 2, 3], &|_| true),
            None,
            "no change"
        );
    }

    #[test]
    fn a_cancel_goes_back_to_the_original_replicas() {
        let p = partition(&[1, 2], &[1, 2], 1);
        let started = start_reassignment(&p, &[3, 1], &|_| true).unwrap();
        let reverted = revert_reassignment(&started, &|_| true).unwrap().unwrap();
        assert_eq!(
            (reverted.replicas.as_slice(), reverted.isr.as_slice()),
            (&[1, 2][..], &[1, 2][..])
        );
        assert!(!reverted.is_reassigning());
        assert_eq!(reverted.leader, 1);
        // Only the adding replica in the ISR: reverting needs an unclean election.
        let mut only_new = started.clone();
        only_new.isr = vec![3];
        assert_eq!(revert_reassignment(&only_new, &|_| true), Err(()));
    }
}
