#!/usr/bin/env python3
"""The `hf` engine of tag_bench.py: raw text to entity JSON lines with the Hugging Face
transformers token-classification pipeline on PyTorch (fp32; CPU, or a GPU with --device cuda).

* `pipeline("token-classification", model, tokenizer, aggregation_strategy="simple",
  device=-1 or 0 with --device cuda, stride=64)`, called once on the list of all texts with `batch_size=--batch`
  (default 32; with a stride the pipeline batches the windows of the documents).
* Long documents are not truncated: the fast tokenizer's `model_max_length` is set to 256
  (254 subwords + [CLS] + [SEP], byline's window) and the pipeline's `stride=64` (byline's
  overlap) cuts each document into overlapping windows, whose entities the pipeline merges.
* The model is BertForTokenClassification read from the byline model folder; the script stops
  when a weight it needs is missing (byline's extra tensors are ignored).
* torch.set_num_threads(--threads), torch.set_num_interop_threads(1), torch.inference_mode().

Prints nothing on stdout; the timing report goes to --stats. Run by tag_bench.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import (BenchError, Clock, entity, output_line,  # noqa: E402
                          read_documents, require_model, write_stats)

CLOCK = Clock()
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import (AutoModelForTokenClassification, AutoTokenizer,  # noqa: E402
                          PreTrainedTokenizerFast, pipeline)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path, required=True, help="model folder (HF-readable)")
    p.add_argument("--input", type=Path, required=True, help="JSONL of {id, text}")
    p.add_argument("--output", type=Path, required=True, help="JSONL to write")
    p.add_argument("--stats", type=Path, default=None, help="timing report (JSON)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=32, help="pipeline batch_size (default 32)")
    p.add_argument("--window", type=int, default=254, help="subwords per window (default 254)")
    p.add_argument("--overlap", type=int, default=64, help="pipeline stride (default 64)")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="where the model runs (default cpu; cuda: the first GPU)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    imported = CLOCK.now()
    try:
        require_model(args.model)
        if not 0 <= args.overlap < args.window:
            raise BenchError("--overlap must be below --window")
        if (args.model / "tokenizer_config.json").is_file():
            # A Hugging Face folder: its own special tokens (<s>, </s>, <pad> for RoBERTa).
            tok = AutoTokenizer.from_pretrained(args.model, model_max_length=args.window + 2)
        else:  # byline's own model folders carry tokenizer.json only, BERT's tokens
            tok = PreTrainedTokenizerFast(
                tokenizer_file=str(args.model / "tokenizer.json"),
                model_max_length=args.window + 2, unk_token="[UNK]", sep_token="[SEP]",
                pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]")
        model, info = AutoModelForTokenClassification.from_pretrained(
            args.model, output_loading_info=True)
        if info.get("missing_keys"):
            raise BenchError(f"{args.model}: weights missing from model.safetensors: "
                             f"{sorted(info['missing_keys'])}")
        model.eval()
        tagger = pipeline("token-classification", model=model, tokenizer=tok,
                          aggregation_strategy="simple",
                          device=0 if args.device == "cuda" else -1, stride=args.overlap)
        loaded = CLOCK.now()
        docs = read_documents(args.input)
        texts = [t for _, t in docs]
        with torch.inference_mode(), open(args.output, "w", encoding="utf-8") as out:
            results = tagger(texts, batch_size=args.batch, num_workers=0)
            for (doc_id, text), ents in zip(docs, results):
                out.write(output_line(doc_id, [
                    entity(text, e["start"], e["end"], e["entity_group"], e["score"])
                    for e in ents]))
        done = CLOCK.now()
    except BenchError as e:
        print(f"hf_tag.py: error: {e}", file=sys.stderr)
        return 2
    write_stats(args.stats, {"import_s": imported, "load_s": loaded - imported,
                             "engine_s": done - loaded, "documents": len(docs),
                             "torch": torch.__version__, "transformers": transformers.__version__,
                             "torch_threads": torch.get_num_threads()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
