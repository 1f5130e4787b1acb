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

Tokenizers: the WordPiece families use all-MiniLM-L6-v2's tokenizer.json (bert-base-uncased's
vocabulary, which distilbert-base-uncased and electra-small share; --encoder names it).
RoBERTa's byte-level BPE and XLM-R's SentencePiece Unigram are trained here on the CoNLL
training text (vocabularies of 50,000 and 30,000; the real ones are not offline), so their
subword counts differ a little from the published tokenizers'. Every engine reads the same
tokenizer.json, so the ratios compare like with like.

Windows: byline windows a plain checkpoint at its full length (510 subwords, a quarter shared);
the ONNX Runtime and pipeline engines are given the same (--window 510 --overlap 127).

    scripts/bench/.venv/bin/python scripts/bench/family_bench.py \\
        --conll ../shared/data/conll2003/dev.txt --limit 40

DeBERTa-v2/v3 and ModernBERT are not rows: byline does not run them yet.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from bench_common import BenchError  # noqa: E402
from make_inputs import read_documents as read_conll  # noqa: E402

LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
BASE = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
            intermediate_size=3072)
FAMILIES = ("bert", "distilbert", "roberta", "xlm-roberta", "electra")
SHAPE = {
    "bert": "bert-base", "distilbert": "distilbert-base", "roberta": "roberta-base",
    "xlm-roberta": "xlm-roberta-base", "electra": "electra-small",
}


def training_text(conll: Path) -> list[str]:
    """The sentences of the CoNLL training file beside --conll (train.txt), as plain text."""
    train = conll.parent / "train.txt"
    if not train.is_file():
        raise BenchError(f"no CoNLL training text to train the BPE and Unigram tokenizers: {train}")
    docs = read_conll(train)
    return [d["text"] for d in docs]


def trained_tokenizer(kind: str, texts: list[str]):
    """RoBERTa's byte-level BPE or XLM-R's Unigram, as the fixture script makes them, trained
    on `texts` with a realistic vocabulary."""
    sys.path.insert(0, str(REPO / "scripts" / "fixtures"))
    from make_hf_fixtures import byte_level_bpe, unigram

    if kind == "roberta":
        return byte_level_bpe(texts, vocab_size=50000, max_length=512)
    return unigram(texts, vocab_size=30000, max_length=512)


def make_model(family: str, out: Path, encoder: Path, conll: Path) -> None:
    """A random base-size checkpoint of `family` with a tokenizer, saved as transformers saves."""
    import torch
    from transformers import (BertConfig, BertForTokenClassification, DistilBertConfig,
                              DistilBertForTokenClassification, ElectraConfig,
                              ElectraForTokenClassification, PreTrainedTokenizerFast,
                              RobertaConfig, RobertaForTokenClassification, XLMRobertaConfig,
                              XLMRobertaForTokenClassification)

    if (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file():
        return
    torch.manual_seed(0)
    labels = dict(id2label=dict(enumerate(LABELS)), label2id={l: i for i, l in enumerate(LABELS)})
    if family in ("roberta", "xlm-roberta"):
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
    else:
        model = ElectraForTokenClassification(ElectraConfig(
            vocab_size=30522, embedding_size=128, hidden_size=256, num_hidden_layers=12,
            num_attention_heads=4, intermediate_size=1024, **labels))
    if family in ("roberta", "xlm-roberta"):
        # The trained tokenizer's special ids must be the config's (<s> 0, <pad> 1, </s> 2).
        got = [tok.convert_tokens_to_ids(t) for t in ("<s>", "<pad>", "</s>")]
        if got != [0, 1, 2]:
            raise BenchError(f"{family}: trained tokenizer's <s>, <pad>, </s> ids are {got}")
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
            make_model(family, model, args.encoder, args.conll)
            cmd = [sys.executable, str(HERE / "tag_bench.py"), "--model", str(model), "--conll",
                   str(args.conll), "--limit", str(args.limit), "--engines", args.engines,
                   "--threads", str(args.threads), "--repeats", str(args.repeats),
                   "--window", "510", "--overlap", "127", "--work", str(args.work / family),
                   "--json"]
            print(f"family_bench.py: {family}: {' '.join(cmd)}", file=sys.stderr, flush=True)
            r = subprocess.run(cmd, capture_output=True, text=True)
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
