#!/usr/bin/env python3
"""PyTorch peer benchmark for byline's training step (and inference forward).

Loads all-MiniLM-L6-v2 as a transformers BertModel with a linear token-classification head
(dropout + Linear(hidden, labels), as byline's tagger), and times, on a synthetic batch of
random in-vocabulary token ids (all real tokens, attention mask all ones):

* training (default): forward + cross-entropy loss, backward, AdamW step (+ zero_grad), in
  train mode (dropout on), each phase timed with time.perf_counter;
* --forward-only: the eval forward (model.eval(), torch.inference_mode()) of encoder + head.

Prints a table, or one JSON object with --json. Run it with scripts/bench/.venv/bin/python
(see setup.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

T_START = time.perf_counter()


def default_model_dir() -> Path:
    shared = os.environ.get("BYLINE_SHARED")
    if shared:
        return Path(shared) / "models" / "all-minilm-l6-v2"
    repo_root = Path(__file__).resolve().parents[2]
    return repo_root / ".." / "shared" / "models" / "all-minilm-l6-v2"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=None,
                   help="model folder (config.json + model.safetensors); default "
                        "$BYLINE_SHARED/models/all-minilm-l6-v2, else ../shared/models/"
                        "all-minilm-l6-v2 relative to the repository root")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    p.add_argument("--batch", type=int, default=None,
                   help="sequences per batch (default 16 for training, 32 with --forward-only)")
    p.add_argument("--seq-len", type=int, default=40, help="tokens per sequence (default 40)")
    p.add_argument("--labels", type=int, default=9, help="classifier labels (default 9)")
    p.add_argument("--warmup", type=int, default=3, help="untimed warm-up steps (default 3)")
    p.add_argument("--steps", type=int, default=10, help="timed steps (default 10)")
    p.add_argument("--lr", type=float, default=5e-5, help="AdamW learning rate (default 5e-5)")
    p.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay (default 0.01)")
    p.add_argument("--freeze-word-embeddings", action="store_true",
                   help="requires_grad=False on embeddings.word_embeddings (byline's default)")
    p.add_argument("--forward-only", action="store_true",
                   help="time the eval forward under torch.inference_mode instead of a training step")
    p.add_argument("--attn", choices=["sdpa", "eager"], default="sdpa",
                   help="transformers attention implementation (default sdpa)")
    p.add_argument("--seed", type=int, default=0, help="seed for weights of the head, ids, labels")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="where the step runs (default cpu; cuda: the first GPU, timings "
                        "synchronised, peak device memory reported)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = p.parse_args(argv)
    if args.batch is None:
        args.batch = 32 if args.forward_only else 16
    for name in ("threads", "batch", "seq_len", "labels", "steps"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup < 0:
        p.error("--warmup must not be negative")
    if args.model is None:
        args.model = default_model_dir()
    return args


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    model_dir = args.model.resolve()
    for name in ("config.json", "model.safetensors"):
        if not (model_dir / name).is_file():
            print(f"error: {model_dir / name} not found (pass --model or set BYLINE_SHARED)",
                  file=sys.stderr)
            return 2

    import torch

    # Must come before any parallel work in this process.
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)

    from torch import nn
    import transformers
    from transformers import BertModel

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    t_imported = time.perf_counter()

    torch.manual_seed(args.seed)
    encoder, info = BertModel.from_pretrained(
        str(model_dir), add_pooling_layer=False, attn_implementation=args.attn,
        dtype=torch.float32, output_loading_info=True,
    )
    if info.get("missing_keys"):
        print(f"error: {model_dir / 'model.safetensors'} lacks encoder weights: "
              f"{sorted(info['missing_keys'])[:5]}", file=sys.stderr)
        return 2
    cfg = encoder.config
    head = nn.Sequential(nn.Dropout(cfg.hidden_dropout_prob), nn.Linear(cfg.hidden_size, args.labels))
    device = torch.device("cuda:0" if args.device == "cuda" else "cpu")
    encoder.to(device)
    head.to(device)
    t_loaded = time.perf_counter()

    def now() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter()

    if args.freeze_word_embeddings:
        encoder.embeddings.word_embeddings.weight.requires_grad_(False)

    gen = torch.Generator().manual_seed(args.seed)
    shape = (args.batch, args.seq_len)
    input_ids = torch.randint(0, cfg.vocab_size, shape, generator=gen).to(device)
    attention_mask = torch.ones(shape, dtype=torch.long, device=device)
    token_type_ids = torch.zeros(shape, dtype=torch.long, device=device)
    gold = torch.randint(0, args.labels, shape, generator=gen).to(device)
    tokens = args.batch * args.seq_len

    params = [p for m in (encoder, head) for p in m.parameters()]
    trainable = [p for p in params if p.requires_grad]

    load_before = os.getloadavg()
    fwd_t: list[float] = []
    bwd_t: list[float] = []
    opt_t: list[float] = []
    step_t: list[float] = []
    losses: list[float] = []

    if args.forward_only:
        encoder.eval()
        head.eval()
        with torch.inference_mode():
            for i in range(args.warmup + args.steps):
                t0 = now()
                hidden = encoder(input_ids=input_ids, attention_mask=attention_mask,
                                 token_type_ids=token_type_ids).last_hidden_state
                logits = head(hidden)
                t1 = now()
                if i >= args.warmup:
                    fwd_t.append(t1 - t0)
                    step_t.append(t1 - t0)
        assert logits.shape == (args.batch, args.seq_len, args.labels)
    else:
        encoder.train()
        head.train()
        opt = torch.optim.AdamW(trainable, lr=args.lr, weight_decay=args.weight_decay)
        loss_fn = nn.CrossEntropyLoss()
        for i in range(args.warmup + args.steps):
            t0 = now()
            hidden = encoder(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state
            logits = head(hidden)
            loss = loss_fn(logits.reshape(-1, args.labels), gold.reshape(-1))
            t1 = now()
            loss.backward()
            t2 = now()
            opt.step()
            opt.zero_grad(set_to_none=True)
            t3 = now()
            losses.append(loss.item())
            if i >= args.warmup:
                fwd_t.append(t1 - t0)
                bwd_t.append(t2 - t1)
                opt_t.append(t3 - t2)
                step_t.append(t3 - t0)
    load_after = os.getloadavg()

    step_med = median(step_t)
    result = {
        "mode": "forward-only (eval, inference_mode)" if args.forward_only else "train step (AdamW)",
        "batch": args.batch,
        "seq_len": args.seq_len,
        "tokens_per_step": tokens,
        "tokens_per_s": tokens / step_med,
        "step_s_median": step_med,
        "step_s_min": min(step_t),
        "step_s_max": max(step_t),
        "forward_s_median": median(fwd_t),
        "backward_s_median": median(bwd_t) if bwd_t else None,
        "optimizer_s_median": median(opt_t) if opt_t else None,
        "warmup_steps": args.warmup,
        "timed_steps": args.steps,
        "freeze_word_embeddings": args.freeze_word_embeddings,
        "params_total": sum(p.numel() for p in params),
        "params_trainable": sum(p.numel() for p in trainable) if not args.forward_only else 0,
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "attn_implementation": args.attn,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "device": str(device),
        "peak_device_memory_mib": (torch.cuda.max_memory_allocated(device) / 2**20
                                   if device.type == "cuda" else None),
        "import_s": t_imported - T_START,
        "load_s": t_loaded - t_imported,
        "loadavg_1m_before": load_before[0],
        "loadavg_1m_after": load_after[0],
        "model": str(model_dir),
    }

    if args.json:
        print(json.dumps(result, indent=2))
        return 0

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.4f}"

    print(f"{result['mode']}: batch {args.batch} x {args.seq_len} = {tokens} tokens, "
          f"{args.warmup} warm-up + {args.steps} timed steps"
          + (", word embeddings frozen" if args.freeze_word_embeddings and not args.forward_only else ""))
    print(f"torch {torch.__version__} ({result['cpu_capability']}), transformers "
          f"{transformers.__version__}, attn {args.attn}, threads {result['threads']}, "
          f"interop {result['interop_threads']}")
    print(f"params {result['params_total']:,} total, {result['params_trainable']:,} trainable")
    print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    print()
    print("| tokens/s | step s (median) | forward s | backward s | optimiser s | step min / max |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {result['tokens_per_s']:,.0f} | {fmt(step_med)} | {fmt(result['forward_s_median'])} | "
          f"{fmt(result['backward_s_median'])} | {fmt(result['optimizer_s_median'])} | "
          f"{fmt(result['step_s_min'])} / {fmt(result['step_s_max'])} |")
    if losses:
        print(f"\nloss {losses[0]:.4f} (first warm-up step) -> {losses[-1]:.4f} (last step)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
