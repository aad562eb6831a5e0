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

  Rule: A read_committed consumer reads only committed transactions, and markers take offsets

    # A transactional producer's records are written to the partition as they are sent;
    # committing or aborting writes one marker (a control record) to every partition of the
    # transaction. The marker takes an offset of its own, so offsets have a gap after every
    # transaction; the consumer never receives the marker. A read_committed consumer reads
    # only below the last stable offset and drops the aborted transaction's records; a
    # read_uncommitted consumer receives every record, aborted ones included.
    @C-EOS-1
    Scenario: An aborted transaction is invisible to read_committed and visible to read_uncommitted
      Given a topic "payments" with 1 partition
      And a transactional producer "payments-tx"
      When the transactional producer "payments-tx" sends "pay-1" to "pay-3" to partition 0 of "payments" and commits
      And the transactional producer "payments-tx" sends "pay-4" to "pay-6" to partition 0 of "payments" and aborts
      And the transactional producer "payments-tx" sends "pay-7" to "pay-8" to partition 0 of "payments" and commits
      Then a read_committed consumer of partition 0 of "payments" reads exactly "pay-1" to "pay-3" and "pay-7" to "pay-8"
      And a read_uncommitted consumer of partition 0 of "payments" reads exactly "pay-1" to "pay-8"
      And the latest offset of partition 0 of "payments" is 11

  Rule: A new producer with the same transactional.id fences the old one

    # Initialising a transactional producer bumps the epoch of its transactional.id: the
    # coordinator aborts the transaction the previous producer (a "zombie": hung, or
    # partitioned away) left open, and refuses that producer's later calls (KIP-98).
    @C-EOS-1
    Scenario: A zombie producer is fenced and its open transaction aborted
      Given a topic "payments" with 1 partition
      And a transactional producer "payments-tx"
      When the transactional producer "payments-tx" begins a transaction and sends "pay-1" to "pay-2" to partition 0 of "payments"
      And a new transactional producer "payments-tx-2" starts with the transactional id of "payments-tx"
      And the transactional producer "payments-tx-2" sends "pay-3" to "pay-3" to partition 0 of "payments" and commits
      Then the transactional producer "payments-tx" cannot commit: FENCED
      And a read_committed consumer of partition 0 of "payments" reads exactly "pay-3" to "pay-3"
      And a read_uncommitted consumer of partition 0 of "payments" reads exactly "pay-1" to "pay-3"
      And the latest offset of partition 0 of "payments" is 5

  Rule: A consume-transform-produce loop that commits its offsets in its transactions writes each output once

    # The loop reads "orders" with a read_committed consumer, writes one invoice per order,
    # and commits the consumer's offsets in the same transaction as the invoices
    # (`send_offsets_to_transaction`), two orders per transaction. Killed in its third
    # transaction, it leaves invoice-5 written but not committed; restarted with the same
    # transactional.id, it fences its old self (the open transaction is aborted), resumes
    # from the offsets committed with the last committed transaction, and writes invoice-5
    # again. A read_committed reader sees each invoice once; a read_uncommitted one sees the
    # aborted copy too.
    @C-EOS-1
    Scenario: A copier killed mid-transaction restarts and writes each invoice exactly once
      Given a topic "orders" with 1 partition
      And a topic "invoices" with 1 partition
      And partition 0 of "orders" holds the messages "order-1" to "order-6"
      When copier "billing" copies "orders" to "invoices" in transactions of 2 messages and is killed after 5 messages
      And copier "billing" restarts and copies the rest of "orders" to "invoices" in transactions of 2 messages
      Then a read_committed consumer of partition 0 of "invoices" reads exactly "invoice-1" to "invoice-6"
      And a read_uncommitted consumer of partition 0 of "invoices" reads exactly "invoice-1" to "invoice-5" and "invoice-5" to "invoice-6"
      And the committed offset of partition 0 of "orders" for group "billing" is 6
