Feature: Ordering
  Within a partition, messages are strictly ordered: consumers read them in the order they
  were written. Across partitions there is no order at all: each partition counts its own
  offsets, so "which came first" has no answer between two partitions.

  Background:
    Given a topic "orders" with 6 partitions

  @C-ORD-1
  Scenario: Messages of one key keep their order; offsets order nothing across partitions
    When the producer sends 30 messages "order-1" to "order-30" to "orders", with keys cycling through "alice", "bob", "carol"
    Then a consumer of "orders" reads the messages of each key in the order they were sent
    And each partition of "orders" numbers its messages 0, 1, 2, … without gaps

  @C-ORD-1
  Scenario: Two partitions each start at offset 0, so offsets order nothing across them
    When the producer sends these messages to "orders":
      | value  | partition |
      | first  | 0         |
      | second | 1         |
    Then the deliveries were acknowledged as:
      | value  | partition | offset |
      | first  | 0         | 0      |
      | second | 1         | 0      |
    And partition 1 of "orders" holds:
      | offset | value  |
      | 0      | second |

  @C-ORD-2
  Scenario: A consumer reads a partition in the order it was written, across many batches
    When the producer sends 100 messages "payment-1" to "payment-100" to partition 3 of "orders", flushing every 10
    Then partition 3 of "orders" holds 100 messages "payment-1" to "payment-100" at offsets 0 to 99
    And a consumer assigned to partition 3 of "orders" at offset 40 reads "payment-41" to "payment-100" in order
