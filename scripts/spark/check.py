#!/usr/bin/env python3
"""Inputs and checks for scripts/spark/test.sh and bench.sh.

    check.py generate OUT.jsonl [--n 2000] [--seed 7]   ~N news documents plus bad lines
    check.py compare REF.jsonl OUT_DIR                  Spark's part files against `byline tag`
    check.py to-parquet IN.jsonl OUT.parquet            (under spark-submit) valid docs as Parquet
    check.py compare-parquet REF.jsonl OUT.parquet      (under spark-submit) Parquet output

`compare` fails unless every record of REF appears exactly once in OUT_DIR's part files, equal
field by field, scores within 1e-3 (a document's float scores move by up to 7e-4 with the batch
it was padded in), and OUT_DIR holds nothing else.
"""

import argparse
import glob
import json
import os
import random
import sys

PEOPLE = ["Elena Kowalski", "Maria Lopez", "Haruto Sato", "Joachim Loew", "Amina Diallo",
          "Pierre Martin", "Olga Ivanova", "Kwame Mensah", "Sofia Rossi", "Liam O'Brien"]
ORGS = ["Siemens", "the European Commission", "NATO", "Microsoft", "Goldman Sachs",
        "the United Nations", "Reuters", "the Federal Reserve", "Toyota", "Northgate Engineering"]
PLACES = ["Berlin", "Geneva", "Ottawa", "Sacramento", "Frankfurt", "Warsaw", "Nairobi",
          "Tokyo", "Brussels", "São Paulo"]
TEMPLATES = [
    "{p} said on Monday that {o} would open an office in {l}.",
    "\"We will not raise taxes,\" {p} told reporters in {l}.",
    "Shares of {o} rose 3.5% in {l} after {p} met investors.",
    "{o} declined to comment on the report, according to {p}.",
    "In {l}, {p} called the plan \"a disaster for everyone\".",
    "Officials from {o} and {o2} met in {l} on Tuesday; {p} said talks would resume.",
]


def generate(path, n, seed):
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        k = rng.randint(1, 4)
        text = " ".join(
            rng.choice(TEMPLATES).format(p=rng.choice(PEOPLE), o=rng.choice(ORGS),
                                         o2=rng.choice(ORGS), l=rng.choice(PLACES))
            for _ in range(k))
        doc = {"text": text}
        if rng.random() < 0.8:
            doc = {"id": f"doc-{i}", "text": text}
        if rng.random() < 0.05:
            doc["source"] = "wire"
        lines.append(json.dumps(doc, ensure_ascii=False).encode("utf-8"))
        r = rng.random()
        if r < 0.004:
            lines.append(b"this line is not JSON")
        elif r < 0.008:
            lines.append(json.dumps({"id": f"notext-{i}"}).encode())
        elif r < 0.012:
            lines.append(b'{"id": "bad-utf8-%d", "text": "caf\xe9 au lait"}' % i)
        elif r < 0.016:
            lines.append(b"")
        elif r < 0.020:
            lines.append(json.dumps({"text": 42}).encode())
        elif r < 0.024:
            lines.append(json.dumps({"id": f"crlf-{i}", "text": "Elena Kowalski said so."}).encode()
                         + b"\r")
    with open(path, "wb") as f:
        f.write(b"\n".join(lines) + b"\n")
    print(f"check.py: {len(lines)} lines ({n} documents) -> {path}", file=sys.stderr)


def close(a, b, path="record"):
    if isinstance(a, float) or isinstance(b, float):
        if not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
            return f"{path}: {a!r} != {b!r}"
        return None if abs(a - b) <= 1e-3 else f"{path}: {a} != {b}"
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return f"{path}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            d = close(a[k], b[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = close(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if a == b else f"{path}: {a!r} != {b!r}"


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def compare_records(ref, got, what):
    by_id = {}
    for r in ref:
        assert r["id"] not in by_id, f"reference has id {r['id']} twice"
        by_id[r["id"]] = r
    seen = {}
    for r in got:
        seen[r["id"]] = seen.get(r["id"], 0) + 1
    dup = [i for i, c in seen.items() if c > 1]
    missing = [i for i in by_id if i not in seen]
    extra = [i for i in seen if i not in by_id]
    problems = []
    if dup:
        problems.append(f"{len(dup)} ids more than once, e.g. {dup[:3]}")
    if missing:
        problems.append(f"{len(missing)} ids missing, e.g. {missing[:3]}")
    if extra:
        problems.append(f"{len(extra)} unexpected ids, e.g. {extra[:3]}")
    for r in got:
        if r["id"] in by_id:
            d = close(by_id[r["id"]], r)
            if d:
                problems.append(f"id {r['id']}: {d}")
                break
    errors = sum(1 for r in ref if "error" in r)
    if problems:
        print(f"check.py: {what}: FAILED: " + "; ".join(problems), file=sys.stderr)
        return 1
    print(f"check.py: {what}: {len(got)} records equal byline tag's ({errors} error records), "
          "each id once", file=sys.stderr)
    return 0


def compare(ref_path, out_dir, what):
    parts = sorted(glob.glob(os.path.join(out_dir, "part-*")))
    if not os.path.exists(os.path.join(out_dir, "_SUCCESS")):
        print(f"check.py: {out_dir}: no _SUCCESS", file=sys.stderr)
        return 1
    got = []
    for p in parts:
        got += read_jsonl(p)
    return compare_records(read_jsonl(ref_path), got, what)


def spark():
    from pyspark.sql import SparkSession
    return SparkSession.builder.appName("byline check").getOrCreate()


def to_parquet(src, dst):
    """The valid documents of a JSONL file as Parquet, each with the id `byline tag` gives it,
    and two more columns to carry through."""
    rows = []
    with open(src, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                d = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(d, dict) and isinstance(d.get("text"), str):
                rows.append((d.get("id", str(n)), d["text"], d.get("source", "archive"), n))
    s = spark()
    s.createDataFrame(rows, "id string, text string, source string, n long") \
        .coalesce(2).write.parquet(dst)
    s.stop()


def compare_parquet(ref_path, out):
    s = spark()
    rows = [r.asDict() for r in s.read.parquet(out).collect()]
    s.stop()
    lacking = [c for c in ("id", "record", "source", "n") if rows and c not in rows[0]]
    if not rows or lacking:
        print(f"check.py: parquet output empty or lacks {lacking}", file=sys.stderr)
        return 1
    got = [json.loads(r["record"]) for r in rows]
    if any(g["id"] != r["id"] for g, r in zip(got, rows)):
        print("check.py: parquet id column differs from the record's", file=sys.stderr)
        return 1
    ref = [r for r in read_jsonl(ref_path) if "error" not in r]
    return compare_records(ref, got, "parquet in and out")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("out")
    g.add_argument("--n", type=int, default=2000)
    g.add_argument("--seed", type=int, default=7)
    c = sub.add_parser("compare")
    c.add_argument("ref")
    c.add_argument("out")
    c.add_argument("--what", default="spark output")
    p = sub.add_parser("to-parquet")
    p.add_argument("src")
    p.add_argument("dst")
    q = sub.add_parser("compare-parquet")
    q.add_argument("ref")
    q.add_argument("out")
    a = ap.parse_args()
    if a.cmd == "generate":
        generate(a.out, a.n, a.seed)
        return 0
    if a.cmd == "compare":
        return compare(a.ref, a.out, a.what)
    if a.cmd == "to-parquet":
        to_parquet(a.src, a.dst)
        return 0
    return compare_parquet(a.ref, a.out)


if __name__ == "__main__":
    sys.exit(main())
