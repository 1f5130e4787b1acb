#!/usr/bin/env python3
"""End-to-end tagging benchmark: `byline tag` against the Hugging Face transformers pipeline
(PyTorch) and ONNX Runtime, same model weights, same documents, same thread count.

Each engine runs as its own process, from raw text (a JSONL of {"id", "text"}) to one JSON line
per document. For each run the driver measures:

* wall s: the whole process (interpreter start, imports, model load, tagging, writing), with
  time.perf_counter around the child;
* in-engine s: what the engine reports for reading the input, tagging and writing the output,
  after imports and model load (byline's `-v` log line, the workers' --stats file);
* peak RSS: ru_maxrss of the child from os.wait4 (that child alone, and any child it waited
  for). getrusage(RUSAGE_CHILDREN) is not used: its ru_maxrss is the largest over all children
  ever waited for, so it cannot tell a small engine run after a big one apart.

Runs are repeated (--repeats, default 3) round-robin over the engines so a change of machine
load hits all of them alike; the table gives medians. Every run's output is checked: one line
per input document, in input order, none an error.

Engines (--engines, comma-separated; default byline,byline-q8,hf,ort):
  byline     byline -v tag --model M --threads T [--byline-args] INPUT -o OUT
  byline-q8  the same plus --byline-q8-args (default "--quantize q8")
  hf         hf_tag.py: transformers pipeline("token-classification"), PyTorch, fp32
  ort        ort_tag.py on model.opt.onnx: ONNX Runtime CPU, fp32
  ort-q8     ort_tag.py on model.q8.onnx: ONNX Runtime, dynamic int8 weights

Run with scripts/bench/.venv/bin/python (setup.sh makes it); --python names the interpreter
for the workers. The ONNX files are exported once into <work>/onnx (onnx_export.py; not timed).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from bench_common import BenchError  # noqa: E402
from make_inputs import ConllError, read_documents as read_conll  # noqa: E402

ENGINES = ("byline", "byline-q8", "hf", "ort", "ort-q8")
BYLINE_LOG = re.compile(r"tagged (\d+) documents in ([0-9.]+) s \(model loaded in ([0-9.]+) s\)")


def default_byline() -> Path:
    target = os.environ.get("CARGO_TARGET_DIR")
    return (Path(target) if target else REPO / "target") / "release" / "byline"


def shown(path: Path) -> str:
    """`path` as results record it: relative to the repository when inside it (the record
    then reads the same on every checkout), else as given."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def default_python() -> Path:
    venv = os.environ.get("BENCH_VENV")
    return (Path(venv) if venv else HERE / ".venv") / "bin" / "python"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, default=os.environ.get("BYLINE_MODEL"),
                   help="model folder written by `byline train` (its best/); default $BYLINE_MODEL")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--conll", type=Path, help="CoNLL file; its documents become the input")
    src.add_argument("--input", type=Path, help="JSONL of {id, text} (make_inputs.py)")
    p.add_argument("--limit", type=int, default=None,
                   help="only the first N documents (development runs)")
    p.add_argument("--engines", default="byline,byline-q8,hf,ort",
                   help=f"comma-separated, from {', '.join(ENGINES)}")
    p.add_argument("--repeats", type=int, default=3, help="runs per engine (default 3)")
    p.add_argument("--threads", type=int, default=2, help="threads per engine (default 2)")
    p.add_argument("--batch", type=int, default=32,
                   help="sequences per batch for hf and ort (default 32)")
    p.add_argument("--window", type=int, default=254,
                   help="subwords per window for the hf and ort engines (default 254, byline's "
                        "own models' window; 510 for a plain 512-position checkpoint, which "
                        "byline windows at its full length)")
    p.add_argument("--overlap", type=int, default=64,
                   help="subwords neighbouring windows share, hf and ort (default 64; byline "
                        "uses a quarter of the window for plain checkpoints)")
    p.add_argument("--byline", type=Path, default=default_byline(),
                   help="byline binary (default $CARGO_TARGET_DIR/release/byline, else "
                        "target/release/byline)")
    p.add_argument("--byline-args", default="", help="extra arguments for both byline engines")
    p.add_argument("--byline-q8-args", default="--quantize q8",
                   help="extra arguments of byline-q8 (default \"--quantize q8\")")
    p.add_argument("--hf-device", choices=["cpu", "cuda"], default="cpu",
                   help="where the hf engine's model runs (default cpu)")
    p.add_argument("--python", type=Path, default=default_python(),
                   help="interpreter for hf/ort workers (default $BENCH_VENV/bin/python, else "
                        "scripts/bench/.venv/bin/python)")
    p.add_argument("--work", type=Path, default=Path("/tmp/byline-tag-bench"),
                   help="folder for inputs, outputs and the ONNX cache (default "
                        "/tmp/byline-tag-bench)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    args = p.parse_args(argv)
    args.engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for e in args.engines:
        if e not in ENGINES:
            p.error(f"unknown engine {e!r} (known: {', '.join(ENGINES)})")
    if args.model is None:
        p.error("no model: pass --model DIR or set BYLINE_MODEL")
    if args.repeats < 1 or args.threads < 1 or args.batch < 1:
        p.error("--repeats, --threads and --batch must be at least 1")
    return args


def prepare_input(args: argparse.Namespace) -> tuple[Path, list[str], int]:
    """The input JSONL, its document ids and its word count (CoNLL tokens = whitespace-split)."""
    args.work.mkdir(parents=True, exist_ok=True)
    if args.conll is not None:
        try:
            docs = read_conll(args.conll)
        except ConllError as e:
            raise BenchError(str(e)) from e
        docs = docs[: args.limit] if args.limit is not None else docs
        path = args.work / "input.jsonl"
        with open(path, "w", encoding="utf-8") as out:
            for d in docs:
                out.write(json.dumps({"id": d["id"], "text": d["text"]}, ensure_ascii=False) + "\n")
        return path, [d["id"] for d in docs], sum(d["words"] for d in docs)
    from bench_common import read_documents
    docs = read_documents(args.input)
    if args.limit is not None:
        docs = docs[: args.limit]
        path = args.work / "input.jsonl"
        with open(path, "w", encoding="utf-8") as out:
            for i, t in docs:
                out.write(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n")
    else:
        path = args.input
    return path, [i for i, _ in docs], sum(len(t.split()) for _, t in docs)


def child_env(threads: int) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "RAYON_NUM_THREADS", "RAYON_RS_NUM_CPUS"):
        env[var] = str(threads)
    env["TOKENIZERS_PARALLELISM"] = "true"
    env.pop("RUST_LOG", None)
    return env


def command(engine: str, args: argparse.Namespace, inp: Path, out: Path, stats: Path) -> list[str]:
    if engine.startswith("byline"):
        extra = shlex.split(args.byline_args)
        if engine == "byline-q8":
            extra += shlex.split(args.byline_q8_args)
        return [str(args.byline), "-v", "tag", "--model", str(args.model), "--threads",
                str(args.threads), *extra, str(inp), "-o", str(out)]
    common = ["--model", str(args.model), "--input", str(inp), "--output", str(out), "--stats",
              str(stats), "--threads", str(args.threads), "--batch", str(args.batch),
              "--window", str(args.window), "--overlap", str(args.overlap)]
    if engine == "hf":
        return [str(args.python), str(HERE / "hf_tag.py"), *common, "--device", args.hf_device]
    onnx = args.work / "onnx" / ("model.q8.onnx" if engine == "ort-q8" else "model.opt.onnx")
    return [str(args.python), str(HERE / "ort_tag.py"), "--onnx", str(onnx), *common]


def run_once(engine: str, args: argparse.Namespace, inp: Path, ids: list[str], rep: int) -> dict:
    out = args.work / f"out-{engine}.jsonl"
    stats = args.work / f"stats-{engine}.json"
    log = args.work / f"log-{engine}-{rep}.txt"
    for f in (out, stats):
        f.unlink(missing_ok=True)
    cmd = command(engine, args, inp, out, stats)
    with open(log, "w") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                env=child_env(args.threads))
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace")
    if proc.returncode != 0:
        tail = "\n".join(text.strip().splitlines()[-6:])
        raise BenchError(f"{engine} exited with status {proc.returncode} ({shlex.join(cmd)}); "
                         f"log {log}:\n{tail}")
    engine_s = load_s = None
    if engine.startswith("byline"):
        m = BYLINE_LOG.search(text)
        if m:
            engine_s, load_s = float(m.group(2)), float(m.group(3))
    elif stats.is_file():
        s = json.loads(stats.read_text())
        engine_s, load_s = s["engine_s"], s["load_s"]
    entities = check_output(engine, out, ids)
    return {"wall_s": wall, "engine_s": engine_s, "load_s": load_s,
            "peak_rss_mib": usage.ru_maxrss / 1024, "entities": entities,
            "user_s": usage.ru_utime, "sys_s": usage.ru_stime}


