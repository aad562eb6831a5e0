Feature: Replication
  Each partition is kept by `replication.factor` replicas, each on a different broker. One of
  them, the leader, takes the writes; the others, followers, copy the leader's log. The
  controller (in Kafka 4, a KRaft quorum; no ZooKeeper) chooses where the replicas go when the
  topic is created, and spreads them and their leaderships over the brokers. A broker that is
  not the leader refuses a produce with NOT_LEADER_OR_FOLLOWER; Metadata, which any broker
  answers, tells clients where each leader is.

  Which broker gets which partition varies from run to run (the controller starts its
  round-robin at a random broker), so these scenarios check the shape of a placement (how
  many replicas, on how many brokers, how many leaderships each) and name brokers by their
  role, never by id.

  # A replication factor the cluster cannot reach is refused at creation, and nothing is
  # created. "One above the number of brokers" is 2 on one broker and 4 on three.
  @C-REP-6
  Scenario: A replication factor above the number of brokers is refused at creation
    When the admin creates topic "orders" with 1 partition and a replication factor one above the number of brokers
    Then the admin request fails with INVALID_REPLICATION_FACTOR (38)
    And topic "orders" does not exist

  # librdkafka and Kafka's own tools refuse these before sending anything; the broker, asked
  # directly, refuses them too. -1 is not bad input: it asks for the broker's
  # `default.replication.factor` (1 unless configured).
  @C-REP-6
  Scenario Outline: A replication factor of <said> is refused by the broker
    When the raw client asks to create topic "orders" with 1 partition and replication factor <factor>
    Then the admin request fails with INVALID_REPLICATION_FACTOR (38)
    And topic "orders" does not exist

    Examples:
      | said      | factor |
      | zero      | 0      |
      | minus two | -2     |

  @C-REP-6
  Scenario: A replication factor of minus one asks for the broker's default
    When the raw client asks to create topic "orders" with 1 partition and replication factor -1
    Then topic "orders" has 1 partition
    And every partition of "orders" has 1 replica

  @requires-multiple-brokers
  Rule: On a cluster of three brokers, replicas and leaderships are spread over the brokers

    Background:
      Given a cluster of 3 brokers

    @C-REP-6
    Scenario: A replication factor of 4 on three brokers is refused
      When the admin creates topic "orders" with 1 partition and replication factor 4
      Then the admin request fails with INVALID_REPLICATION_FACTOR (38)
      And topic "orders" does not exist

    @C-REP-1
    Scenario: Every partition has one leader and its replicas on different brokers
      Given a topic "orders" with 3 partitions and replication factor 3
      Then every partition of "orders" has 3 replicas on different brokers, one of them its leader
      And within 10 seconds every partition of "orders" has 3 in-sync replicas

    @C-REP-5
    Scenario: Each broker leads some partitions and follows others
      Given a topic "orders" with 3 partitions and replication factor 3
      Then each broker leads 1 partition of "orders" and follows 2

    @C-REP-4 @C-REP-5
    Scenario: With replication factor 1 there is one copy of each partition, and the partitions are spread over the brokers
      Given a topic "orders" with 4 partitions and replication factor 1
      Then every partition of "orders" has 1 replica
      And the brokers lead 2, 1 and 1 of the partitions of "orders"

    @C-REP-1 @C-REP-5
    Scenario: Partitions added later are replicated and led like the first ones
      Given a topic "orders" with 3 partitions and replication factor 3
      When the admin grows topic "orders" to 6 partitions
      Then topic "orders" has 6 partitions
      And every partition of "orders" has 3 replicas on different brokers, one of them its leader
      And each broker leads 2 partitions of "orders" and follows 4

    # Seed 004: "Say TestTopic with 2 brokers (b1, b2) with 4 partitions (p0,p1,p2,p3),
    # replication_factor = 1: b1 hold p0, p1; b2 hold p2, p3", blocks of neighbouring
    # partitions. Kafka's placer (KRaft's StripedReplicaPlacer) deals partitions out one
    # broker after another, so neighbouring partitions land on different brokers: on three
    # brokers, partitions 0, 1 and 2 each get their own (where partition 3 goes is chosen at
    # random among them).
    @C-REP-4 @folklore
    Scenario: Partitions are dealt out to the brokers in turn, not in blocks
      Given a topic "orders" with 4 partitions and replication factor 1
      Then partitions 0, 1 and 2 of "orders" are on 3 different brokers

    # Seed 002: "If the wrong broker gets the requests, it gives an error stating, 'Not a
    # leader for partition.'"
    @C-REP-2
    Scenario: A broker that holds no replica of a partition refuses a produce to it
      Given a topic "payments" with 1 partition and replication factor 1
      When the raw client produces 1 record to partition 0 of "payments" with acks 1 at a broker that holds no replica of it
      Then the produce response names topic "payments", partition 0, error NOT_LEADER_OR_FOLLOWER (6) and base offset -1
      And partition 0 of "payments" holds no messages

    @C-REP-2
    Scenario: A follower refuses a produce: only the leader takes writes
      Given a topic "payments" with 1 partition and replication factor 3
      When the raw client produces 1 record to partition 0 of "payments" with acks 1 at a follower
      Then the produce response names topic "payments", partition 0, error NOT_LEADER_OR_FOLLOWER (6) and base offset -1
      And partition 0 of "payments" holds no messages

    @C-REP-2
    Scenario: A broker that holds no replica of a partition refuses a fetch of it
      Given a topic "payments" with 1 partition and replication factor 1
      When the producer sends "pay-1" to partition 0 of "payments"
      And the raw client fetches partition 0 of "payments" at offset 0 from a broker that holds no replica of it
      Then the fetch fails with NOT_LEADER_OR_FOLLOWER (6)

    # Seeds 001 and 002: "Producers and consumers interact only with the leader of the
    # partition"; "If the wrong broker gets the requests, it gives an error". Since KIP-392
    # (Kafka 2.4) a follower serves a consumer's fetch (Fetch v11 and later), up to the high
    # watermark it knows: it is how consumers read from a replica in their own rack. Clients
    # still fetch from the leader unless the leader names another replica
    # (`preferred_read_replica`, only when the brokers have a `replica.selector.class`).
    # ListOffsets, on the other hand, only the leader answers.
    @C-REP-2 @folklore
    Scenario: A follower serves a consumer's fetch of what is committed
      Given a topic "payments" with 1 partition and replication factor 3
      And a producer with settings:
        | acks | all |
      When the producer sends these messages to "payments":
        | value |
        | pay-1 |
        | pay-2 |
        | pay-3 |
      Then within 10 seconds a fetch of partition 0 of "payments" at offset 0 from a follower returns "pay-1, pay-2, pay-3"
      But a ListOffsets of the latest offset of partition 0 of "payments" at a follower fails with NOT_LEADER_OR_FOLLOWER (6)

    # Seed 002: "This request can be sent to any broker because they all have cached metadata."
    @C-META-1
    Scenario: Every broker answers Metadata with the same leaders, replicas and in-sync replicas
      Given a topic "orders" with 3 partitions and replication factor 3
      Then within 10 seconds every broker answers Metadata for "orders" with the same leaders, replicas and in-sync replicas
