"""The Dataset page's two sections: per-question batch evaluation (metrics, filters, table, open in the explorer)
and the threshold what-if. Buttons only record a request in `st.session_state`; the cached runners do the work,
so a rerun (moving a filter, selecting a row) shows the same results without answering anything again."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from skim import Reader

from .dataset import FILTERS, Dataset, filter_results, results_table, summary
from .dataset_figures import SPEED_UPS, kinds_figure, kinds_table, what_if_figure, what_if_thresholds
from .dataset_runs import batch_eval, what_if
from .kinds import kind_label
from .state import chosen_skim_layers, model_path, open_in_explorer

EXPLORER = "app/pages/explore.py"
# What a researcher scans for first (answers, scores, the answer block's fate) left; ids and timings right.
SHOWN_COLUMNS = (
    "row", "question", "gold answers", "skim answer", "full answer", "skim F1", "full F1", "answer block",
    "dropped at layer", "same answer", "skim EM", "skim ms", "full ms", "id", "title",
)  # fmt: skip
PLOTLY_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "svg"}}
RESULT_COLUMNS = {
    "row": st.column_config.NumberColumn("row", help="Position of the question in the file (0 = first)."),
    "question": st.column_config.TextColumn("question", width="medium"),
    "skim EM": st.column_config.NumberColumn("skim EM", format="%d"),
    "skim F1": st.column_config.NumberColumn("skim F1", format="%.2f"),
    "full F1": st.column_config.NumberColumn("full F1", format="%.2f", help="The same model without skimming."),
    "answer block": st.column_config.NumberColumn(
        "answer block", format="b%d", help="The block holding the gold answer's first character."
    ),
    "dropped at layer": st.column_config.NumberColumn(
        "dropped at layer", format="L%d", help="The layer after which skimming removed the answer block; empty = kept."
    ),
    "skim ms": st.column_config.NumberColumn("skim ms", format="%.0f"),
    "full ms": st.column_config.NumberColumn("full ms", format="%.0f"),
}

WHAT_IF_COLUMNS = {
    "predictor": st.column_config.TextColumn(help="The kind of skim predictor that judged: see About."),
    "threshold": st.column_config.NumberColumn(format="%.2f"),
    "EM": st.column_config.NumberColumn(format="%.1f"),
    "F1": st.column_config.NumberColumn(format="%.1f"),
    "F1 change": st.column_config.NumberColumn(format="%+.1f", help="F1 with skimming − F1 of the full model."),
    "kept fraction": st.column_config.NumberColumn(format="%.3f"),
    "ideal speed-up": st.column_config.NumberColumn(format="%.2f×", help="1 ÷ kept fraction."),
    "measured speed-up": st.column_config.NumberColumn(format="%.2f×", help="Full model time ÷ skimming time."),
    "gold block alive": st.column_config.NumberColumn(format="percent"),
    "same answer as full": st.column_config.NumberColumn(format="percent"),
    "seconds": st.column_config.NumberColumn(format="%.1f", help="Skimming, all questions, one at a time."),
}


def on_evaluate(fp: str) -> None:
    ss = st.session_state
    ss.batch_request = {
        "fingerprint": fp,
        "n": int(ss[f"batch_n_{fp}"]),
        "threshold": float(ss.threshold),
        "skim_layers": chosen_skim_layers(),
        "predictor": ss.predictor,
    }


def on_table_select() -> None:
    """A row picked in the table becomes the question to open (positions index the filtered table shown)."""
    ss = st.session_state
    picked = ss.batch_table.selection.rows
    if picked and picked[0] < len(ss.batch_shown):
        ss.batch_pick = ss.batch_shown[picked[0]]


def open_row(rows: list[dict]) -> None:
    """Load the picked row and the table's threshold and predictor. A callback, because the sidebar's controls are
    already drawn when the page body runs; it reads the pick now, not when the button was drawn."""
    ss = st.session_state
    row = rows[ss.batch_pick]
    open_in_explorer(row["context"], row["question"], row["answers"]["text"], row["answers"]["answer_start"][0])
    ss.threshold = ss.batch_request["threshold"]
    ss.predictor = ss.batch_request.get("predictor") or ss.predictor


def render_batch(reader: Reader, dataset: Dataset, default_n: int) -> None:
    ss, fp = st.session_state, dataset.fingerprint
    left, right = st.columns([1, 3], vertical_alignment="bottom")
    n_max = len(dataset.rows)
    ss.setdefault(f"batch_n_{fp}", min(default_n, n_max))  # not `value=`: the what-if's drill-down also sets it
    left.number_input("Questions (the first N)", 1, n_max, step=10, key=f"batch_n_{fp}")
    label = f"Evaluate at threshold {ss.threshold:g}"
    right.button(label, type="primary", on_click=on_evaluate, args=(fp,), key="evaluate")
    request = ss.get("batch_request")
    if not request or request["fingerprint"] != fp:
        st.caption("Each question is answered twice, one at a time: by the full model and skimming at the threshold.")
        return
    n, threshold, layers = request["n"], request["threshold"], request.get("skim_layers")
    kind = request.get("predictor") or ss.predictor
    result = batch_eval(reader, model_path(), fp, dataset.rows, n, threshold, layers, kind)
    if layers != chosen_skim_layers():
        st.info("These results skimmed after other layers than the sidebar now names. Evaluate again to update them.")
    if kind != ss.predictor:
        st.info(
            f"These results were judged by the {kind_label(kind)} predictor; the sidebar now names "
            f"{kind_label(ss.predictor)}. Evaluate again to update them."
        )
    if threshold != ss.threshold:
        st.info(
            f"These results are for threshold {threshold:g}; the sidebar is now at {ss.threshold:g}. Evaluate again to "
            f"update them. A question opened from this table is read at {threshold:g}."
        )
    several = len(reader.model.config.predictor_kinds) > 1
    render_summary(summary(result["full"], result["skim"]), n, threshold, kind_label(kind) if several else None)
    table = results_table(dataset.rows[:n], result["full"], result["skim"])
    render_table(table, dataset)
    st.download_button(
        "Download the per-question results (CSV)",
        table.assign(threshold=threshold, predictor=kind).to_csv(index=False),
        file_name=f"skim-results-t{threshold:g}.csv",
        mime="text/csv",
        key="download_results",
    )


def render_summary(s: dict[str, float], n: int, threshold: float, kind: str | None = None) -> None:
    cells = [
        ("Full model EM", f"{s['full EM']:.1f}", None, None),
        ("Full model F1", f"{s['full F1']:.1f}", None, None),
        ("Full model time", f"{s['full seconds']:.1f} s", None, "Every question, one at a time, no block removed."),
        ("Answer block alive", f"{s['gold block alive']:.0%}", None, "Gold answer's block survived every layer."),
        ("Skimming EM", f"{s['skim EM']:.1f}", f"{s['skim EM'] - s['full EM']:+.1f}", None),
        ("Skimming F1", f"{s['skim F1']:.1f}", f"{s['skim F1'] - s['full F1']:+.1f}", None),
        ("Kept fraction", f"{s['kept fraction']:.3f}", None, "Token × layer work with skimming ÷ without."),
        (
            "Speed-up",
            f"{s['speed-up']:.2f}×",
            None,
            f"Full model time ÷ skimming time ({s['skim seconds']:.1f} s), measured on this machine; "
            f"the ideal from the kept fraction alone is {s['ideal speed-up']:.2f}×.",
        ),
    ]
    judged = f", judged by the {kind} predictor" if kind else ""
    st.caption(f"The first {n} questions, skimming at threshold {threshold:g}{judged}, batch size 1.")
    for row in (cells[:4], cells[4:]):
        for col, (label, value, delta, help_text) in zip(st.columns(4), row):
            col.metric(label, value, delta, help=help_text)


def render_table(table: pd.DataFrame, dataset: Dataset) -> None:
    """Filters, the table (cells are plain text: no escaping needed) and the question to open in the explorer."""
    ss = st.session_state
    flags = {key: col.checkbox(label, key=f"filter_{key}") for col, (key, label) in zip(st.columns(3), FILTERS.items())}
    shown = filter_results(table, **flags)
    ss.batch_shown = shown["row"].tolist()
    st.dataframe(
        shown,
        hide_index=True,
        column_config=RESULT_COLUMNS,
        column_order=SHOWN_COLUMNS,
        on_select=on_table_select,
        selection_mode="single-row",
        key="batch_table",
    )
    if shown.empty:
        st.caption(f"No question of {len(table)} passes these filters.")
        return
    st.caption(f"{len(shown)} of {len(table)} questions. Select a row (or pick it below) to open it in the explorer.")
    if ss.get("batch_pick") not in ss.batch_shown:
        ss.batch_pick = ss.batch_shown[0]
    rows = dataset.rows
    pick_col, open_col = st.columns([3, 1], vertical_alignment="bottom")
    pick_col.selectbox(
        "Question to open",
        ss.batch_shown,
        format_func=lambda i: f"row {i} · {rows[i]['id']} · {rows[i]['question'][:90]}",
        key="batch_pick",
    )
    if open_col.button("Open in the explorer", on_click=open_row, args=(rows,), key="open_row"):
        st.switch_page(EXPLORER)  # the explorer writes its own link (question, passage, gold, threshold)


def on_what_if(fp: str) -> None:
    ss = st.session_state
    ss.what_if_request = {"fingerprint": fp, "n": int(ss[f"what_if_n_{fp}"]), "skim_layers": chosen_skim_layers()}


def on_drill_down(fp: str, n: int) -> None:
    """Move the sidebar to the picked threshold and fill the batch section with the what-if's questions there."""
    ss = st.session_state
    ss.threshold = float(ss.what_if_pick)
    st.query_params["threshold"] = f"{ss.threshold:g}"  # as the slider's own on_change would: links stay true
    ss[f"batch_n_{fp}"] = n
    ss.batch_request = {
        "fingerprint": fp,
        "n": n,
        "threshold": ss.threshold,
        "skim_layers": ss.what_if_request.get("skim_layers"),
        "predictor": ss.predictor,
    }


