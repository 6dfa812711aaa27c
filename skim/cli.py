"""`python -m skim answer|eval|bench|train`: argument parsing and printing only; the work is in the library."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import fields
from pathlib import Path

from .qa import InputError

logger = logging.getLogger("skim")


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit 2, as every other user error
        command = "" if self.prog == "python -m skim" else f" {self.prog.split()[-1]}"
        raise InputError(f"{message} (see: python -m skim{command} --help)")


def read_text_file(path: str) -> str:
    """A passage file as text; binary or non-UTF-8 files are refused with one line."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{path} is a directory, not a text file") from None
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from None
    if b"\x00" in data:
        raise InputError(f"{path} looks binary (it contains NUL bytes), not a text passage")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{path} is not UTF-8 text (bad byte at offset {err.start}); re-save it as UTF-8") from None


def write_json(path: str, value) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(value, indent=2) + "\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def threshold_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"threshold must be a number, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"threshold must be between 0 and 1, got {value}")
    return value


def cmd_answer(args: argparse.Namespace) -> int:
    from .inference import Reader

    context = read_text_file(args.context_file) if args.context_file else args.context
    reader = Reader.from_pretrained(args.model)
    trace = reader(
        args.question,
        context,
        threshold=args.threshold,
        skim=not args.no_skim,
        attention="none",
        skim_layers=args.skim_layers,
        predictor=args.predictor,
        dtype=args.dtype,
    )
    if args.json:
        print(json.dumps(trace.summary(), ensure_ascii=False))
        return 0
    answer = trace.answer
    if answer is None:  # e.g. threshold 1: every passage block was dropped, nothing is left to answer from
        print("No answer: skimming removed every block of the passage (try a lower --threshold)")
    else:
        print(f"Answer: {answer.text!r}  (score {answer.score:.3f}, characters {answer.start_char}-{answer.end_char})")
    dropped = trace.block_dropped_at()
    n_dropped = sum(layer is not None for layer in dropped.values())
    mode = (
        f"skimming at threshold {trace.threshold:g} ({trace.predictor} predictor)"
        if trace.skim
        else "full model (no skimming)"
    )
    if trace.skim and trace.skim_layers is not None:
        mode += f" after layers {', '.join(map(str, trace.skim_layers)) or 'none'}"
    print(
        f"{mode}: {n_dropped} of {len(trace.blocks)} context blocks dropped; "
        f"{100 * trace.kept_fraction:.0f}% of token-layers processed; {trace.timings_ms['total']:.0f} ms"
    )
    per_layer = trace.varying_thresholds()
    for layer in trace.layers:
        own = "" if per_layer is None else f" (threshold {per_layer[layer.layer]:g})"
        if per_layer is not None and per_layer[layer.layer] == 0:
            own = " (not judged: this layer's threshold is 0)"
        print(
            f"  layer {layer.layer}: {layer.tokens:4d} tokens in, kept blocks {layer.kept_blocks}, "
            f"dropped {layer.dropped_blocks}{own}"
        )
    for warning in trace.warnings:
        print(f"note: {warning}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .data import read_squad_json
    from .evaluate import evaluate, evaluate_full, sweep
    from .inference import Reader

    rows = read_squad_json(args.data)[: args.limit]
    reader = Reader.from_pretrained(args.model)
    if args.no_skim:
        if args.sweep or args.threshold is not None or args.skim_layers or args.predictor:
            raise InputError(
                "--no-skim runs the full model only: --threshold, --sweep, --skim-layers and --predictor do not apply"
            )
        result = evaluate_full(reader, rows)
    else:
        reader.model.check_skim(True)  # every other eval skims: a plain checkpoint is refused before the full pass
        reader.check_skim_layers(args.skim_layers)  # one line before a long run, not after the full-model pass
        reader.check_predictor(args.predictor)
        if args.sweep:
            result = sweep(reader, rows, args.sweep, skim_layers=args.skim_layers, predictor=args.predictor)
        else:
            result = evaluate(reader, rows, args.threshold, skim_layers=args.skim_layers, predictor=args.predictor)
    if args.output:
        write_json(args.output, {"data": args.data, "model": reader.name, **result})
    if args.json:
        print(json.dumps(result))
        return 0
    if args.sweep:
        print(format_sweep(result))
        return 0
    if args.no_skim:
        print(f"{result['n']} questions, full model (no skimming)")
    else:
        print(f"{result['n']} questions, threshold {result['threshold']:g}, {result['predictor']} predictor")
    for name in ("full",) if args.no_skim else ("full", "skim"):
        r = result[name]
        print(f"  {name:4s}  EM {r['exact_match']:.2f}  F1 {r['f1']:.2f}  {r['seconds']:.1f} s")
    if not args.no_skim:
        print(f"  kept fraction {result['skim']['kept_fraction']:.3f}, speed-up {result['speedup']:.2f}x")
    return 0


def format_sweep(result: dict) -> str:
    full = result["full"]
    judged = f"skimming judged by the {result['predictor']} predictor"
    lines = [
        f"{result['n']} questions; full model EM {full['exact_match']:.2f} F1 {full['f1']:.2f} ({full['seconds']:.1f} s); {judged}",
        "threshold     EM     F1  kept_fraction  gold_alive  speed-up",
    ]
    for p in result["skim"]:
        lines.append(
            f"{p['threshold']:9g}  {p['exact_match']:5.2f}  {p['f1']:5.2f}  {p['kept_fraction']:13.3f}"
            f"  {p['gold_block_alive']:10.3f}  {p['speedup']:7.2f}x"
        )
    return "\n".join(lines)


DEV_SET = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad" / "dev-v1.1.json"  # this workplace


def cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from .bench import run_bench, write_pareto
    from .data import load_squad, read_squad_json

    if args.articles and (args.native or args.seq_len != 384 or args.batch_size != 1):
        raise InputError(
            "--articles reads whole articles in the Reader's windows (384 tokens, up to 16 per forward); "
            "--seq-len, --batch-size and --native do not apply"
        )
    if args.data or (not args.dataset and DEV_SET.is_file()):
        rows = read_squad_json(args.data or DEV_SET)
    elif args.dataset:
        rows = list(load_squad(dataset=args.dataset, split="validation"))
    else:
        raise InputError("give --data PATH (official SQuAD v1.1 dev JSON) or --dataset squad (needs a network)")
    if args.threads:
        torch.set_num_threads(args.threads)
    thresholds = None if args.threshold is None else [args.threshold]
    n = args.n or (ARTICLE_QUESTIONS if args.articles else 100)
    repeats = args.repeats or (ARTICLE_REPEATS if args.articles else 5)
    results = run_bench(
        args.model,
        rows,
        args.seq_len,
        args.batch_size,
        n,
        thresholds,
        args.dtype,
        repeats,
        args.native,
        args.skim_layers,
        predictor=args.predictor,
        articles=args.articles,
        sweep=args.sweep,
    )
    if args.sweep:
        for path in write_pareto(results, args.output_dir):
            print(f"wrote {path}", file=sys.stderr)
    elif args.output:
        write_json(args.output, results[0])
    if args.json:
        print(json.dumps(results if args.sweep else results[0]))
        return 0
    r = results[0]
    if args.articles:
        print(
            f"{r['n']} SQuAD dev questions, each against its whole article (mean {r['mean_tokens']:.0f} tokens, "
            f"{r['mean_windows']:.1f} windows), up to {r['batch_size']} windows per forward, {r['dtype']}, "
            f"{r['threads']} threads, {r['predictor']} predictor; ms per question (all its forwards), median of repeats"
        )
    else:
        print(
            f"{r['n']} SQuAD dev questions, {r['seq_len']} tokens (mean {r['mean_tokens']:.0f}), batch {r['batch_size']}, "
            f"{r['dtype']}, {r['threads']} threads, {r['predictor']} predictor; ms per forward call, median of repeats"
        )
    print("threshold   HF ms  full ms  skim ms  vs HF  vs full  kept  limit  F1 HF  F1 skim  FLOPs@512")
    for r in results:
        print(
            f"{r['threshold']:9g}  {r['hf_ms']:6.1f}  {r['full_ms']:7.1f}  {r['skim_ms']:7.1f}  {r['speedup_vs_hf']:4.2f}x"
            f"  {r['speedup_vs_full']:6.2f}x  {r['kept_fraction']:.3f}  {r['limit_speedup']:4.2f}x  {r['f1_hf']:5.2f}"
            f"  {r['f1_skim']:7.2f}  {r['flops_ratio_padded_512']:8.2f}x"
        )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .allocator import keep_freed_memory
    from .train import TrainConfig, train

    logging.getLogger().setLevel(logging.INFO)
    keep_freed_memory()  # a CPU step ran 1.66x faster without re-faulting its large buffers (skim/allocator.py)
    if not args.data and not args.dataset:
        raise InputError("give --data PATH (an official SQuAD JSON file) or --dataset squad (needs a network)")
    names = {f.name for f in fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in names and v is not None})
    print(train(cfg))
    return 0


