Feature: Producer retries
  When a write fails with a retriable error, the producer tries again a few times (librdkafka:
  `retries`, bounded by `message.timeout.ms`), then reports the error to the application.
  An error that cannot go away by retrying is reported at once.

  @C-RETRY-1
  Scenario: A message the topic will never accept fails at once, without retries
    Given a topic "payments" with 1 partition and configs:
      | max.message.bytes | 1024 |
    And a producer with settings:
      | acks | all |
    When the producer sends a 5000-byte message to partition 0 of "payments"
    Then the delivery fails with MESSAGE_TOO_LARGE (10)
    And the producer did not retry
    And partition 0 of "payments" holds no messages

  # A retriable error needs a partition with fewer in-sync replicas than it requires. Kafka
  # (since 3.7, KAFKA-15583) requires min(min.insync.replicas, replicas): a topic with one
  # replica accepts acks=all whatever its min.insync.replicas (see acks.feature), so this takes
  # three replicas, min.insync.replicas=3 and a follower stopped. The broker then answers
  # NOT_ENOUGH_REPLICAS (19), a retriable error, and appends nothing.
  @requires-multiple-brokers @requires-fault-control @serial
  Rule: A retriable error is retried, then reported

    Background:
      Given a topic "payments" with 1 partition, replication factor 3 and configs:
        | min.insync.replicas | 3 |
      And a follower of partition 0 of "payments" has been stopped
      And within 20 seconds partition 0 of "payments" has 2 in-sync replicas

    @C-RETRY-1 @C-ACK-3
    Scenario: A retriable error is retried, then reported once the retries run out
      Given a producer with settings:
        | acks               | all   |
        | retries            | 3     |
        | retry.backoff.ms   | 50    |
        | message.timeout.ms | 10000 |
      When the producer sends "pay-1" to partition 0 of "payments"
      Then the delivery fails with NOT_ENOUGH_REPLICAS (19)
      And the producer retried at least 3 times
      And partition 0 of "payments" holds no messages

    @C-RETRY-1
    Scenario: A retriable error is retried until the message times out
      Given a producer with settings:
        | acks               | all  |
        | retry.backoff.ms   | 50   |
        | message.timeout.ms | 1500 |
      When the producer sends "pay-1" to partition 0 of "payments"
      Then the delivery fails with _MSG_TIMED_OUT (-192)
      And the producer retried at least 1 time
      And partition 0 of "payments" holds no messages
