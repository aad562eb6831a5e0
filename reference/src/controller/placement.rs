//! Where a new topic's replicas go: Kafka's striped placement, for brokers without racks.
//!
//! The properties that clients and operators can see are kept; racks are not modelled:
//!
//! - no two replicas of a partition on one broker, so a replication factor above the number
//!   of registered brokers (fenced ones count) is INVALID_REPLICATION_FACTOR, and so is a
//!   cluster whose brokers are all fenced;
//! - the first replica (the preferred leader) is always an unfenced broker, and fenced brokers
//!   get replicas only when the unfenced ones run out;
//! - leadership is striped: brokers are sorted, a random start is drawn, and each partition's
//!   preferred leader is the next unfenced broker in turn, its followers the brokers after it.
//!   Every round of as many partitions as there are unfenced brokers gives each one exactly
//!   one leadership; the order is reshuffled between rounds so that partitions do not all
//!   share the same replica sets.
//!
//! The randomness comes from the caller's seeded [`SplitMix64`], so a simulation replays the
//! same placement from the same seed. (Kafka's legacy ZooKeeper-era `assignReplicasToBrokers`
//! spread replicas round-robin with a random shift; KRaft's `StripedReplicaPlacer` is what this
//! follows.)
//!
//! # References
//! - Apache Kafka sources: `StripedReplicaPlacer` (`RackList.place`, `BrokerList.next`),
//!   `ReplicaPlacer`, `UsableBroker`

/// A small, seedable pseudo-random generator (SplitMix64): deterministic placements, topic
/// ids and simulations without a dependency.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (`bound` > 0; 0 gives 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 {
            return 0;
        }
        ((u128::from(self.next_u64()) * u128::from(bound)) >> 64) as u64
    }

    /// True with probability `numerator / denominator`.
    pub fn chance(&mut self, numerator: u64, denominator: u64) -> bool {
        self.below(denominator) < numerator
    }

    /// Fisher-Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

/// A broker that can take replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsableBroker {
    pub broker_id: i32,
    pub fenced: bool,
}

/// Brokers taken in turn from a moving start.
struct Rotation {
    brokers: Vec<i32>,
    start: usize,
}

impl Rotation {
    fn new(mut brokers: Vec<i32>, rng: &mut SplitMix64) -> Rotation {
        brokers.sort_unstable();
        let start = rng.below(brokers.len() as u64) as usize;
        Rotation { brokers, start }
    }

    /// All brokers, starting at the current start.
    fn in_turn(&self) -> impl Iterator<Item = i32> + '_ {
        let n = self.brokers.len();
        (0..n).map(move |i| self.brokers[(self.start + i) % n])
    }

    fn advance(&mut self) {
        if !self.brokers.is_empty() {
            self.start = (self.start + 1) % self.brokers.len();
        }
    }
}

/// Replica lists for `num_partitions` partitions, or the reason (for INVALID_REPLICATION_FACTOR).
pub fn place_replicas(
    brokers: &[UsableBroker],
    num_partitions: usize,
    replication_factor: usize,
    rng: &mut SplitMix64,
) -> Result<Vec<Vec<i32>>, String> {
    let unfenced: Vec<i32> = brokers
        .iter()
        .filter(|b| !b.fenced)
        .map(|b| b.broker_id)
        .collect();
    let fenced: Vec<i32> = brokers
        .iter()
        .filter(|b| b.fenced)
        .map(|b| b.broker_id)
        .collect();
    if replication_factor == 0 {
        return Err(
            "Invalid replication factor 0: the replication factor must be positive.".into(),
        );
    }
    if unfenced.is_empty() {
        return Err("All brokers are currently fenced.".into());
    }
    if replication_factor > brokers.len() {
        return Err(format!(
            "The target replication factor of {replication_factor} cannot be reached because only {} broker(s) are registered.",
            brokers.len()
        ));
    }
    let round = unfenced.len();
    let mut unfenced = Rotation::new(unfenced, rng);
    let mut fenced = Rotation::new(fenced, rng);
    let mut placed_in_round = 0;
    let mut placements = Vec::with_capacity(num_partitions);
    for _ in 0..num_partitions {
        if placed_in_round == round && round > 1 {
            rng.shuffle(&mut unfenced.brokers);
            rng.shuffle(&mut fenced.brokers);
            placed_in_round = 0;
        }
        let replicas: Vec<i32> = unfenced
            .in_turn()
            .chain(fenced.in_turn())
            .take(replication_factor)
            .collect();
        placements.push(replicas);
        unfenced.advance();
        fenced.advance();
        placed_in_round += 1;
    }
    Ok(placements)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    fn brokers(ids: &[i32], fenced: &[i32]) -> Vec<UsableBroker> {
        ids.iter()
            .map(|&broker_id| UsableBroker {
                broker_id,
                fenced: fenced.contains(&broker_id),
            })
            .collect()
    }

    #[test]
    fn replicas_are_distinct_and_leadership_is_balanced() {
        for seed in 0..50 {
            let mut rng = SplitMix64::new(seed);
            let placements = place_replicas(&brokers(&[1, 2, 3], &[]), 6, 2, &mut rng).unwrap();
            let mut leaders = BTreeMap::new();
            let mut replicas = BTreeMap::new();
            for p in &placements {
                assert_eq!(p.iter().collect::<BTreeSet<_>>().len(), 2, "{p:?}");
                *leaders.entry(p[0]).or_insert(0) += 1;
                for &r in p {
                    *replicas.entry(r).or_insert(0) += 1;
                }
            }
            assert_eq!(leaders.values().copied().collect::<Vec<_>>(), [2, 2, 2]);
            assert_eq!(replicas.values().copied().collect::<Vec<_>>(), [4, 4, 4]);
        }
    }

    #[test]
    fn the_same_seed_places_the_same_way() {
        let a = place_replicas(&brokers(&[1, 2, 3, 4], &[]), 8, 3, &mut SplitMix64::new(7));
        let b = place_replicas(&brokers(&[1, 2, 3, 4], &[]), 8, 3, &mut SplitMix64::new(7));
        assert_eq!(a, b);
    }

    #[test]
    fn fenced_brokers_never_lead_and_come_last() {
        for seed in 0..20 {
            let mut rng = SplitMix64::new(seed);
            let placements = place_replicas(&brokers(&[1, 2, 3], &[2]), 4, 3, &mut rng).unwrap();
            for p in placements {
                assert_ne!(p[0], 2);
                assert_eq!(p[2], 2, "{p:?}");
            }
        }
    }

    #[test]
    fn impossible_replication_factors_are_refused() {
        let mut rng = SplitMix64::new(1);
        let err = place_replicas(&brokers(&[1, 2, 3], &[]), 1, 4, &mut rng).unwrap_err();
        assert!(err.contains("only 3 broker(s) are registered"), "{err}");
        let err = place_replicas(&brokers(&[1, 2], &[1, 2]), 1, 1, &mut rng).unwrap_err();
        assert_eq!(err, "All brokers are currently fenced.");
    }
}
