#!/usr/bin/env python3
"""Reference entity scores for byline's seqeval fixtures, computed by seqeval itself.

byline's entity metrics (crates/byline-core/src/metrics/entity.rs) must give exactly what
Python's `seqeval` gives in its default mode (which is what `conlleval` gives). This script
computes seqeval's numbers for every fixture `crates/byline-core/tests/fixtures/seqeval/*.txt`
and writes them next to it as `<name>.json`; the Rust test `tests/seqeval.rs` compares against
those committed files, so no Python is needed at test time.

Fixture format: one token per line, `token gold pred` separated by whitespace; a blank line ends
a sentence (several blank lines in a row end one sentence).

It also (re)writes the fixture `random.txt`: random, mostly invalid tag sequences from a fixed
seed, to cover cases nobody thought of.

Usage:
    python3 -m venv /tmp/seqeval-venv
    /tmp/seqeval-venv/bin/pip install seqeval
    /tmp/seqeval-venv/bin/python scripts/seqeval_reference.py
"""

import json
import random
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

from seqeval.metrics.sequence_labeling import get_entities, precision_recall_fscore_support

FIXTURES = Path(__file__).resolve().parent.parent / "crates/byline-core/tests/fixtures/seqeval"


def read_fixture(path):
    gold, pred = [], []
    g, p = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        cols = line.split()
        if not cols:
            if g:
                gold.append(g)
                pred.append(p)
                g, p = [], []
            continue
        if len(cols) != 3:
            sys.exit(f"{path}:{number}: expected 3 columns, found {len(cols)}")
        g.append(cols[1])
        p.append(cols[2])
    if g:
        gold.append(g)
        pred.append(p)
    return gold, pred


def write_random(path, seed=2003, sentences=300):
    rng = random.Random(seed)
    types = ["PER", "LOC", "ORG", "MISC"]

    def tag():
        if rng.random() < 0.4:
            return "O"
        return f"{rng.choice('BI')}-{rng.choice(types)}"

    lines = []
    for s in range(sentences):
        for t in range(rng.randint(1, 10)):
            gold = tag()
            pred = gold if rng.random() < 0.6 else tag()
            lines.append(f"w{s}_{t} {gold} {pred}")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def counts(gold, pred):
    true_entities = {}
    pred_entities = {}
    for name, start, end in get_entities(gold):
        true_entities.setdefault(name, set()).add((start, end))
    for name, start, end in get_entities(pred):
        pred_entities.setdefault(name, set()).add((start, end))
    names = sorted(set(true_entities) | set(pred_entities))
    result = {}
    for name in names:
        t = true_entities.get(name, set())
        p = pred_entities.get(name, set())
        result[name] = {"correct": len(t & p), "predicted": len(p), "gold": len(t)}
    return names, result


def reference(path):
    gold, pred = read_fixture(path)
    names, per_type = counts(gold, pred)
    with warnings.catch_warnings():
        # seqeval warns about types without predictions or gold entities; their scores are 0.0.
        warnings.simplefilter("ignore")
        p, r, f, s = precision_recall_fscore_support(gold, pred, average=None)
        mp, mr, mf, ms = precision_recall_fscore_support(gold, pred, average="micro")
    for i, name in enumerate(names):
        assert per_type[name]["gold"] == int(s[i]), (name, per_type[name], s[i])
        per_type[name].update(precision=float(p[i]), recall=float(r[i]), f1=float(f[i]))
    micro = {
        "correct": sum(c["correct"] for c in per_type.values()),
        "predicted": sum(c["predicted"] for c in per_type.values()),
        "gold": int(ms),
        "precision": float(mp),
        "recall": float(mr),
        "f1": float(mf),
    }
    return {
        "generator": f"scripts/seqeval_reference.py with seqeval {version('seqeval')} "
        "(default mode, precision_recall_fscore_support)",
        "sentences": len(gold),
        "tokens": sum(len(x) for x in gold),
        "types": names,
        "per_type": per_type,
        "micro": micro,
    }


def main():
    write_random(FIXTURES / "random.txt")
    for path in sorted(FIXTURES.glob("*.txt")):
        out = path.with_suffix(".json")
        out.write_text(json.dumps(reference(path), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
