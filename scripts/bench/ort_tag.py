#!/usr/bin/env python3
"""The `ort` engine of tag_bench.py: raw text to entity JSON lines with ONNX Runtime (CPU).

* Tokenisation: the model's tokenizer.json through the `tokenizers` library (the Rust fast
  tokenizer), a whole chunk of documents per call (`encode_batch`), no special tokens; offsets
  are code points.
* Windows, as byline's: at most 254 subwords per window (+ the special tokens, [CLS] and [SEP]
  or <s> and </s>, as the tokenizer's post-processor adds them) with 64 shared
  between neighbours; a subword takes the prediction of the window where it sits most centrally
  (the boundary is the middle of the overlap).
* Batching, as byline's: documents in chunks of 64; the chunk's windows sorted by length and
  run in batches of --batch (default 32) sequences, each padded to its longest.
* Session: CPUExecutionProvider, intra-op threads --threads, inter-op 1, sequential execution,
  graph optimisation level "all", on the graph onnx_export.py already ran through the
  onnxruntime.transformers BERT optimizer (fused attention, LayerNorm, GELU).
* Decoding: argmax per subword; a word takes its first subword's label (words as the tokenizer's
  pre-tokenizer splits them); IOB2 read leniently (an I- without its B- opens an entity); an
  entity's score is the mean softmax probability of its words' labels.

Prints nothing on stdout; the timing report goes to --stats. Run by tag_bench.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import (BenchError, Clock, entity, output_line,  # noqa: E402
                          read_documents, require_model, write_stats)

CLOCK = Clock()
import json  # noqa: E402

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

def special_tokens(tok: Tokenizer, model: Path, config: dict) -> tuple[list[int], list[int], int]:
    """The ids the tokenizer's post-processor puts before and after a sequence ([CLS] / [SEP],
    <s> / </s>) and the padding id (config's pad_token_id, else [PAD] or <pad>)."""
    enc = tok.encode("a", add_special_tokens=True)
    mask = enc.special_tokens_mask
    n_front = next((i for i, m in enumerate(mask) if not m), len(mask))
    n_back = next((i for i, m in enumerate(reversed(mask)) if not m), len(mask))
    front, back = enc.ids[:n_front], enc.ids[len(enc.ids) - n_back:]
    pad = config.get("pad_token_id")
    if pad is None:
        pad = next((tok.token_to_id(t) for t in ("[PAD]", "<pad>") if tok.token_to_id(t) is not None),
                   None)
    if not front or not back or pad is None:
        raise BenchError(f"{model / 'tokenizer.json'}: no special tokens around a sequence, or no "
                         "padding token")
    return front, back, pad


def window_starts(n: int, size: int, overlap: int) -> list[int]:
    """Starts of the windows over n subwords: full windows, the last one aligned to the end."""
    if n <= size:
        return [0]
    stride = size - overlap
    starts = list(range(0, n - size, stride))
    starts.append(n - size)
    return starts


class Tagger:
    def __init__(self, model: Path, onnx_path: Path, threads: int, batch: int, size: int,
                 overlap: int):
        self.tok = Tokenizer.from_file(str(model / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.no_truncation()
        config = json.loads((model / "config.json").read_text(encoding="utf-8"))
        self.front, self.back, self.pad = special_tokens(self.tok, model, config)
        id2label = config.get("id2label")
        if not id2label:
            raise BenchError(f"{model / 'config.json'}: no id2label")
        labels = [id2label[str(i)] for i in range(len(id2label))]
        # Per label id: (is it a B-, entity type or None for O).
        self.begin = np.array([l.startswith("B-") for l in labels])
        self.kind = [l[2:] if l[:2] in ("B-", "I-") else None for l in labels]
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.sess.get_inputs()}
        self.batch, self.size, self.overlap = batch, size, overlap

    def tag_chunk(self, docs: list[tuple[str, str]]) -> list[list[dict]]:
        encs = self.tok.encode_batch([t for _, t in docs], add_special_tokens=False)
        # Windows of the chunk: (doc, start, end); per document, each subword's window.
        windows: list[tuple[int, int, int]] = []
        labels = [np.zeros(len(e.ids), np.int64) for e in encs]
        probs = [np.zeros(len(e.ids), np.float32) for e in encs]
        for d, enc in enumerate(encs):
            n = len(enc.ids)
            if n == 0:
                continue
            for s in window_starts(n, self.size, self.overlap):
                windows.append((d, s, min(s + self.size, n)))
        # The part of each window whose predictions are kept: up to the middle of the overlaps.
        keep = []
        for i, (d, s, e) in enumerate(windows):
            lo = s if i == 0 or windows[i - 1][0] != d else (s + windows[i - 1][2]) // 2
            last = i + 1 == len(windows) or windows[i + 1][0] != d
            hi = e if last else (windows[i + 1][1] + e) // 2
            keep.append((lo, hi))
        order = sorted(range(len(windows)), key=lambda i: windows[i][2] - windows[i][1])
        ids_of = [np.asarray(e.ids, np.int64) for e in encs]
        for b in range(0, len(order), self.batch):
            group = order[b:b + self.batch]
            nf, nb = len(self.front), len(self.back)
            width = max(windows[i][2] - windows[i][1] for i in group) + nf + nb
            ids = np.full((len(group), width), self.pad, np.int64)
            mask = np.zeros((len(group), width), np.int64)
            for row, i in enumerate(group):
                d, s, e = windows[i]
                ids[row, :nf] = self.front
                ids[row, nf:e - s + nf] = ids_of[d][s:e]
                ids[row, e - s + nf:e - s + nf + nb] = self.back
                mask[row, :e - s + nf + nb] = 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            logits = self.sess.run(["logits"], {k: v for k, v in feed.items() if k in self.inputs})[0]
            best = logits.argmax(-1)
            top = np.take_along_axis(logits, best[..., None], -1)[..., 0]
            p = 1.0 / np.exp(logits - top[..., None]).sum(-1)
            for row, i in enumerate(group):
                d, s, _ = windows[i]
                lo, hi = keep[i]
                labels[d][lo:hi] = best[row, lo - s + nf:hi - s + nf]
                probs[d][lo:hi] = p[row, lo - s + nf:hi - s + nf]
        return [self.entities(text, enc, lab, pr)
                for (_, text), enc, lab, pr in zip(docs, encs, labels, probs)]

    def entities(self, text: str, enc, labels: np.ndarray, probs: np.ndarray) -> list[dict]:
        if len(enc.ids) == 0:
            return []
        words = np.asarray([-1 if w is None else w for w in enc.word_ids], np.int64)
        first = np.ones(len(words), bool)
        first[1:] = words[1:] != words[:-1]
        offsets = enc.offsets
        out: list[dict] = []
        # Open entity: [type, char start, char end, score sum, words].
        cur = None
        for t in np.flatnonzero(first):
            t = int(t)
            lab = int(labels[t])
            kind = self.kind[lab]
            if cur is not None and (kind != cur[0] or self.begin[lab]):
                out.append(entity(text, cur[1], cur[2], cur[0], cur[3] / cur[4]))
                cur = None
            if kind is None:
                continue
            # The word's last subword: just before the next first subword.
            w = words[t]
            end_tok = t
            while end_tok + 1 < len(words) and words[end_tok + 1] == w:
                end_tok += 1
            if cur is None:
                cur = [kind, offsets[t][0], offsets[end_tok][1], float(probs[t]), 1]
            else:
                cur[2] = offsets[end_tok][1]
                cur[3] += float(probs[t])
                cur[4] += 1
        if cur is not None:
            out.append(entity(text, cur[1], cur[2], cur[0], cur[3] / cur[4]))
        return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True, help="model folder (tokenizer, config)")
    p.add_argument("--onnx", type=Path, required=True, help="ONNX file from onnx_export.py")
    p.add_argument("--input", type=Path, required=True, help="JSONL of {id, text}")
    p.add_argument("--output", type=Path, required=True, help="JSONL to write")
    p.add_argument("--stats", type=Path, default=None, help="timing report (JSON)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=32, help="sequences per batch (default 32)")
    p.add_argument("--chunk-docs", type=int, default=64, help="documents per chunk (default 64)")
    p.add_argument("--window", type=int, default=254, help="subwords per window (default 254)")
    p.add_argument("--overlap", type=int, default=64, help="subwords neighbours share (default 64)")
    args = p.parse_args(argv)
    imported = CLOCK.now()
    try:
        require_model(args.model)
        if not args.onnx.is_file():
            raise BenchError(f"ONNX model missing: {args.onnx} (run onnx_export.py)")
        if not 0 <= args.overlap < args.window:
            raise BenchError("--overlap must be below --window")
        tagger = Tagger(args.model, args.onnx, args.threads, args.batch, args.window, args.overlap)
        loaded = CLOCK.now()
        docs = read_documents(args.input)
        with open(args.output, "w", encoding="utf-8") as out:
            for c in range(0, len(docs), args.chunk_docs):
                chunk = docs[c:c + args.chunk_docs]
                for (doc_id, _), ents in zip(chunk, tagger.tag_chunk(chunk)):
                    out.write(output_line(doc_id, ents))
        done = CLOCK.now()
    except BenchError as e:
        print(f"ort_tag.py: error: {e}", file=sys.stderr)
        return 2
    write_stats(args.stats, {"import_s": imported, "load_s": loaded - imported,
                             "engine_s": done - loaded, "documents": len(docs),
                             "onnxruntime": ort.__version__,
                             "providers": tagger.sess.get_providers()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
