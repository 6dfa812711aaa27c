"""How fast could skimming be, on this engine and this model, if a predictor were perfect?

For each layer L the fast path skims after layer L only, and that layer's predictor is replaced by the truth:
keep exactly the blocks holding gold-answer tokens (the question's frame always stays). The real predictor still
runs, so its cost is paid. Timed against Hugging Face's SDPA model on the benchmark's own inputs (`python -m skim
bench`: SQuAD dev passages joined to fill the window), same weights and dtype, batch 1, median of repeats.

The table separates the two things a speed-up needs: an engine whose time follows the tokens it keeps (measured
speed-up against `limit_speedup`), and a predictor able to decide early (the later the first cut, the lower the
ceiling, whatever the predictor's quality).

    .venv/bin/python scripts/skim_ceiling.py --threads 2 --output results/skim-ceiling.json
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from pathlib import Path

import torch
from transformers import AutoModelForQuestionAnswering

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a plain script from anywhere
from skim.bench import FixedKeep, bench_inputs, gold_blocks, scorable_blocks, time_questions  # noqa: E402
from skim.data import read_squad_json  # noqa: E402
from skim.fast import FastSkimReader  # noqa: E402
from skim.inference import DEFAULT_MODEL, load_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/squad/dev-v1.1.json")
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--seq-len", type=int, default=384)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--output")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    model, tokenizer = load_model(args.model)
    hf = AutoModelForQuestionAnswering.from_pretrained(args.model, attn_implementation="sdpa").eval()
    items = bench_inputs(tokenizer, read_squad_json(args.data), args.seq_len, args.n)
    bs, depth = model.config.skim_block_size, model.config.num_hidden_layers
    readers, oracles = {}, {}
    for layer in model.config.predictor_layers:
        readers[layer] = FastSkimReader(model, layers=[layer])
        oracles[layer] = readers[layer].predictors[layer] = FixedKeep(readers[layer].predictors[layer])

    full = FastSkimReader(model)
    runners = {"hf": lambda x: hf(**x), "full": lambda x: full(**x, skim=False)}
    for layer, reader in readers.items():
        runners[f"oracle@{layer}"] = lambda x, reader=reader: reader(**x, threshold=0.5)

    def give_truth(item: dict) -> None:
        window = item["window"]
        gold = gold_blocks(window, *item["span"], bs)
        truth = torch.tensor([1.0 if b in gold else 0.0 for b in scorable_blocks(window, bs)])
        for oracle in oracles.values():
            oracle.probs = truth

    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if args.dtype == "bfloat16" else nullcontext()
    with torch.inference_mode(), autocast:
        rows = time_questions(runners, items, depth, args.repeats, give_truth, desc="ceiling")
    result = {
        "seq_len": args.seq_len,
        "dtype": args.dtype,
        "n": len(items),
        "threads": torch.get_num_threads(),
        "runs": rows,
    }
    print(f"{len(items)} questions, {args.seq_len} tokens, batch 1, {args.dtype}, {torch.get_num_threads()} threads")
    print("run          ms   vs HF   kept   limit   F1")
    for r in rows:
        print(
            f"{r['run']:10s} {r['ms']:6.1f}  {r['speedup_vs_hf']:5.2f}x  {r['kept_fraction']:.3f}  "
            f"{r['limit_speedup']:5.2f}x  {r['f1']:5.1f}"
        )
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
