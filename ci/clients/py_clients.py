"""Python clients for ci/clients.sh, run with the venv's python:

    py_clients.py kafka-python-default     BOOTSTRAP TOPIC INPUT DEADLINE_S
    py_clients.py librdkafka-transactional BOOTSTRAP TOPIC INPUT DEADLINE_S

INPUT: one record per line, "key<TAB>value", sent in that order.

kafka-python-default: kafka-python's KafkaProducer(bootstrap_servers=...) with every other
setting at its default (kafka-python 3.x: idempotence on), then a KafkaConsumer reads the
topic back (assign, seek_to_beginning, until end_offsets).

librdkafka-transactional: confluent-kafka (librdkafka) Producer with only bootstrap.servers
and transactional.id: init_transactions, the first half of INPUT in a transaction that is
committed, the second half in one that is aborted after a flush (so those records are in the
log). Then a read_uncommitted and a read_committed librdkafka Consumer read the topic back
(assign from the beginning, until every partition's EOF).

Stdout carries only these lines, which ci/clients.sh verifies:
    rec<TAB>ISOLATION<TAB>PARTITION<TAB>OFFSET<TAB>KEY<TAB>VALUE
    end<TAB>PARTITION<TAB>END_OFFSET      (the log end offset, read_uncommitted)
    info<TAB>TEXT
    error<TAB>TEXT                        (then exit status 1)
The clients' own log lines go to stderr. Every wait is bounded by DEADLINE_S seconds.
"""

import logging
import sys
import time


class Failure(Exception):
    pass


def emit(kind, *fields):
    """One line of stdout: KIND, then the fields, tab-separated (tabs and newlines in a
    field become spaces)."""
    clean = [str(f).replace("\n", " ").replace("\t", " ") for f in fields]
    sys.stdout.write("\t".join([kind] + clean) + "\n")
    sys.stdout.flush()


def describe(exc):
    parts = []
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        parts.append(f"{type(exc).__module__}.{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return " <- caused by: ".join(parts)


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        left = self.end - time.monotonic()
        if left <= 0:
            raise Failure("deadline passed")
        return left

    def passed(self):
        return time.monotonic() >= self.end


def read_input(path):
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            key, sep, value = line.partition("\t")
            if not sep:
                raise Failure(f"input line without a tab: {line!r}")
            records.append((key, value))
    if not records:
        raise Failure(f"empty input {path}")
    return records


def emit_record(isolation, partition, offset, key, value):
    key = "null" if key is None else key.decode("utf-8")
    value = "null" if value is None else value.decode("utf-8")
    emit("rec", isolation, partition, offset, key, value)


# ---------------------------------------------------------------------------------------
# kafka-python


def kafka_python_default(bootstrap, topic, records, deadline):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    producer = KafkaProducer(bootstrap_servers=bootstrap)
    try:
        tm = producer._transaction_manager  # None when the client turned idempotence off
        idempotence = producer.config.get("enable_idempotence")
        futures = [
            producer.send(topic, key=k.encode("utf-8"), value=v.encode("utf-8"))
            for k, v in records
        ]
        for i, future in enumerate(futures):
            try:
                future.get(timeout=deadline.left())
            except Failure:
                raise
            except Exception as e:  # the client's own error
                raise Failure(
                    f"kafka-python producer: record {i} of {len(futures)} failed: {describe(e)}"
                ) from e
        pid = None
        if tm is not None:
            pid = getattr(tm, "producer_id_and_epoch", None)
        emit(
            "info",
            f"kafka-python producer: {len(futures)} records acknowledged "
            f"(enable_idempotence={idempotence}, producer id/epoch {pid})",
        )
    finally:
        producer.close(timeout=5)

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        partitions = None
        while not partitions:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                deadline.left()
                time.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        for tp in tps:
            emit("end", tp.partition, ends[tp])
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if deadline.passed():
                positions = {tp.partition: consumer.position(tp) for tp in tps}
                raise Failure(
                    f"kafka-python consumer: positions {positions} short of end offsets "
                    f"{ {tp.partition: o for tp, o in ends.items()} } at the deadline"
                )
            for tp_records in consumer.poll(timeout_ms=500).values():
                for r in tp_records:
                    emit_record("read_uncommitted", r.partition, r.offset, r.key, r.value)
    finally:
        consumer.close()


# ---------------------------------------------------------------------------------------
# librdkafka (confluent-kafka)


def rdkafka_produce(producer, topic, records, deadline, what):
    """Produces records, polls delivery reports; returns the list of delivery errors."""
    from confluent_kafka import KafkaError

    reports = []

    def on_delivery(err, msg):
        reports.append(err)

    for k, v in records:
        while True:
            try:
                producer.produce(topic, key=k.encode("utf-8"), value=v.encode("utf-8"), on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
                deadline.left()
    producer.flush(deadline.left())
    if len(reports) != len(records):
        raise Failure(f"{what}: {len(reports)} of {len(records)} delivery reports before the deadline")
    errors = [e for e in reports if e is not None]
    if errors:
        e = errors[0]
        name = e.name() if isinstance(e, KafkaError) else ""
        raise Failure(f"{what}: {len(errors)} of {len(records)} records failed, first: {name} {e}")


def kafka_exception(what, e):
    return Failure(f"{what}: {describe(e)}")


def rdkafka_await_transactions_ended(bootstrap, topic, deadline):
    """Waits until no partition of `topic` has an open transaction: the last stable offset
    (the high watermark a read_committed client is given) has reached the high watermark.
    abort_transaction returns once the coordinator has decided and the markers are written
    after that, so end offsets read at once may stop short of the abort marker; a marker
    that never comes fails at the deadline."""
    from confluent_kafka import Consumer, TopicPartition

    clients = {
        iso: Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"kafka-spec-clients-verify-{topic}",
                "isolation.level": iso,
            }
        )
        for iso in ("read_committed", "read_uncommitted")
    }
    try:
        t = clients["read_uncommitted"].list_topics(topic, timeout=deadline.left()).topics.get(topic)
        if t is None or t.error is not None or not t.partitions:
            raise Failure(f"no partitions for {topic}: {t and t.error}")
        parts = sorted(t.partitions)
        while True:
            highs = {
                iso: [
                    c.get_watermark_offsets(TopicPartition(topic, p), timeout=deadline.left(), cached=False)[1]
                    for p in parts
                ]
                for iso, c in clients.items()
            }
            if highs["read_committed"] == highs["read_uncommitted"]:
                return
            if deadline.passed():
                raise Failure(
                    f"last stable offsets {highs['read_committed']} never reached the high watermarks "
                    f"{highs['read_uncommitted']} (an open transaction, or a marker not written)"
                )
            time.sleep(0.1)
    finally:
        for c in clients.values():
            c.close()


