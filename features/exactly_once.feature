Feature: Exactly-once
  An idempotent producer (`enable.idempotence=true`, the default of the Java client since
  Kafka 3.0 and of kafka-python 3) gets a producer id from the broker (InitProducerId) and
  numbers its batches per partition. The leader keeps, for each producer, its epoch and the
  sequence numbers of its last five batches: a retry of one of them is answered with the
  offset of the copy already stored, and nothing is written twice; a batch that skips
  sequence numbers is refused (OUT_OF_ORDER_SEQUENCE_NUMBER). Followers keep the same state
  from what they replicate, so a new leader recognises a retry of a batch the old leader
  stored (KIP-98).

  @requires-multiple-brokers @requires-fault-control @serial
  Rule: An idempotent producer's retries are stored once, even across a failover

    # The same sends as the failover scenario of failover.feature, with idempotence: there,
    # a send whose acknowledgement was lost with the leader is stored twice (Kafka 4.3.1 held
    # 201 records for 200 messages); here the new leader recognises the retry.
    @C-EOS-1 @C-REP-3
    Scenario: With idempotence, sends retried across a failover are stored exactly once
      Given a topic "payments" with 1 partition, replication factor 3 and configs:
        | min.insync.replicas | 2 |
      And a producer with settings:
        | enable.idempotence | true  |
        | acks               | all   |
        | linger.ms          | 5     |
        | retry.backoff.ms   | 100   |
        | message.timeout.ms | 30000 |
      When the producer sends 200 messages "pay-1" to "pay-200" to partition 0 of "payments", and the leader is stopped once the first 100 are acknowledged
      Then within 20 seconds partition 0 of "payments" has a new leader, one of its followers, with a higher leader epoch
      And a consumer of partition 0 of "payments" reads every acknowledged message at the offset its acknowledgement named
      And partition 0 of "payments" holds every acknowledged message exactly once
