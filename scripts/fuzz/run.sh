#!/usr/bin/env bash
# Coverage-guided fuzzing of pixveil's decoders (issue 12, item 3): runs each cargo-fuzz
# target of fuzz/ for SECONDS (default 600) on its committed corpus, JOBS (default 2) at a
# time under `nice -n 19`, with the allocation caps of the decoders it exercises, and logs to
# fuzz/logs/<target>.log (the last lines hold libFuzzer's final stats).
#
#   scripts/fuzz/run.sh                 # every target, 10 minutes each
#   SECONDS_PER_TARGET=60 scripts/fuzz/run.sh idx gzip
#
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`). New inputs
# land in fuzz/corpus/<target>/; shrink them with `cargo +nightly fuzz cmin <target>` before
# committing. Crashes land in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/../.."

secs=${SECONDS_PER_TARGET:-600}
jobs=${JOBS:-2}
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(idx cifar gzip image container ckks henn checkpoint)
fi

# Largest single allocation allowed (MiB), from the caps each decoder documents:
#   idx, cifar, gzip: pixveil_image::MAX_DECODED_BYTES (1 GiB of decoded content);
#   image: pixveil_image::files::MAX_DECODER_ALLOC (512 MiB of decoder memory);
#   container: pixveil_cipher::spec::MAX_TABLE_BYTES (512 MiB of a key's scheme tables);
#   ckks, henn, checkpoint: lengths are checked against the bytes present before
#   anything is allocated, so the process-wide 2 GiB RSS limit is the only cap.
malloc_limit() {
  case $1 in
    idx | cifar | gzip) echo 1024 ;;
    image | container) echo 512 ;;
    *) echo 2048 ;;
  esac
}

mkdir -p fuzz/logs
(cd fuzz && cargo +nightly fuzz build -O)
running=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  (
    cd fuzz
    rc=0
    nice -n 19 cargo +nightly fuzz run -O "$t" -- \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      -malloc_limit_mb="$(malloc_limit "$t")" -print_final_stats=1 \
      >"logs/$t.log" 2>&1 || rc=$?
    # A nonzero status means libFuzzer found something: see fuzz/artifacts/$t/.
    echo "$t: exit $rc, $(grep -h stat::number_of_executed_units "logs/$t.log" || true)"
  ) &
  running=$((running + 1))
  if ((running >= jobs)); then
    wait -n
    running=$((running - 1))
  fi
done
wait