SKIM_LAYERS_HELP = "skim only after these layers (default: every layer with a predictor), e.g. 3 4 5"
PREDICTOR_HELP = "the skim predictor kind that judges (default: the checkpoint's); its default threshold applies"
ARTICLE_QUESTIONS, ARTICLE_REPEATS = 30, 1  # bench --articles defaults: a question is tens of windows


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m skim", description="Block-Skim question answering.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    p = sub.add_parser("answer", help="answer one question from a passage")
    p.add_argument("--question", required=True)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--context", help="the passage text")
    src.add_argument("--context-file", help="a UTF-8 text file holding the passage")
    p.add_argument("--model", help="checkpoint directory (default: the shipped assets/model)")
    p.add_argument("--threshold", type=threshold_arg, help="skim blocks with P(keep) below this (default: the model's)")
    p.add_argument("--no-skim", action="store_true", help="run the full model")
    p.add_argument("--skim-layers", type=int, nargs="+", metavar="L", help=SKIM_LAYERS_HELP)
    p.add_argument("--predictor", choices=["diagonal", "question"], help=PREDICTOR_HELP)
    p.add_argument(
        "--dtype",
        choices=["float32", "bfloat16", "auto"],
        default="float32",
        help="bfloat16 = CPU autocast (faster on CPUs with bfloat16 units; scores can differ slightly); auto = "
        "bfloat16 for a passage of several windows on such a CPU, else float32",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_answer)

    p = sub.add_parser("eval", help="SQuAD v1.1 EM/F1 with and without skimming")
    p.add_argument("--data", required=True, help="official-format SQuAD v1.1 JSON")
    p.add_argument("--limit", type=positive_int, help="only the first N questions")
    p.add_argument("--model")
    p.add_argument("--threshold", type=threshold_arg)
    p.add_argument("--output", help="also write the result (with data and model) to this JSON file")
    p.add_argument("--sweep", type=threshold_arg, nargs="+", metavar="P", help="skim at each of these thresholds")
    p.add_argument("--skim-layers", type=int, nargs="+", metavar="L", help=SKIM_LAYERS_HELP)
    p.add_argument("--predictor", choices=["diagonal", "question"], help=PREDICTOR_HELP)
    p.add_argument(
        "--no-skim",
        action="store_true",
        help="the full model only (no skimming pass; any extractive-QA checkpoint, with or without predictors)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="wall-clock: Hugging Face SDPA vs full vs skimming on long SQuAD inputs")
    p.add_argument("--model", help="checkpoint directory (default: the shipped assets/model)")
    p.add_argument("--data", help=f"official-format SQuAD v1.1 dev JSON (default: {DEV_SET} if present)")
    p.add_argument("--dataset", help="a hub dataset name, e.g. squad (needs a network)")
    p.add_argument(
        "--seq-len", type=positive_int, default=384, help="tokens per input; passages are lengthened to reach it"
    )
    p.add_argument("--native", action="store_true", help="gold paragraphs as they are: no joining, no padding")
    p.add_argument(
        "--articles",
        action="store_true",
        help="each question against its whole article, in the Reader's 384-token windows (stride 128), "
        "up to 16 windows per forward; ms per question",
    )
    p.add_argument("--batch-size", type=positive_int, default=1)
    p.add_argument("--n", type=positive_int, help=f"questions (default 100; {ARTICLE_QUESTIONS} with --articles)")
    p.add_argument("--threshold", type=threshold_arg, help="skim threshold (default: the model's)")
    p.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32", help="bfloat16 = CPU autocast")
    p.add_argument(
        "--repeats",
        type=positive_int,
        help=f"timed calls per input; the median counts (default 5; {ARTICLE_REPEATS} with --articles)",
    )
    p.add_argument("--threads", type=positive_int, help="torch threads (default: torch's own choice)")
    p.add_argument("--skim-layers", type=int, nargs="+", metavar="L", help=SKIM_LAYERS_HELP)
    p.add_argument("--predictor", choices=["diagonal", "question"], help=PREDICTOR_HELP)
    p.add_argument("--sweep", action="store_true", help="all thresholds; writes pareto.json/.html/.png")
    p.add_argument("--output-dir", default="results", help="where --sweep writes its files")
    p.add_argument("--output", help="also write the result to this JSON file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("train", help="train a Block-Skim model (resumable; see README)")
    p.add_argument("--data", help="official-format SQuAD v1.1 JSON")
    p.add_argument("--dataset", help="a hub dataset name, e.g. squad (needs a network)")
    p.add_argument("--output", required=True, help="where the float16 model is written at every checkpoint")
    p.add_argument("--base", help="encoder to start from (default: the packaged all-MiniLM-L6-v2)")
    p.add_argument("--scratch", help="checkpoint directory, outside git (default: ~/.cache/blockskim/NAME)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --scratch")
    for name, kind in [
        ("max-length", int),
        ("stride", int),
        ("batch-size", int),
        ("grad-accum", int),
        ("lr", float),
        ("predictor-lr", float),
        ("epochs", float),
        ("max-steps", int),
        ("warmup", float),
        ("join-fraction", float),
        ("fill-chars", int),
        ("skim-alpha", float),
        ("skim-beta", float),
        ("skim-threshold", float),
        ("checkpoint-minutes", float),
        ("time-limit-minutes", float),
        ("eval-questions", int),
        ("seed", int),
    ]:
        p.add_argument(f"--{name}", type=kind)
    p.add_argument(
        "--fit-minutes",
        type=float,
        help="end the learning-rate schedule (annealed) this many minutes after the run starts, data preparation "
        "included, at the pace measured over its first steps; the final checkpoint comes after",
    )
    p.add_argument("--skim-layers", type=int, nargs="+", help="layers with a predictor (default: all)")
    p.add_argument(
        "--predictor-kinds",
        nargs="+",
        choices=["diagonal", "question"],
        help="predictor kinds the model holds (default: the base's; new kinds start untrained)",
    )
    p.add_argument("--default-predictor", choices=["diagonal", "question"], help="the kind that judges by default")
    p.add_argument(
        "--train-kinds",
        nargs="+",
        choices=["diagonal", "question"],
        help="only these predictor kinds learn (default: all); the others stay as loaded",
    )
    p.add_argument(
        "--calibration-questions",
        type=int,
        help="questions held out (whole articles) to calibrate the question predictors (default 1000)",
    )
    p.add_argument("--mixed-precision", choices=["no", "bf16", "fp16"])
    p.add_argument(
        "--predictors-only",
        action="store_true",
        default=None,
        help="second stage: freeze the encoder and QA head (start from a trained --base), train predictors",
    )
    p.add_argument("--eval-data", help="SQuAD dev JSON for a quick eval at each checkpoint")
    p.set_defaults(func=cmd_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import transformers

        transformers.utils.logging.set_verbosity_error()  # the load report is for developers, not users
        transformers.utils.logging.disable_progress_bar()
        args = build_parser().parse_args(argv)
        return args.func(args)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # never a traceback for users; SKIM_DEBUG=1 shows it for developers
        if os.environ.get("SKIM_DEBUG"):
            raise
        print(f"error: unexpected {type(err).__name__}: {err} (rerun with SKIM_DEBUG=1 for details)", file=sys.stderr)
        return 1
