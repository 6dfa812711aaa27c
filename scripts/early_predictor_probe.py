"""Could a better *early* predictor make skimming pay? A probe on the shipped, frozen model.

`scripts/skim_ceiling.py` shows that on a 6-layer encoder only a cut after layer 0 can reach the 2.5× that issue 6
asks for (a perfect predictor after layer 1 gives ≈2.2×). The paper's predictor reads a block's own 32×32
diagonal square of attention, which after one layer says little about the question (AUC ≈0.4 on the
benchmark's joined passages). This probe gives a predictor what the square lacks: how much the *question* attends
to the block and the block to the question, per head (mean and peak), read from the same attention map. A
logistic regression on those features is fitted on SQuAD train questions and tested on dev; then, with its
P(keep) standing in for the layer-0 predictor on the real fast path (`FixedKeep`), the benchmark's inputs are
timed against Hugging Face's SDPA model for a range of thresholds. (The probe's own features are not timed:
they need the question's rows of the attention, a few hundred dot products per block.)

    .venv/bin/python scripts/early_predictor_probe.py --threads 2 --output results/early-predictor-probe.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import AutoModelForQuestionAnswering

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a plain script from anywhere
from skim.bench import (  # noqa: E402
    FixedKeep,
    _auc,
    _batch,
    bench_inputs,
    gold_blocks,
    predictor_auc,
    scorable_blocks,
    time_questions,
)
from skim.data import read_squad_json  # noqa: E402
from skim.fast import FastSkimReader  # noqa: E402
from skim.inference import DEFAULT_MODEL, load_model  # noqa: E402

PROBED_LAYERS = (0, 1)  # a cut after layer 0 is the only one that can reach 2.5x (skim_ceiling.py); 1 for contrast
SQUAD = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "squad"


def question_features(probs: torch.Tensor, token_type_ids: torch.Tensor, block_size: int) -> torch.Tensor:
    """`probs (H, T, T)` one layer's attention → `(blocks with passage text, 5H + 1)`: per head, the attention
    mass the question's tokens give the block (mean and max over question tokens), the peak single weight, the
    mass the block's passage tokens give the question (mean), and its peak; plus the block's passage fill."""
    heads, length, _ = probs.shape
    passage = token_type_ids.bool()
    question = ~passage
    question[0] = question[-1] = False  # [CLS] and the final [SEP]
    question[int(question.nonzero().max())] = False  # the first [SEP]
    pad = -length % block_size
    blocks = (length + pad) // block_size
    in_passage = F.pad(passage, (0, pad)).view(blocks, block_size)  # (nb, bs)
    to_block = F.pad(probs[:, question] * passage, (0, pad)).view(heads, -1, blocks, block_size)  # (H, nq, nb, bs)
    mass = to_block.sum(-1)  # (H, nq, nb)
    from_block = F.pad(probs[:, :, question], (0, 0, 0, pad)).view(heads, blocks, block_size, -1)  # (H, nb, bs, nq)
    fill = in_passage.sum(-1).clamp(min=1)
    features = torch.cat(
        [
            mass.mean(1),
            mass.amax(1),
            to_block.amax((1, 3)),
            (from_block.sum(-1) * in_passage).sum(-1) / fill,
            (from_block.amax(-1) * in_passage).amax(-1),
            (fill / block_size)[None],
        ]
    ).T  # (nb, 5H + 1)
    return features[in_passage.any(-1)]


def block_features(model, items: list[dict], layers: tuple[int, ...]):
    """Per layer in `layers`, the features of every scorable block of `items` (one forward per item serves all
    layers); and the blocks' gold labels and how many blocks each item has, which are the same for every layer."""
    bs = model.config.skim_block_size
    features, labels, counts = {layer: [] for layer in layers}, [], []
    for item in tqdm(items, desc="features", unit="question"):
        window = item["window"]
        inputs = _batch([window])
        out = model(**inputs, skim=False, output_attentions=True)
        for layer in layers:
            features[layer].append(question_features(out.attentions[layer][0].float(), inputs["token_type_ids"][0], bs))
        gold = gold_blocks(window, *item["span"], bs)
        labels += [float(b in gold) for b in scorable_blocks(window, bs)]
        counts.append(len(features[layers[0]][-1]))
    return {layer: torch.cat(f) for layer, f in features.items()}, torch.tensor(labels), counts