def librdkafka_transactional(bootstrap, topic, records, deadline):
    from confluent_kafka import (
        OFFSET_BEGINNING,
        Consumer,
        KafkaError,
        KafkaException,
        Producer,
        TopicPartition,
        libversion,
    )

    emit("info", f"librdkafka {libversion()[0]}")
    half = len(records) // 2
    producer = Producer(
        {"bootstrap.servers": bootstrap, "transactional.id": f"kafka-spec-clients-rdkafka-{topic}"}
    )
    step = "init_transactions"
    try:
        producer.init_transactions(deadline.left())
        step = "committed transaction"
        producer.begin_transaction()
        rdkafka_produce(producer, topic, records[:half], deadline, step)
        producer.commit_transaction(deadline.left())
        emit("info", f"committed a transaction of {half} records")
        step = "aborted transaction"
        producer.begin_transaction()
        rdkafka_produce(producer, topic, records[half:], deadline, step)
        producer.abort_transaction(deadline.left())
        emit("info", f"aborted a transaction of {len(records) - half} records (all delivered before the abort)")
    except KafkaException as e:
        raise kafka_exception(f"librdkafka transactional producer, {step}", e) from e
    finally:
        producer.flush(1)

    rdkafka_await_transactions_ended(bootstrap, topic, deadline)
    for isolation in ("read_uncommitted", "read_committed"):
        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"kafka-spec-clients-verify-{topic}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "isolation.level": isolation,
            }
        )
        try:
            metadata = consumer.list_topics(topic, timeout=deadline.left())
            t = metadata.topics.get(topic)
            if t is None or t.error is not None or not t.partitions:
                raise Failure(f"{isolation} consumer: no partitions for {topic}: {t and t.error}")
            parts = sorted(t.partitions)
            if isolation == "read_uncommitted":
                for p in parts:
                    _, high = consumer.get_watermark_offsets(
                        TopicPartition(topic, p), timeout=deadline.left(), cached=False
                    )
                    emit("end", p, high)
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
            at_eof = set()
            while len(at_eof) < len(parts):
                if deadline.passed():
                    raise Failure(
                        f"{isolation} consumer: end of partitions {sorted(at_eof)} of {parts} reached by the deadline"
                    )
                msg = consumer.poll(0.5)
                if msg is None:
                    continue
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        at_eof.add(msg.partition())
                        continue
                    raise Failure(f"{isolation} consumer: {err.name()} {err}")
                at_eof.discard(msg.partition())
                emit_record(isolation, msg.partition(), msg.offset(), msg.key(), msg.value())
        except KafkaException as e:
            raise kafka_exception(f"librdkafka {isolation} consumer", e) from e
        finally:
            consumer.close()


def main(argv):
    modes = {
        "kafka-python-default": kafka_python_default,
        "librdkafka-transactional": librdkafka_transactional,
    }
    if len(argv) != 6 or argv[1] not in modes:
        sys.stderr.write(f"usage: {argv[0]} {'|'.join(modes)} BOOTSTRAP TOPIC INPUT DEADLINE_S\n")
        return 2
    # kafka-python logs through `logging`: its warnings and errors on stderr.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _, mode, bootstrap, topic, path, deadline_s = argv
    try:
        modes[mode](bootstrap, topic, read_input(path), Deadline(float(deadline_s)))
    except Failure as e:
        emit("error", str(e))
        return 1
    except Exception as e:  # the client's own exception, whatever it is
        emit("error", describe(e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
