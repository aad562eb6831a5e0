Feature: KIP-848 consumer groups (group.protocol=consumer)
  Since Kafka 4.0 a consumer may use the consumer group protocol of KIP-848 instead of the
  classic one: it sends ConsumerGroupHeartbeat to the group coordinator, and the
  coordinator itself computes the assignment (the `uniform` assignor unless the group asks
  for `range`) and hands it out one heartbeat at a time. A member gives up a partition
  before the coordinator gives it to another member, and the members that keep their
  partitions go on reading them through a rebalance: there is no stop-the-world JoinGroup
  and SyncGroup round in which every member stops.

  The consumers here are librdkafka consumers with `group.protocol=consumer`, and in the
  scenario tagged `@requires-java-client`, Apache Kafka's own Java consumer (4.3.1), which
  runs where a JDK 17+ is (it is skipped, with the reason, elsewhere). The claim ids are
  this project's, for claims the seeds do not make:
  - C-GRP-848-1: with the consumer protocol, a member that joins gets a share of the
    partitions and the members that keep partitions lose none of them meanwhile
    (incremental reconciliation).
  - C-GRP-848-2: a consumer-protocol member may join a live classic group (a rolling
    upgrade of the consumers): the group becomes a consumer group, its classic members stay
    in it speaking the classic protocol, and the partitions are shared between both kinds;
    when the last consumer-protocol member leaves, the group is a classic group again
    (`group.consumer.migration.policy`, `bidirectional` by default).

  Rule: With the consumer protocol a rebalance moves only the partitions that change owner

    @C-GRP-848-1
    Scenario: A third consumer joining a consumer-protocol group takes two partitions and nobody else loses one it keeps
      Given a topic "orders" with 6 partitions
      And the consumers of group "order_processing_group" use:
        | group.protocol | consumer |
      When consumers C1 and C2 join group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 2 members
      And every partition of "orders" is owned by exactly one member of group "order_processing_group"
      And the members of group "order_processing_group" own 3 and 3 partitions
      When consumer C3 joins group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 3 members
      And every partition of "orders" is owned by exactly one member of group "order_processing_group"
      And the members of group "order_processing_group" own 2, 2 and 2 partitions
      And 2 partitions of "orders" changed owner in group "order_processing_group"
      And no member of group "order_processing_group" had a partition revoked that it kept

    @C-GRP-848-1 @requires-java-client
    Scenario: Java consumers with group.protocol=consumer share a topic, commit, and a third joining moves two partitions
      Given a topic "orders" with 6 partitions
      And the consumers of group "order_processing_group" are Java consumers using:
        | group.protocol | consumer |
      When consumers J1 and J2 join group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 2 members
      And every partition of "orders" is owned by exactly one member of group "order_processing_group"
      And the members of group "order_processing_group" own 3 and 3 partitions
      When J1 commits offset 4 for partition 0 of "orders"
      Then the committed offset of partition 0 of "orders" for group "order_processing_group" is 4
      When consumer J3 joins group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 3 members
      And every partition of "orders" is owned by exactly one member of group "order_processing_group"
      And the members of group "order_processing_group" own 2, 2 and 2 partitions
      And 2 partitions of "orders" changed owner in group "order_processing_group"
      And no member of group "order_processing_group" had a partition revoked that it kept

  Rule: A classic group converts to a consumer group and back while its consumers keep running

    @C-GRP-848-2 @requires-java-client
    Scenario: A consumer-protocol consumer joining a live classic group shares its partitions, and when it leaves the classic consumer gets them back
      Given a topic "orders" with 6 partitions
      And the consumers of group "order_processing_group" are Java consumers using:
        | group.protocol | classic |
      And consumer J2 uses:
        | group.protocol | consumer |
      When consumer J1 joins group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 1 member
      And every partition of "orders" is owned by exactly one member of group "order_processing_group"
      When consumer J2 joins group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 2 members
      And every partition of "orders" is owned by exactly one member of group "order_processing_group"
      And the members of group "order_processing_group" own 3 and 3 partitions
      When J2 leaves the group
      Then group "order_processing_group" settles with 1 member
      And every partition of "orders" is owned by exactly one member of group "order_processing_group"