def fit_logistic(x: torch.Tensor, y: torch.Tensor, keep_weight: float, steps: int = 500):
    """A class-weighted logistic regression on standardised features; returns features → P(keep)."""
    mean, std = x.mean(0), x.std(0) + 1e-6
    linear = torch.nn.Linear(x.shape[1], 1)
    optimizer = torch.optim.LBFGS(linear.parameters(), max_iter=steps, line_search_fn="strong_wolfe")
    weight = torch.where(y == 1, keep_weight, 1.0)

    def closure():
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(linear((x - mean) / std).squeeze(1), y, weight=weight)
        loss = loss + 1e-4 * linear.weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return lambda z: torch.sigmoid(linear((z - mean) / std).squeeze(1)).detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-data", default=str(SQUAD / "train-v1.1-reconstructed.json"))
    parser.add_argument("--data", default=str(SQUAD / "dev-v1.1.json"))
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n", type=int, default=300, help="dev questions for the AUC (the first 100 are timed)")
    parser.add_argument("--n-timed", type=int, default=100)
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9])
    parser.add_argument("--threads", type=int)
    parser.add_argument("--output")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model, tokenizer = load_model(args.model)
    train = bench_inputs(tokenizer, read_squad_json(args.train_data), 384, args.n_train)
    dev = bench_inputs(tokenizer, read_squad_json(args.data), 384, args.n)
    shipped_auc = predictor_auc(FastSkimReader(model), dev)
    with torch.no_grad():  # not inference_mode: the features must be usable by the fit's autograd
        x, y, _ = block_features(model, train, PROBED_LAYERS)
        x_dev, y_dev, counts = block_features(model, dev, PROBED_LAYERS)
    layers, probe = [], None
    for layer in PROBED_LAYERS:
        p_dev = fit_logistic(x[layer], y, model.config.skim_beta)(x_dev[layer])
        layers.append(
            {
                "layer": layer,
                "shipped_auc": shipped_auc[layer],
                "probe_auc": _auc(p_dev[y_dev == 1].tolist(), p_dev[y_dev == 0].tolist()),
            }
        )
        if layer == 0:
            probe = list(torch.split(p_dev, counts))

    with torch.inference_mode():
        hf = AutoModelForQuestionAnswering.from_pretrained(args.model, attn_implementation="sdpa").eval()
        reader = FastSkimReader(model, layers=[0])
        stand_in = reader.predictors[0] = FixedKeep(reader.predictors[0])
        runners = {"hf": lambda x: hf(**x)}
        for t in args.thresholds:
            runners[f"probe@{t}"] = lambda x, t=t: reader(**x, threshold=t)
        timed = dev[: args.n_timed]
        answers = {id(item): p for item, p in zip(timed, probe)}
        runs = time_questions(
            runners,
            timed,
            model.config.num_hidden_layers,
            5,
            lambda item: setattr(stand_in, "probs", answers[id(item)]),
        )

    result = {
        "n_train": len(train),
        "n_dev": len(dev),
        "n_timed": len(timed),
        "threads": torch.get_num_threads(),
        "layers": layers,
        "runs": runs,
    }
    for row in layers:
        print(
            f"after layer {row['layer']}: shipped predictor AUC {row['shipped_auc']:.3f}, "
            f"question-attention probe AUC {row['probe_auc']:.3f}"
        )
    print("run            ms   vs HF   kept    F1")
    for r in runs:
        print(f"{r['run']:11s} {r['ms']:6.1f}  {r['speedup_vs_hf']:5.2f}x  {r['kept_fraction']:.3f}  {r['f1']:5.1f}")
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
