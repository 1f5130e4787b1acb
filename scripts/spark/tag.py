#!/usr/bin/env python3
"""Tags a corpus with byline on a Spark cluster, as an ordinary Spark job.

    spark-submit [--master URL] scripts/spark/tag.py --input PATH --output DIR \\
        [--byline BIN] [--model M] [--partitions N] [--threads T] [--format jsonl|parquet] \\
        [BYLINE TAG FLAGS...]

Input: a JSONL file, a folder or a glob of them (one {"id", "text"} document a line), or Parquet
(a file, folder or glob ending in .parquet, or --input-format parquet) with `id` and `text`
columns; other Parquet columns are carried through to the output.

Output: Spark's ordinary output folder of part files, JSONL (default: one line per document,
exactly the record `byline tag` writes for it when run on the whole input on one machine) or
Parquet (`id`, `record` holding that JSON line, and the carried columns). A line without an id
gets the id `byline tag` gives it (its 1-based line number in its file), whatever the
partitioning; a bad line (not JSON, no text, invalid UTF-8) becomes the error record
`byline tag` writes for it, with the same message, and never fails the job.

How: each JSONL file is read as bytes and cut into lines (keeping each line's file, line number
and byte offset); the lines are range-partitioned into --partitions contiguous runs, in input
order; each partition pipes its lines into one `byline tag --stream` child per file it covers
(so the model loads once per partition, not per document), with --stdin-name/--stdin-line/
--stdin-byte telling the child where its lines sit in the file. A child that dies (killed, out of
memory) fails its task, Spark retries it, and the output commit protocol keeps each document
exactly once. The child's --threads defaults to spark.task.cpus, so children do not
oversubscribe the executors.

The binary and the model reach executors the Spark way: a path present on every node, or
--archives byline.tar.gz#bl with --byline bl/byline --model bl/model. --model also takes a hub
id (ORG/NAME[@REVISION]); each executor then fetches it into its Hugging Face cache.
"""

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import threading

from pyspark.sql import SparkSession


def parse_args(argv):
    ap = argparse.ArgumentParser(
        description="Tag a corpus with byline on Spark.",
        epilog="Flags not listed here are passed to `byline tag` (e.g. --quantize q8).",
    )
    ap.add_argument("--input", required=True, help="JSONL file, folder or glob; or Parquet")
    ap.add_argument("--output", required=True, help="output folder (must not exist)")
    ap.add_argument("--byline", default=None, help="byline binary (default: byline on PATH)")
    ap.add_argument("--model", default=None, help="model folder or hub id (default: byline's)")
    ap.add_argument("--partitions", type=int, default=None,
                    help="partitions (default: Spark's default parallelism)")
    ap.add_argument("--threads", type=int, default=None,
                    help="byline tensor threads per child (default: spark.task.cpus)")
    ap.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl")
    ap.add_argument("--input-format", choices=["auto", "jsonl", "parquet"], default="auto")
    return ap.parse_known_args(argv)


def input_files(pattern, kind):
    """The input files of a path, folder or glob, sorted (hidden and _-files skipped)."""
    if os.path.isdir(pattern):
        ext = ".parquet" if kind == "parquet" else ".jsonl"
        found = []
        for root, dirs, files in os.walk(pattern):
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
            found += [os.path.join(root, f) for f in sorted(files)
                      if f.endswith(ext) and not f.startswith((".", "_"))]
        return found
    found = sorted(glob.glob(pattern))
    return found if found else [pattern]


def split_lines(data):
    """(line number, byte offset, raw bytes without the newline) of every line of a file."""
    out = []
    start = 0
    line = 0
    while start < len(data):
        end = data.find(b"\n", start)
        if end < 0:
            end = len(data)
        line += 1
        out.append((line, start, data[start:end]))
        start = end + 1
    return out


class ChildFailed(RuntimeError):
    pass


def run_child(cmd, file, first_line, first_byte, lines, env):
    """Pipes `lines` (raw bytes, consecutive lines of `file`) through one `byline tag --stream`
    child and yields its output records (one per line that is not blank), in order."""
    expected = sum(1 for raw in lines if raw.strip(b" \t\r\n\x0b\x0c"))
    full = cmd + ["--stdin-name", file, "--stdin-line", str(first_line),
                  "--stdin-byte", str(first_byte)]
    child = subprocess.Popen(full, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)
    errors = []

    def feed():
        try:
            for raw in lines:
                child.stdin.write(raw + b"\n")
            child.stdin.close()
        except BrokenPipeError:
            pass

    def drain():
        errors.append(child.stderr.read())

    writer = threading.Thread(target=feed, daemon=True)
    reader = threading.Thread(target=drain, daemon=True)
    writer.start()
    reader.start()
    got = 0
    for out in child.stdout:
        got += 1
        yield out.decode("utf-8").rstrip("\n")
    child.wait()
    writer.join()
    reader.join()
    # byline tag exits 1 when some documents failed (their error records are in the output):
    # that is a result, not a crash.
    if child.returncode not in (0, 1) or got != expected:
        tail = b"".join(errors).decode("utf-8", "replace")[-2000:]
        raise ChildFailed(
            f"byline child for {file} lines {first_line}.. ended with status {child.returncode} "
            f"after {got} of {expected} records: {tail}")


