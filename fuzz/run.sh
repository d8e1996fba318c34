#!/usr/bin/env bash
# Builds the fuzz targets once (libFuzzer + AddressSanitizer, the flags
# cargo-fuzz uses, on the stable toolchain via RUSTC_BOOTSTRAP) and runs each
# for <seconds>. Usage: fuzz/run.sh <seconds> [target...]
#
# Seeds: fuzz/corpus/<target>/seed-* (written by gen_seeds from the EIP-8
# vectors and our own encodings, committed). Inputs libFuzzer adds to the
# corpus land beside them (gitignored). Crashes go to
# fuzz/artifacts/<target>/; reproduce one with
#   fuzz/target/<triple>/release/<target> fuzz/artifacts/<target>/crash-…
# Prints `fuzz <target> seconds=<s> execs=<n> result=ok|crash` per target and
# exits non-zero if any target crashed.
set -euo pipefail

if [ $# -lt 1 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 <seconds> [target...]" >&2
  exit 2
fi
seconds=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

all_targets=(rlpx_auth rlpx_ack rlpx_frame hello disconnect snappy_msg discv4_packet
  enr_rlp enr_text enode_url nodekey config_toml)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi
for t in "${targets[@]}"; do
  [ -f "fuzz_targets/$t.rs" ] || { echo "unknown target: $t" >&2; exit 2; }
done

triple=$(rustc -vV | sed -n 's/^host: //p')
# The flags cargo-fuzz passes (sancov with 8-bit counters, PC table and
# comparison tracing; AddressSanitizer; debug assertions), plus --cfg fuzzing.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing \
-Cllvm-args=-simplifycfg-branch-fold-threshold=0 -Zsanitizer=address \
-Cdebug-assertions -Coverflow-checks -Cforce-frame-pointers ${FUZZ_EXTRA_RUSTFLAGS:-}"
# -Z flags on the stable toolchain.
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$here/target"
# --target keeps build scripts and proc macros uninstrumented.
build_start=$(date +%s)
cargo build --release --target "$triple" --bins --quiet
echo "fuzz build seconds=$(( $(date +%s) - build_start ))"
bin="$CARGO_TARGET_DIR/$triple/release"

"$bin/gen_seeds" "$here/corpus" >/dev/null

failed=0
passed=0
mkdir -p logs
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log="logs/$t.log"
  set +e
  # -rss_limit_mb: 2 GiB as cargo-fuzz. -timeout: one input running over 60 s
  # is a hang (inputs take milliseconds; 10 s fired spuriously on the shared,
  # overloaded 2-core machine).
  ASAN_OPTIONS=detect_leaks=1 "$bin/$t" "corpus/$t" \
    -max_total_time="$seconds" -print_final_stats=1 -timeout=60 -rss_limit_mb=2048 \
    -artifact_prefix="artifacts/$t/" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  if [ $rc -eq 0 ]; then
    result=ok
    passed=$((passed + 1))
  else
    result=crash
    failed=$((failed + 1))
    echo "--- $t (exit $rc), last lines of $log:" >&2
    tail -n 40 "$log" >&2
  fi
  echo "fuzz $t seconds=$seconds execs=${execs:-0} result=$result"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