def render_what_if(reader: Reader, dataset: Dataset, default_n: int) -> None:
    """Every predictor kind the model holds, on the same questions; the sidebar's kind picks which one the
    threshold chart and the drill-down show (switching it answers nothing again)."""
    ss, fp = st.session_state, dataset.fingerprint
    kinds = reader.model.config.predictor_kinds
    left, right = st.columns([1, 3], vertical_alignment="bottom")
    n_max = len(dataset.rows)
    ss.setdefault(f"what_if_n_{fp}", min(default_n, n_max))
    left.number_input("Questions (the first N)", 1, n_max, step=10, key=f"what_if_n_{fp}")
    grids = {kind: ", ".join(f"{t:g}" for t in what_if_thresholds(kind)) for kind in kinds}
    if len(kinds) == 1:
        right.button(f"Run at thresholds {grids[kinds[0]]}", on_click=on_what_if, args=(fp,), key="run_what_if")
    else:
        help_text = "  \n".join(f"{kind_label(kind)}: {grid}" for kind, grid in grids.items())
        label = f"Run both predictors at {len(what_if_thresholds(kinds[0]))} thresholds each"
        right.button(label, on_click=on_what_if, args=(fp,), key="run_what_if", help=help_text)
    request = ss.get("what_if_request")
    if not request or request["fingerprint"] != fp:
        st.caption("F1 and speed-up against the threshold: the full model once, then skimming at every threshold.")
        return
    n, layers = request["n"], request.get("skim_layers")
    results = {
        kind: what_if(reader, model_path(), fp, dataset.rows, n, what_if_thresholds(kind), layers, kind)
        for kind in kinds
    }
    if layers != chosen_skim_layers():
        st.info("This what-if skimmed after other layers than the sidebar now names. Run it again to update it.")
    if len(kinds) > 1:
        render_kinds(results)
    result = results[ss.predictor]
    fig = what_if_figure(result, float(ss.threshold), kind_label(ss.predictor) if len(kinds) > 1 else None)
    st.plotly_chart(fig, key="what_if_chart", config=PLOTLY_CONFIG)
    st.caption(
        f"The first {n} questions. Measured speed-up = full model time ÷ skimming time on this machine (noisy while "
        "anything else runs); ideal = 1 ÷ kept fraction, what removing token-layers alone would save."
    )
    table = kinds_table(results)
    st.dataframe(table, hide_index=True, column_config=WHAT_IF_COLUMNS)
    csv_col, json_col = st.columns(2)
    csv_col.download_button(
        "Download the what-if table (CSV)", table.to_csv(index=False), "skim-what-if.csv", "text/csv", key="what_if_csv"
    )
    payload = {
        "model": reader.name,
        "dataset": dataset.name,
        "fingerprint": fp,
        "n": n,
        "skim_layers": layers,
        "predictors": results,
    }
    what_if_json = json.dumps(payload, ensure_ascii=False, indent=1)
    json_col.download_button(
        "Download the what-if (JSON)", what_if_json, "skim-what-if.json", "application/json", key="what_if_json"
    )
    render_drill_down(fp, n, what_if_thresholds(ss.predictor))


