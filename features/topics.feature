Feature: Topics
  A topic is a named feed: producers publish to it, consumers read from it. It is a set of
  partition logs, each one ordered and append-only. The number of partitions is chosen when
  the topic is created (the broker's `num.partitions`, 1 by default, when nobody says), can
  grow later, and can never shrink.

  # The consumer here is assigned the topic's partitions; subscribing through a consumer
  # group, once the reference broker has groups, must give the same records.
  @C-TOP-1
  Scenario: A consumer of a topic receives all of its messages and none of another topic's
    Given a topic "payments" with 1 partition
    And a topic "ticket-bookings" with 1 partition
    When the producer sends these messages to "payments":
      | value |
      | pay-1 |
      | pay-2 |
      | pay-3 |
    And the producer sends these messages to "ticket-bookings":
      | value     |
      | booking-1 |
    Then a consumer of "payments" receives exactly:
      | value |
      | pay-1 |
      | pay-2 |
      | pay-3 |
    And a consumer of "ticket-bookings" receives exactly:
      | value     |
      | booking-1 |

  @C-TOP-2
  Scenario: The number of partitions is chosen when the topic is created
    Given a topic "orders" with 6 partitions
    Then topic "orders" has 6 partitions

  @C-TOP-2
  Scenario: A topic created without a partition count gets the broker default of one
    When the admin creates topic "payments" without a partition count
    Then topic "payments" has 1 partition

  @C-TOP-2
  Scenario: A topic created by its first use gets the broker default of one partition
    When a client asks for metadata of the unknown topic "recharges", allowing auto-creation
    Then topic "recharges" has 1 partition

  @C-TOP-2
  Scenario: Partitions can be added to a topic but never removed
    Given a topic "orders" with 6 partitions
    When the admin grows topic "orders" to 8 partitions
    Then topic "orders" has 8 partitions
    When the admin asks to shrink topic "orders" to 4 partitions
    Then the admin request fails with INVALID_PARTITIONS (37)
    And topic "orders" has 8 partitions

  @C-TOP-3
  Scenario: Each partition is a separate, append-only log
    Given a topic "orders" with 3 partitions
    When the producer sends these messages to "orders":
      | value   | partition |
      | order-1 | 0         |
      | order-2 | 0         |
      | order-3 | 1         |
      | order-4 | 0         |
    Then partition 0 of "orders" holds:
      | offset | value   |
      | 0      | order-1 |
      | 1      | order-2 |
      | 2      | order-4 |
    And partition 1 of "orders" holds:
      | offset | value   |
      | 0      | order-3 |
    And partition 2 of "orders" holds no messages
    When the producer sends these messages to "orders":
      | value   | partition |
      | order-5 | 0         |
    Then partition 0 of "orders" holds:
      | offset | value   |
      | 0      | order-1 |
      | 1      | order-2 |
      | 2      | order-4 |
      | 3      | order-5 |
