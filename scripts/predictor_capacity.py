"""Is the question-aware predictor limited by its capacity or by what it reads? A held-out check on more questions.

The issue asked it plainly: before concluding anything about capacity, train predictors on far more questions and
check on held-out ones. This reads `--train` training questions (spread over SQuAD v1.1 train) and the 384-token
dev inputs of `skim bench`, each as one full-length window with the gold paragraph anywhere among its article's
neighbours (the side neighbours are added on first is random), through the frozen shipped encoder without
skimming, and keeps every scored block's `question_features` after layers 0 … `--layers`−1 with its label (does it
hold a gold-answer token). Then, per layer, on exactly those features:

- `shipped`: the shipped predictor (trained jointly with the encoder on a GPU);
- `same-size`: a fresh predictor of the shipped shape (64 hidden units), trained here on the training features;
- `shipped+tuned`: the shipped predictor trained further on them;
- `wide`: a wider, deeper MLP (two hidden layers of `--width`).

Reported on the dev inputs: ROC AUC, and the share of non-answer blocks a layer could drop while keeping 99 % of
the answer blocks (each model's own 1 % quantile of answer-block scores: the number that decides speed).

    .venv/bin/python scripts/predictor_capacity.py --train 16000 --output results/predictor-capacity-layers-0-2.json

With `--save DIR` it also writes the model with the retrained same-size predictor in every layer where that one
beats the shipped one on a tenth of the training questions kept aside (never on dev); then calibrate it:

    .venv/bin/python scripts/predictor_capacity.py --train 12000 --layers 6 --native-share 0.25 \\
        --candidates same-size --save /tmp/retrained --output results/predictor-retrained.json
    .venv/bin/python scripts/calibrate_model.py --model /tmp/retrained
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from datasets import Dataset
from torch import nn
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a plain script from anywhere
from skim.bench import _auc, _batch, _holds, gold_blocks  # noqa: E402
from skim.cli import DEV_SET  # noqa: E402
from skim.data import article_paragraphs, lengthen, read_squad_json  # noqa: E402
from skim.fast import FastSkimReader, attention_with_lse  # noqa: E402
from skim.inference import load_model  # noqa: E402
from skim.predictors import FEATURES_PER_HEAD, QuestionPredictor, passage_row_blocks, question_features, question_slots  # noqa: E402
from skim.qa import make_windows  # noqa: E402
from skim.train import hold_out_articles  # noqa: E402

TRAIN_SET = DEV_SET.parent / "train-v1.1-reconstructed.json"


def long_inputs(
    tokenizer, rows: list[dict], n: int, seed: int, seq_len: int = 384, native_share: float = 0.0
) -> list[dict]:
    """`n` questions spread over `rows`, each as one full `seq_len`-token window holding its gold answer, the
    gold paragraph among its neighbours (first side random); a `native_share` of them read their own paragraph
    alone instead (any length), as native SQuAD inputs are."""
    rng = random.Random(seed)
    paragraphs = article_paragraphs([r["title"] for r in rows], [r["context"] for r in rows])
    step = max(1, len(rows) // n)
    items = []
    for row in rows[::step]:

        def long_enough(text: str) -> bool:
            return len(tokenizer(text, add_special_tokens=False)["input_ids"]) >= seq_len

        native = rng.random() < native_share
        if native:
            context, start = row["context"], row["answers"]["answer_start"][0]
        else:
            context, start = lengthen(row, paragraphs[row["title"]], long_enough, rng.random() < 0.5)
        end = start + len(row["answers"]["text"][0])
        windows = [w for w in make_windows(tokenizer, row["question"], context, seq_len, 128) if _holds(w, start, end)]
        windows = [w for w in windows if native or len(w.input_ids) == seq_len]
        if windows:
            items.append({"window": rng.choice(windows), "span": (start, end)})
        if len(items) == n:
            break
    return items


@torch.inference_mode()
def block_features(fast: FastSkimReader, items: list[dict], layers: int, desc: str) -> list[dict]:
    """Per layer: `x (N, 8H+1)` features of every scored block of every item, `y (N,)` 1 for answer blocks."""
    model, bs = fast.model, fast.block_size
    out = [{"x": [], "y": []} for _ in range(layers)]
    for item in tqdm(items, desc=desc, unit="question"):
        window = item["window"]
        inputs = _batch([window])
        length = len(window.input_ids)
        in_context = F.pad(inputs["token_type_ids"].bool(), (0, -length % bs))
        scored = in_context.view(1, -1, bs).any(-1)
        n_slots, question = question_slots(inputs["attention_mask"], inputs["token_type_ids"], inputs["input_ids"])
        positions = torch.arange(length)[None]
        row_block = passage_row_blocks(positions, torch.ones_like(positions, dtype=torch.bool), in_context, bs)
        gold = gold_blocks(window, *item["span"], bs)
        labels = torch.tensor([float(b in gold) for b in range(scored.shape[1])])[scored[0]]
        hidden = model.embed(inputs["input_ids"], inputs["token_type_ids"])
        for i in range(layers):
            layer = fast.layers[i]
            q, k, v = layer.qkv_heads(hidden, None)
            context, lse = attention_with_lse(q, k, v, None, fast.scale)
            to_rows, from_rows = fast._question_attention(q, k, lse, n_slots)
            out[i]["x"].append(question_features(to_rows, from_rows, question, row_block, scored, bs)[scored])
            out[i]["y"].append(labels)
            hidden = layer.feed_forward(layer.attention_output(context, hidden, None), None)
    return [{"x": torch.cat(d["x"]), "y": torch.cat(d["y"])} for d in out]


class Wide(nn.Module):
    def __init__(self, width_in: int, width: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.BatchNorm1d(width_in),
            nn.Linear(width_in, width),
            nn.GELU(),
            nn.Linear(width, width),
            nn.GELU(),
            nn.Linear(width, 2),
        )

    def forward(self, x):
        return self.net(x)


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float, seed: int) -> nn.Module:
    """Cross-entropy on (skim, keep), the answer blocks weighted up to balance the classes (as the skim loss's
    balance factor does), Adam, cosine schedule, batches of 512."""
    torch.manual_seed(seed)
    positive_weight = float((y == 0).sum() / (y == 1).sum().clamp(min=1))
    weights = torch.tensor([1.0, positive_weight])
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(x) + 511) // 512)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    model.train()
    for _ in range(epochs):
        for batch in torch.randperm(len(x)).split(512):
            loss = F.cross_entropy(model(x[batch]), y[batch].long(), weight=weights)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    return model.eval()


@torch.no_grad()
def judge(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    logits = model(x)
    margin = (logits[:, 1] - logits[:, 0]).tolist()
    gold = [m for m, label in zip(margin, y.tolist()) if label]
    other = [m for m, label in zip(margin, y.tolist()) if not label]
    cut = torch.tensor(gold).quantile(0.01).item()  # keeps 99 % of the answer blocks
    return {"auc": _auc(gold, other), "dropped_at_99_recall": sum(m < cut for m in other) / len(other)}


def fit(name: str, shipped: QuestionPredictor, x: torch.Tensor, y: torch.Tensor, args) -> nn.Module:
    """One candidate predictor trained on `x`, `y` (see the module's docstring)."""
    if name == "same-size":
        return train(
            QuestionPredictor((shipped.hidden.in_features - 1) // FEATURES_PER_HEAD), x, y, args.epochs, 3e-3, args.seed
        )
    if name == "shipped+tuned":
        return train(copy.deepcopy(shipped), x, y, max(1, args.epochs // 4), 3e-4, args.seed)
    return train(Wide(x.shape[1], args.width), x, y, args.epochs, 1e-3, args.seed)


def training_rows(questions_held_out: int = 1000) -> list[dict]:
    """SQuAD v1.1 train less the whole articles at its end that `skim train` holds out for calibration and
    `scripts/held_out_articles.py` writes for choosing thresholds: those stay unseen here."""
    rows = read_squad_json(TRAIN_SET)
    kept, _ = hold_out_articles(Dataset.from_list(rows), questions_held_out)  # the split training makes
    return rows[: len(kept)]  # `hold_out_articles` keeps a prefix of the rows


def features(args, fast, tokenizer) -> dict:
    """The blocks' features and labels of the training, validation and dev questions (cached in `--cache`)."""
    if args.cache and Path(args.cache).exists():
        return torch.load(args.cache)
    items = long_inputs(tokenizer, training_rows(), args.train, args.seed, native_share=args.native_share)
    random.Random(args.seed).shuffle(items)
    held = max(1, len(items) // 10)  # for choosing, per layer, between the shipped and the retrained predictor
    sets = {
        "train": block_features(fast, items[held:], args.layers, "training questions"),
        "validation": block_features(fast, items[:held], args.layers, "validation questions"),
        "dev": block_features(
            fast, long_inputs(tokenizer, read_squad_json(DEV_SET), args.dev, args.seed + 1), args.layers, "dev"
        ),
        "questions": {"train": len(items) - held, "validation": held},
    }
    if args.cache:
        torch.save(sets, args.cache)
    return sets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="checkpoint directory (default: the shipped assets/model)")
    parser.add_argument("--train", type=int, default=12000, help="training questions (a tenth validate)")
    parser.add_argument("--dev", type=int, default=500, help="dev questions (the bench's spread)")
    parser.add_argument("--layers", type=int, default=3, help="layers 0 … N−1")
    parser.add_argument("--native-share", type=float, default=0.0, help="training questions read alone")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--candidates", nargs="*", default=["same-size", "shipped+tuned", "wide"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default=None, help="features file: written once, then read")
    parser.add_argument(
        "--save",
        default=None,
        help="write the model here with the retrained (same-size) "
        "predictor in each layer where it beats the shipped one on the validation questions",
    )
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, tokenizer = load_model(args.model)
    fast = FastSkimReader(model, predictor="question")
    started = time.time()
    sets = features(args, fast, tokenizer)
    rows, replaced = [], []
    for i in range(args.layers):
        x, y = sets["train"][i]["x"], sets["train"][i]["y"]
        shipped = model.question_predictors[str(i)].float().eval()
        candidates = {"shipped": shipped, **{name: fit(name, shipped, x, y, args) for name in args.candidates}}
        validation = {}
        for name, predictor in candidates.items():
            row = {"layer": i, "predictor": name, **judge(predictor, sets["dev"][i]["x"], sets["dev"][i]["y"])}
            row["validation"] = validation[name] = judge(
                predictor, sets["validation"][i]["x"], sets["validation"][i]["y"]
            )
            row["train_auc"] = judge(predictor, x, y)["auc"]
            rows.append(row)
            print(json.dumps(row))
        retrained = candidates.get("same-size")
        if args.save and retrained is not None:
            ours, theirs = validation["same-size"], validation["shipped"]
            if ours["dropped_at_99_recall"] > theirs["dropped_at_99_recall"] and ours["auc"] >= theirs["auc"]:
                retrained.gold_quantiles.zero_()  # uncalibrated until `scripts/calibrate_model.py` runs on it
                retrained.calibrated.zero_()
                model.question_predictors[str(i)].load_state_dict(retrained.state_dict())
                replaced.append(i)
    summary = {
        "questions": sets["questions"],
        "dev_questions": args.dev,
        "train_blocks": len(sets["train"][0]["y"]),
        "dev_blocks": len(sets["dev"][0]["y"]),
        "native_share": args.native_share,
        "minutes": (time.time() - started) / 60,
        "replaced_layers": replaced if args.save else None,
        "rows": rows,
    }
    if args.save:
        model.half().save_pretrained(args.save)
        tokenizer.save_pretrained(args.save)
        print(f"saved to {args.save}; retrained layers {replaced}: run scripts/calibrate_model.py --model {args.save}")
    if args.output:
        Path(args.output).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
