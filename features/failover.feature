Feature: Failover
  When a broker stops, the controller notices (it stops hearing the broker's heartbeats:
  `broker.session.timeout.ms`), fences it, takes it out of every in-sync replica set, and
  makes an in-sync follower the leader of each partition it led, with a higher leader epoch.
  Since a write acknowledged with `acks=all` is on every in-sync replica, the new leader has
  it: nothing acknowledged is lost (unclean leader election, which could lose it, is off by
  default). A partition whose only replica is on the stopped broker has no leader until the
  broker comes back; the other partitions carry on. A broker that starts again catches up
  from the leader and rejoins the in-sync replicas.

  These scenarios stop brokers as a crash would (SIGKILL for real Kafka), on a cluster of
  three. How many sends fail and are retried while the leadership moves varies from run to
  run, so the traces record what must hold whatever happened: every acknowledged message is
  there, at the offset its acknowledgement named, on every replica.

  @requires-multiple-brokers @requires-fault-control @serial
  Rule: A stopped leader is replaced by an in-sync follower, and nothing acknowledged is lost

    # The producer does not use idempotence (exactly_once.feature has the same sends with it): a
    # send whose acknowledgement was lost with the leader is sent again and may be stored
    # twice (Kafka 4.3.1 stored 201 records for the 200 messages in each run we made).
    # Delivery is at least once; what is checked is that nothing acknowledged is lost and
    # that no offset ever holds two different messages.
    @C-REP-3 @C-ACK-3
    Scenario: When the leader stops, an in-sync follower takes over and no acknowledged message is lost
      Given a topic "payments" with 1 partition, replication factor 3 and configs:
        | min.insync.replicas | 2 |
      And a producer with settings:
        | acks               | all   |
        | linger.ms          | 5     |
        | retry.backoff.ms   | 100   |
        | message.timeout.ms | 30000 |
      When the producer sends 200 messages "pay-1" to "pay-200" to partition 0 of "payments", and the leader is stopped once the first 100 are acknowledged
      Then within 20 seconds partition 0 of "payments" has a new leader, one of its followers, with a higher leader epoch
      And within 20 seconds partition 0 of "payments" has 2 in-sync replicas
      And a consumer of partition 0 of "payments" reads every acknowledged message at the offset its acknowledgement named
      When the stopped broker is started again
      Then within 60 seconds partition 0 of "payments" has 3 in-sync replicas
      And every replica of partition 0 of "payments" holds the same messages at the same offsets

    # A client that knew the old leader is told so (its connection breaks, or the broker
    # answers NOT_LEADER_OR_FOLLOWER), asks Metadata again and sends to the new leader. The
    # leader epoch is how brokers and clients tell an old leadership from the current one
    # (KIP-320): a request naming the stopped leader's epoch is fenced, one naming an epoch
    # the leader has not reached yet is unknown to it.
    @C-REP-3 @C-META-1
    Scenario: After a failover the producer finds the new leader, which fences requests naming the old leader epoch
      Given a topic "payments" with 1 partition and replication factor 3
      And a producer with settings:
        | acks               | all   |
        | message.timeout.ms | 30000 |
      When the producer sends "pay-1" to partition 0 of "payments"
      And the leader of partition 0 of "payments" is stopped
      And the producer sends "pay-2" to partition 0 of "payments"
      Then the deliveries were acknowledged as:
        | value | partition | offset |
        | pay-1 | 0         | 0      |
        | pay-2 | 0         | 1      |
      And within 20 seconds partition 0 of "payments" has a new leader, one of its followers, with a higher leader epoch
      And a fetch of partition 0 of "payments" from its leader, naming the stopped leader's leader epoch, fails with FENCED_LEADER_EPOCH (74)
      And a fetch of partition 0 of "payments" from its leader, naming a later leader epoch, fails with UNKNOWN_LEADER_EPOCH (75)
      And a fetch of partition 0 of "payments" from its leader, naming its current leader epoch, returns "pay-1, pay-2"

    # Seeds 000, 001 and 002: ZooKeeper "acts as a manager for Kafka clusters", does "leader
    # election for partitions", and "failures are also detected by the Zookeeper". Kafka 4
    # has no ZooKeeper at all (KIP-500; removed in 4.0): a quorum of KRaft controllers keeps
    # the metadata, notices a broker that stops heartbeating, and elects the new leaders.
    # This cluster runs without any ZooKeeper.
    @C-META-2 @folklore
    Scenario: Without ZooKeeper, the controller notices a stopped broker, elects new leaders and shrinks the in-sync replicas
      Given a topic "orders" with 3 partitions and replication factor 3
      When the leader of partition 0 of "orders" is stopped
      Then within 20 seconds partition 0 of "orders" has a new leader, one of its followers, with a higher leader epoch
      And within 20 seconds every partition of "orders" has 2 in-sync replicas, none of them the stopped broker
      And the stopped broker leads no partition of "orders"
      When the stopped broker is started again
      Then within 60 seconds every partition of "orders" has 3 in-sync replicas

  @requires-multiple-brokers @requires-fault-control @serial
  Rule: Only an in-sync replica can become leader

    # Seeds 001 and 003: "If the leader fails, one of the followers will automatically become
    # the new leader." Only a follower among the in-sync replicas can: one that fell behind
    # may lack acknowledged messages, so Kafka (`unclean.leader.election.enable=false`, the
    # default) leaves the partition without a leader, rather than lose them, until an in-sync
    # replica comes back. Note also that acks=all is acknowledged here by the leader alone:
    # it waits for the in-sync replicas, which are down to the leader (min.insync.replicas=1).
    # Stopping both brokers of the partition stops two of the three KRaft controllers as well
    # (every node is both here): the controllers act again once the follower is back.
    @C-REP-3 @folklore
    Scenario: A follower that fell out of sync does not become leader: the partition waits for its in-sync replica
      Given a topic "ledger" with 1 partition and replication factor 2
      When the follower of partition 0 of "ledger" is stopped
      Then within 20 seconds partition 0 of "ledger" has 1 in-sync replica
      Given a producer with settings:
        | acks | all |
      When the producer sends "entry-1" to partition 0 of "ledger"
      Then the deliveries were acknowledged as:
        | value   | partition | offset |
        | entry-1 | 0         | 0      |
      When the leader of partition 0 of "ledger" is stopped
      And the stopped follower is started again
      Then within 30 seconds partition 0 of "ledger" has no leader
      When the stopped leader is started again
      Then within 60 seconds partition 0 of "ledger" has a leader
      And partition 0 of "ledger" holds:
        | offset | value   |
        | 0      | entry-1 |
      And within 60 seconds partition 0 of "ledger" has 2 in-sync replicas

  @requires-multiple-brokers @requires-fault-control @serial
  Rule: With acks=1 an acknowledged message can be lost when the leader fails

    # Seed 001: "acks=1: The producer gets an acknowledgment from the leader broker once the
    # message is written to the leader's log." That is all it promises. Here both followers
    # are frozen (SIGSTOP) before they copy "pay-2", the leader dies, and a follower that
    # never had it becomes leader: the offset the producer was given now holds another
    # message, and the old leader, back, drops "pay-2" to match the new leader's log.
    # (A frozen follower still gets "pay-2" if the fetch it sent before freezing is waiting at
    # the leader when "pay-2" arrives: the answer waits in its socket. Hence the wait for
    # those fetches to run out, `replica.fetch.wait.max.ms`, before "pay-2" is sent.)
    # (Freezing two of the three nodes also freezes two of the three KRaft controllers, so the
    # in-sync replicas cannot shrink meanwhile; a cluster with separate controllers would
    # drop the frozen followers from them after `replica.lag.time.max.ms`, and then leave the
    # partition without a leader rather than lose "pay-2".)
    @C-ACK-2
    Scenario: A message acknowledged with acks=1 is lost when the leader dies before its followers copy it
      Given a topic "payments" with 1 partition and replication factor 3
      And a producer with settings:
        | acks | 1 |
      When the producer sends "pay-1" to partition 0 of "payments"
      Then within 10 seconds the latest offset of partition 0 of "payments" is 1
      When the followers of partition 0 of "payments" are paused, and their fetches in flight have run out
      And the producer sends "pay-2" to partition 0 of "payments"
      Then the deliveries were acknowledged as:
        | value | partition | offset |
        | pay-1 | 0         | 0      |
        | pay-2 | 0         | 1      |
      When the leader of partition 0 of "payments" is stopped
      And the paused followers are resumed
      Then within 30 seconds partition 0 of "payments" has a new leader, one of its followers, with a higher leader epoch
      And within 10 seconds partition 0 of "payments" holds exactly "pay-1"
      When the producer sends "pay-3" to partition 0 of "payments"
      Then the deliveries were acknowledged as:
        | value | partition | offset |
        | pay-1 | 0         | 0      |
        | pay-2 | 0         | 1      |
        | pay-3 | 0         | 1      |
      When the stopped broker is started again
      Then within 60 seconds partition 0 of "payments" has 3 in-sync replicas
      And every replica of partition 0 of "payments" holds the same messages at the same offsets
      And partition 0 of "payments" holds:
        | offset | value |
        | 0      | pay-1 |
        | 1      | pay-3 |

  @requires-multiple-brokers @requires-fault-control @serial
  Rule: A stopped follower does not stop acks=all while enough replicas stay in sync

    # The in-sync replicas (2) still reach min.insync.replicas (2). With min.insync.replicas=3
    # the same write fails with NOT_ENOUGH_REPLICAS (retry.feature).
    @C-ACK-3
    Scenario: acks=all succeeds with a follower stopped while the in-sync replicas still reach min.insync.replicas
      Given a topic "ledger" with 1 partition, replication factor 3 and configs:
        | min.insync.replicas | 2 |
      And a follower of partition 0 of "ledger" has been stopped
      And within 20 seconds partition 0 of "ledger" has 2 in-sync replicas
      And a producer with settings:
        | acks | all |
      When the producer sends "entry-1" to partition 0 of "ledger"
      Then the deliveries were acknowledged as:
        | value   | partition | offset |
        | entry-1 | 0         | 0      |
      And partition 0 of "ledger" holds:
        | offset | value   |
        | 0      | entry-1 |

  @requires-multiple-brokers @requires-fault-control @serial
  Rule: One stopped broker takes only its own partitions out of service

    # Seed 000: "Even if a partition goes down, the other partitions keep serving". With one
    # replica per partition, the three partitions of "orders" are on three different brokers
    # (see replication.feature), so stopping the leader of partition 0 stops only it.
    @C-AVL-1
    Scenario: A partition whose only replica is stopped has no leader, and the others keep serving
      Given a topic "orders" with 3 partitions and replication factor 1
      When the leader of partition 0 of "orders" is stopped
      Then within 20 seconds partition 0 of "orders" has no leader
      Given a producer with settings:
        | message.timeout.ms | 3000 |
      When the producer sends these messages to "orders":
        | value   | partition |
        | order-1 | 1         |
        | order-2 | 2         |
      Then the deliveries were acknowledged as:
        | value   | partition | offset |
        | order-1 | 1         | 0      |
        | order-2 | 2         | 0      |
      And partition 1 of "orders" holds:
        | offset | value   |
        | 0      | order-1 |
      And partition 2 of "orders" holds:
        | offset | value   |
        | 0      | order-2 |
      When the producer sends "order-3" to partition 0 of "orders"
      Then the delivery fails with _MSG_TIMED_OUT (-192)
      When the stopped broker is started again
      Then within 60 seconds partition 0 of "orders" has a leader
