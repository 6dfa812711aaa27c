"""What one predictor costs against one whole layer, timed on the fast path in the same run.

A skim predictor pays for itself only if the work it removes exceeds what it costs, so its price is a number to
measure, not assume. For each input, the first layer runs at full length three ways, in turn so that machine noise
hits all alike: plain (SDPA, no predictor), and with each predictor kind reading that layer's attention and
scoring every block (the attention kernel that also returns the row log-sum-exp, the predictor's input, and its
scores). A predictor's cost is the median difference to the plain layer.
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from .fast import FastSkimReader, attention_with_lse
from .fast_predictors import passage_positions
from .predictors import question_slots


def _per_input(fast: FastSkimReader, inputs) -> dict:
    """What the fast path works out once per input, before its first layer, whatever the number of layers that
    judge: the passage's positions, the blocks to score and the question's rows. Not part of a predictor's cost."""
    bs = fast.block_size
    token_type_ids = inputs["token_type_ids"]
    length = token_type_ids.shape[1]
    in_context = F.pad(token_type_ids.bool(), (0, -length % bs))
    n_slots, question = question_slots(inputs["attention_mask"], token_type_ids, inputs["input_ids"])
    return {
        "length": length,
        "in_context": in_context,
        "real": torch.ones_like(in_context),
        "scored": in_context.view(1, -1, bs).any(-1),
        "n_slots": n_slots,
        "question": question,
    }


def _layer(fast: FastSkimReader, hidden, setup: dict, kind: str | None) -> torch.Tensor:
    """Layer 0 of `fast` on `hidden`, batch of one without padding, with `kind`'s predictor judging (None: none);
    `setup` from `_per_input`."""
    layer = fast.layers[0]
    q, k, v = layer.qkv_heads(hidden, None)
    if kind is None:
        context = F.scaled_dot_product_attention(q, k, v, scale=fast.scale)
    else:
        context, lse = attention_with_lse(q, k, v, None, fast.scale)
        predictor = next(iter(fast.predictors.values()))  # any layer's: they cost the same
        scored = setup["scored"]
        if kind == "question":
            to_rows, from_rows = fast._question_attention(q, k, lse, setup["n_slots"])
            where = passage_positions(None, setup["real"], setup["in_context"], setup["length"])
            predictor.keep_prob(to_rows, from_rows, setup["question"], *where, scored)
        else:
            predictor.keep_prob(fast._diagonal_squares(q, k, lse, scored, setup["real"], None))
    return layer.feed_forward(layer.attention_output(context, hidden, None), None)


@torch.inference_mode()
def predictor_cost(model, windows_inputs: list[dict], repeats: int = 20) -> dict:
    """Median ms of layer 0 plain and with each predictor kind the model holds, averaged over the inputs (each a
    batch of one); and each kind's cost as a fraction of the plain layer."""
    readers = {kind: FastSkimReader(model, predictor=kind) for kind in model.config.predictor_kinds}
    any_reader = next(iter(readers.values()))
    samples = {name: [] for name in ["layer", *readers]}
    for inputs in windows_inputs:
        hidden = model.embed(inputs["input_ids"], inputs["token_type_ids"])
        setup = _per_input(any_reader, inputs)
        runs = {"layer": lambda h=hidden, x=setup: _layer(any_reader, h, x, None)}
        runs.update({kind: (lambda r=r, k=kind, h=hidden, x=setup: _layer(r, h, x, k)) for kind, r in readers.items()})
        times = {name: [] for name in runs}
        for run in runs.values():
            run()  # warm-up
        for _ in range(repeats):
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                times[name].append((time.perf_counter() - start) * 1000)
        for name, values in times.items():
            samples[name].append(statistics.median(values))
    layer_ms = statistics.mean(samples["layer"])
    result = {"layer_ms": layer_ms, "predictor_ms": {}, "predictor_cost_fraction": {}}
    for kind in readers:
        cost = statistics.mean(samples[kind]) - layer_ms
        result["predictor_ms"][kind] = cost
        result["predictor_cost_fraction"][kind] = cost / layer_ms
    return result
