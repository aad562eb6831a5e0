Feature: Consumer groups
  Consumers that share a group id split the partitions of the topics they subscribe to:
  within the group each partition is read by exactly one member at a time, and a member may
  own several. Members beyond the number of partitions are members all the same, without a
  partition. A join, a leave or a failed member makes the group rebalance. One group over a
  topic is a queue; one group per consumer is publish/subscribe.

  The consumers here are librdkafka consumers that subscribe (the classic group protocol).
  The broker that coordinates the group (its group coordinator) collects the members,
  passes the assignment that one member, the leader, computed to everybody, and watches
  their heartbeats. Members are dynamic unless a scenario makes them static; the broker
  names dynamic members itself and assignors order members by those names, so which
  consumer gets which partitions is nothing a client can count on, and these scenarios say
  "in some order" (`assignment.feature` has the exact assignments of static members).

  Rule: Within a group each partition has exactly one owner

    @C-GRP-1
    Scenario: Three consumers of order_processing_group share the six partitions of orders
      Given a topic "orders" with 6 partitions
      When consumers C1, C2 and C3 join group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 3 members
      And every partition of "orders" is owned by exactly one member of group "order_processing_group"
      And the members of group "order_processing_group" own, in some order:
        | partitions |
        | 0, 1       |
        | 2, 3       |
        | 4, 5       |

    @C-GRP-1 @C-GRP-9
    Scenario: One group over a topic is a queue: each message goes to one member of the group
      Given a topic "orders" with 4 partitions
      When consumers C1 and C2 join group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 2 members
      When the messages "order-1" to "order-8" are sent to "orders", one partition after another
      Then the members of group "order_processing_group" together receive "order-1" to "order-8", each message once

  Rule: Consumers beyond the number of partitions are idle members

    # Seed 003: "There can not be more consumers than partitions within a consumer group".
    # They can: they join and are members, they are just given no partition.
    @C-GRP-3 @folklore
    Scenario: More consumers than partitions may join; the extra ones own nothing
      Given a topic "orders" with 2 partitions
      When consumers C1, C2, C3 and C4 join group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 4 members
      And the members of group "order_processing_group" own, in some order:
        | partitions |
        | 0          |
        | 1          |
        | none       |
        | none       |

    @C-GRP-2
    Scenario: An idle consumer takes over a partition when a member that owns one leaves
      Given a topic "orders" with 2 partitions
      When consumers C1, C2 and C3 join group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 3 members
      And the members of group "order_processing_group" own, in some order:
        | partitions |
        | 0          |
        | 1          |
        | none       |
      When a member of group "order_processing_group" that owns a partition leaves the group
      Then group "order_processing_group" settles with 2 members
      And the member of group "order_processing_group" that was idle now owns 1 partition

  Rule: A join, a leave or a failure makes the group rebalance

    @C-GRP-7
    Scenario: A fourth consumer joining makes the group rebalance and gives it a share
      Given a topic "orders" with 6 partitions
      When consumers C1, C2 and C3 join group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 3 members
      When consumer C4 joins group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 4 members
      And every partition of "orders" is owned by exactly one member of group "order_processing_group"
      And the members of group "order_processing_group" own, in some order:
        | partitions |
        | 0, 1       |
        | 2, 3       |
        | 4          |
        | 5          |

    # A member that leaves says so (LeaveGroup): the coordinator rebalances at once, without
    # waiting for the member's session timeout, here 30 seconds.
    @C-GRP-7
    Scenario: A consumer that leaves is gone at once, long before its session timeout
      Given a topic "orders" with 6 partitions
      And the consumers of group "order_processing_group" use:
        | session.timeout.ms   | 30000 |
        | max.poll.interval.ms | 30000 |
      When consumers C1, C2 and C3 join group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 3 members
      When C3 leaves the group
      Then within 5 seconds group "order_processing_group" settles with 2 members
      And the members of group "order_processing_group" own, in some order:
        | partitions |
        | 0, 1, 2    |
        | 3, 4, 5    |

    # Seed 001: "Each consumer in a group sends heartbeat signals to Zookeeper to indicate that
    # it is alive. If a consumer fails to send a heartbeat, Zookeeper marks it as dead and
    # triggers a rebalance." Heartbeats go to the group coordinator, a broker; ZooKeeper
    # never took part in the groups of today's consumers (and Kafka 4 has no ZooKeeper).
    #
    # How the consumer fails: the members are static (KIP-345), and a static member that
    # shuts down sends no LeaveGroup, so C3's end is a silent disappearance: no more
    # heartbeats, nothing else. The coordinator still lists it until its session timeout
    # (2 seconds) passes without a heartbeat; then it removes C3 and the group rebalances.
    # (A dynamic librdkafka consumer always sends LeaveGroup when it closes; that is the
    # scenario above.)
    @C-GRP-7 @folklore
    Scenario: A consumer that stops heartbeating is removed by the group coordinator after its session timeout
      Given a topic "orders" with 6 partitions
      And the consumers of group "order_processing_group" are static members, with group.instance.id set to their names
      And the consumers of group "order_processing_group" use:
        | session.timeout.ms    | 2000 |
        | heartbeat.interval.ms | 300  |
      When consumers C1, C2 and C3 join group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 3 members
      And the assignment of group "order_processing_group" is:
        | consumer | partitions |
        | C1       | 0, 1       |
        | C2       | 2, 3       |
        | C3       | 4, 5       |
      When C3 ends without leaving the group
      Then the coordinator still lists C3 as a member of group "order_processing_group"
      And within 10 seconds group "order_processing_group" settles with 2 members
      And the assignment of group "order_processing_group" is:
        | consumer | partitions |
        | C1       | 0, 1, 2    |
        | C2       | 3, 4, 5    |

    # The same for a dynamic member: C3 is driven by the scenario over the raw protocol. It
    # joins (JoinGroup, SyncGroup), takes its share, and then sends nothing at all while its
    # connection stays open, as a hung process's would. Only the missing heartbeats tell the
    # coordinator, after C3's session timeout of 2 seconds.
    @C-GRP-7 @folklore
    Scenario: A dynamic member that goes silent is removed after its session timeout and its partitions move
      Given a topic "orders" with 6 partitions
      When consumers C1 and C2 join group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 2 members
      When C3 joins group "order_processing_group" subscribed to "orders" over the raw protocol with a 2000 ms session timeout, and then sends nothing more
      Then group "order_processing_group" settles with 3 members
      And the members of group "order_processing_group" own, in some order:
        | partitions |
        | 0, 1       |
        | 2, 3       |
        | 4, 5       |
      And within 10 seconds group "order_processing_group" settles with 2 members
      And the members of group "order_processing_group" own, in some order:
        | partitions |
        | 0, 1, 2    |
        | 3, 4, 5    |
      And a heartbeat from C3 now answers UNKNOWN_MEMBER_ID (25)

    # librdkafka heartbeats from a background thread, so a consumer that stops polling keeps
    # its membership alive; what removes it is `max.poll.interval.ms` (KIP-62): the client
    # itself notices that the application stopped polling and leaves the group. That is a
    # leave decided by the client, not the coordinator's failure detection.
    @C-GRP-7
    Scenario: A consumer that stops polling leaves the group itself once max.poll.interval.ms passes
      Given a topic "orders" with 6 partitions
      And consumer C3 uses:
        | session.timeout.ms   | 1500 |
        | max.poll.interval.ms | 2000 |
      When consumers C1, C2 and C3 join group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 3 members
      When C3 stops polling
      Then within 10 seconds group "order_processing_group" settles with 2 members
      And C3 reports _MAX_POLL_EXCEEDED (-147) when it polls again

  Rule: One group per consumer is publish/subscribe

    @C-GRP-9 @C-GRP-8
    Scenario: Consumers in groups of their own each receive every message
      Given a topic "orders" with 4 partitions
      When consumer C1 joins group "billing" subscribed to "orders"
      And consumer C2 joins group "shipping" subscribed to "orders"
      Then group "billing" settles with 1 member
      And group "shipping" settles with 1 member
      When the messages "order-1" to "order-8" are sent to "orders", one partition after another
      Then C1 receives every one of "order-1" to "order-8"
      And C2 receives every one of "order-1" to "order-8"
