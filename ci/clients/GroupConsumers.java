import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Two Java consumers of one group with `group.protocol` PROTOCOL (`consumer`: KIP-848's
 * ConsumerGroupHeartbeat; `classic`: JoinGroup/SyncGroup), subscribed to TOPIC, everything
 * else the client's defaults but `auto.offset.reset=earliest` and manual commits:
 *
 * 1. both join an empty topic and poll until the group has split the topic's partitions
 *    between them (disjoint, both non-empty, together all of them);
 * 2. the client's default producer sends INPUT's records; the two consumers poll until
 *    they have read as many records as it sent, then commit synchronously what they read;
 * 3. the second consumer closes (leaves the group) and the first must get every partition;
 *    the group's committed offsets (read by the first) must equal the end offsets.
 *
 * PROTOCOL `migration` is a rolling upgrade (KIP-848's online migration): the first consumer
 * uses `classic` and polls until it holds every partition (a classic group), then the second
 * joins with `consumer`, which upgrades the live group to a consumer group whose classic
 * member gives partitions up by rejoining; when the second closes, only the classic member
 * is left and the group goes back to classic (the downgrade), which rebalances.
 *
 * Prints `rec read_uncommitted PARTITION OFFSET KEY VALUE` per record read, `end PARTITION
 * OFFSET` per partition, `info ...` lines, and `error MESSAGE` on the first failure (exit 1).
 *
 * Usage: GroupConsumers PROTOCOL BOOTSTRAP TOPIC INPUT DEADLINE_S
 */
public class GroupConsumers {
    static class Failure extends Exception {
        Failure(String message) {
            super(message);
        }
    }

    final String protocol;
    final String bootstrap;
    final String topic;
    final long deadlineNanos;

    GroupConsumers(String protocol, String bootstrap, String topic, long deadlineS) {
        this.protocol = protocol;
        this.bootstrap = bootstrap;
        this.topic = topic;
        this.deadlineNanos = System.nanoTime() + TimeUnit.SECONDS.toNanos(deadlineS);
    }

    public static void main(String[] args) {
        if (args.length != 5 || !List.of("consumer", "classic", "migration").contains(args[0])) {
            System.err.println("usage: GroupConsumers consumer|classic|migration BOOTSTRAP TOPIC INPUT DEADLINE_S");
            System.exit(2);
        }
        int status = 0;
        try {
            List<String[]> input = readInput(Path.of(args[3]));
            new GroupConsumers(args[0], args[1], args[2], Long.parseLong(args[4])).run(input);
        } catch (Failure e) {
            emit("error", e.getMessage());
            status = 1;
        } catch (Exception e) {
            emit("error", describe(e));
            status = 1;
        }
        System.out.flush();
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

    static synchronized void emit(String kind, Object... fields) {
        StringBuilder line = new StringBuilder(kind);
        for (Object field : fields) {
            line.append('\t').append(String.valueOf(field).replace('\n', ' ').replace('\t', ' '));
        }
        System.out.println(line);
    }

    static String describe(Throwable t) {
        StringBuilder out = new StringBuilder();
        for (Throwable c = t; c != null && c.getCause() != c; c = c.getCause()) {
            if (out.length() > 0) {
                out.append(" <- caused by: ");
            }
            out.append(c.getClass().getName()).append(": ").append(c.getMessage());
        }
        return out.toString();
    }

    boolean pastDeadline() {
        return System.nanoTime() - deadlineNanos >= 0;
    }

    long remainingMs() throws Failure {
        long ms = TimeUnit.NANOSECONDS.toMillis(deadlineNanos - System.nanoTime());
        if (ms <= 0) {
            throw new Failure("deadline passed");
        }
        return ms;
    }

    /** One member: its consumer, what it has read, and its offsets to commit. */
    class Member implements ConsumerRebalanceListener {
        final String name;
        final KafkaConsumer<String, String> consumer;
        final Map<TopicPartition, OffsetAndMetadata> toCommit = new HashMap<>();
        int read = 0;

        Member(String name, String group, String groupProtocol) {
            this.name = name;
            Properties props = new Properties();
            props.put("bootstrap.servers", bootstrap);
            props.put("group.id", group);
            props.put("group.protocol", groupProtocol);
            props.put("key.deserializer", StringDeserializer.class.getName());
            props.put("value.deserializer", StringDeserializer.class.getName());
            props.put("enable.auto.commit", "false");
            props.put("auto.offset.reset", "earliest");
            this.consumer = new KafkaConsumer<>(props);
            consumer.subscribe(List.of(topic), this);
        }

        void poll() {
            for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(100))) {
                emit("rec", "read_uncommitted", r.partition(), r.offset(), r.key(), r.value());
                toCommit.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                read++;
            }
        }

        void commit() {
            if (!toCommit.isEmpty()) {
                consumer.commitSync(toCommit);
                toCommit.clear();
            }
        }

        Set<Integer> partitions() {
            Set<Integer> out = new TreeSet<>();
            for (TopicPartition tp : consumer.assignment()) {
                out.add(tp.partition());
            }
            return out;
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            // What was read from a partition moving away is committed first, so that its new
            // owner does not read it again.
            commit();
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {}
    }

    void run(List<String[]> input) throws Failure {
        String group = "kafka-spec-clients-" + protocol + "-" + topic;
        int partitionCount = partitionCount();
        Set<Integer> all = new TreeSet<>();
        for (int p = 0; p < partitionCount; p++) {
            all.add(p);
        }
        boolean migration = protocol.equals("migration");
        Member a = new Member("a", group, migration ? "classic" : protocol);
        if (migration) {
            // A classic group first: its one member holds everything.
            while (!a.partitions().equals(all)) {
                a.poll();
                if (pastDeadline()) {
                    closeQuietly(a);
                    throw new Failure("the classic member alone never held " + all + ": " + a.partitions());
                }
            }
            emit("info", "group.protocol=classic: the first member holds " + a.partitions());
        }
        Member b = new Member("b", group, migration ? "consumer" : protocol);
        try {
            // 1. The group splits the partitions between the two.
            while (true) {
                a.poll();
                b.poll();
                Set<Integer> pa = a.partitions();
                Set<Integer> pb = b.partitions();
                Set<Integer> union = new TreeSet<>(pa);
                union.addAll(pb);
                boolean disjoint = pa.stream().noneMatch(pb::contains);
                if (!pa.isEmpty() && !pb.isEmpty() && disjoint && union.equals(all)) {
                    emit("info", "group.protocol=" + protocol + ": the two members split the partitions: "
                            + pa + " and " + pb);
                    break;
                }
                if (pastDeadline()) {
                    throw new Failure("the two members never split the partitions " + all + ": they hold "
                            + pa + " and " + pb + " at the deadline");
                }
            }
            // 2. Records sent by the default producer are read once between them.
            produce(input);
            while (a.read + b.read < input.size()) {
                a.poll();
                b.poll();
                if (pastDeadline()) {
                    throw new Failure("read " + (a.read + b.read) + " of " + input.size()
                            + " records by the deadline (members hold " + a.partitions() + " and "
                            + b.partitions() + ")");
                }
            }
            a.commit();
            b.commit();
            emit("info", "the members read " + a.read + " and " + b.read + " records and committed them");
            // 3. One leaves: the other gets everything, and the commits are the group's.
            b.consumer.close(Duration.ofMillis(Math.min(10_000, remainingMs())));
            while (!a.partitions().equals(all)) {
                a.poll();
                if (pastDeadline()) {
                    throw new Failure("after the second member left, the first holds " + a.partitions()
                            + ", not " + all);
                }
            }
            a.poll();
            emit("info", "after the second member left, the first holds " + a.partitions());
            Set<TopicPartition> tps = new java.util.HashSet<>();
            for (int p : all) {
                tps.add(new TopicPartition(topic, p));
            }
            Map<TopicPartition, Long> ends = a.consumer.endOffsets(tps, Duration.ofMillis(remainingMs()));
            Map<TopicPartition, OffsetAndMetadata> committed =
                    a.consumer.committed(tps, Duration.ofMillis(remainingMs()));
            for (TopicPartition tp : tps) {
                long end = ends.get(tp);
                emit("end", tp.partition(), end);
                OffsetAndMetadata c = committed.get(tp);
                long at = c == null ? -1 : c.offset();
                if (end > 0 && at != end) {
                    throw new Failure("partition " + tp.partition() + ": committed offset " + at
                            + ", end offset " + end);
                }
            }
            emit("info", "the group's committed offsets are the end offsets");
        } catch (Failure e) {
            throw e;
        } catch (Exception e) {
            throw new Failure("group.protocol=" + protocol + " consumers: " + describe(e));
        } finally {
            a.consumer.close(Duration.ofSeconds(5));
            try {
                b.consumer.close(Duration.ofSeconds(1));
            } catch (Exception e) {
                // Closed already in step 3.
            }
        }
    }

    static void closeQuietly(Member m) {
        try {
            m.consumer.close(Duration.ofSeconds(1));
        } catch (Exception e) {
            // Closing after a failure: the failure is what is reported.
        }
    }

    int partitionCount() throws Failure {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("key.deserializer", StringDeserializer.class.getName());
        props.put("value.deserializer", StringDeserializer.class.getName());
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(props)) {
            var infos = consumer.partitionsFor(topic, Duration.ofMillis(remainingMs()));
            if (infos == null || infos.isEmpty()) {
                throw new Failure("no partitions for topic " + topic);
            }
            return infos.size();
        }
    }

    void produce(List<String[]> input) throws Failure {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("key.serializer", StringSerializer.class.getName());
        props.put("value.serializer", StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            List<Future<RecordMetadata>> sends = new ArrayList<>();
            for (String[] r : input) {
                sends.add(producer.send(new ProducerRecord<>(topic, r[0], r[1])));
            }
            for (Future<RecordMetadata> send : sends) {
                send.get(remainingMs(), TimeUnit.MILLISECONDS);
            }
            emit("info", "default producer: " + sends.size() + " records acknowledged");
        } catch (Failure e) {
            throw e;
        } catch (Exception e) {
            throw new Failure("default producer: " + describe(e));
        }
    }
}
