#!/usr/bin/env bash
# Bounded coverage-guided fuzzing of the reference broker: builds the cargo-fuzz targets in
# fuzz/ and runs each for FUZZ_SECONDS (default 60), starting from the committed corpus.
#
#   bash ci/fuzz.sh                      # every target, 60 s each
#   FUZZ_SECONDS=600 bash ci/fuzz.sh     # longer
#   bash ci/fuzz.sh log_recovery         # some targets only
#
# Needs the nightly toolchain (cargo-fuzz passes sanitizer-coverage flags only nightly takes)
# and cargo-fuzz, which it installs from crates.io when missing (pinned, --locked). Without
# nightly it fails and says so: a fuzz stage that silently skipped would look green.
#
# Per target it prints runs, coverage, corpus size and "no crash" or the reproducer's path
# (fuzz/artifacts/<target>/), and exits non-zero when any target crashed. New corpus entries
# go to a scratch directory, so the committed corpus stays as it is; to keep what a long run
# found, minimise it into fuzz/corpus/<target>/ (see README, "Fuzzing").
#
# Environment:
#   FUZZ_SECONDS     seconds per target (default 60)
#   FUZZ_SANITIZER   cargo-fuzz --sanitizer: none (default: builds and runs faster; the code
#                    under test is safe Rust) or address
#   CARGO_FUZZ_VERSION  the cargo-fuzz to install when missing (default 0.13.2)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

seconds="${FUZZ_SECONDS:-60}"
sanitizer="${FUZZ_SANITIZER:-none}"
cargo_fuzz_version="${CARGO_FUZZ_VERSION:-0.13.2}"
all_targets=(record_batch log_recovery broker_requests)
if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    targets=("${all_targets[@]}")
fi

if ! [[ $seconds =~ ^[0-9]+$ ]] || [[ $seconds -eq 0 ]]; then
    echo "FUZZ_SECONDS must be a positive number of seconds, not '$seconds'" >&2
    exit 2
fi

if ! command -v cargo >/dev/null 2>&1 && [[ -f "$HOME/.cargo/env" ]]; then
    # shellcheck source=/dev/null
    . "$HOME/.cargo/env"
fi

# cargo-fuzz builds with -Cpasses=sancov-module and friends, which only nightly accepts.
if ! cargo +nightly --version >/dev/null 2>&1; then
    cat >&2 <<'EOF'
FUZZ STAGE FAILED: the nightly Rust toolchain is not installed (`cargo +nightly` does not run).
cargo-fuzz needs nightly for its sanitizer-coverage flags; nothing was fuzzed.
Install it with `rustup toolchain install nightly --profile minimal` on a machine that can
reach the Rust toolchain server, or provision the CI machine with it.
EOF
    exit 1
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is missing: installing cargo-fuzz $cargo_fuzz_version from crates.io"
    started=$SECONDS
    cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked
    echo "installed cargo-fuzz in $((SECONDS - started))s"
fi

echo "toolchain: $(rustc +nightly --version)"
echo "cargo-fuzz: $(cargo fuzz --version)"
echo "sanitizer: $sanitizer; $seconds s per target: ${targets[*]}"

started=$SECONDS
cargo +nightly fuzz build --sanitizer "$sanitizer"
echo "built the fuzz targets in $((SECONDS - started))s"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# Reads libFuzzer's output: the runs, and coverage/features of its last status line.
summarise() {
    local log="$1" runs status
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    status="$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)"
    local cov ft corp
    cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")"
    ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")"
    corp="$(sed -n 's|.* corp: \([0-9]*\)/\([0-9a-zA-Z]*\).*|\1 inputs, \2|p' <<<"$status")"
    printf 'runs %s, coverage %s edges (%s features), corpus %s' \
        "${runs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
}

crashed=()
summary=()
for target in "${targets[@]}"; do
    corpus="fuzz/corpus/$target"
    artifacts="fuzz/artifacts/$target"
    work="$scratch/$target"
    log="$scratch/$target.log"
    mkdir -p "$work" "$corpus" "$artifacts"
    before="$(ls -A "$artifacts")"
    echo
    echo "==> fuzzing $target for ${seconds}s (seed corpus: $(ls -A "$corpus" | wc -l) files)"
    set +e
    # New inputs go to $work; $corpus is read only. -timeout: one input taking 30 s is a hang.
    cargo +nightly fuzz run --sanitizer "$sanitizer" "$target" "$work" "$corpus" -- \
        -max_total_time="$seconds" -timeout=30 -print_final_stats=1 >"$log" 2>&1
    rc=$?
    set -e
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::|^Done ' "$log" || true
    line="$target: $(summarise "$log")"
    if [[ $rc -eq 0 ]]; then
        line="$line: no crash"
    else
        new="$(comm -13 <(echo "$before") <(ls -A "$artifacts") | sed "s|^|$artifacts/|")"
        echo "--- what went wrong in the $target run:"
        grep -m 1 -A 12 -E "panicked at|^==[0-9]+== ?ERROR|^ERROR:|memory allocation of" "$log" || true
        echo "--- last lines of the $target run:"
        tail -n 30 "$log"
        line="$line: CRASH (exit $rc) ${new:-no reproducer written (build or harness failure?)}"
        crashed+=("$target")
    fi
    summary+=("$line")
done

echo
echo "fuzz summary ($seconds s per target, sanitizer $sanitizer):"
printf '  %s\n' "${summary[@]}"
if [[ ${#crashed[@]} -gt 0 ]]; then
    echo "FUZZ STAGE FAILED: crashes in ${crashed[*]}; replay one with" >&2
    echo "  cargo +nightly fuzz run --sanitizer $sanitizer <target> <reproducer>" >&2
    exit 1
fi
