"""How to read the views, and where the example texts come from (a Streamlit page script)."""

from __future__ import annotations

import streamlit as st

from app.state import examples

ABOUT = """
**Block-Skim** (Guan et al., AAAI 2022) splits a question-answering input into blocks of 32 tokens. After each
Transformer layer a tiny CNN reads the self-attention *inside* each block (the block's diagonal square of the
attention map, all heads) and predicts P(keep): could this block hold the answer? Blocks below the threshold are
physically removed, so later layers run on fewer tokens. [CLS], the question and [SEP] are never removed. That
CNN is the paper's predictor; this app can also use a question-aware one of ours (see *Two kinds of skim
predictor* below).

- **Answer card**: the answer, its score p(start)·p(end), model time with and without skimming, speed-up, the
  share of token × layer work saved, and whether the unskimmed model gives the same answer.
- **Passage**: each block coloured by the layer that dropped it (green: kept to the end). Hover for P(keep).
- **Skim map**: layers × blocks, colour = P(keep), ✕ where a block was dropped, the answer's block outlined.
- **Attention**: one layer and one head (or their mean) over the tokens still alive, or only the square a
  block's predictor read.
- **Why did it skim?**: one block (the gold answer's when it is known): the layer that dropped it, its P(keep)
  at every layer, and what its predictor read: the 32×32 square at each layer (diagonal kind), or at one layer
  the question's tokens × the block's tokens in both directions, the question words that point at the block most
  and the predictor's per-head inputs (question-aware kind).
- **Skim after layers** (sidebar): only the chosen layers' predictors judge and drop blocks; the others let
  every block through. Compare late layers alone with all of them.
- **Export this run**: per-layer decisions (CSV), the trace (JSON) and every figure (HTML, PNG). The page's
  URL holds the example, question, predictor, threshold, skimming layers, layer and head: copy it to share the view.
- **Dataset** page: EM/F1, kept fraction and speed-up over many SQuAD questions (a bundled sample of 300 dev
  questions or your own file), filters to the questions skimming got wrong, and a threshold what-if chart (with
  both predictors' F1 against speed-up when the model holds both); any row opens here.

**Why skimming is rarely faster here.** Time saved follows the token × layer work removed, so a block pays
only if it goes early, and a predictor costs about a tenth (ours) to a sixth (the paper's CNN) of a layer.
Measured on long passages (the repository's `scripts/skim_ceiling.py`): even a *perfect* predictor gives 3.0×
over the plain model if it cuts after layer 0, but only 2.2× after layer 1 and 1.4× after layer 3. The paper's
predictor tells the answer's block apart well only from layer 2 or 3 on; ours already after layer 0, but not surely
enough (AUC 0.89, table below) to cut hard there: a cut after the first layers also costs answers whose block
survives, since the later layers no longer see the rest. The README's *Speed* section has the numbers.

The default model in `assets/model` is MiniLM-L6 fine-tuned on SQuAD v1.1 with Block-Skim predictors (its model
card, `assets/model/README.md`, gives its accuracy at several thresholds); set `SKIM_MODEL` to a checkpoint
directory to use another, or compare one with it from the sidebar.
"""

PREDICTORS = """
**Two kinds of skim predictor.** A checkpoint can hold both; the sidebar's *Skim predictor* picks the one that
judges (it appears only when the model holds more than one).

- **Diagonal (paper)**: the paper's CNN reads each block's *diagonal square*: how the block's tokens attend to
  each other, every head. It never looks at the question directly, so it can only guess from the shape of the
  block's own attention whether the question is about this block. Its score is a raw P(keep), whose scale differs
  from layer to layer, so one threshold cuts harder at some layers than at others.
- **Question-aware (ours)**: a small network reads, per head, how much attention the *question's* tokens give the
  block and how much the block's tokens give the question (mean and max of each, also against the input's typical
  block). That is the part of the attention map that says whether a block is about the question, and it is there
  from the first layers, where dropping a block saves the most. Its scores are calibrated on held-out questions:
  threshold t loses about a fraction t of the answer blocks at a skimming layer, so a threshold reads the same
  everywhere. The shipped model then scales it per layer (one and a half times the budget after layers 0 and 3,
  none after layers 1–2, where a cut did not pay for the answers it cost, and 2.25 times after layers 4–5, where
  it ranks best; the block's P(keep) chart draws each layer's own line). Its default threshold
  differs from the diagonal kind's (the sidebar's caption shows both), and switching kinds moves the slider to it.
- **What each buys.** The diagonal kind is the paper's method, kept to compare with. The question-aware kind aims
  to tell the answer's block apart in earlier layers, which is where skimming pays (see above): our probes found the
  diagonal square ranks blocks close to chance after the first layers, while the question's rows of the same map
  already point at the answer's block. Both read only attention probabilities the layer has already computed,
  and neither sees where a block sits in the passage. The Dataset page's what-if draws both kinds' F1 against
  speed-up on the same questions.
- **Measured numbers** (the README's *Speed* section; 2 threads of a 2-core CPU, shipped model, each kind at its
  default, against Hugging Face's plain SDPA model on the same weights):

| inputs | question-aware (ours) | diagonal (paper) |
| --- | --- | --- |
| 384-token passages (gold paragraph joined with its neighbours) | **1.46×**, F1 80.6 → 79.8 | 1.34×, F1 80.6 → 80.0 |
| single SQuAD paragraphs | **1.08×**, F1 79.6 → 79.4 | 1.10×, F1 79.6 → 76.0 |
| whole articles (34 windows on average; ours at twice its threshold from 3 windows on) | **1.46×**, F1 57.7 → 58.8 | not measured on this model |
| how well layer 0 / 1 / 3 rank the answer's block (ROC AUC, 0.5 = chance) | 0.89 / 0.91 / 0.96 | 0.66 / 0.80 / 0.95 |

  Joint training of the encoder with both predictors made both kinds' early layers better at this; ours were then
  trained again on the final encoder (the shipped model's last stage), which let them cut harder at the same
  accuracy. Over 459 of the 384-token passages ours loses 0.3 F1 doing 70 % of the work; the paper's, at its
  default, loses 2.6 doing about the same, and 3.6 on single paragraphs where ours loses 0.3.
- **Arithmetic** (sidebar): `auto` reads a passage of several windows in bfloat16 on a CPU that multiplies it
  natively (a 30,000-character article with every view in 2.2 s instead of 3.0 s on the 2-core CPU measured) and
  everything else in float32, which is exactly what `python -m skim answer` gives.
"""

st.title("About Block-Skim Explorer")
st.markdown(ABOUT)
st.markdown(PREDICTORS)
st.subheader("Examples")
# Dataframe cells are plain text: example texts need no escaping here.
rows = [{"title": e.title, "kind": e.kind, "source": e.source} for e in examples()]
st.dataframe(rows, hide_index=True, width="stretch")
st.caption("SQuAD texts: CC BY-SA 4.0, Rajpurkar et al. 2016. Details in assets/examples/README.md.")
