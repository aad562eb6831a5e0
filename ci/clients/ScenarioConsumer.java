import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.LinkedBlockingQueue;

import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ApiException;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * One subscribed Java KafkaConsumer that a harness scenario drives (harness/src/group_client,
 * a member whose client is `java`): the scenario's steps send commands on stdin, one per
 * line, and read events on stdout, one per line, fields separated by tabs.
 *
 * Usage: ScenarioConsumer BOOTSTRAP GROUP_ID CLIENT_ID TOPIC[,TOPIC...] [KEY=VALUE...]
 * (the settings go to the consumer as they are, over bootstrap.servers, group.id, client.id
 * and byte-array deserializers).
 *
 * Commands: `commit-consumed` (commitSync of the positions), `commit TOPIC:PARTITION:OFFSET,...`
 * (commitSync of exactly those), `polling on|off`, `close` (also on end of input).
 * Events: `ready`, `assigned TPS`, `revoked TPS`, `lost TPS` (each followed by `assignment TPS`,
 * the whole assignment after the callback), `record TOPIC PARTITION OFFSET VALUE` (the value
 * in hex, `-` for null), `error CODE NAME MESSAGE` (poll failed), `reply ok` or
 * `reply error CODE NAME MESSAGE` (a commit), `closed`. TPS is `topic:partition,...`.
 *
 * The consumer is used from this thread only (KafkaConsumer is not thread-safe); a second
 * thread only reads stdin into a queue.
 */
public class ScenarioConsumer implements ConsumerRebalanceListener {
    static final Duration POLL = Duration.ofMillis(50);

    final KafkaConsumer<byte[], byte[]> consumer;

    ScenarioConsumer(KafkaConsumer<byte[], byte[]> consumer) {
        this.consumer = consumer;
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 4) {
            System.err.println("usage: ScenarioConsumer BOOTSTRAP GROUP_ID CLIENT_ID TOPICS [KEY=VALUE...]");
            System.exit(2);
        }
        Properties props = new Properties();
        for (int i = 4; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq <= 0) {
                System.err.println("not KEY=VALUE: " + args[i]);
                System.exit(2);
            }
            props.put(args[i].substring(0, eq), args[i].substring(eq + 1));
        }
        props.put("bootstrap.servers", args[0]);
        props.put("group.id", args[1]);
        props.put("client.id", args[2]);
        props.put("key.deserializer", ByteArrayDeserializer.class.getName());
        props.put("value.deserializer", ByteArrayDeserializer.class.getName());
        KafkaConsumer<byte[], byte[]> consumer;
        try {
            consumer = new KafkaConsumer<>(props);
        } catch (KafkaException e) {
            emit("error", -1, "CONFIG", describe(e));
            System.exit(1);
            return;
        }
        ScenarioConsumer self = new ScenarioConsumer(consumer);
        consumer.subscribe(List.of(args[3].split(",")), self);
        LinkedBlockingQueue<String> commands = new LinkedBlockingQueue<>();
        Thread reader = new Thread(() -> {
            try {
                StringBuilder line = new StringBuilder();
                int b;
                while ((b = System.in.read()) != -1) {
                    if (b == '\n') {
                        commands.add(line.toString());
                        line.setLength(0);
                    } else {
                        line.append((char) b);
                    }
                }
            } catch (Exception e) {
                // End of input either way.
            }
            commands.add("close");
        }, "stdin");
        reader.setDaemon(true);
        reader.start();
        emit("ready");
        self.run(commands);
    }

    void run(LinkedBlockingQueue<String> commands) throws InterruptedException {
        boolean polling = true;
        while (true) {
            String command = polling ? commands.poll() : commands.poll(POLL.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
            if (command != null) {
                String[] parts = command.split("\t", 2);
                switch (parts[0]) {
                    case "commit-consumed":
                        reply(() -> consumer.commitSync());
                        break;
                    case "commit":
                        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                        if (parts.length > 1 && !parts[1].isEmpty()) {
                            for (String tpo : parts[1].split(",")) {
                                int last = tpo.lastIndexOf(':');
                                int mid = tpo.lastIndexOf(':', last - 1);
                                offsets.put(new TopicPartition(tpo.substring(0, mid), Integer.parseInt(tpo.substring(mid + 1, last))),
                                        new OffsetAndMetadata(Long.parseLong(tpo.substring(last + 1))));
                            }
                        }
                        reply(() -> consumer.commitSync(offsets));
                        break;
                    case "polling":
                        polling = parts.length > 1 && parts[1].equals("on");
                        break;
                    case "close":
                        try {
                            consumer.close(Duration.ofSeconds(10));
                        } catch (Exception e) {
                            emit("error", code(e), name(e), describe(e));
                        }
                        emit("closed");
                        System.out.flush();
                        System.exit(0);
                        return;
                    default:
                        emit("error", -1, "HARNESS", "unknown command " + command);
                }
            }
            if (polling) {
                try {
                    for (ConsumerRecord<byte[], byte[]> r : consumer.poll(POLL)) {
                        String value = r.value() == null ? "-" : HexFormat.of().formatHex(r.value());
                        emit("record", r.topic(), r.partition(), r.offset(), value);
                    }
                } catch (Exception e) {
                    emit("error", code(e), name(e), describe(e));
                }
            }
        }
    }

    void reply(Runnable commit) {
        try {
            commit.run();
            emit("reply", "ok");
        } catch (Exception e) {
            emit("reply", "error", code(e), name(e), describe(e));
        }
    }

    static int code(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof ApiException) {
                return Errors.forException(c).code();
            }
        }
        return -1;
    }

    static String name(Throwable e) {
        for (Throwable c = e; c != null; c = c.getCause()) {
            if (c instanceof ApiException) {
                return Errors.forException(c).name();
            }
        }
        return e.getClass().getSimpleName();
    }

    static String describe(Throwable t) {
        StringBuilder out = new StringBuilder();
        for (Throwable c = t; c != null && c.getCause() != c; c = c.getCause()) {
            if (out.length() > 0) {
                out.append(" <- ");
            }
            out.append(c.getClass().getName()).append(": ").append(c.getMessage());
        }
        return out.toString();
    }

    static String tps(Collection<TopicPartition> partitions) {
        List<String> out = new ArrayList<>();
        for (TopicPartition tp : partitions) {
            out.add(tp.topic() + ":" + tp.partition());
        }
        return String.join(",", out);
    }

    static synchronized void emit(String kind, Object... fields) {
        StringBuilder line = new StringBuilder(kind);
        for (Object field : fields) {
            line.append('\t').append(String.valueOf(field).replace('\n', ' ').replace('\t', ' '));
        }
        System.out.println(line);
        System.out.flush();
    }

    /** The callback's partitions, then the assignment once it is applied (Java calls the
     *  revoke and lose callbacks before it drops those partitions, the assign one after it
     *  added them). */
    void callback(String kind, Collection<TopicPartition> partitions) {
        emit(kind, tps(partitions));
        java.util.Set<TopicPartition> after = new java.util.TreeSet<>(
                java.util.Comparator.comparing(TopicPartition::topic).thenComparingInt(TopicPartition::partition));
        after.addAll(consumer.assignment());
        if (!kind.equals("assigned")) {
            after.removeAll(partitions);
        }
        emit("assignment", tps(after));
    }

    @Override
    public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
        callback("revoked", partitions);
    }

    @Override
    public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
        callback("assigned", partitions);
    }

    @Override
    public void onPartitionsLost(Collection<TopicPartition> partitions) {
        callback("lost", partitions);
    }
}
