Feature: Partition assignment strategies
  Which member of a group gets which partitions is decided by the assignor the members
  agree on (`partition.assignment.strategy`), run by the group's leader, one of the
  consumers: the broker only passes the result on. range gives each member a contiguous
  range of each topic's partitions, the first members one more when they do not divide
  evenly; roundrobin deals the partitions out one by one; cooperative-sticky keeps what it
  can of the previous assignment and rebalances incrementally: a member gives up only the
  partitions that move, and keeps consuming the others throughout.

  Assignors order the members by member id, which the broker generates, so for dynamic
  members only the shape of the assignment is certain. (Kafka happens to make a member id
  from the `client.id`, a dash and a UUID, but the protocol promises nothing about it.)
  Static members (`group.instance.id`) are ordered by their instance id, by librdkafka as
  by the Java client, which makes the seeds' examples exact: with static members C1, C2 and
  C3, C1 is the first.

  Rule: range gives contiguous ranges, the first members one more

    @C-GRP-4
    Scenario: Six partitions over three static members: C1 reads P0, P1, C2 P2, P3 and C3 P4, P5
      Given a topic "orders" with 6 partitions
      And the consumers of group "order_processing_group" are static members, with group.instance.id set to their names
      When consumers C1, C2 and C3 join group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 3 members
      And the assignment of group "order_processing_group" is:
        | consumer | partitions |
        | C1       | 0, 1       |
        | C2       | 2, 3       |
        | C3       | 4, 5       |

    # Seed 001: "If a fourth consumer is added to the group, Kafka will redistribute the
    # partitions: Now, each consumer might handle only 1 partition". Six partitions do not
    # go one each to four consumers: range gives 2, 2, 1 and 1.
    @C-GRP-5 @folklore
    Scenario: A fourth consumer joining six partitions: two consumers keep 2 partitions, two get 1
      Given a topic "orders" with 6 partitions
      And the consumers of group "order_processing_group" are static members, with group.instance.id set to their names
      When consumers C1, C2 and C3 join group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 3 members
      When consumer C4 joins group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 4 members
      And the assignment of group "order_processing_group" is:
        | consumer | partitions |
        | C1       | 0, 1       |
        | C2       | 2, 3       |
        | C3       | 4          |
        | C4       | 5          |

    @C-GRP-10
    Scenario: Two consumers over four partitions: C1 reads P0, P1 and C2 reads P2, P3
      Given a topic "TestTopic" with 4 partitions
      And the consumers of group "group_a" are static members, with group.instance.id set to their names
      When consumers C1 and C2 join group "group_a" subscribed to "TestTopic"
      Then group "group_a" settles with 2 members
      And the assignment of group "group_a" is:
        | consumer | partitions |
        | C1       | 0, 1       |
        | C2       | 2, 3       |

    @C-GRP-10
    Scenario: Four consumers over four partitions: one partition each
      Given a topic "TestTopic" with 4 partitions
      And the consumers of group "group_b" are static members, with group.instance.id set to their names
      When consumers C1, C2, C3 and C4 join group "group_b" subscribed to "TestTopic"
      Then group "group_b" settles with 4 members
      And the assignment of group "group_b" is:
        | consumer | partitions |
        | C1       | 0          |
        | C2       | 1          |
        | C3       | 2          |
        | C4       | 3          |

    # range is an eager assignor: in every rebalance each member first gives up everything
    # it owns, even partitions it will get back.
    @C-GRP-6 @C-GRP-7
    Scenario: With range, a joining consumer makes every member give up all its partitions first
      Given a topic "orders" with 6 partitions
      When consumers C1, C2 and C3 join group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 3 members
      When consumer C4 joins group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 4 members
      And every member of group "order_processing_group" that owned partitions had all of them revoked in the rebalance

  Rule: roundrobin deals the partitions out one by one

    @C-GRP-6
    Scenario: Six partitions dealt round robin to three static members
      Given a topic "orders" with 6 partitions
      And the consumers of group "order_processing_group" are static members, with group.instance.id set to their names
      And the consumers of group "order_processing_group" use:
        | partition.assignment.strategy | roundrobin |
      When consumers C1, C2 and C3 join group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 3 members
      And the assignment of group "order_processing_group" is:
        | consumer | partitions |
        | C1       | 0, 3       |
        | C2       | 1, 4       |
        | C3       | 2, 5       |

  Rule: cooperative-sticky moves only what must move, and revokes nothing else

    @C-GRP-6
    Scenario: With cooperative-sticky, a fourth consumer takes one partition and nobody gives up a partition it keeps
      Given a topic "orders" with 6 partitions
      And the consumers of group "order_processing_group" use:
        | partition.assignment.strategy | cooperative-sticky |
      When consumers C1, C2 and C3 join group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 3 members
      And the members of group "order_processing_group" own 2, 2 and 2 partitions
      When consumer C4 joins group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 4 members
      And the members of group "order_processing_group" own 2, 2, 1 and 1 partitions
      And 1 partition of "orders" changed owner in group "order_processing_group"
      And no member of group "order_processing_group" had a partition revoked that it kept

    @C-GRP-6 @C-GRP-7
    Scenario: With cooperative-sticky, the partitions of a consumer that leaves move and the others stay put
      Given a topic "orders" with 6 partitions
      And the consumers of group "order_processing_group" use:
        | partition.assignment.strategy | cooperative-sticky |
      When consumers C1, C2 and C3 join group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 3 members
      When C3 leaves the group
      Then group "order_processing_group" settles with 2 members
      And 2 partitions of "orders" changed owner in group "order_processing_group"
      And no member of group "order_processing_group" had a partition revoked that it kept
      And the members of group "order_processing_group" own 3 and 3 partitions
