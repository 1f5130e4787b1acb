"""Shared by the peer workers of tag_bench.py (hf_tag.py, ort_tag.py): reading the input JSONL,
writing one output line per document and the worker's timing report. Standard library only."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


class BenchError(Exception):
    """A problem with the benchmark's inputs, named precisely; the workers exit with status 2."""


def read_documents(path: Path) -> list[tuple[str, str]]:
    """(id, text) of every line of a JSONL of documents ({"id", "text"})."""
    docs = []
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise BenchError(f"cannot open {path}: {e.strerror}") from e
    with f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise BenchError(f"{path}:{lineno}: bad JSON: {e.msg}") from e
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise BenchError(f"{path}:{lineno}: expected an object with a string \"text\"")
            docs.append((str(obj.get("id", lineno)), obj["text"]))
    return docs


def entity(text: str, start: int, end: int, label: str, score: float) -> dict:
    """One entity of an output line; offsets are code points, as byline writes them."""
    return {"start": start, "end": end, "label": label, "score": round(float(score), 4),
            "text": text[start:end]}


def output_line(doc_id: str, entities: list[dict]) -> str:
    return json.dumps({"id": doc_id, "entities": entities}, ensure_ascii=False) + "\n"


def require_model(model: Path) -> None:
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        if not (model / name).is_file():
            raise BenchError(f"model file missing: {model / name}")


def write_stats(path: Path | None, stats: dict) -> None:
    """The worker's report to the driver: a JSON object (times in seconds)."""
    if path is None:
        print(json.dumps(stats), file=sys.stderr)
        return
    path.write_text(json.dumps(stats) + "\n", encoding="utf-8")


class Clock:
    """Seconds since the process's first import of this module."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self.t0
