#!/usr/bin/env python3
"""Prints the dev learning curve of a `byline train` run as a Markdown table.

Usage: scripts/learning_curve.py RUN_DIR   (reads RUN_DIR/metrics.jsonl)
"""
import json
import sys
from pathlib import Path

COLUMNS = [
    ("entities.f1", "entity F1"),
    ("attributions.content_overlap_f1", "content overlap F1"),
    ("attributions.content_exact_f1", "content exact F1"),
    ("attributions.source_exact_f1", "source exact F1"),
    ("attributions.cue_exact_f1", "cue exact F1"),
    ("attributions.f1", "attribution F1"),
]


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    path = Path(sys.argv[1]) / "metrics.jsonl"
    evals, steps = [], {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        try:
            event = json.loads(line)
        except json.JSONDecodeError as e:
            print(f"{path}:{n}: {e}", file=sys.stderr)
            return 1
        if event.get("event") == "eval":
            evals.append(event)
        elif event.get("event") == "step":
            steps[event["step"]] = event
    print("| step | epoch | elapsed (min) | " + " | ".join(name for _, name in COLUMNS) + " |")
    print("|" + "---|" * (3 + len(COLUMNS)))
    for e in evals:
        s = steps.get(e["step"], {})
        figures = " | ".join(f"{100 * e['metrics'][k]:.2f}" if k in e["metrics"] else "-" for k, _ in COLUMNS)
        epoch = f"{s['epoch']:.2f}" if "epoch" in s else "-"
        elapsed = f"{s['elapsed_s'] / 60:.0f}" if "elapsed_s" in s else "-"
        print(f"| {e['step']} | {epoch} | {elapsed} | {figures} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
