Feature: Partitioning
  The producer chooses the partition. With an explicit partition, that one. With a key, a
  hash of the key modulo the number of partitions, so one key always lands in one
  partition; but *which* hash depends on the client: Apache Kafka's Java producer uses
  murmur2 (librdkafka's `murmur2_random`), librdkafka's own default `consistent_random` uses
  CRC32, and the same key can land in different partitions with each. Without a key, modern
  producers stick to one partition for a while (KIP-480) rather than round-robin.

  @C-PART-1
  Scenario Outline: A keyed message goes to hash(key) mod partitions: <key> over <partitions> with <partitioner>
    Given a topic "orders" with <partitions> partitions
    And a producer using the "<partitioner>" partitioner
    When the producer sends 5 messages with key "<key>" to "orders"
    Then all of them land in partition <partition>

    # Expected partitions computed by Kafka's Java `Utils.murmur2` (fixtures/partitioning/murmur2.tsv).
    Examples: Java's default partitioner (librdkafka murmur2_random)
      | partitioner    | key         | partitions | partition |
      | murmur2_random | order-1     | 6          | 4         |
      | murmur2_random | order-7     | 6          | 1         |
      | murmur2_random | order-10    | 6          | 0         |
      | murmur2_random | customer-42 | 6          | 3         |
      | murmur2_random | payment-7   | 3          | 0         |
      | murmur2_random | user-1001   | 12         | 10        |
      | murmur2_random | zürich      | 6          | 2         |

    # Expected partitions are zlib's CRC-32 of the key's UTF-8 bytes, modulo the partitions.
    Examples: librdkafka's default partitioner (consistent_random, CRC32)
      | partitioner       | key         | partitions | partition |
      | consistent_random | order-1     | 6          | 1         |
      | consistent_random | order-7     | 6          | 2         |
      | consistent_random | order-10    | 6          | 5         |
      | consistent_random | customer-42 | 6          | 5         |
      | consistent_random | payment-7   | 3          | 1         |
      | consistent_random | user-1001   | 12         | 3         |
      | consistent_random | zürich      | 6          | 0         |

  @C-PART-1
  Scenario Outline: Every key lands where its partitioner's hash puts it: <partitioner>
    Given a topic "orders" with 6 partitions
    And a producer using the "<partitioner>" partitioner
    When the producer sends one message for each of the keys "customer-0" to "customer-49" to "orders"
    Then every message landed in the partition <hash> of its key predicts

    Examples:
      | partitioner       | hash    |
      | murmur2_random    | murmur2 |
      | consistent_random | crc32   |

  @C-PART-2
  Scenario: A message with an explicit partition goes to that partition, whatever its key
    Given a topic "orders" with 6 partitions
    When the producer sends these messages to "orders":
      | value   | key         | partition |
      | order-1 | customer-42 | 0         |
      | order-2 | customer-42 | 1         |
    Then the deliveries were acknowledged as:
      | value   | partition | offset |
      | order-1 | 0         | 0      |
      | order-2 | 1         | 0      |
    And partition 1 of "orders" holds:
      | offset | value   |
      | 0      | order-2 |

  # Seed 001: "(round-robin if no key is provided)".
  # librdkafka (like the Java client since KIP-480) is sticky: messages without a key go to
  # one partition until `sticky.partitioning.linger.ms` (default 10 ms) passes, so a burst
  # does not alternate partitions one by one. (A producer that does not know the topic's
  # leaders yet picks a random partition per message instead: hence the warm-up.)
  @C-PART-3 @folklore
  Scenario: Messages without a key sent in one burst stick to a partition instead of round-robin
    Given a topic "orders" with 6 partitions
    And the producer has already delivered a message to "orders"
    When the producer sends 12 messages without a key to "orders" in one burst
    Then they land in at most 2 partitions, changing partition at most once along the burst

  @C-PART-4
  Scenario: The producer refuses a partition the topic does not have
    Given a topic "orders" with 6 partitions
    When the producer sends "order-1" to partition 7 of "orders"
    Then the delivery fails with _UNKNOWN_PARTITION (-190)
    And "orders" holds no messages in any of its 6 partitions

  @C-PART-4
  Scenario: The broker rejects a produce to a partition the topic does not have
    Given a topic "orders" with 6 partitions
    When the raw client produces 1 record to partition 7 of "orders" with acks 1
    Then the produce response names topic "orders", partition 7, error UNKNOWN_TOPIC_OR_PARTITION (3) and base offset -1
    And "orders" holds no messages in any of its 6 partitions
