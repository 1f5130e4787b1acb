#!/usr/bin/env python3
"""Tagging speed per encoder family at its real base size: `byline tag` (f32 and q8) against
ONNX Runtime (f32 and int8) and the transformers pipeline, through tag_bench.py, one family
after the other, in one run; prints one table.

Speed does not depend on the weights, so each model is a random `...ForTokenClassification`
with the shapes of the published checkpoint (9 CoNLL labels), made once into --work/models:

  bert          bert-base          12 layers, hidden 768, 12 heads, FFN 3072, vocab 30522
  distilbert    distilbert-base     6 layers, hidden 768, 12 heads, FFN 3072, vocab 30522
  roberta       roberta-base       12 layers, hidden 768, 12 heads, FFN 3072, vocab 50265
  xlm-roberta   xlm-roberta-base   12 layers, hidden 768, 12 heads, FFN 3072, vocab 250002
  electra       electra-small      12 layers, hidden 256, 4 heads, FFN 1024, embeddings 128
  modernbert    modernbert-base    22 layers, hidden 768, 12 heads, FFN 1152 (GeGLU), RoPE,
                                   local attention 128 (global every 3rd layer), 8192 positions,
                                   vocab 50,368 (the trained tokenizer's ids all fall below)
  deberta-v3    deberta-v3-base    12 layers, hidden 768, 12 heads, FFN 3072, relative attention
                                   (256 log buckets, p2c + c2p, shared keys), vocab 128100

Tokenizers: the WordPiece families use all-MiniLM-L6-v2's tokenizer.json (bert-base-uncased's
vocabulary, which distilbert-base-uncased and electra-small share; --encoder names it). The
others are trained here on the CoNLL training text (the real ones are not offline), as
scripts/fixtures/make_hf_fixtures.py makes them: RoBERTa's byte-level BPE, ModernBERT's (the
same BPE with [CLS] [SEP] [PAD] [UNK] [MASK] and "[CLS] $A [SEP]"), XLM-R's SentencePiece
Unigram and DeBERTa-v3's ([PAD] [CLS] [SEP] [UNK] first, [MASK] last). The trainers aim at
vocabularies of 50,000 (BPE) and 30,000 (Unigram) and stop where the text runs out (about
36,400 and 19,460 tokens). Their subword counts differ a little from the published tokenizers'.
Every engine reads the same tokenizer.json, so the ratios compare like with like.

Windows: byline windows a plain checkpoint at its full length, capped by the tokenizer's
model_max_length (510 subwords, a quarter shared; ModernBERT's tokenizer says 512, as the
published one does, so its 8192 positions are windowed at 510 too); the ONNX Runtime and
pipeline engines are given the same (--window 510 --overlap 127).

ONNX: onnx_export.py exports every family with eager attention (TorchScript exporter) and runs
onnxruntime's BERT optimizer. For ModernBERT and DeBERTa-v3 it fuses the LayerNorms
(SkipLayerNormalization) and GELUs but not the attention, which stays plain MatMul/Softmax
(ModernBERT's rotary and sliding-window mask, DeBERTa's relative-position terms); the export
record (<work>/<family>/onnx/export.json, also in --json) says what it fused.

    scripts/bench/.venv/bin/python scripts/bench/family_bench.py \\
        --conll ../shared/data/conll2003/dev.txt --limit 40
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from bench_common import BenchError  # noqa: E402
from make_inputs import read_documents as read_conll  # noqa: E402

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
            intermediate_size=3072)
FAMILIES = ("bert", "distilbert", "roberta", "xlm-roberta", "electra", "modernbert",
            "deberta-v3")
SHAPE = {
    "bert": "bert-base", "distilbert": "distilbert-base", "roberta": "roberta-base",
    "xlm-roberta": "xlm-roberta-base", "electra": "electra-small",
    "modernbert": "modernbert-base", "deberta-v3": "deberta-v3-base",
}
# The families whose tokenizer is trained here (trained_tokenizer), not --encoder's WordPiece.
TRAINED = ("roberta", "xlm-roberta", "modernbert", "deberta-v3")


def training_text(conll: Path) -> list[str]:
    """The sentences of the CoNLL training file beside --conll (train.txt), as plain text."""
    train = conll.parent / "train.txt"
    if not train.is_file():
        raise BenchError(f"no CoNLL training text to train the BPE and Unigram tokenizers: {train}")
    docs = read_conll(train)
    return [d["text"] for d in docs]


def trained_tokenizer(kind: str, texts: list[str]):
    """RoBERTa's byte-level BPE, XLM-R's Unigram, ModernBERT's BPE or DeBERTa-v3's Unigram, as
    the fixture script makes them, trained on `texts` with a realistic vocabulary. All say
    model_max_length 512, which caps byline's window (ModernBERT has 8192 positions)."""
    sys.path.insert(0, str(REPO / "scripts" / "fixtures"))
    from make_hf_fixtures import byte_level_bpe, deberta_unigram, modernbert_bpe, unigram

    make = {"roberta": (byte_level_bpe, 50000), "xlm-roberta": (unigram, 30000),
            "modernbert": (modernbert_bpe, 50000), "deberta-v3": (deberta_unigram, 30000)}
    fn, vocab = make[kind]
    # The trainers' progress output ends in bare newlines on stdout (file descriptor 1, from
    # Rust): send it to stderr, so stdout holds the table alone.
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        return fn(texts, vocab_size=vocab, max_length=512)
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def make_model(family: str, out: Path, encoder: Path, conll: Path) -> None:
    """A random base-size checkpoint of `family` with a tokenizer, saved as transformers saves."""
    import torch
    from transformers import (BertConfig, BertForTokenClassification, DebertaV2Config,
                              DebertaV2ForTokenClassification, DistilBertConfig,
                              DistilBertForTokenClassification, ElectraConfig,
                              ElectraForTokenClassification, ModernBertConfig,
                              ModernBertForTokenClassification, PreTrainedTokenizerFast,
                              RobertaConfig, RobertaForTokenClassification, XLMRobertaConfig,
                              XLMRobertaForTokenClassification)

    if (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file():
        return
    torch.manual_seed(0)
    labels = dict(id2label=dict(enumerate(LABELS)), label2id={l: i for i, l in enumerate(LABELS)})
    if family in TRAINED:
        tok = trained_tokenizer(family, training_text(conll))
    else:
        if not (encoder / "tokenizer.json").is_file():
            raise BenchError(f"no tokenizer.json in {encoder} (--encoder)")
        tok = PreTrainedTokenizerFast(
            tokenizer_file=str(encoder / "tokenizer.json"), unk_token="[UNK]", sep_token="[SEP]",
            pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]", model_max_length=512,
            do_lower_case=True)
    if family == "bert":
        model = BertForTokenClassification(BertConfig(vocab_size=30522, **BASE, **labels))
    elif family == "distilbert":
        model = DistilBertForTokenClassification(DistilBertConfig(
            vocab_size=30522, dim=768, n_layers=6, n_heads=12, hidden_dim=3072, **labels))
    elif family == "roberta":
        model = RobertaForTokenClassification(RobertaConfig(
            vocab_size=50265, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
            bos_token_id=0, eos_token_id=2, **BASE, **labels))
    elif family == "xlm-roberta":
        model = XLMRobertaForTokenClassification(XLMRobertaConfig(
            vocab_size=250002, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
            bos_token_id=0, eos_token_id=2, **BASE, **labels))
    elif family == "modernbert":
        # modernbert-base's shape (the config's defaults are its: GeGLU, no biases, RoPE bases
        # 160,000 global / 10,000 local); the special ids are the trained tokenizer's.
        cls, sep, pad = tok.cls_token_id, tok.sep_token_id, tok.pad_token_id
        model = ModernBertForTokenClassification(ModernBertConfig(
            vocab_size=max(50368, len(tok)), hidden_size=768, num_hidden_layers=22,
            num_attention_heads=12,
            intermediate_size=1152, max_position_embeddings=8192, local_attention=128,
            global_attn_every_n_layers=3, pad_token_id=pad, cls_token_id=cls, sep_token_id=sep,
            bos_token_id=cls, eos_token_id=sep, **labels))
    elif family == "deberta-v3":
        # deberta-v3-base's shape and vocabulary size (128,100 rows; the trained tokenizer's
        # ids all fall below), [PAD] 0 as its tokenizer has it.
        model = DebertaV2ForTokenClassification(DebertaV2Config(
            vocab_size=128100, max_position_embeddings=512, relative_attention=True,
            position_buckets=256, max_relative_positions=-1, pos_att_type=["p2c", "c2p"],
            share_att_key=True, norm_rel_ebd="layer_norm", position_biased_input=False,
            type_vocab_size=0, hidden_act="gelu", layer_norm_eps=1e-7,
            pad_token_id=tok.pad_token_id, **BASE, **labels))
    else:
        model = ElectraForTokenClassification(ElectraConfig(
            vocab_size=30522, embedding_size=128, hidden_size=256, num_hidden_layers=12,
            num_attention_heads=4, intermediate_size=1024, **labels))
    if family in ("roberta", "xlm-roberta"):
        # The trained tokenizer's special ids must be the config's (<s> 0, <pad> 1, </s> 2).
        got = [tok.convert_tokens_to_ids(t) for t in ("<s>", "<pad>", "</s>")]
        if got != [0, 1, 2]:
            raise BenchError(f"{family}: trained tokenizer's <s>, <pad>, </s> ids are {got}")
    if len(tok) > model.config.vocab_size:
        raise BenchError(f"{family}: the trained tokenizer has {len(tok)} tokens, the embedding "
                         f"{model.config.vocab_size} rows")
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tok.save_pretrained(out)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--conll", type=Path, required=True, help="CoNLL file to tag (dev.txt)")
    p.add_argument("--limit", type=int, default=40, help="first N documents (default 40)")
    p.add_argument("--families", default=",".join(FAMILIES))
    p.add_argument("--engines", default="byline,byline-q8,ort,ort-q8,hf")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--encoder", type=Path,
                   default=Path(os.environ.get("BYLINE_ENCODER",
                                               REPO.parent / "shared/models/all-minilm-l6-v2")),
                   help="folder whose WordPiece tokenizer.json the BERT-style families use")
    p.add_argument("--work", type=Path, default=Path("/tmp/byline-family-bench"))
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)
    results = {}
    try:
        for family in args.families.split(","):
            if family not in FAMILIES:
                raise BenchError(f"unknown family {family!r}: one of {', '.join(FAMILIES)}")
            model = args.work / "models" / family
            t0 = time.perf_counter()
            make_model(family, model, args.encoder, args.conll)
            print(f"family_bench.py: {family}: model ready in {time.perf_counter() - t0:.1f} s",
                  file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            cmd = [sys.executable, str(HERE / "tag_bench.py"), "--model", str(model), "--conll",
                   str(args.conll), "--limit", str(args.limit), "--engines", args.engines,
                   "--threads", str(args.threads), "--repeats", str(args.repeats),
                   "--window", "510", "--overlap", "127", "--work", str(args.work / family),
                   "--json"]
            print(f"family_bench.py: {family}: {' '.join(cmd)}", file=sys.stderr, flush=True)
            r = subprocess.run(cmd, capture_output=True, text=True)
            print(f"family_bench.py: {family}: tag_bench.py (ONNX export included) took "
                  f"{time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
            if r.returncode != 0:
                raise BenchError(f"{family}: tag_bench.py failed:\n{r.stderr[-3000:]}")
            results[family] = json.loads(r.stdout)
    except BenchError as e:
        print(f"family_bench.py: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    print_table(results, args)
    return 0


def print_table(results: dict, args: argparse.Namespace) -> None:
    first = next(iter(results.values()))
    print(f"{first['documents']} CoNLL dev documents, {first['words']} words, {args.threads} "
          f"threads, median of {args.repeats}; whole-process seconds (model load included)")
    print()
    print("| family (shape) | byline f32 s | ORT f32 s | byline f32 vs ORT f32 | byline q8 s "
          "| ORT int8 s | byline q8 vs ORT int8 | pipeline s | byline f32 vs pipeline "
          "| peak RSS byline / ORT MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

    def wall(r, e):
        s = r["engines"].get(e)
        return s["wall_s"] if s else None

    def fmt(x, spec=".2f"):
        return "–" if x is None else format(x, spec)

    def ratio(a, b):
        return f"**{b / a:.2f}x**" if a and b else "–"

    for family, r in results.items():
        b, o, q, oq, h = (wall(r, e) for e in ("byline", "ort", "byline-q8", "ort-q8", "hf"))
        rss = lambda e: r["engines"].get(e, {}).get("peak_rss_mib")  # noqa: E731
        print(f"| {family} ({SHAPE[family]}) | {fmt(b)} | {fmt(o)} | {ratio(b, o)} | {fmt(q)} | "
              f"{fmt(oq)} | {ratio(q, oq)} | {fmt(h)} | {ratio(b, h)} | "
              f"{fmt(rss('byline'), '.0f')} / {fmt(rss('ort'), '.0f')} |")
        for name, err in r.get("failed", {}).items():
            print(f"| {family}: {name} failed: {err.splitlines()[0]} |")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
