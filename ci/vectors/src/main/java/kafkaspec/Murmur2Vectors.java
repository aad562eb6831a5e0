package kafkaspec;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import org.apache.kafka.clients.producer.internals.BuiltInPartitioner;
import org.apache.kafka.common.utils.Utils;

/**
 * Prints which partition Apache Kafka's Java producer picks for a keyed record.
 *
 * <p>The values come from kafka-clients itself ({@code Utils.murmur2}, {@code Utils.toPositive},
 * {@code BuiltInPartitioner.partitionForKey}), never from a re-implementation, so that the
 * reference broker's and the harness's partitioning can be checked against Java's own answers.
 * Both of Kafka's entry points are called and must agree, or the program fails.
 *
 * <p>Output: tab-separated {@code key, partitions, partition}, keys encoded as UTF-8 and
 * written as-is (the empty key is an empty first field). No key contains a tab or a newline.
 */
public final class Murmur2Vectors {
    private static final int[] PARTITION_COUNTS = {1, 3, 4, 6, 12};

    private Murmur2Vectors() {}

    static List<String> keys() {
        List<String> keys = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            keys.add("order-" + i);
        }
        keys.add("customer-42");
        keys.add("payment-7");
        keys.add("user-1001");
        keys.add("orders");
        // Keys of 0 to 4 bytes: every tail length murmur2 handles after its whole 4-byte blocks.
        keys.add("");
        keys.add("a");
        keys.add("b");
        keys.add("ab");
        keys.add("abc");
        keys.add("abcd");
        // Bytes >= 0x80 catch a sign-extension bug in a port (Java bytes are signed).
        keys.add("zürich");
        keys.add("東京");
        keys.add("🚀-rocket");
        keys.add("the-quick-brown-fox-jumps-over-the-lazy-dog/"
                + "0123456789abcdefghijklmnopqrstuvwxyz/"
                + "a-long-key-spanning-many-murmur2-blocks-with-a-3-byte-tail");
        return keys;
    }

    /** The version of the kafka-clients jar that {@code Utils} was loaded from. */
    static String kafkaClientsVersion() throws IOException {
        try (InputStream in = Utils.class.getResourceAsStream("/kafka/kafka-version.properties")) {
            if (in == null) {
                throw new IllegalStateException("kafka/kafka-version.properties not on the classpath");
            }
            Properties props = new Properties();
            props.load(in);
            return props.getProperty("version");
        }
    }

    public static void main(String[] args) throws IOException {
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        String version = kafkaClientsVersion();
        out.println("# computed by ci/vectors with kafka-clients " + version
                + ": toPositive(murmur2(utf8(key))) % partitions");
        out.println("#key\tpartitions\tpartition");
        int count = 0;
        for (String key : keys()) {
            if (key.indexOf('\t') >= 0 || key.indexOf('\n') >= 0) {
                throw new IllegalStateException("key not representable in TSV: " + key);
            }
            byte[] bytes = key.getBytes(StandardCharsets.UTF_8);
            for (int partitions : PARTITION_COUNTS) {
                int viaUtils = Utils.toPositive(Utils.murmur2(bytes)) % partitions;
                int viaPartitioner = BuiltInPartitioner.partitionForKey(bytes, partitions);
                if (viaUtils != viaPartitioner) {
                    throw new IllegalStateException("Utils and BuiltInPartitioner disagree for key '"
                            + key + "' with " + partitions + " partitions: "
                            + viaUtils + " vs " + viaPartitioner);
                }
                out.println(key + "\t" + partitions + "\t" + viaUtils);
                count++;
            }
        }
        out.flush();
        System.err.println("murmur2 vectors: " + count + " (kafka-clients " + version + ")");
    }
}
