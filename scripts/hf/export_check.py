#!/usr/bin/env python3
"""Loads a `byline export --format hf` folder in transformers and tags documents with its
pipeline, to check what byline says about the export from the other side.

    scripts/bench/.venv/bin/python scripts/hf/export_check.py EXPORT_DIR \
        --docs docs.jsonl --aggregation first -o hf.jsonl

Prints the keys `AutoModelForTokenClassification.from_pretrained` reports missing, unexpected
or mismatched (all three must be empty) and writes one byline JSONL line per document
(`{"id", "text", "entities": [{"start", "end", "label", "text", "score"}]}`, code-point offsets),
which `byline eval --gold BYLINE.jsonl --pred hf.jsonl` scores against byline's own output.
The documents are `{"id", "text"}` lines (`scripts/bench/make_inputs.py` makes them from CoNLL).
"""

import argparse
import json
import sys

import torch
from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("export")
    ap.add_argument("--docs", required=True)
    ap.add_argument("--aggregation", default="first")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model, info = AutoModelForTokenClassification.from_pretrained(
        args.export, output_loading_info=True
    )
    report = {k: sorted(v) if isinstance(v, (list, set)) else v for k, v in info.items()}
    print(json.dumps({"loading_info": report}, default=str), file=sys.stderr)
    bad = [k for k in ("missing_keys", "unexpected_keys", "mismatched_keys") if info.get(k)]
    tokenizer = AutoTokenizer.from_pretrained(args.export)
    pipe = pipeline("token-classification", model=model, tokenizer=tokenizer,
                    aggregation_strategy=args.aggregation, device=-1)
    n = 0
    with open(args.docs, encoding="utf-8") as f, open(args.output, "w", encoding="utf-8") as out:
        for line in f:
            doc = json.loads(line)
            text = doc["text"]
            ents = pipe(text) if text.strip() else []
            out.write(json.dumps({
                "id": doc["id"], "text": text,
                "entities": [{"start": int(e["start"]), "end": int(e["end"]),
                              "label": e["entity_group"], "text": text[e["start"]:e["end"]],
                              "score": float(e["score"])} for e in ents],
            }, ensure_ascii=False) + "\n")
            n += 1
    print(f"export_check: {n} documents tagged; loading problems: {bad or 'none'}",
          file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
