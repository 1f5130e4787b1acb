#!/usr/bin/env python3
"""Exports a token-classification model folder (BERT, DistilBERT, RoBERTa, XLM-R, ELECTRA,
ModernBERT, DeBERTa-v3) to ONNX for ort_tag.py (once; cached).

Writes, into --out (a cache folder outside the repository):

* model.onnx: torch.onnx.export of the model in eval mode with eager attention (by default the
  TorchScript exporter, dynamo=False: the BERT optimizer below fuses its graph completely,
  while the torch.export graph keeps attention unfused), inputs input_ids / attention_mask /
  token_type_ids where the model takes them (int64, dynamic batch and sequence axes), output logits (batch, seq, labels).
* model.opt.onnx: model.onnx through onnxruntime.transformers' BERT optimizer (attention,
  LayerNorm, GELU and bias fusions), the fastest f32 graph for the CPU provider. When that
  optimizer fails, the file is a copy of model.onnx and export.json says so; the session still
  runs ORT's own graph optimisations (level "all") on it.
* model.q8.onnx: model.opt.onnx with dynamic int8 weight quantisation (MatMul weights, per
  channel off), for the optional ort-q8 engine.
* export.json: what was done, the versions, and the largest logit difference between PyTorch
  and ONNX Runtime on two padded sample batches, 3 x 40 and 5 x 256 (the export check: it
  fails above 1e-3).

Nothing here is timed. Run it with scripts/bench/.venv/bin/python.
"""

from __future__ import annotations

import argparse
import inspect
import json
import shutil
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import BenchError, require_model  # noqa: E402

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def stamp(model: Path) -> dict:
    """What the cache was made from: the weights' size and modification time."""
    st = (model / "model.safetensors").stat()
    return {"model": str(model.resolve()), "size": st.st_size, "mtime": st.st_mtime}


def up_to_date(model: Path, out: Path) -> bool:
    meta = out / "export.json"
    if not meta.is_file() or not (out / "model.opt.onnx").is_file():
        return False
    try:
        return json.loads(meta.read_text())["source"] == stamp(model)
    except (ValueError, KeyError):
        return False


def export(model_dir: Path, out: Path, opset: int, exporter: str) -> dict:
    import numpy as np
    import onnxruntime as ort
    import torch
    from transformers import AutoModelForTokenClassification

    # Eager attention: its MatMul/Softmax pattern is what the BERT optimizer fuses into one
    # Attention operator (the SDPA graph is left unfused).
    model, info = AutoModelForTokenClassification.from_pretrained(
        model_dir, output_loading_info=True, attn_implementation="eager")
    if info.get("missing_keys"):
        raise BenchError(f"{model_dir}: weights missing from model.safetensors: "
                         f"{sorted(info['missing_keys'])}")
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "model.onnx"
    # DistilBERT's forward takes no token types: export the inputs the model's forward names.
    inputs = [n for n in INPUTS if n in inspect.signature(model.forward).parameters]
    ids = torch.randint(1000, 2000, (2, 16), dtype=torch.long)
    args = (ids, torch.ones_like(ids), torch.zeros_like(ids))[:len(inputs)]
    t0 = time.perf_counter()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if exporter == "torchscript":
            axes = {name: {0: "batch", 1: "seq"} for name in (*inputs, "logits")}
            torch.onnx.export(model, args, str(raw), input_names=inputs,
                              output_names=["logits"], opset_version=opset, dynamo=False,
                              dynamic_axes=axes)
        else:
            batch, seq = torch.export.Dim("batch"), torch.export.Dim("seq", max=512)
            torch.onnx.export(model, args, str(raw), input_names=inputs,
                              output_names=["logits"], opset_version=opset, dynamo=True,
                              external_data=False,
                              dynamic_shapes=({0: batch, 1: seq},) * len(inputs))
    export_s = time.perf_counter() - t0

    cfg = model.config
    opt = out / "model.opt.onnx"
    optimizer = "onnxruntime.transformers.optimizer (model_type bert)"
    try:
        from onnxruntime.transformers.optimizer import optimize_model
        optimized = optimize_model(str(raw), model_type="bert", num_heads=cfg.num_attention_heads,
                                   hidden_size=cfg.hidden_size, opt_level=1)
        fused = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
        optimized.save_model_to_file(str(opt))
    except Exception as e:  # the optimizer's failures are many and untyped
        shutil.copyfile(raw, opt)
        optimizer = f"none (the transformers optimizer failed: {type(e).__name__}: {e})"
        fused = {}

    q8 = out / "model.q8.onnx"
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    q8.unlink(missing_ok=True)
    try:
        # The fused operators (com.microsoft domain) have no ONNX shape inference: say f32.
        quantize_dynamic(str(opt), str(q8), weight_type=QuantType.QInt8,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        quantized = "quantize_dynamic (QInt8 weights)"
    except Exception as e:  # as above
        q8.unlink(missing_ok=True)
        quantized = f"failed: {type(e).__name__}: {e}"

    # Check: ONNX Runtime's logits against PyTorch's on a padded sample batch.
    # Shapes unlike the traced one (2 x 16), with padding, so a shape baked into the graph shows.
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(opt), so, providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}
    diff = 0.0
    for b, n in ((3, 40), (5, 256)):
        ids = torch.randint(1000, 2000, (b, n), dtype=torch.long)
        mask = torch.ones_like(ids)
        mask[1, n // 2:] = 0
        with torch.no_grad():
            extra = {"token_type_ids": torch.zeros_like(ids)} if len(inputs) == 3 else {}
            want = model(input_ids=ids, attention_mask=mask, **extra).logits.numpy()
        feed = {"input_ids": ids.numpy(), "attention_mask": mask.numpy(),
                "token_type_ids": np.zeros_like(ids.numpy())}
        got = sess.run(["logits"], {k: v for k, v in feed.items() if k in names})[0]
        if got.shape != want.shape:
            raise BenchError(f"{opt}: logits of shape {got.shape}, expected {want.shape}")
        valid = mask.numpy().astype(bool)
        diff = max(diff, float(np.abs(got - want)[valid].max()))
    if diff > 1e-3:
        raise BenchError(f"{opt}: ONNX Runtime logits differ from PyTorch's by {diff:.2e}")
    return {
        "source": stamp(model_dir), "exporter": exporter, "opset": opset,
        "export_s": round(export_s, 2),
        "optimizer": optimizer, "fused_operators": fused, "q8": quantized,
        "max_abs_logit_diff_vs_torch": diff, "inputs": sorted(names),
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__,
                     "onnxruntime": ort.__version__},
        "unused_weights_ignored": sorted(info.get("unexpected_keys", [])),
    }


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True, help="model folder (HF-readable)")
    p.add_argument("--out", type=Path, required=True, help="cache folder for the ONNX files")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--exporter", choices=("torchscript", "dynamo"), default="torchscript",
                   help="torch.onnx.export's TorchScript exporter (default: its graph fuses "
                        "fully) or the torch.export-based one")
    p.add_argument("--force", action="store_true", help="export even when the cache is current")
    args = p.parse_args(argv)
    try:
        require_model(args.model)
        if not args.force and up_to_date(args.model, args.out):
            print(f"onnx_export.py: {args.out} is up to date", file=sys.stderr)
            return 0
        meta = export(args.model, args.out, args.opset, args.exporter)
    except BenchError as e:
        print(f"onnx_export.py: error: {e}", file=sys.stderr)
        return 2
    (args.out / "export.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"onnx_export.py: wrote {args.out} (optimizer: {meta['optimizer']}; "
          f"max |logit diff| vs torch {meta['max_abs_logit_diff_vs_torch']:.1e})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
