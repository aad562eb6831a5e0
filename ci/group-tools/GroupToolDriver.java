import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.CloseOptions;
import org.apache.kafka.clients.consumer.CloseOptions.GroupMembershipOperation;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Exit;
import org.apache.kafka.tools.consumer.group.ConsumerGroupCommand;

/**
 * Runs Kafka's `kafka-consumer-groups` (ConsumerGroupCommand.main, the class bin/ runs) many
 * times in one JVM, next to live group members, for ci/group-tools.sh: one JVM start instead
 * of one per command keeps the script within its time budget on two cores.
 *
 * Reads commands from stdin, one per line, words separated by spaces:
 *   create TOPIC PARTITIONS RF   create a topic (Admin)
 *   produce TOPIC COUNT          COUNT records, keys key0..key9 in turn (acks=all, keyed, so
 *                                the same partitions on every broker)
 *   members PROTOCOL GROUP TOPIC [KEY=VALUE...]
 *                                two KafkaConsumers (group.protocol PROTOCOL, client ids
 *                                member-a and member-b, manual commits) join GROUP, member-a
 *                                first (b joins once a holds every partition); returns
 *                                when they split TOPIC's partitions, have read every record
 *                                and committed it, and the group is Stable with 2 members.
 *                                They keep polling (and commit nothing more) until `leave`.
 *                                KEY=VALUE: more consumer properties (an assignor, say;
 *                                `{client}` in VALUE is the member's client id).
 *   leave GROUP                  both members close with LEAVE_GROUP (static members leave
 *                                too, KIP-1092); waits until the group is Empty
 *   tool ARGS...                 ConsumerGroupCommand.main(--bootstrap-server B ARGS...)
 *   echo WORDS...                prints WORDS (section markers)
 * Prints `$ kafka-consumer-groups ARGS...`, the command's stdout, its stderr lines prefixed
 * `stderr: `, and `exit N` (the status it would exit with: 0 unless it called Exit.exit);
 * `info ...` lines; `error ...` and exit status 1 when a step fails its deadline. Each step's
 * start (seconds since the driver started) goes to stderr.
 *
 * Usage: GroupToolDriver BOOTSTRAP DEADLINE_S < COMMANDS
 */
public class GroupToolDriver {
    static class Failure extends Exception {
        Failure(String message) {
            super(message);
        }
    }

    /** What Exit.exit throws here instead of ending the JVM. */
    static class ExitCalled extends RuntimeException {
        final int status;

        ExitCalled(int status) {
            super("exit " + status);
            this.status = status;
        }
    }

    static final PrintStream OUT = System.out;
    static final PrintStream ERR = System.err;

    final String bootstrap;
    final long startNanos = System.nanoTime();
    final long deadlineNanos;
    final Admin admin;
    final Map<String, List<Member>> members = new HashMap<>();

