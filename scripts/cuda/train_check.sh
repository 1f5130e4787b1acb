#!/usr/bin/env bash
# The GPU check of CUDA training, as one short script for a GPU machine (GPU time is scarce:
# build and test on the CPU first, run this once). Prepared on a machine without a GPU: not run
# yet.
#
#   bash scripts/cuda/train_check.sh [OUT_DIR]      (default /tmp/byline-cuda-train)
#
# 1. Builds byline with `--features cuda` (scripts/cuda/build-without-toolkit.sh when there is
#    no nvcc; cargo's default otherwise).
# 2. The same 20 steps of the default recipe on the CPU and on the GPU, dropout off, same seed:
#    prints both loss curves and their largest difference (the issue asks for 1e-3).
# 3. STEPS steps (default 200) of the default recipe on the GPU with dev evaluation at the end,
#    in f32 and in bf16 mixed precision (precision = "bf16"): steps/s, tokens/s, peak device
#    memory (nvidia-smi, sampled, and the run summary's), the dev figures.
# 4. PyTorch on the same GPU: scripts/bench/torch_train_step.py --device cuda (16 x 128,
#    word embeddings frozen, as byline's recipe trains), when the bench venv exists.
#
# Environment: BYLINE_SHARED (data and base encoder, default ../shared), STEPS.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${1:-/tmp/byline-cuda-train}"
steps="${STEPS:-200}"
shared="${BYLINE_SHARED:-$repo/../shared}"
mkdir -p "$out"
cd "$repo"
say() { printf '\n== %s\n' "$*"; }

say "build (--features cuda)"
if command -v nvcc >/dev/null; then
  cargo build --release --features cuda -p byline-cli
else
  bash scripts/cuda/build-without-toolkit.sh -- -p byline-cli
fi
byline="${CARGO_TARGET_DIR:-$repo/target}/release/byline"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

common=(--config configs/news-small.toml --threads "$(nproc)"
  --set "model_dir=\"$shared/models/all-minilm-l6-v2\""
  --set "tasks.0.train=\"$shared/data/conll2003/train.txt\""
  --set "tasks.0.dev=\"$shared/data/conll2003/dev.txt\""
  --set "tasks.1.train=\"$shared/data/polnear/train\""
  --set "tasks.1.dev=\"$shared/data/polnear/dev\""
  --set linker_epochs=0)

say "20 steps, dropout off: CPU against GPU"
for dev in cpu cuda; do
  rm -rf "$out/curve-$dev"
  "$byline" train "${common[@]}" --set max_steps=20 --set eval_every=0 --set dropout=0.0 \
    --set head_dropout=0.0 --set "device=\"$dev\"" --output "$out/curve-$dev" \
    > "$out/curve-$dev.json" 2> "$out/curve-$dev.log"
done
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
def losses(dev):
    return [e["loss"] for e in map(json.loads, open(f"{out}/curve-{dev}/metrics.jsonl"))
            if e.get("event") == "step"]
cpu, gpu = losses("cpu"), losses("cuda")
for i, (a, b) in enumerate(zip(cpu, gpu), 1):
    print(f"step {i:>2}  cpu {a:.6f}  cuda {b:.6f}  diff {abs(a - b):.2e}")
print(f"largest difference over {len(cpu)} steps: {max(abs(a - b) for a, b in zip(cpu, gpu)):.2e}")
PY

for precision in f32 bf16; do
say "$steps steps on the GPU in $precision, dev figures at the end"
run="$out/run-$precision"
rm -rf "$run"
nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 500 > "$run.memory.csv" &
smi=$!
start=$(date +%s.%N)
"$byline" train "${common[@]}" --set "max_steps=$steps" --set "eval_every=$steps" \
  --set 'device="cuda"' --set "precision=\"$precision\"" --output "$run" \
  > "$run.json" 2> "$run.log"
end=$(date +%s.%N)
kill "$smi" 2>/dev/null || true
python3 - "$run" "$start" "$end" <<'PY'
import json, sys
run, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
events = [json.loads(l) for l in open(f"{run}/metrics.jsonl")]
steps = [e for e in events if e.get("event") == "step"]
done = json.load(open(f"{run}.json"))
t = done["timings"]
step_s = t["forward_s"] + t["backward_s"] + t["optimizer_s"] + t["data_s"]
tokens = sum(e["tokens"] for e in steps)
mem = [int(x) for x in open(f"{run}.memory.csv").read().split() if x.strip().isdigit()]
print(f"{len(steps)} steps in {step_s:.1f} s of steps ({len(steps) / step_s:.2f} steps/s, "
      f"{tokens / step_s:,.0f} tokens/s); whole run {end - start:.1f} s")
print(f"peak device memory (nvidia-smi, sampled every 0.5 s): {max(mem) if mem else 'n/a'} MiB; "
      f"run summary: {done.get('peak_device_memory_mib')} MiB")
print("dev figures:", json.dumps(done["best"]["metrics"], indent=1))
PY
done

if [[ -x scripts/bench/.venv/bin/python ]]; then
  say "PyTorch on the same GPU (16 x 128, word embeddings frozen)"
  scripts/bench/.venv/bin/python scripts/bench/torch_train_step.py --device cuda --batch 16 \
    --seq-len 128 --freeze-word-embeddings --model "$shared/models/all-minilm-l6-v2"
fi
