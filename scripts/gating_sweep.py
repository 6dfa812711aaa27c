"""Where do predictors pay? The decision rule's two knobs, timed in one run against Hugging Face's SDPA model:
`skim_min_tokens` (a predictor judges an input only while this many of its tokens are alive) and which layers
skim, for the question-aware predictor at a few thresholds, on the benchmark's 384-token joined passages and on
native SQuAD paragraphs. Batch 1, float32, tokenising excluded, runners in turn per input (`time_questions`).

    .venv/bin/python scripts/gating_sweep.py --threads 2 --output results/gating-sweep.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from transformers import AutoModelForQuestionAnswering

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a plain script from anywhere
from skim.bench import bench_inputs, time_questions  # noqa: E402
from skim.data import read_squad_json  # noqa: E402
from skim.fast import FastSkimReader  # noqa: E402
from skim.inference import DEFAULT_MODEL, load_model  # noqa: E402

SQUAD = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "squad"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--data", default=str(SQUAD / "dev-v1.1.json"))
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.01, 0.02])
    parser.add_argument("--min-tokens", type=int, nargs="+", default=[0, 192, 256])
    parser.add_argument("--threads", type=int)
    parser.add_argument("--output")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, tokenizer = load_model(args.model)
    hf = AutoModelForQuestionAnswering.from_pretrained(args.model, attn_implementation="sdpa").eval()
    rows = read_squad_json(args.data)
    depth = model.config.num_hidden_layers
    layer_sets = {"all": None, "0-4": [0, 1, 2, 3, 4], "0-3": [0, 1, 2, 3]}
    result = {"n": args.n, "repeats": args.repeats, "threads": torch.get_num_threads(), "inputs": {}}
    with torch.inference_mode():
        readers = {}
        for min_tokens in args.min_tokens:
            reader = FastSkimReader(model, predictor="question")
            reader.min_tokens = min_tokens
            readers[min_tokens] = reader
        runners = {"hf": lambda x: hf(**x), "full": lambda x: readers[0](**x, skim=False)}
        for t in args.thresholds:
            for min_tokens, reader in readers.items():
                runners[f"t={t} min_tokens={min_tokens}"] = lambda x, r=reader, t=t: r(**x, threshold=t)
            for name, layers in layer_sets.items():
                if layers is not None:
                    runners[f"t={t} layers {name}"] = lambda x, t=t, layers=layers: readers[0](
                        **x, threshold=t, layers=layers
                    )
        for kind, native in (("384 tokens", False), ("native", True)):
            items = bench_inputs(tokenizer, rows, 384, args.n, native)
            result["inputs"][kind] = time_questions(runners, items, depth, args.repeats, desc=kind)
    for kind, runs in result["inputs"].items():
        print(kind)
        for r in runs:
            print(
                f"  {r['run']:28s} {r['ms']:6.1f} ms  {r['speedup_vs_hf']:4.2f}x  kept {r['kept_fraction']:.3f}  F1 {r['f1']:5.1f}"
            )
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