    GroupToolDriver(String bootstrap, long deadlineS) {
        this.bootstrap = bootstrap;
        this.deadlineNanos = System.nanoTime() + TimeUnit.SECONDS.toNanos(deadlineS);
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        this.admin = Admin.create(props);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            ERR.println("usage: GroupToolDriver BOOTSTRAP DEADLINE_S < COMMANDS");
            System.exit(2);
        }
        Exit.setExitProcedure((status, message) -> {
            throw new ExitCalled(status);
        });
        GroupToolDriver driver = new GroupToolDriver(args[0], Long.parseLong(args[1]));
        int status = 0;
        try {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            for (String line; (line = in.readLine()) != null; ) {
                line = line.trim();
                if (!line.isEmpty()) {
                    driver.step(line.split(" +"));
                }
            }
        } catch (Failure e) {
            OUT.println("error " + e.getMessage());
            status = 1;
        } finally {
            driver.close();
        }
        OUT.flush();
        System.exit(status);
    }

    void step(String[] words) throws Exception {
        long elapsedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
        ERR.printf("GroupToolDriver: %.1f s: %s%n", elapsedMs / 1000.0, String.join(" ", words));
        String[] rest = Arrays.copyOfRange(words, 1, words.length);
        switch (words[0]) {
            case "create" -> admin.createTopics(List.of(new NewTopic(rest[0], Integer.parseInt(rest[1]),
                    Short.parseShort(rest[2])))).all().get(remainingMs(), TimeUnit.MILLISECONDS);
            case "produce" -> produce(rest[0], Integer.parseInt(rest[1]));
            case "members" -> members(rest[0], rest[1], rest[2], Arrays.copyOfRange(rest, 3, rest.length));
            case "leave" -> leave(rest[0]);
            case "leave-member" -> leaveMember(rest[0], rest[1]);
            case "tool" -> tool(rest);
            case "echo" -> OUT.println(String.join(" ", rest));
            default -> throw new Failure("unknown command " + words[0]);
        }
    }

    long remainingMs() throws Failure {
        long ms = TimeUnit.NANOSECONDS.toMillis(deadlineNanos - System.nanoTime());
        if (ms <= 0) {
            throw new Failure("deadline passed");
        }
        return ms;
    }

    void produce(String topic, int count) throws Exception {
        Properties props = new Properties();
        props.put("bootstrap.servers", bootstrap);
        props.put("acks", "all");
        props.put("key.serializer", StringSerializer.class.getName());
        props.put("value.serializer", StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            for (int i = 0; i < count; i++) {
                producer.send(new ProducerRecord<>(topic, "key" + (i % 10), "value" + i));
            }
            producer.flush();
        }
    }

    /** One member: a consumer polled by its own thread, committing only when asked. */
    class Member extends Thread {
        final KafkaConsumer<String, String> consumer;
        final Map<TopicPartition, OffsetAndMetadata> read = new HashMap<>();
        final AtomicInteger records = new AtomicInteger();
        volatile Set<Integer> partitions = Set.of();
        volatile boolean commitAsked = false;
        volatile boolean committed = false;
        volatile boolean stop = false;
        volatile String failure = null;

        Member(String clientId, String protocol, String group, String topic, String[] extra) {
            super(clientId);
            Properties props = new Properties();
            props.put("bootstrap.servers", bootstrap);
            props.put("group.id", group);
            props.put("group.protocol", protocol);
            props.put("client.id", clientId);
            props.put("key.deserializer", StringDeserializer.class.getName());
            props.put("value.deserializer", StringDeserializer.class.getName());
            props.put("enable.auto.commit", "false");
            props.put("auto.offset.reset", "earliest");
            for (String kv : extra) {
                int eq = kv.indexOf('=');
                props.put(kv.substring(0, eq), kv.substring(eq + 1).replace("{client}", clientId));
            }
            consumer = new KafkaConsumer<>(props);
            consumer.subscribe(List.of(topic));
        }

        @Override
        public void run() {
            try {
                while (!stop) {
                    for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(100))) {
                        read.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                        records.incrementAndGet();
                    }
                    Set<Integer> now = new TreeSet<>();
                    for (TopicPartition tp : consumer.assignment()) {
                        now.add(tp.partition());
                    }
                    partitions = now;
                    if (commitAsked && !committed) {
                        consumer.commitSync(read);
                        committed = true;
                    }
                }
            } catch (Exception e) {
                failure = e.toString();
            } finally {
                // LEAVE_GROUP (KIP-1092): static members leave too, not only dynamic ones.
                consumer.close(CloseOptions.groupMembershipOperation(GroupMembershipOperation.LEAVE_GROUP)
                        .withTimeout(Duration.ofSeconds(10)));
            }
        }
    }

    void members(String protocol, String group, String topic, String[] extra) throws Exception {
        int partitionCount = admin.describeTopics(List.of(topic)).allTopicNames()
                .get(remainingMs(), TimeUnit.MILLISECONDS).get(topic).partitions().size();
        Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
        for (int p = 0; p < partitionCount; p++) {
            latest.put(new TopicPartition(topic, p), OffsetSpec.latest());
        }
        long total = 0;
        for (var info : admin.listOffsets(latest).all().get(remainingMs(), TimeUnit.MILLISECONDS).values()) {
            total += info.offset();
        }
        // member-a first, alone until it holds every partition, then member-b: the join order,
        // and so the assignors' placement, is the same on every run.
        // `migration`: a classic member-a, then a consumer-protocol member-b (KIP-848's online
        // upgrade of the live classic group).
        boolean migration = protocol.equals("migration");
        Member a = new Member("member-a", migration ? "classic" : protocol, group, topic, extra);
        members.put(group, List.of(a));
        a.start();
        while (a.partitions.size() != partitionCount) {
            check(a, a, "member-a alone holds " + a.partitions);
            Thread.sleep(50);
        }
        Member b = new Member("member-b", migration ? "consumer" : protocol, group, topic, extra);
        members.put(group, List.of(a, b));
        b.start();
        while (true) {
            Set<Integer> union = new TreeSet<>(a.partitions);
            union.addAll(b.partitions);
            boolean split = !a.partitions.isEmpty() && !b.partitions.isEmpty()
                    && union.size() == a.partitions.size() + b.partitions.size() && union.size() == partitionCount;
            if (split && a.records.get() + b.records.get() >= total) {
                break;
            }
            check(a, b, "the members hold " + a.partitions + " and " + b.partitions + " and read "
                    + (a.records.get() + b.records.get()) + " of " + total + " records");
            Thread.sleep(50);
        }
        a.commitAsked = true;
        b.commitAsked = true;
        while (!a.committed || !b.committed) {
            check(a, b, "the members did not commit");
            Thread.sleep(50);
        }
        awaitGroup(group, GroupState.STABLE, 2);
        OUT.println("info " + group + ": 2 members split " + partitionCount + " partitions, read and committed "
                + total + " records");
    }

    void check(Member a, Member b, String what) throws Failure {
        for (Member m : List.of(a, b)) {
            if (m.failure != null) {
                throw new Failure(m.getName() + ": " + m.failure);
            }
        }
        if (System.nanoTime() - deadlineNanos >= 0) {
            throw new Failure("at the deadline: " + what);
        }
    }

    /** Waits until GROUP is in STATE with MEMBERS members (each with partitions, if any). */
    void awaitGroup(String group, GroupState state, int memberCount) throws Exception {
        String seen = "";
        while (true) {
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(group)).all()
                    .get(remainingMs(), TimeUnit.MILLISECONDS).get(group);
            boolean assigned = d.members().stream().allMatch(m -> !m.assignment().topicPartitions().isEmpty()
                    && m.targetAssignment().map(t -> t.equals(m.assignment())).orElse(true));
            if (d.groupState() == state && d.members().size() == memberCount && assigned) {
                return;
            }
            seen = d.groupState() + " with " + d.members().size() + " members";
            if (System.nanoTime() - deadlineNanos >= 0) {
                throw new Failure(group + " is " + seen + " at the deadline, not " + state + " with " + memberCount);
            }
            Thread.sleep(100);
        }
    }

    /** One member of GROUP leaves; the others must hold every partition between them. */
    void leaveMember(String group, String clientId) throws Exception {
        List<Member> staying = new java.util.ArrayList<>();
        for (Member m : members.getOrDefault(group, List.of())) {
            if (m.getName().equals(clientId)) {
                m.stop = true;
                m.join(remainingMs());
            } else {
                staying.add(m);
            }
        }
        members.put(group, staying);
        awaitGroup(group, GroupState.STABLE, staying.size());
    }

    void leave(String group) throws Exception {
        List<Member> leaving = members.getOrDefault(group, List.of());
        for (Member m : leaving) {
            m.stop = true;
        }
        for (Member m : leaving) {
            m.join(remainingMs());
        }
        members.remove(group);
        awaitGroup(group, GroupState.EMPTY, 0);
    }

    void tool(String[] args) {
        String[] full = new String[args.length + 2];
        full[0] = "--bootstrap-server";
        full[1] = bootstrap;
        System.arraycopy(args, 0, full, 2, args.length);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = 0;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            ConsumerGroupCommand.main(full);
        } catch (ExitCalled e) {
            status = e.status;
        } catch (Exception e) {
            System.err.println("uncaught " + e);
            status = 1;
        } finally {
            System.out.flush();
            System.err.flush();
            System.setOut(OUT);
            System.setErr(ERR);
        }
        OUT.println("$ kafka-consumer-groups " + String.join(" ", args));
        OUT.print(out.toString(StandardCharsets.UTF_8));
        for (String line : err.toString(StandardCharsets.UTF_8).split("\n")) {
            if (!line.isEmpty()) {
                OUT.println("stderr: " + line);
            }
        }
        OUT.println("exit " + status);
    }

    void close() {
        members.values().forEach(ms -> ms.forEach(m -> m.stop = true));
        admin.close(Duration.ofSeconds(5));
    }
}
