#!/usr/bin/env python3
"""How PolNeAR's gold sources end: relative clauses and closing commas.

    python3 scripts/polnear_source_ends.py [SPLIT_DIR]   # default ../shared/data/polnear/train

For the gold sources followed by `, who` / `, which` / `, including` / `, one of`, how many take
that clause in and how many stop before it; and for the sources that end in a comma or stand
before one, whether the comma is included, split by whether the source has a comma of its own
before it (an appositive: `Scott Pruitt, the attorney general of Oklahoma,`). Reads the brat
files directly (`text/*.txt`, `attributions/*.ann`; offsets are code points).
"""
import collections
import os
import re
import sys


def sources(split):
    for name in sorted(os.listdir(os.path.join(split, "attributions"))):
        if not name.endswith(".ann"):
            continue
        base = name.rsplit("_", 1)[0]
        with open(os.path.join(split, "text", base + ".txt"), encoding="utf-8") as f:
            text = f.read()
        with open(os.path.join(split, "attributions", name), encoding="utf-8") as f:
            for line in f:
                fields = line.rstrip("\n").split("\t")
                if len(fields) < 3 or not fields[1].startswith("Source "):
                    continue
                ranges = fields[1].split(" ", 1)[1]
                if ";" in ranges:  # a source in pieces: its ends are not one span's
                    continue
                start, end = map(int, ranges.split())
                yield text, start, end


def main():
    split = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/polnear/train"
    clauses = ["who", "which", "including", "one of"]
    inside, after = collections.Counter(), collections.Counter()
    commas = collections.Counter()
    total = 0
    for text, start, end in sources(split):
        total += 1
        span = text[start:end]
        for word in clauses:
            pattern = r",\s+" + word + r"\b"
            if re.search(pattern, span):
                inside[word] += 1
            else:
                # The clause starts right after the source, its comma in the source or not.
                rest = text[end : end + 20]
                lead = r"\s*" if span.endswith(",") else r"\s*,\s+"
                if re.match(lead + word + r"\b", rest):
                    after[word] += 1
        appositive = "," in span.rstrip(",")
        if span.endswith(","):
            commas[("included", appositive)] += 1
        elif text[end : end + 1] == ",":
            commas[("left out", appositive)] += 1
    print(f"{split}: {total} gold sources of one piece")
    print("clause        taken in   stopped before")
    for word in clauses:
        print(f"{', ' + word:<12} {inside[word]:>9} {after[word]:>16}")
    print("closing comma        with appositive   without")
    for how in ["included", "left out"]:
        print(f"{how:<20} {commas[(how, True)]:>15} {commas[(how, False)]:>9}")


if __name__ == "__main__":
    main()
