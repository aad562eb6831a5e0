Feature: Acknowledgements
  `acks` says how long the broker waits before it answers a produce. With `acks=0` it does
  not answer at all: the producer waits for nothing and cannot learn the offset. With
  `acks=1` the leader answers once the message is in its log, and from then on it can be
  read. With `acks=all` it answers once every in-sync replica has it, provided there are at
  least `min.insync.replicas` of them; but never more are required than the partition has
  replicas.

  Background:
    Given a topic "payments" with 1 partition

  @C-ACK-1
  Scenario: With acks=0 the broker sends no produce response at all
    When the raw client sends a Produce of 3 records to partition 0 of "payments" with acks 0 and correlation id 7, then an ApiVersions request with correlation id 8 on the same connection
    Then the next response on that connection carries correlation id 8
    And no other response arrives on that connection
    And the latest offset of partition 0 of "payments" is 3

  @C-ACK-1
  Scenario: An acks=0 producer is told nothing about where its messages went
    Given a producer with settings:
      | acks | 0 |
    When the producer sends these messages to "payments":
      | value |
      | pay-1 |
      | pay-2 |
    Then every delivery succeeded without an offset
    And partition 0 of "payments" holds:
      | offset | value |
      | 0      | pay-1 |
      | 1      | pay-2 |

  @C-ACK-2
  Scenario: With acks=1 an acknowledged message can be read at once
    Given a producer with settings:
      | acks | 1 |
    When the producer sends "pay-1" to partition 0 of "payments"
    Then the deliveries were acknowledged as:
      | value | partition | offset |
      | pay-1 | 0         | 0      |
    And a single fetch of partition 0 of "payments" at offset 0, without waiting, returns "pay-1" at offset 0

  # Earlier versions of this spec (and of the reference broker) expected NOT_ENOUGH_REPLICAS
  # here: "on a one-broker cluster a topic with min.insync.replicas=2 can never satisfy
  # acks=all". Real Kafka 4.3 accepts the write: since Kafka 3.7 (KAFKA-15583) the broker
  # compares the in-sync replicas with min(min.insync.replicas, replicas), so a setting above
  # the replica count is capped. NOT_ENOUGH_REPLICAS needs replicas that are out of sync
  # (retry.feature stops one).
  @C-ACK-3
  Scenario: min.insync.replicas above the replica count does not block acks=all
    Given a topic "ledger" with 1 partition and configs:
      | min.insync.replicas | 2 |
    And a producer with settings:
      | acks | all |
    When the producer sends "entry-1" to partition 0 of "ledger"
    Then the deliveries were acknowledged as:
      | value   | partition | offset |
      | entry-1 | 0         | 0      |