def check_output(engine: str, out: Path, ids: list[str]) -> int:
    """Entities written; fails unless there is one good line per document, in order."""
    if not out.is_file():
        raise BenchError(f"{engine} wrote no output file {out}")
    entities = 0
    lines = out.read_text(encoding="utf-8").splitlines()
    if len(lines) != len(ids):
        raise BenchError(f"{out}: {len(lines)} lines for {len(ids)} documents")
    for lineno, (line, want) in enumerate(zip(lines, ids), 1):
        obj = json.loads(line)
        if "error" in obj:
            raise BenchError(f"{out}:{lineno}: document {want} failed: {obj['error']}")
        if str(obj.get("id")) != want:
            raise BenchError(f"{out}:{lineno}: id {obj.get('id')!r}, expected {want!r}")
        entities += len(obj.get("entities", []))
    return entities


def ensure_onnx(args: argparse.Namespace) -> None:
    if not any(e.startswith("ort") for e in args.engines):
        return
    cmd = [str(args.python), str(HERE / "onnx_export.py"), "--model", str(args.model), "--out",
           str(args.work / "onnx")]
    r = subprocess.run(cmd, env=child_env(args.threads), capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError(f"ONNX export failed ({shlex.join(cmd)}):\n{r.stderr[-2000:]}")


def median(xs: list) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def summarise(runs: list[dict], docs: int, words: int) -> dict:
    wall, eng = median([r["wall_s"] for r in runs]), median([r["engine_s"] for r in runs])
    return {
        "runs": len(runs), "wall_s": wall, "engine_s": eng,
        "load_s": median([r["load_s"] for r in runs]),
        "words_per_s": words / wall, "docs_per_s": docs / wall,
        "engine_words_per_s": words / eng if eng else None,
        "engine_docs_per_s": docs / eng if eng else None,
        "peak_rss_mib": median([r["peak_rss_mib"] for r in runs]),
        "peak_rss_mib_max": max(r["peak_rss_mib"] for r in runs),
        "cpu_s": median([r["user_s"] + r["sys_s"] for r in runs]),
        "entities": runs[-1]["entities"],
        "wall_s_all": [round(r["wall_s"], 3) for r in runs],
    }


def ratios(summary: dict) -> list[dict]:
    """Speed of each byline engine relative to each peer (peer time / byline time)."""
    out = []
    for b in (e for e in summary if e.startswith("byline")):
        for peer in (e for e in summary if not e.startswith("byline")):
            sb, sp = summary[b], summary[peer]
            eng = (sp["engine_s"] / sb["engine_s"]
                   if sp["engine_s"] and sb["engine_s"] else None)
            out.append({"byline": b, "peer": peer, "wall": sp["wall_s"] / sb["wall_s"],
                        "in_engine": eng})
    return out


def fmt(x, spec: str) -> str:
    return "–" if x is None else format(x, spec)


def print_tables(result: dict) -> None:
    print(f"{result['documents']} documents, {result['words']} words, {result['threads']} "
          f"threads, batch {result['batch']}, median of {result['repeats']} runs; load average "
          f"{result['loadavg_before']:.2f} before, {result['loadavg_after']:.2f} after")
    print()
    print("| engine | wall s | in-engine s | load s | words/s | docs/s | words/s in-engine "
          "| peak RSS MiB | CPU s | entities |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, s in result["engines"].items():
        print(f"| {name} | {s['wall_s']:.2f} | {fmt(s['engine_s'], '.2f')} | "
              f"{fmt(s['load_s'], '.2f')} | {s['words_per_s']:,.0f} | {s['docs_per_s']:.2f} | "
              f"{fmt(s['engine_words_per_s'], ',.0f')} | {s['peak_rss_mib']:.0f} | "
              f"{s['cpu_s']:.2f} | {s['entities']} |")
    for name, err in result["failed"].items():
        print(f"| {name} | failed: {err.splitlines()[0]} |")
    if result["ratios"]:
        print()
        print("| byline engine | peer | speed ratio, whole process | speed ratio, in-engine |")
        print("|---|---|---:|---:|")
        for r in result["ratios"]:
            print(f"| {r['byline']} | {r['peer']} | {r['wall']:.2f}× | "
                  f"{fmt(r['in_engine'], '.2f')}{'×' if r['in_engine'] else ''} |")
    for name, err in result["failed"].items():
        print(f"\n{name} failed: {err}", file=sys.stderr)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        if not (args.model / "config.json").is_file():
            raise BenchError(f"model folder has no config.json: {args.model}")
        if any(e.startswith("byline") for e in args.engines) and not args.byline.is_file():
            raise BenchError(f"byline binary missing: {args.byline} (cargo build --release "
                             f"-p byline-cli, or pass --byline)")
        if any(not e.startswith("byline") for e in args.engines) and not args.python.is_file():
            raise BenchError(f"Python interpreter missing: {args.python} (run "
                             f"scripts/bench/setup.sh, or pass --python)")
        inp, ids, words = prepare_input(args)
        ensure_onnx(args)
    except BenchError as e:
        print(f"tag_bench.py: error: {e}", file=sys.stderr)
        return 2
    load_before = os.getloadavg()[0]
    runs: dict[str, list[dict]] = {e: [] for e in args.engines}
    failed: dict[str, str] = {}
    for rep in range(args.repeats):
        for engine in args.engines:
            if engine in failed:
                continue
            try:
                runs[engine].append(run_once(engine, args, inp, ids, rep))
            except BenchError as e:
                failed[engine] = str(e)
            if not args.json:
                last = runs[engine][-1] if engine not in failed else None
                what = f"{last['wall_s']:.2f} s" if last else "failed"
                print(f"run {rep + 1}/{args.repeats} {engine}: {what}", file=sys.stderr)
    summary = {e: summarise(r, len(ids), words) for e, r in runs.items() if e not in failed}
    result = {
        "documents": len(ids), "words": words, "input": shown(inp), "model": shown(args.model),
        "threads": args.threads, "batch": args.batch, "repeats": args.repeats,
        "loadavg_before": load_before, "loadavg_after": os.getloadavg()[0],
        "engines": summary, "ratios": ratios(summary), "failed": failed,
        "byline": shown(args.byline), "byline_args": args.byline_args,
        "byline_q8_args": args.byline_q8_args,
    }
    onnx_meta = args.work / "onnx" / "export.json"
    if onnx_meta.is_file() and any(e.startswith("ort") for e in args.engines):
        result["onnx_export"] = json.loads(onnx_meta.read_text())
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print_tables(result)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
