"""How to read the views, and where the example texts come from (a Streamlit page script)."""

from __future__ import annotations

import streamlit as st

from app.state import examples

ABOUT = """
**Block-Skim** (Guan et al., AAAI 2022) splits a question-answering input into blocks of 32 tokens. After each
Transformer layer a tiny CNN reads the self-attention *inside* each block (the block's diagonal square of the
attention map, all heads) and predicts P(keep): could this block hold the answer? Blocks below the threshold are
physically removed, so later layers run on fewer tokens. [CLS], the question and [SEP] are never removed.

- **Answer card**: the answer, its score p(start)·p(end), model time with and without skimming, speed-up, the
  share of token × layer work saved, and whether the unskimmed model gives the same answer.
- **Passage**: each block coloured by the layer that dropped it (green: kept to the end). Hover for P(keep).
- **Skim map**: layers × blocks, colour = P(keep), ✕ where a block was dropped, the answer's block outlined.
- **Attention**: one layer and one head (or their mean) over the tokens still alive, or only the square a
  block's predictor read.
- **Why did it skim?**: one block (the gold answer's when it is known): the layer that dropped it, its P(keep)
  at every layer, and the 32×32 square its predictor read at each layer.
- **Skim after layers** (sidebar): only the chosen layers' predictors judge and drop blocks; the others let
  every block through. Compare late layers alone with all of them.
- **Export this run**: per-layer decisions (CSV), the trace (JSON) and every figure (HTML, PNG). The page's
  URL holds the example, question, threshold, skimming layers, layer and head: copy it to share the view.
- **Dataset** page: EM/F1, kept fraction and speed-up over many SQuAD questions (a bundled sample of 300 dev
  questions or your own file), filters to the questions skimming got wrong, and a threshold what-if chart;
  any row opens here.

**Why skimming is rarely faster here.** Time saved follows the token × layer work removed, so a block pays
only if it goes early, and each predictor costs about a fifth of a layer. Measured on long passages (the
repository's `scripts/skim_ceiling.py`): even a *perfect* predictor gives 3.0× over the plain model if it cuts
after layer 0, but only 2.2× after layer 1 and 1.4× after layer 3, and the shipped predictors can tell the
answer's block apart well only from layer 3 on. The README's *Speed* section has the numbers.

The default model in `assets/model` is MiniLM-L6 fine-tuned on SQuAD v1.1 with Block-Skim predictors (its model
card, `assets/model/README.md`, gives its accuracy at several thresholds); set `SKIM_MODEL` to a checkpoint
directory to use another, or compare one with it from the sidebar.
"""

st.title("About Block-Skim Explorer")
st.markdown(ABOUT)
st.subheader("Examples")
# Dataframe cells are plain text: example texts need no escaping here.
rows = [{"title": e.title, "kind": e.kind, "source": e.source} for e in examples()]
st.dataframe(rows, hide_index=True, width="stretch")
st.caption("SQuAD texts: CC BY-SA 4.0, Rajpurkar et al. 2016. Details in assets/examples/README.md.")
