#!/usr/bin/env bash
# Runs every fuzz target of studio-gate, or only the TARGETs named, for SECONDS seconds each,
# one target after another. Each runs on a scratch copy of its committed corpus so that
# fuzz/corpus/ does not grow. Prints one line per target with libFuzzer's number of
# executions and executions per second. Exits non-zero if the targets fail to build or any
# target crashes, leaks or times out, and keeps the failing input in fuzz/artifacts/<target>/.
#
# Usage: fuzz/run-campaign.sh SECONDS [TARGET...]
#
# FUZZ_SANITIZER picks cargo-fuzz's sanitizer: address (the default) or none. The library
# forbids unsafe code, so none is a sound choice for long campaigns and runs several times
# faster.
set -euo pipefail

usage="usage: $0 SECONDS [TARGET...] (SECONDS: the run time of each target, a whole number from 1)"
if [ $# -lt 1 ]; then
    echo "$usage" >&2
    exit 2
fi
seconds=$1
shift
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
    echo "invalid SECONDS '$seconds'. $usage" >&2
    exit 2
fi

sanitizer=${FUZZ_SANITIZER:-address}
case $sanitizer in
    address | none) ;;
    *)
        echo "invalid FUZZ_SANITIZER '$sanitizer' (address or none)" >&2
        exit 2
        ;;
esac

fuzz_dir=$(cd "$(dirname "$0")" && pwd)
cd "$fuzz_dir/.."

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is not installed. Installing it with cargo install."
    cargo install cargo-fuzz --locked
fi

# cargo-fuzz builds with -Z flags (the sanitizer and the coverage passes). A nightly toolchain
# accepts them. Without one, RUSTC_BOOTSTRAP=1 makes the stable compiler accept them.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz)
else
    fuzz=(env RUSTC_BOOTSTRAP=1 cargo fuzz)
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# The http_request target creates its STUDIO_DIR under TMPDIR and never removes it.
mkdir "$scratch/tmp"

mapfile -t known_targets < <("${fuzz[@]}" list)
if [ "${#known_targets[@]}" -eq 0 ]; then
    echo "cargo fuzz list found no targets" >&2
    exit 1
fi
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=("${known_targets[@]}")
fi
for target in "${targets[@]}"; do
    if ! printf '%s\n' "${known_targets[@]}" | grep -qx -- "$target"; then
        echo "unknown target '$target'. The targets are: ${known_targets[*]}" >&2
        exit 2
    fi
done

echo "building the fuzz targets with: ${fuzz[*]} build -s $sanitizer"
if ! "${fuzz[@]}" build -s "$sanitizer"; then
    echo "the fuzz targets failed to build" >&2
    exit 1
fi

# Prints why a target failed: the panic message, libFuzzer's summary and the saved input, or
# the end of the log when it has none of these (a build error, for example).
report_failure() {
    local target=$1 log=$2
    echo "---- $target failed ----"
    if grep -q -E 'panicked at|^SUMMARY:|Test unit written to' "$log"; then
        grep -m 1 -A 2 'panicked at' "$log" || true
        grep -E '^SUMMARY:|Test unit written to' "$log" || true
        echo "reproduce with: ${fuzz[*]} run $target <the file written above>"
    else
        tail -n 40 "$log"
    fi
    echo "----"
}

failed=()
for target in "${targets[@]}"; do
    corpus="$scratch/corpus/$target"
    mkdir -p "$corpus"
    if [ -d "$fuzz_dir/corpus/$target" ]; then
        cp -R "$fuzz_dir/corpus/$target/." "$corpus/"
    fi
    options=(-max_total_time="$seconds" -print_final_stats=1 -timeout=10)
    if [ -f "$fuzz_dir/dict/$target.dict" ]; then
        options+=(-dict="$fuzz_dir/dict/$target.dict")
    fi

    log="$scratch/$target.log"
    outcome=ok
    if ! TMPDIR="$scratch/tmp" "${fuzz[@]}" run -s "$sanitizer" "$target" "$corpus" -- "${options[@]}" \
        >"$log" 2>&1; then
        outcome=FAILED
        failed+=("$target")
    fi

    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    printf '%-15s %s: %s executions, %s exec/s\n' \
        "$target" "$outcome" "${executions:-unknown}" "${rate:-unknown}"
    if [ "$outcome" = FAILED ]; then
        report_failure "$target" "$log"
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "failed targets: ${failed[*]} (the failing inputs are in fuzz/artifacts/<target>/)" >&2
    exit 1
fi
echo "all ${#targets[@]} targets ran ${seconds}s each without a failure"
