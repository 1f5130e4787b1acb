#!/usr/bin/env bash
# The Spark job (scripts/spark/tag.py) in local mode against `byline tag` on one machine:
#   1. ~2,000 generated documents plus bad lines, local[2], 4 partitions: every record equal to
#      byline tag's on the whole file (ids from line numbers included), each exactly once;
#   2. the same with one partition's byline child killed mid-stream on its first attempt
#      (local[2,3]: Spark retries the task): nothing lost, nothing twice;
#   3. Parquet in (with columns to carry) and Parquet out.
#
# Installs what is missing: pyspark (pinned) into scripts/spark/.venv from the package index,
# Java 17 from apt when no Java 17+ is on the machine. Builds nothing twice: it uses
# $BYLINE_BIN, else target/release/byline, else target/debug/byline (what `cargo test` built),
# and builds the debug binary only when neither exists. The model is the tiny checkpoint under
# tests/fixtures/hf (a real model is for scripts/spark/bench.sh).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
say() { printf 'spark/test.sh: %s\n' "$*" >&2; }
start=$(date +%s)

PYSPARK_VERSION=4.0.1

java_ok() {
    command -v java >/dev/null 2>&1 || return 1
    local v
    v="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)"
    [[ -n "$v" && "$v" -ge 17 ]]
}
if ! java_ok; then
    say "installing openjdk-17-jre-headless"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi

venv="$here/.venv"
if ! "$venv/bin/python" -c "import pyspark, sys; sys.exit(pyspark.__version__ != '$PYSPARK_VERSION')" 2>/dev/null; then
    say "installing pyspark==$PYSPARK_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "pyspark==$PYSPARK_VERSION"
fi
export PYSPARK_PYTHON="$venv/bin/python"
export PYSPARK_DRIVER_PYTHON="$venv/bin/python"
submit="$venv/bin/spark-submit"

bin="${BYLINE_BIN:-}"
if [[ -z "$bin" ]]; then
    for b in "$root/target/release/byline" "$root/target/debug/byline"; do
        if [[ -x "$b" ]]; then bin="$b"; break; fi
    done
fi
if [[ -z "$bin" ]]; then
    say "no byline binary: building target/debug/byline"
    (cd "$root" && cargo build -p byline-cli --quiet)
    bin="$root/target/debug/byline"
fi
model="$root/tests/fixtures/hf/tiny-bert-bio"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
say "binary $bin, model $model, work $work"

spark() {
    "$submit" --conf spark.ui.enabled=false --conf spark.driver.memory=1g \
        --conf "spark.driver.extraJavaOptions=-Dlog4j.rootLogger=WARN" "$@" 2> >(grep -v -E '^(WARN|INFO|Using|Setting|To adjust|[0-9/: ]+(WARN|INFO))' >&2 || true)
}

"$venv/bin/python" "$here/check.py" generate docs.jsonl --n 2000
status=0
"$bin" tag --threads 2 --model "$model" docs.jsonl -o ref.jsonl 2>/dev/null || status=$?
[[ $status -le 1 ]] || { say "byline tag failed with $status"; exit 1; }

say "1. local[2], 4 partitions"
spark --master 'local[2]' "$here/tag.py" --input docs.jsonl --output out1 \
    --byline "$bin" --model "$model" --partitions 4
"$venv/bin/python" "$here/check.py" compare ref.jsonl out1 --what "local[2], 4 partitions"

say "2. a byline child killed mid-stream, retried"
cat > killer.sh <<EOF
#!/usr/bin/env bash
# The first child started: tags 20 lines, then dies as if killed. Every later one is byline.
if mkdir "$work/killed" 2>/dev/null; then
    head -n 20 | "$bin" "\$@"
    kill -9 \$\$
fi
exec "$bin" "\$@"
EOF
chmod +x killer.sh
spark --master 'local[2,3]' "$here/tag.py" --input docs.jsonl --output out2 \
    --byline "$work/killer.sh" --model "$model" --partitions 4
[[ -d "$work/killed" ]] || { say "the killer never ran"; exit 1; }
"$venv/bin/python" "$here/check.py" compare ref.jsonl out2 --what "child killed and retried"

say "3. Parquet in and out"
spark --master 'local[2]' "$here/check.py" to-parquet docs.jsonl docs.parquet
spark --master 'local[2]' "$here/tag.py" --input docs.parquet --output out3 --format parquet \
    --byline "$bin" --model "$model" --partitions 3
spark --master 'local[2]' "$here/check.py" compare-parquet ref.jsonl out3

say "3 passed, 0 failed in $(( $(date +%s) - start )) s"
