#!/usr/bin/env python3
"""CoNLL column file -> JSONL of raw documents ({"id", "text"} per line) for tag_bench.py.

A document starts at each `-DOCSTART-` line (the whole file is one document without any). Its
text is its tokens (the first column) joined by one space within a sentence and its sentences
(separated by blank lines) joined by "\\n" -- exactly the text byline's CoNLL reader builds, so
`byline convert FILE --to jsonl` gives the same `text`. Documents are named `<file stem>-<n>`
(n from 1), as byline names them.

The words of a document are its CoNLL tokens; since tokens hold no whitespace, that count is
`len(text.split())`, which is how tag_bench.py credits every engine with the same numerator.

Standard library only: runs with any Python 3.8+.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DOCSTART = "-DOCSTART-"


class ConllError(Exception):
    pass


def read_documents(path: Path) -> list[dict]:
    """The documents of a CoNLL file: [{"id", "text", "words", "sentences"}]."""
    docs: list[dict] = []
    sentences: list[list[str]] = []
    current: list[str] = []

    def end_sentence() -> None:
        nonlocal current
        if current:
            sentences.append(current)
            current = []

    def end_document() -> None:
        nonlocal sentences
        end_sentence()
        if sentences:
            docs.append({
                "id": f"{path.stem}-{len(docs) + 1}",
                "text": "\n".join(" ".join(s) for s in sentences),
                "words": sum(len(s) for s in sentences),
                "sentences": len(sentences),
            })
            sentences = []

    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise ConllError(f"cannot open {path}: {e.strerror}") from e
    with f:
        try:
            for lineno, line in enumerate(f, 1):
                fields = line.split()
                if not fields:
                    end_sentence()
                elif fields[0] == DOCSTART:
                    end_document()
                elif len(fields) < 2:
                    raise ConllError(f"{path}:{lineno}: expected at least 2 columns, found 1")
                else:
                    current.append(fields[0])
        except UnicodeDecodeError as e:
            raise ConllError(f"{path}: invalid UTF-8 at byte {e.start} of a line") from e
    end_document()
    if not docs:
        raise ConllError(f"{path}: no tokens")
    return docs


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("conll", type=Path, help="CoNLL column file, e.g. shared/data/conll2003/dev.txt")
    p.add_argument("-o", "--output", type=Path, required=True, help="JSONL to write")
    p.add_argument("--limit", type=int, default=None,
                   help="keep only the first N documents (small development runs)")
    args = p.parse_args(argv)
    try:
        docs = read_documents(args.conll)
    except ConllError as e:
        print(f"make_inputs.py: error: {e}", file=sys.stderr)
        return 2
    if args.limit is not None:
        docs = docs[: max(args.limit, 0)]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as out:
        for d in docs:
            out.write(json.dumps({"id": d["id"], "text": d["text"]}, ensure_ascii=False) + "\n")
    words = sum(d["words"] for d in docs)
    sentences = sum(d["sentences"] for d in docs)
    print(f"make_inputs.py: {len(docs)} documents, {sentences} sentences, {words} words, "
          f"{sum(len(d['text']) for d in docs)} characters -> {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
