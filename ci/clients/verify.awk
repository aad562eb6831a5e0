# Verifies what a client read back against what was sent. Used by ci/clients.sh.
#
#   awk -F '\t' -v mode=records -v want=all|c -v contiguous=0|1 -f verify.awk EXPECTED RECORDS [ENDS]
#   awk -F '\t' -v mode=markers -f verify.awk EXPECTED RECORDS ENDS
#
# EXPECTED: "seq<TAB>key<TAB>value<TAB>txn", in send order (txn: "-" outside transactions,
#           "c" committed, "a" aborted). Every value is unique.
# RECORDS:  "partition<TAB>offset<TAB>key<TAB>value", sorted by partition, then offset.
# ENDS:     "partition<TAB>end offset" for every partition of the topic.
#
# records: the records are exactly the expected ones (want=all) or the committed ones
#   (want=c): each once, with its key, each key on one partition, offsets increasing and the
#   send order kept within every partition; contiguous=1 also wants offsets 0, 1, 2, ... in
#   every partition and, with ENDS, every end offset right after the partition's last record
#   (nothing else in the log).
# markers: RECORDS hold every record of a topic one transactional producer wrote in
#   transactions committed or aborted in turn: within a partition the records of one
#   transaction are contiguous, exactly one offset (the transaction's marker) is missing
#   after each transaction's last record, and the end offset is right after the last marker.
#
# Prints "ok<TAB>summary" and exits 0, or the first problems (at most 5) and exits 1.
function problem(text) {
    problems++
    if (problems <= 5) print "problem: " text
}

FNR == 1 { file++ }

file == 1 {
    if (mode == "records" && want != "all" && $4 != want) next
    expected++
    key_of[$3] = $2
    seq_of[$3] = $1 + 0
    txn_of[$3] = $4
    next
}

file == 2 && mode == "records" {
    p = $1; o = $2 + 0; k = $3; v = $4
    records++
    if (!(v in key_of)) { problem("partition " p " offset " o ": unexpected record " k "=" v); next }
    if (v in seen) { problem("value " v " twice: at " seen[v] " and at " p "/" o); next }
    seen[v] = p "/" o
    if (key_of[v] != k) problem("value " v ": key " k ", sent with key " key_of[v])
    if (p in last_off) {
        if (o <= last_off[p]) problem("partition " p ": offset " o " after " last_off[p])
        else if (contiguous && o != last_off[p] + 1) problem("partition " p ": offset " o " after " last_off[p] " (gap)")
        if (seq_of[v] <= last_seq[p]) problem("partition " p ": record " seq_of[v] " after record " last_seq[p] " (send order not kept)")
    } else if (contiguous && o != 0) {
        problem("partition " p ": first record at offset " o ", expected 0")
    }
    last_off[p] = o
    last_seq[p] = seq_of[v]
    count[p]++
    if ((k in part_of) && part_of[k] != p) problem("key " k " on partitions " part_of[k] " and " p)
    part_of[k] = p
    next
}

file == 2 && mode == "markers" {
    p = $1; o = $2 + 0; v = $4
    if (!(v in txn_of)) { problem("partition " p " offset " o ": unexpected record " v); next }
    t = txn_of[v]
    if (!(p in last_off)) {
        want_off = 0
    } else if (t != last_txn[p]) {
        want_off = last_off[p] + 2
        markers[p] = markers[p] " " (last_off[p] + 1)
        if (t == "c") problem("partition " p ": a committed record after the aborted ones")
    } else {
        want_off = last_off[p] + 1
    }
    if (o != want_off) problem("partition " p ": record at offset " o ", expected " want_off " (one marker after each transaction, nothing else)")
    last_off[p] = o
    last_txn[p] = t
    per_txn[p, t]++
    next
}

file == 3 {
    ends[$1] = $2 + 0
    parts++
    next
}

END {
    if (file < 2) problem("no records read back")
    summary = ""
    if (mode == "records") {
        if (records != expected) problem("read " records " records back, expected " expected)
        missing = 0
        for (v in key_of) if (!(v in seen)) { missing++; if (missing <= 3) problem("never read back: " v) }
        if (file == 3 && contiguous) {
            for (p in ends) {
                want_end = (p in last_off) ? last_off[p] + 1 : 0
                if (ends[p] != want_end) problem("partition " p ": end offset " ends[p] ", expected " want_end " (after its last record)")
            }
            for (p in count) if (!(p in ends)) problem("partition " p " has records but no end offset")
        }
        summary = records " records"
        n = 0
        for (p in count) n++
        summary = summary " in " n " partition(s):"
        for (p = 0; p < 1000 && n > 0; p++) if (p in count) { summary = summary " p" p "=" count[p]; n-- }
    } else {
        if (file < 3) problem("no end offsets")
        for (p in ends) {
            if (p in last_off) {
                markers[p] = markers[p] " " (last_off[p] + 1)
                want_end = last_off[p] + 2
            } else {
                want_end = 0
            }
            if (ends[p] != want_end) problem("partition " p ": end offset " ends[p] ", expected " want_end " (right after the last marker)")
        }
        summary = "per partition"
        for (p = 0; p < 1000; p++) {
            if (!(p in ends)) continue
            summary = summary " p" p "[" (per_txn[p, "c"] + 0) " committed, " (per_txn[p, "a"] + 0) " aborted, markers at" (p in markers ? markers[p] : " -") ", end " ends[p] "]"
        }
    }
    if (problems > 0) {
        if (problems > 5) print "problem: ... " (problems - 5) " more"
        exit 1
    }
    print "ok\t" summary
}
