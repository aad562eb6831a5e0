Feature: Admin requests that change what a topic holds and how it is kept
  Kafka's admin API changes topics while they are in use: `kafka-delete-records` (the
  DeleteRecords request) moves a partition's log start offset forward, and `kafka-configs
  --alter` (IncrementalAlterConfigs) changes a topic's configs, which the brokers apply at
  once, without a restart. The claim ids are this project's, for claims the seeds do not make:
  - C-ADM-1: DeleteRecords makes the records before an offset unreadable for everyone: the
    log start offset becomes that offset (the low watermark it answers), the later records
    keep their offsets, fetching below it is OFFSET_OUT_OF_RANGE, and an offset beyond the
    high watermark is refused with OFFSET_OUT_OF_RANGE, changing nothing.
  - C-ADM-2: a topic config changed with IncrementalAlterConfigs takes effect on a topic in
    use: lowering `retention.ms` deletes what is now too old.

  Rule: DeleteRecords moves the log start offset

    @C-ADM-1
    Scenario: Records before an offset are deleted, and the rest keep their offsets
      Given a topic "payments" with 1 partition
      And partition 0 of "payments" holds the messages "pay-0" to "pay-9"
      When the records of partition 0 of "payments" before offset 4 are deleted
      Then the earliest offset of partition 0 of "payments" is 4
      And the latest offset of partition 0 of "payments" is 10
      When the raw client fetches partition 0 of "payments" at offset 2
      Then the fetch fails with OFFSET_OUT_OF_RANGE (1)
      And deleting the records of partition 0 of "payments" before offset 11 fails with OFFSET_OUT_OF_RANGE (1)
      And the earliest offset of partition 0 of "payments" is 4
      When the raw client produces 1 record to partition 0 of "payments" with acks 1
      Then the produce response names topic "payments", partition 0, error NONE (0) and base offset 10

  @requires-fast-retention
  Rule: A topic config changed while the topic is in use takes effect at once

    @C-ADM-2
    Scenario: Lowering retention.ms with IncrementalAlterConfigs deletes the messages now too old
      Given a topic "payments" with 1 partition
      When the raw client produces 5 records to partition 0 of "payments" with acks 1
      Then the earliest offset of partition 0 of "payments" is 0
      When the config "retention.ms" of topic "payments" is set to "3000"
      Then within 15 seconds the earliest offset of partition 0 of "payments" is 5
      And the latest offset of partition 0 of "payments" is 5
