#!/usr/bin/env bash
# Dev figures of a model exactly as users get them: `byline tag` on the raw dev texts, then
# `byline eval` against the gold (PolNeAR dev with the CofeNet-style rows, CoNLL-2003 dev).
#
#   bash scripts/eval_dev.sh MODEL [OUT_DIR]
#
# Data from ../shared (or BYLINE_SHARED). Extra `byline tag` flags go in TAG_ARGS.
set -euo pipefail
model=${1:?usage: eval_dev.sh MODEL [OUT_DIR]}
out=${2:-/tmp/byline-eval-dev}
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${BYLINE_SHARED:-$here/../shared}
byline=${BYLINE:-$here/target/release/byline}
mkdir -p "$out"
"$byline" convert "$shared/data/polnear/dev" --to jsonl -o "$out/polnear-dev.jsonl"
# shellcheck disable=SC2086
"$byline" tag --model "$model" ${TAG_ARGS:-} "$out/polnear-dev.jsonl" -o "$out/polnear-pred.jsonl"
"$byline" eval --gold "$shared/data/polnear/dev" --pred "$out/polnear-pred.jsonl" \
    --cofenet "$shared/eval/polnear-cofenet-dev.jsonl" --json > "$out/polnear-eval.json"
# shellcheck disable=SC2086
"$byline" tag --model "$model" ${TAG_ARGS:-} --format conll "$shared/data/conll2003/dev.txt" \
    -o "$out/conll-pred.txt"
"$byline" eval --gold "$shared/data/conll2003/dev.txt" --pred "$out/conll-pred.txt" --json \
    > "$out/conll-eval.json"
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
p = json.load(open(f"{out}/polnear-eval.json"))
c = json.load(open(f"{out}/conll-eval.json"))
def f1(table, name):
    return next(r["f1"] for r in table["rows"] if r["name"] == name) * 100
a, cf = p["attribution"], p["cofenet"]
print(f"entity F1 {f1(c['entities'], 'micro avg'):.2f} | attribution F1 {f1(a, 'attribution'):.2f} | "
      f"source exact {f1(a, 'source exact'):.2f} | cue exact {f1(a, 'cue exact'):.2f} | "
      f"content overlap {f1(a, 'content overlap'):.2f} | content exact {f1(a, 'content exact'):.2f} | "
      f"direct speaker correct {f1(a, 'direct speaker correct'):.2f} | CofeNet-style source "
      f"{f1(cf, 'source exact'):.2f} cue {f1(cf, 'cue exact'):.2f} content "
      f"{f1(cf, 'content exact'):.2f}")
PY
