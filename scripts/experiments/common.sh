# Shared by the scripts in scripts/experiments (source it after setting OUT):
#   DATA  data folder ($PIXVEIL_DATA_DIR, default ../shared/data)
#   BIN   pixveil binary ($PIXVEIL_BIN, default target/release/pixveil, built if missing)
#   key SCHEME SHAPE            fixed-mode key OUT/keys/SCHEME.key (kept if present)
#   run NAME TRAIN-ARGS...      `pixveil train … -o OUT/NAME.safetensors --json` → OUT/NAME.json,
#                               skipped when OUT/NAME.json exists (reruns resume a table)
#   summary                     OUT/summary.md from every OUT/*.json, printed
DATA="${PIXVEIL_DATA_DIR:-../shared/data}"
BIN="${PIXVEIL_BIN:-target/release/pixveil}"
[[ -x "$BIN" ]] || cargo build --release --locked -p pixveil
mkdir -p "$OUT/keys"
key() {
  [[ -f "$OUT/keys/$1.key" ]] || "$BIN" keygen --scheme "$1" --shape "$2" --mode fixed -o "$OUT/keys/$1.key"
}
run() {
  local name="$1"; shift
  if [[ -f "$OUT/$name.json" ]]; then echo "skip $name (done)"; return; fi
  "$BIN" train --data-dir "$DATA" -o "$OUT/$name.safetensors" --json "$@" > "$OUT/$name.json.tmp"
  mv "$OUT/$name.json.tmp" "$OUT/$name.json"
}
summary() {
  python3 scripts/experiments/summarize.py "$OUT" > "$OUT/summary.md"
  cat "$OUT/summary.md"
}
