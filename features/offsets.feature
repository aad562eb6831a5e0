Feature: Offsets
  Every message appended to a partition gets the next offset of that partition, starting at
  0. The broker answers a successful produce with the topic, the partition and the offset
  it assigned.

  Background:
    Given a topic "orders" with 6 partitions

  @C-OFF-1
  Scenario: Offsets count up from 0 in each partition separately
    When the producer sends these messages to "orders":
      | value   | partition |
      | order-1 | 2         |
      | order-2 | 2         |
      | order-3 | 5         |
      | order-4 | 2         |
      | order-5 | 5         |
    Then the deliveries were acknowledged as:
      | value   | partition | offset |
      | order-1 | 2         | 0      |
      | order-2 | 2         | 1      |
      | order-3 | 5         | 0      |
      | order-4 | 2         | 2      |
      | order-5 | 5         | 1      |
    And the latest offset of partition 2 of "orders" is 3
    And the latest offset of partition 5 of "orders" is 2
    And the earliest offset of partition 2 of "orders" is 0

  @C-OFF-2
  Scenario: The produce response names the topic, the partition and the base offset
    When the raw client produces 3 records to partition 4 of "orders" with acks 1
    Then the produce response names topic "orders", partition 4, error NONE (0) and base offset 0
    When the raw client produces 2 records to partition 4 of "orders" with acks 1
    Then the produce response names topic "orders", partition 4, error NONE (0) and base offset 3
    When the raw client produces 1 record to partition 1 of "orders" with acks 1
    Then the produce response names topic "orders", partition 1, error NONE (0) and base offset 0

  @C-OFF-2
  Scenario: A producer learns the partition and offset of every message it sent
    When the producer sends these messages to "orders":
      | value   | key         |
      | order-1 | customer-42 |
      | order-2 | customer-42 |
    Then the deliveries were acknowledged as:
      | value   | partition | offset |
      | order-1 | 5         | 0      |
      | order-2 | 5         | 1      |
    And partition 5 of "orders" holds:
      | offset | value   |
      | 0      | order-1 |
      | 1      | order-2 |
