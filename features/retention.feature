Feature: Retention
  A partition's log is split into segments. Messages are kept for a configured time or size,
  then whole old segments are deleted: the log start offset moves forward, always to the
  first offset of a segment, never into the middle of one. Whatever is still retained can be
  read again at will; an offset that retention removed is out of range, and the consumer's
  `auto.offset.reset` decides where it goes instead.

  Rule: Whatever is retained can be read again

    @C-RET-2
    Scenario: A consumer may seek back and replay what it already read
      Given a topic "payments" with 1 partition
      When the producer sends these messages to "payments":
        | value |
        | pay-1 |
        | pay-2 |
        | pay-3 |
      Then a consumer of partition 0 of "payments" reads "pay-1, pay-2, pay-3", seeks back to offset 1 and reads "pay-2, pay-3" again

  # Kafka 4 will not make a segment smaller than 1 MiB (`segment.bytes` is at least 1048576).
  # Each batch here is 10 records of 10000 bytes, about 100 KB: 10 batches fit in a 1 MiB
  # segment and an 11th does not, so segments start at offsets 0, 100, 200. With
  # `retention.bytes` 1048576 and about 3 MB written, size retention deletes exactly the
  # oldest segment.
  @requires-fast-retention
  Rule: Size-based retention deletes whole segments

    Background:
      Given a topic "clickstream" with 1 partition and configs:
        | segment.bytes   | 1048576 |
        | retention.bytes | 1048576 |
      When the raw client appends 30 batches of 10 records of 10000 bytes to partition 0 of "clickstream"
      Then within 10 seconds the earliest offset of partition 0 of "clickstream" is 100
      And the latest offset of partition 0 of "clickstream" is 300

    @C-RET-1
    Scenario: Retention by size deletes the oldest whole segment
      Then a single fetch of partition 0 of "clickstream" at offset 100 returns a batch starting at offset 100
      And the earliest offset of partition 0 of "clickstream" is 100

    @C-RET-3
    Scenario: Fetching an offset that retention removed answers OFFSET_OUT_OF_RANGE
      When the raw client fetches partition 0 of "clickstream" at offset 0
      Then the fetch fails with OFFSET_OUT_OF_RANGE (1)
      When the raw client fetches partition 0 of "clickstream" at offset 99
      Then the fetch fails with OFFSET_OUT_OF_RANGE (1)

    @C-RET-3
    Scenario: A consumer asking for a removed offset with auto.offset.reset=earliest restarts at the log start
      Then a consumer assigned to partition 0 of "clickstream" at offset 0 with auto.offset.reset "earliest" first receives offset 100

    @C-RET-3
    Scenario: A consumer asking for a removed offset with auto.offset.reset=latest waits at the log end
      Then a consumer assigned to partition 0 of "clickstream" at offset 0 with auto.offset.reset "latest" moves to offset 300
      And when "click-after-reset" is then appended to partition 0 of "clickstream", that consumer receives it at offset 300

    @C-RET-2
    Scenario: Retained messages can be read again by seeking back
      Then a consumer assigned to partition 0 of "clickstream" at offset 290 reads offsets 290 to 299, seeks back to 100 and reads offset 100 again

  # Time retention compares each segment's newest timestamp with retention.ms. When even the
  # active segment's newest message is too old, Kafka rolls a new, empty segment and deletes
  # all the old ones: the partition is empty, and offsets carry on where they were.
  @requires-fast-retention
  Rule: Time-based retention deletes segments whose newest message is older than retention.ms

    @C-RET-1
    Scenario: Messages are kept for retention.ms, then their segments are deleted and offsets carry on
      Given a topic "payments" with 1 partition and configs:
        | retention.ms | 3000 |
      When the raw client produces 5 records to partition 0 of "payments" with acks 1
      Then the earliest offset of partition 0 of "payments" is 0
      And within 10 seconds the earliest offset of partition 0 of "payments" is 5
      And the latest offset of partition 0 of "payments" is 5
      When the raw client produces 1 record to partition 0 of "payments" with acks 1
      Then the produce response names topic "payments", partition 0, error NONE (0) and base offset 5