def render_kinds(results: dict[str, dict]) -> None:
    """Both kinds' F1 against speed-up: a threshold means something else for each, so they meet on this plane."""
    axis = st.radio(
        "Speed-up",
        list(SPEED_UPS),
        horizontal=True,
        key="what_if_axis",
        format_func={"measured": "measured on this machine", "ideal": "ideal (1 ÷ kept fraction)"}.get,
    )
    st.plotly_chart(kinds_figure(results, axis), key="what_if_kinds", config=PLOTLY_CONFIG)
    st.caption(
        "One line per predictor through its thresholds, on the same questions. A threshold means something else "
        "for each kind (see the threshold's help in the sidebar), so compare the lines, not the thresholds: the one "
        "higher up at the same speed-up keeps more answers for the same work."
    )


def render_drill_down(fp: str, n: int, thresholds: tuple[float, ...]) -> None:
    ss = st.session_state
    nearest = min(range(len(thresholds)), key=lambda i: abs(thresholds[i] - ss.threshold))
    if ss.get("what_if_pick") not in thresholds:  # another kind's grid: start from the nearest of this one
        ss.pop("what_if_pick", None)
    pick_col, go_col = st.columns([1, 3], vertical_alignment="bottom")
    pick_col.selectbox("Threshold", thresholds, index=nearest, format_func="{:g}".format, key="what_if_pick")
    go_col.button(
        f"Show these {n} questions one by one at this threshold",
        on_click=on_drill_down,
        args=(fp, n),
        key="drill_down",
        help="Moves the sidebar threshold there and fills the batch evaluation above (with the sidebar's predictor), "
        "where you can filter and open any question in the explorer.",
    )
