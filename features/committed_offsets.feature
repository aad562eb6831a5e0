Feature: Committed offsets
  A consumer group remembers, per partition, the offset its members committed: the offset
  of the next message to read. A member that starts again, or another member that takes
  over the partition, resumes there. What was read but not committed is read again; what
  was committed is not. Offsets belong to the group, so two groups reading the same
  partition do not disturb each other. A group that has committed nothing for a partition
  starts where `auto.offset.reset` says: the earliest offset, the latest, or nowhere (an
  error).

  Here a consumer "stops" by closing: it leaves its group and, with `enable.auto.commit`
  off, commits nothing more on the way out, which is all a crash would leave behind too.

  Background:
    Given a topic "orders" with 1 partition
    And the consumers of group "order_processing_group" use:
      | enable.auto.commit | false |

  Rule: A restarted consumer resumes from the committed offset, not from what it read

    @C-OFF-3
    Scenario: A consumer that committed after reading 4 messages resumes with the 5th after a restart
      Given partition 0 of "orders" holds the messages "order-1" to "order-4"
      When consumer C1 joins group "order_processing_group" subscribed to "orders"
      Then C1 receives "order-1" to "order-4" from partition 0 of "orders", at offsets 0 to 3
      When C1 commits the offsets of the messages it received
      Then the committed offset of partition 0 of "orders" for group "order_processing_group" is 4
      When C1 stops
      And the messages "order-5" to "order-8" are sent to partition 0 of "orders"
      And C1 starts again
      Then the first message C1 receives from partition 0 of "orders" is "order-5" at offset 4

    @C-OFF-3
    Scenario: A consumer that read 4 messages without committing reads them again after a restart
      Given partition 0 of "orders" holds the messages "order-1" to "order-4"
      When consumer C1 joins group "order_processing_group" subscribed to "orders"
      Then C1 receives "order-1" to "order-4" from partition 0 of "orders", at offsets 0 to 3
      When C1 stops
      Then group "order_processing_group" has no committed offset for partition 0 of "orders"
      When C1 starts again
      Then C1 receives "order-1" to "order-4" from partition 0 of "orders", at offsets 0 to 3

    @C-OFF-3
    Scenario: What was read after the last commit is read again after a restart
      Given partition 0 of "orders" holds the messages "order-1" to "order-2"
      When consumer C1 joins group "order_processing_group" subscribed to "orders"
      Then C1 receives "order-1" to "order-2" from partition 0 of "orders", at offsets 0 to 1
      When C1 commits the offsets of the messages it received
      Then the committed offset of partition 0 of "orders" for group "order_processing_group" is 2
      When the messages "order-3" to "order-4" are sent to partition 0 of "orders"
      Then C1 receives "order-1" to "order-4" from partition 0 of "orders", at offsets 0 to 3
      When C1 stops
      And C1 starts again
      Then C1 receives "order-3" to "order-4" from partition 0 of "orders", at offsets 2 to 3

  Rule: The committed offset is the next offset to read

    # Seed 001: "if Consumer 1 processed messages from Partition 0 and its last processed
    # message had an offset of 15, it will commit that offset. If it crashes, upon
    # restarting, it will begin reading from offset 16." Committing a processed message
    # commits its offset + 1 (librdkafka's commit of what it returned, the Java client's
    # commitSync()), and that is where the restarted consumer begins.
    @C-OFF-4
    Scenario: A consumer that processed offset 15 commits 16 and begins at offset 16 after a restart
      Given partition 0 of "orders" holds the messages "order-0" to "order-15"
      When consumer C1 joins group "order_processing_group" subscribed to "orders"
      Then C1 receives "order-0" to "order-15" from partition 0 of "orders", at offsets 0 to 15
      When C1 commits the offsets of the messages it received
      Then the committed offset of partition 0 of "orders" for group "order_processing_group" is 16
      When C1 stops
      And the messages "order-16" to "order-19" are sent to partition 0 of "orders"
      And C1 starts again
      Then the first message C1 receives from partition 0 of "orders" is "order-16" at offset 16

    # The same seed sentence read literally: committing "that offset", 15, means the next
    # consumer begins at 15 and processes order-15 a second time.
    @C-OFF-4 @folklore
    Scenario: Committing the offset of the last processed message itself makes it be read again
      Given partition 0 of "orders" holds the messages "order-0" to "order-15"
      When consumer C1 joins group "order_processing_group" subscribed to "orders"
      Then C1 receives "order-0" to "order-15" from partition 0 of "orders", at offsets 0 to 15
      When C1 commits offset 15 for partition 0 of "orders"
      And C1 stops
      And C1 starts again
      Then the first message C1 receives from partition 0 of "orders" is "order-15" at offset 15

  Rule: Offsets are kept per group and partition; groups are independent

    @C-GRP-8
    Scenario: Two groups reading the same partition keep their own committed offsets
      Given partition 0 of "orders" holds the messages "order-0" to "order-9"
      When consumer C1 joins group "billing" subscribed to "orders"
      And consumer C2 joins group "shipping" subscribed to "orders"
      Then C1 receives "order-0" to "order-9" from partition 0 of "orders", at offsets 0 to 9
      And C2 receives "order-0" to "order-9" from partition 0 of "orders", at offsets 0 to 9
      When C1 commits offset 6 for partition 0 of "orders"
      And C2 commits offset 3 for partition 0 of "orders"
      Then the committed offset of partition 0 of "orders" for group "billing" is 6
      And the committed offset of partition 0 of "orders" for group "shipping" is 3
      And group "order_processing_group" has no committed offset for partition 0 of "orders"
      When C1 stops
      And C2 stops
      And C1 starts again
      And C2 starts again
      Then the first message C1 receives from partition 0 of "orders" is "order-6" at offset 6
      And the first message C2 receives from partition 0 of "orders" is "order-3" at offset 3

  Rule: Without a committed offset, auto.offset.reset decides where a group starts

    @C-OFF-5
    Scenario: A new group with auto.offset.reset earliest starts at the earliest offset
      Given partition 0 of "orders" holds the messages "order-0" to "order-2"
      And the consumers of group "order_processing_group" use:
        | auto.offset.reset | earliest |
      When consumer C1 joins group "order_processing_group" subscribed to "orders"
      Then C1 receives "order-0" to "order-2" from partition 0 of "orders", at offsets 0 to 2

    @C-OFF-5
    Scenario: A new group with auto.offset.reset latest reads only what arrives after it started
      Given partition 0 of "orders" holds the messages "order-0" to "order-2"
      And the consumers of group "order_processing_group" use:
        | auto.offset.reset | latest |
      When consumer C1 joins group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 1 member
      And C1 fetches partition 0 of "orders" from offset 3
      When the messages "order-3" to "order-3" are sent to partition 0 of "orders"
      Then the first message C1 receives from partition 0 of "orders" is "order-3" at offset 3

    # Java's `auto.offset.reset=none` is librdkafka's `error`: with no committed offset the
    # consumer starts nowhere and reports the error instead of reading.
    @C-OFF-5
    Scenario: A new group with auto.offset.reset none (librdkafka: error) gets an error, not messages
      Given partition 0 of "orders" holds the messages "order-0" to "order-2"
      And the consumers of group "order_processing_group" use:
        | auto.offset.reset | error |
      When consumer C1 joins group "order_processing_group" subscribed to "orders"
      Then C1 reports _AUTO_OFFSET_RESET (-140)
      And C1 has received no message

    @C-OFF-5
    Scenario: A committed offset wins over auto.offset.reset
      Given partition 0 of "orders" holds the messages "order-0" to "order-5"
      And the consumers of group "order_processing_group" use:
        | auto.offset.reset | latest |
      When consumer C1 joins group "order_processing_group" subscribed to "orders"
      Then group "order_processing_group" settles with 1 member
      When C1 commits offset 2 for partition 0 of "orders"
      And C1 stops
      And C1 starts again
      Then the first message C1 receives from partition 0 of "orders" is "order-2" at offset 2
