#!/usr/bin/env bash
# Documents per second of `byline tag --threads 2` against the Spark job in local[1] and
# local[2] on the same ~2,000 generated documents, with the default model (or $MODEL), whole
# job timed (JVM start included; an empty Spark job is timed apart), and byline's peak RSS per
# thread count. Prints a table. Run after scripts/spark/test.sh (which installs pyspark).
set -euo pipefail
[[ -x /usr/bin/time ]] || { apt-get update -qq && apt-get install -y -qq time bc >/dev/null; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
bin="${BYLINE_BIN:-$root/target/release/byline}"
n="${DOCS:-2000}"
model_args=()
[[ -n "${MODEL:-}" ]] && model_args=(--model "$MODEL")
export PYSPARK_PYTHON="$venv/bin/python" PYSPARK_DRIVER_PYTHON="$venv/bin/python"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT; cd "$work"
"$venv/bin/python" "$here/check.py" generate docs.jsonl --n "$n" 2>/dev/null
docs=$(grep -c . docs.jsonl)
secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N); echo "$e - $s" | bc; }
submit() { "$venv/bin/spark-submit" --conf spark.ui.enabled=false "$@"; }
cat > empty.py <<'PY'
from pyspark.sql import SparkSession
s = SparkSession.builder.getOrCreate(); s.sparkContext.parallelize([1]).count(); s.stop()
PY
# byline tag exits 1 here (the generated input has bad lines); %M is the last stderr line.
rss() { { /usr/bin/time -f %M "$bin" tag --threads "$1" "${model_args[@]}" docs.jsonl -o /dev/null 2>&1 >/dev/null || true; } | tail -1; }
t_plain=$(secs "$bin" tag --threads 2 "${model_args[@]}" docs.jsonl -o plain.jsonl)
t_jvm=$(secs submit --master 'local[2]' empty.py)
t_l1=$(secs submit --master 'local[1]' "$here/tag.py" --input docs.jsonl --output o1 --byline "$bin" "${model_args[@]}" --partitions 4)
t_l2=$(secs submit --master 'local[2]' "$here/tag.py" --input docs.jsonl --output o2 --byline "$bin" "${model_args[@]}" --partitions 4)
"$venv/bin/python" "$here/check.py" compare plain.jsonl o2 --what "local[2] output" 2>&1 | tail -1
r1=$(rss 1); r2=$(rss 2)
printf '%-34s %8s %8s\n' "run ($docs lines, $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))" "wall s" "docs/s"
printf '%-34s %8.2f %8.1f\n' "byline tag --threads 2" "$t_plain" "$(echo "$docs / $t_plain" | bc -l)"
printf '%-34s %8.2f %8s\n' "spark-submit of an empty job" "$t_jvm" "-"
printf '%-34s %8.2f %8.1f\n' "spark local[1], 4 partitions" "$t_l1" "$(echo "$docs / $t_l1" | bc -l)"
printf '%-34s %8.2f %8.1f\n' "spark local[2], 4 partitions" "$t_l2" "$(echo "$docs / $t_l2" | bc -l)"
printf 'overhead of local[2] over byline tag: %.2fx (%.2fx without the empty job'"'"'s start-up)\n' \
    "$(echo "$t_l2 / $t_plain" | bc -l)" "$(echo "($t_l2 - $t_jvm) / $t_plain" | bc -l)"
printf 'byline peak RSS: --threads 1 %s MiB, --threads 2 %s MiB\n' "$((r1 / 1024))" "$((r2 / 1024))"
