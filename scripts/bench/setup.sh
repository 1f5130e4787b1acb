#!/usr/bin/env bash
# Creates scripts/bench/.venv with the pinned packages of requirements.txt (PyTorch, transformers,
# ONNX and ONNX Runtime for torch_train_step.py and tag_bench.py), and the extra pins below
# (sentencepiece and protobuf, for scripts/fixtures/make_spm_fixture.py).
# Idempotent: a venv whose installed versions already match the pins is left alone.
#
# Environment:
#   PYTHON           interpreter used to create the venv (default: python3)
#   TORCH_CPU_INDEX  optional extra index URL that serves "+cpu" torch wheels; when unset the
#                    "+cpu" build is tried on the configured index only (PyPI has none, so the
#                    plain wheel with its CUDA dependencies is installed instead)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
req="$here/requirements.txt"
# Beyond requirements.txt: SentencePiece, and protobuf to read its ModelProto (onnx pulls
# protobuf too; this pins the version it got), for scripts/fixtures/make_spm_fixture.py.
extra=(sentencepiece==0.2.3 protobuf==7.36.2)
python="${PYTHON:-python3}"

say() { printf 'setup.sh: %s\n' "$*"; }

if [[ -x "$venv/bin/python" ]]; then
    say "venv exists: $venv"
else
    say "creating venv $venv with $("$python" --version 2>&1)"
    "$python" -m venv "$venv"
fi
vpy="$venv/bin/python"

# Prints the pins (name==version) of requirements.txt and $extra that are not installed at
# exactly that version.
missing_pins() {
    "$vpy" - "$req" "${extra[@]}" <<'PY'
import sys
from importlib import metadata

for line in [*open(sys.argv[1], encoding="utf-8"), *sys.argv[2:]]:
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, want = line.split("==")
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        have = None
    # A "+cpu" local build satisfies the pin of its public version.
    if have is None or have.split("+", 1)[0] != want:
        print(f"{name}=={want}")
PY
}

todo="$(missing_pins)"
if [[ -z "$todo" ]]; then
    say "all pins already installed; nothing to do"
else
    say "to install: $(echo "$todo" | tr '\n' ' ')"
    torch_pin="$(grep -E '^torch==' <<<"$todo" || true)"
    if [[ -n "$torch_pin" ]]; then
        cpu_args=(--no-deps)
        [[ -n "${TORCH_CPU_INDEX:-}" ]] && cpu_args+=(--extra-index-url "$TORCH_CPU_INDEX")
        if "$vpy" -m pip install --quiet "${cpu_args[@]}" "${torch_pin}+cpu" 2>/dev/null; then
            say "installed ${torch_pin}+cpu (no CUDA libraries)"
            # Its ordinary dependencies still come from the index below via requirements.txt;
            # the +cpu build satisfies the torch pin, so no CUDA wheels are pulled.
        else
            say "no ${torch_pin}+cpu wheel reachable; installing ${torch_pin} from the index (pulls ~2.9 GB of CUDA libraries)"
        fi
    fi
    "$vpy" -m pip install --quiet -r "$req" "${extra[@]}"
    left="$(missing_pins)"
    if [[ -n "$left" ]]; then
        say "error: still not installed at the pinned version: $left" >&2
        exit 1
    fi
fi

"$vpy" - <<'PY'
import torch, transformers, safetensors, tokenizers, numpy, onnx, onnxruntime
import sentencepiece, google.protobuf
print(f"setup.sh: torch {torch.__version__} (CUDA build: {torch.version.cuda}), "
      f"transformers {transformers.__version__}, safetensors {safetensors.__version__}, "
      f"tokenizers {tokenizers.__version__}, numpy {numpy.__version__}, "
      f"onnx {onnx.__version__}, onnxruntime {onnxruntime.__version__}, "
      f"sentencepiece {sentencepiece.__version__}, protobuf {google.protobuf.__version__} "
      f"(providers: {', '.join(onnxruntime.get_available_providers())})")
PY
say "done; run: $venv/bin/python $here/torch_train_step.py --help"
say "      or: $venv/bin/python $here/tag_bench.py --help"