def tag_partition(cmd, env):
    """The partition's records, each with what its input carries (Parquet columns, or None)."""
    def run(items):
        # items: ((file index, line), (file, byte offset, raw, carried)) in order; one child per
        # run of lines of one file.
        run_file, run_lines, carried, first = None, [], [], None

        def flush():
            for record, extra in zip(run_child(cmd, run_file, first[0], first[1], run_lines, env),
                                     carried_iter(run_lines, carried)):
                yield record, extra

        for (_, line), (file, byte, raw, extra) in items:
            if file != run_file and run_lines:
                yield from flush()
                run_lines, carried = [], []
            if not run_lines:
                run_file, first = file, (line, byte)
            run_lines.append(raw)
            carried.append(extra)
        if run_lines:
            yield from flush()
    return run


def carried_iter(lines, carried):
    """What each record carries: the carried value of each line that is not blank."""
    for raw, extra in zip(lines, carried):
        if raw.strip(b" \t\r\n\x0b\x0c"):
            yield extra


def byline_command(args, rest, threads):
    binary = args.byline or shutil.which("byline") or "byline"
    cmd = [binary, "tag", "--stream", "--threads", str(threads)]
    if args.model:
        cmd += ["--model", args.model]
    return cmd + rest


def main(argv):
    args, rest = parse_args(argv)
    spark = SparkSession.builder.appName("byline tag").getOrCreate()
    sc = spark.sparkContext
    threads = args.threads or int(sc.getConf().get("spark.task.cpus", "1"))
    partitions = args.partitions or sc.defaultParallelism
    cmd = byline_command(args, rest, threads)
    env = dict(os.environ)

    kind = args.input_format
    if kind == "auto":
        kind = "parquet" if args.input.rstrip("/").endswith(".parquet") else "jsonl"

    if kind == "jsonl":
        files = input_files(args.input, "jsonl")
        # The name each file has on the command line, by its absolute path: byline names a
        # document's file that way in error messages.
        given = {os.path.abspath(f): f for f in files}
        # Each file whole, as bytes (invalid UTF-8 must reach byline as it is).
        raw = sc.binaryFiles(",".join(files), minPartitions=max(1, min(len(files), partitions)))

        def lines_of(fd):
            path = local_path(fd[0])
            name = given.get(path, path)
            i = files.index(name) if name in files else len(files)
            return [((i, n), (name, b, r, None)) for n, b, r in split_lines(fd[1])]

        keyed = raw.flatMap(lines_of)
        extra_columns, in_schema = [], None
    else:
        df = spark.read.parquet(*input_files(args.input, "parquet"))
        in_schema = df.schema
        if "text" not in df.columns:
            raise SystemExit(f"{args.input}: no `text` column (columns: {df.columns})")
        extra_columns = [c for c in df.columns if c not in ("id", "text")]
        has_id = "id" in df.columns

        def as_line(pair):
            row, i = pair
            doc = {"id": str(row["id"]) if has_id and row["id"] is not None else str(i + 1),
                   "text": row["text"]}
            raw = json.dumps(doc, ensure_ascii=False).encode("utf-8")
            return ((0, i + 1), (args.input, 0, raw, {c: row[c] for c in extra_columns}))

        keyed = df.rdd.zipWithIndex().map(as_line)

    # Range partitions of the (file, line) order: contiguous runs, output in input order.
    records = keyed.sortByKey(numPartitions=partitions).mapPartitions(tag_partition(cmd, env))

    if args.format == "jsonl":
        records.map(lambda re: with_columns(re[0], re[1])).saveAsTextFile(args.output)
    else:
        from pyspark.sql.types import StringType, StructField, StructType
        fields = [StructField("id", StringType()), StructField("record", StringType())]
        rows = records.map(lambda re: (json.loads(re[0]).get("id"), re[0]))
        if extra_columns:
            fields += [in_schema[c] for c in extra_columns]
            rows = records.map(lambda re: (json.loads(re[0]).get("id"), re[0],
                                           *[re[1][c] for c in extra_columns]))
        spark.createDataFrame(rows, StructType(fields)).write.parquet(args.output)
    spark.stop()
    return 0


def with_columns(record, extra):
    """A byline record with the carried Parquet columns added (byline's own keys win)."""
    if not extra:
        return record
    out = json.loads(record)
    for k, v in extra.items():
        if k not in out:
            out[k] = v
    return json.dumps(out, ensure_ascii=False, default=str)


def local_path(url):
    """`file:/a/b` and `file:///a/b` as `/a/b`; other URLs as they are."""
    if url.startswith("file:"):
        rest = url[len("file:"):]
        while rest.startswith("//"):
            rest = rest[1:]
        return os.path.abspath(rest)
    return url


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
