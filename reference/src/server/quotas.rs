//! Connection quotas: `max.connections` for the whole broker, `max.connections.per.ip` and
//! its `max.connections.per.ip.overrides` per client address.
//!
//! A connection over a quota is accepted and closed at once (the accept loop logs it), so the
//! client sees the close and backs off instead of hanging in the listen backlog. For the
//! per-IP quotas that is exactly Kafka's behaviour (`TooManyConnectionsException`). For
//! `max.connections` Kafka's acceptor instead stops accepting until a slot frees up (and,
//! on its protected inter-broker listener, closes the least recently used connection): new
//! clients then wait in the backlog until their connection setup times out, which is the
//! lock-out issue 9 saw with the old fixed limit of 4,096. The reference has one listener, so
//! it refuses the newcomer and keeps serving the connections it has.
//!
//! The count is taken with a [`ConnectionSlot`] that gives it back when dropped, however the
//! connection task ends.
//!
//! # References
//! - `kafka.network.ConnectionQuotas` (core/src/main/scala/kafka/network/SocketServer.scala)
//! - KIP-402 (`max.connections`), broker configs `max.connections.per.ip`,
//!   `max.connections.per.ip.overrides`: <https://kafka.apache.org/documentation/#brokerconfigs>

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::config::BrokerConfig;

/// Why a new connection was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("too many connections from {ip} (max.connections.per.ip: {limit})")]
    PerIp { ip: IpAddr, limit: usize },
    #[error("too many connections to this broker (max.connections: {limit})")]
    Broker { limit: usize },
}

/// The open connections, counted against the broker's quotas.
#[derive(Debug)]
pub struct ConnectionQuotas {
    max_connections: usize,
    max_per_ip: usize,
    per_ip_overrides: HashMap<IpAddr, usize>,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

impl ConnectionQuotas {
    pub fn new(
        max_connections: usize,
        max_per_ip: usize,
        per_ip_overrides: &BTreeMap<IpAddr, i32>,
    ) -> Arc<ConnectionQuotas> {
        let per_ip_overrides = per_ip_overrides
            .iter()
            .map(|(ip, n)| (ip.to_canonical(), usize::try_from(*n).unwrap_or(0)))
            .collect();
        Arc::new(ConnectionQuotas {
            max_connections,
            max_per_ip,
            per_ip_overrides,
            counts: Mutex::new(Counts::default()),
        })
    }

    pub fn from_config(config: &BrokerConfig) -> Arc<ConnectionQuotas> {
        let count = |n: i32| usize::try_from(n).unwrap_or(0);
        ConnectionQuotas::new(
            count(config.max_connections),
            count(config.max_connections_per_ip),
            &config.max_connections_per_ip_overrides,
        )
    }

    /// Counts a new connection from `ip`, or says which quota it is over.
    pub fn try_open(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, Refused> {
        let ip = ip.to_canonical();
        let limit = self
            .per_ip_overrides
            .get(&ip)
            .copied()
            .unwrap_or(self.max_per_ip);
        let mut counts = self.counts();
        let from_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= limit {
            return Err(Refused::PerIp { ip, limit });
        }
        if counts.total >= self.max_connections {
            return Err(Refused::Broker {
                limit: self.max_connections,
            });
        }
        counts.total += 1;
        *counts.per_ip.entry(ip).or_insert(0) += 1;
        Ok(ConnectionSlot {
            quotas: self.clone(),
            ip,
        })
    }

    /// Open connections counted now.
    pub fn open_connections(&self) -> usize {
        self.counts().total
    }

    /// Open connections from `ip` counted now.
    pub fn open_from(&self, ip: IpAddr) -> usize {
        let counts = self.counts();
        counts.per_ip.get(&ip.to_canonical()).copied().unwrap_or(0)
    }

    fn close(&self, ip: IpAddr) {
        let mut counts = self.counts();
        let from_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        assert!(
            from_ip > 0 && counts.total > 0,
            "closed a connection never counted"
        );
        if from_ip == 1 {
            counts.per_ip.remove(&ip);
        } else {
            counts.per_ip.insert(ip, from_ip - 1);
        }
        counts.total -= 1;
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        // The counts are only changed by whole, checked steps: a panic elsewhere while the
        // lock was held leaves them consistent.
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One open connection's place in the quotas; given back on drop.
#[derive(Debug)]
pub struct ConnectionSlot {
    quotas: Arc<ConnectionQuotas>,
    ip: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.quotas.close(self.ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn per_ip_quota_refuses_the_next_connection_and_frees_on_close() {
        let quotas = ConnectionQuotas::new(100, 2, &BTreeMap::new());
        let a = quotas.try_open(ip("10.0.0.1")).unwrap();
        let _b = quotas.try_open(ip("10.0.0.1")).unwrap();
        assert_eq!(
            quotas.try_open(ip("10.0.0.1")).unwrap_err(),
            Refused::PerIp {
                ip: ip("10.0.0.1"),
                limit: 2
            }
        );
        let _other = quotas.try_open(ip("10.0.0.2")).unwrap();
        assert_eq!(quotas.open_connections(), 3);
        drop(a);
        assert_eq!(quotas.open_from(ip("10.0.0.1")), 1);
        assert!(quotas.try_open(ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn overrides_win_over_the_default_and_ipv4_mapped_addresses_count_as_ipv4() {
        let overrides = BTreeMap::from([(ip("127.0.0.1"), 1), (ip("10.0.0.9"), 0)]);
        let quotas = ConnectionQuotas::new(100, 5, &overrides);
        let _a = quotas.try_open(ip("127.0.0.1")).unwrap();
        assert!(quotas.try_open(ip("::ffff:127.0.0.1")).is_err());
        assert!(quotas.try_open(ip("10.0.0.9")).is_err());
        let held: Vec<_> = (0..5)
            .map(|_| quotas.try_open(ip("10.0.0.3")).unwrap())
            .collect();
        assert!(quotas.try_open(ip("10.0.0.3")).is_err());
        drop(held);
        assert_eq!(quotas.open_connections(), 1);
    }

    #[test]
    fn max_connections_counts_every_address() {
        let quotas = ConnectionQuotas::new(2, usize::MAX, &BTreeMap::new());
        let _a = quotas.try_open(ip("10.0.0.1")).unwrap();
        let b = quotas.try_open(ip("10.0.0.2")).unwrap();
        assert_eq!(
            quotas.try_open(ip("10.0.0.3")).unwrap_err(),
            Refused::Broker { limit: 2 }
        );
        drop(b);
        assert!(quotas.try_open(ip("10.0.0.3")).is_ok());
        assert_eq!(quotas.open_from(ip("10.0.0.3")), 0);
    }
}
