// The Java client's producer with its DEFAULT settings (only bootstrap.servers and the
// serializers are set: idempotence, acks, retries are the client's own defaults), and a
// transactional one. Run as a single source file (Java 11+ compiles it on the fly):
//
//   java -cp "<kafka jars>/*" ci/clients/DefaultProducer.java default       BOOTSTRAP TOPIC INPUT DEADLINE_S
//   java -cp "<kafka jars>/*" ci/clients/DefaultProducer.java transactional BOOTSTRAP TOPIC INPUT DEADLINE_S
//
// INPUT: one record per line, "key<TAB>value", sent in that order. `default` sends them all
// with `new KafkaProducer<>(props)`; `transactional` (transactional.id set, nothing else)
// sends the first half in a transaction it commits and the second half in one it aborts
// (after a flush, so the aborted records are in the log).
//
// Then it reads the topic back with KafkaConsumers (assign, seekToBeginning, until the
// position reaches endOffsets, no group): read_uncommitted always, read_committed too in
// `transactional`. Stdout carries only these lines, which ci/clients.sh verifies:
//   rec<TAB>ISOLATION<TAB>PARTITION<TAB>OFFSET<TAB>KEY<TAB>VALUE
//   end<TAB>PARTITION<TAB>END_OFFSET        (read_uncommitted endOffsets: the log end)
//   info<TAB>TEXT
//   error<TAB>TEXT                           (then exit status 1)
// The client's own log lines (WARN and up) go to stderr. Every wait is bounded by DEADLINE_S
// seconds from the start (the producer's own timeouts are left at their defaults).
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class DefaultProducer {
    static final class Failure extends Exception {
        Failure(String message) {
            super(message);
        }
    }

    private final String bootstrap;
    private final String topic;
    private final long deadlineNanos;

    DefaultProducer(String bootstrap, String topic, long deadlineSeconds) {
        this.bootstrap = bootstrap;
        this.topic = topic;
        this.deadlineNanos = System.nanoTime() + TimeUnit.SECONDS.toNanos(deadlineSeconds);
    }

    public static void main(String[] args) {
        if (args.length != 5 || !(args[0].equals("default") || args[0].equals("transactional"))) {
            System.err.println("usage: DefaultProducer default|transactional BOOTSTRAP TOPIC INPUT DEADLINE_S");
            System.exit(2);
        }
        int status = 0;
        try {
            List<String[]> input = readInput(Path.of(args[3]));
            DefaultProducer run = new DefaultProducer(args[1], args[2], Long.parseLong(args[4]));
            if (args[0].equals("default")) {
                run.produceDefault(input);
            } else {
                run.produceTransactional(input);
                run.awaitTransactionsEnded();
            }
            run.consume("read_uncommitted", true);
            if (args[0].equals("transactional")) {
                run.consume("read_committed", false);
            }
        } catch (Failure e) {
            emit("error", e.getMessage());
            status = 1;
        } catch (Exception e) {
            emit("error", describe(e));
            status = 1;
        }
        System.out.flush();
        // Client threads (a producer stuck retrying) must not keep the JVM alive.
        System.exit(status);
    }

    static List<String[]> readInput(Path path) throws Exception {
        List<String[]> records = new ArrayList<>();
        for (String line : Files.readAllLines(path, StandardCharsets.UTF_8)) {
            int tab = line.indexOf('\t');
            if (tab < 0) {
                throw new Failure("input line without a tab: " + line);
            }
            records.add(new String[] {line.substring(0, tab), line.substring(tab + 1)});
        }
        if (records.isEmpty()) {
            throw new Failure("empty input " + path);
        }
        return records;
    }

    /** One line of stdout: KIND, then the fields, tab-separated (tabs and newlines in a field become spaces). */
    static synchronized void emit(String kind, Object... fields) {
        StringBuilder line = new StringBuilder(kind);
        for (Object field : fields) {
            line.append('\t').append(String.valueOf(field).replace('\n', ' ').replace('\t', ' '));
        }
        System.out.println(line);
    }

    /** The exception and its causes, one "Class: message" after the other. */
    static String describe(Throwable t) {
        StringBuilder out = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof ExecutionException && c.getCause() != null) {
                continue;
            }
            if (out.length() > 0) {
                out.append(" <- caused by: ");
            }
            out.append(c.getClass().getName()).append(": ").append(c.getMessage());
            if (c.getCause() == c) {
                break;
            }
        }
        return out.toString();
    }

    long remainingMs() throws Failure {
        long ms = TimeUnit.NANOSECONDS.toMillis(deadlineNanos - System.nanoTime());
        if (ms <= 0) {
            throw new Failure("deadline passed");
        }
        return ms;
    }

    Properties producerProps() {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("key.serializer", StringSerializer.class.getName());
        props.put("value.serializer", StringSerializer.class.getName());
        return props;
    }

    /** Waits for every send, within the deadline; the first failure is the error. */
    void awaitAll(List<Future<RecordMetadata>> sends, String what) throws Failure {
        int i = 0;
        for (Future<RecordMetadata> send : sends) {
            try {
                send.get(remainingMs(), TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                throw new Failure(what + ": record " + i + " of " + sends.size()
                        + " not acknowledged before the deadline (the client's log on stderr says why)");
            } catch (ExecutionException e) {
                throw new Failure(what + ": record " + i + " of " + sends.size() + " failed: " + describe(e));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new Failure(what + ": interrupted");
            }
            i++;
        }
    }

    void produceDefault(List<String[]> input) throws Failure {
        KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps());
        try {
            List<Future<RecordMetadata>> sends = new ArrayList<>();
            for (String[] r : input) {
                sends.add(producer.send(new ProducerRecord<>(topic, r[0], r[1])));
            }
            awaitAll(sends, "default producer");
            emit("info", "default producer: " + sends.size() + " records acknowledged");
        } catch (Failure e) {
            throw e;
        } catch (Exception e) {
            throw new Failure("default producer: " + describe(e));
        } finally {
            producer.close(Duration.ofSeconds(5));
        }
    }

    void produceTransactional(List<String[]> input) throws Failure {
        Properties props = producerProps();
        props.put("transactional.id", "kafka-spec-clients-java-" + topic);
        int half = input.size() / 2;
        KafkaProducer<String, String> producer = new KafkaProducer<>(props);
        String step = "initTransactions";
        try {
            producer.initTransactions();
            step = "committed transaction";
            producer.beginTransaction();
            List<Future<RecordMetadata>> committed = new ArrayList<>();
            for (String[] r : input.subList(0, half)) {
                committed.add(producer.send(new ProducerRecord<>(topic, r[0], r[1])));
            }
            producer.commitTransaction();
            awaitAll(committed, step);
            emit("info", "committed a transaction of " + committed.size() + " records");
            step = "aborted transaction";
            producer.beginTransaction();
            List<Future<RecordMetadata>> aborted = new ArrayList<>();
            for (String[] r : input.subList(half, input.size())) {
                aborted.add(producer.send(new ProducerRecord<>(topic, r[0], r[1])));
            }
            producer.flush();
            awaitAll(aborted, step);
            producer.abortTransaction();
            emit("info", "aborted a transaction of " + aborted.size() + " records (all acknowledged before the abort)");
        } catch (Failure e) {
            throw e;
        } catch (Exception e) {
            throw new Failure("transactional producer, " + step + ": " + describe(e));
        } finally {
            producer.close(Duration.ofSeconds(5));
        }
    }

    /**
     * Waits until no partition of the topic has an open transaction: the last stable offset
     * (what a read_committed consumer's endOffsets answers) has reached the high watermark
     * (read_uncommitted). `abortTransaction` returns once the coordinator has decided, and
     * Kafka writes the markers after that, so the end offsets read at once may stop short of
     * the abort marker; a marker that never comes fails at the deadline.
     */
    void awaitTransactionsEnded() throws Failure {
        try (KafkaConsumer<String, String> committed = new KafkaConsumer<>(consumerProps("read_committed"));
                KafkaConsumer<String, String> uncommitted = new KafkaConsumer<>(consumerProps("read_uncommitted"))) {
            List<TopicPartition> parts = new ArrayList<>();
            for (PartitionInfo info : uncommitted.partitionsFor(topic, Duration.ofMillis(remainingMs()))) {
                parts.add(new TopicPartition(topic, info.partition()));
            }
            Map<TopicPartition, Long> stable = Map.of();
            Map<TopicPartition, Long> high = Map.of();
            while (true) {
                // The deadline is checked here, not by the calls, so its message has the offsets.
                if (System.nanoTime() - deadlineNanos >= 0) {
                    throw new Failure("last stable offsets " + stable + " never reached the high watermarks " + high
                            + " (an open transaction, or a marker not written)");
                }
                Duration timeout = Duration.ofSeconds(5);
                stable = committed.endOffsets(parts, timeout);
                high = uncommitted.endOffsets(parts, timeout);
                if (stable.equals(high)) {
                    return;
                }
                if (System.nanoTime() - deadlineNanos >= 0) {
                    throw new Failure("last stable offsets " + stable + " never reached the high watermarks " + high
                            + " (an open transaction, or a marker not written)");
                }
                Thread.sleep(100);
            }
        } catch (Failure e) {
            throw e;
        } catch (Exception e) {
            throw new Failure("waiting for the transactions to end: " + describe(e));
        }
    }

    Properties consumerProps(String isolation) {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("key.deserializer", StringDeserializer.class.getName());
        props.put("value.deserializer", StringDeserializer.class.getName());
        props.put("isolation.level", isolation);
        props.put("enable.auto.commit", "false");
        props.put("auto.offset.reset", "earliest");
        return props;
    }

    void consume(String isolation, boolean printEnds) throws Failure {
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(consumerProps(isolation))) {
            List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofMillis(remainingMs()));
            if (infos == null || infos.isEmpty()) {
                throw new Failure(isolation + " consumer: no partitions for topic " + topic);
            }
            List<TopicPartition> parts = new ArrayList<>();
            for (PartitionInfo info : infos) {
                parts.add(new TopicPartition(topic, info.partition()));
            }
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            Map<TopicPartition, Long> ends = consumer.endOffsets(parts, Duration.ofMillis(remainingMs()));
            if (printEnds) {
                for (TopicPartition tp : parts) {
                    emit("end", tp.partition(), ends.get(tp));
                }
            }
            Map<TopicPartition, Long> positions = new HashMap<>();
            while (true) {
                boolean done = true;
                for (TopicPartition tp : parts) {
                    long position = consumer.position(tp, Duration.ofMillis(remainingMs()));
                    positions.put(tp, position);
                    if (position < ends.get(tp)) {
                        done = false;
                    }
                }
                if (done) {
                    break;
                }
                if (System.nanoTime() - deadlineNanos >= 0) {
                    throw new Failure(isolation + " consumer: positions " + positions + " short of end offsets "
                            + ends + " at the deadline");
                }
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(Math.min(500, remainingMs())))) {
                    emit("rec", isolation, r.partition(), r.offset(), r.key(), r.value());
                }
            }
        } catch (Failure e) {
            throw e;
        } catch (Exception e) {
            throw new Failure(isolation + " consumer: " + describe(e));
        }
    }
}
