"""The one training loop: batches, optimizer, schedule, evaluation, checkpoints, DDP.

Methods (``train/methods.py``) only turn a batch into a loss; everything that must be identical
across methods — the data order, the learning rate, when state is saved — lives here once.

Data order is a pure function of (seed, epoch): epoch e uses ``randperm(N)`` from a generator
seeded with ``seed * 1_000_003 + e``, and rank r of W takes every W-th index. Together with the
checkpointed RNG and optimizer state, this makes a resumed run bit-identical to an uninterrupted one.
"""
from __future__ import annotations

import math
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
from torch import nn

from .. import runs
from ..augment.base_ops import BaseAugmentation
from .._progress import progress_bar
from ..data import ArrayDataset, load_dataset
from ..data.poison import poison_dataset
from .config import TrainConfig, model_train_defaults
from .distributed import DistInfo, all_gather_objects, all_reduce_sum, init_distributed
from .methods import Method, StepContext, create_method
from .schedule import learning_rate
from .state import capture_rng, pack_state, restore_rng, unpack_state


class TrainingDiverged(ValueError, FloatingPointError):
    """The training loss became NaN or inf: a user's setting (usually the learning rate), so the CLI
    reports it as one line."""


@dataclass
class TrainResult:
    """The trained model (eval mode), where it was written, and the per-epoch history."""

    model: nn.Module
    run_dir: Optional[Path]
    history: List[Dict[str, Any]] = field(default_factory=list)

    @property
    def final(self) -> Dict[str, Any]:
        return self.history[-1] if self.history else {}


def prepare_run_dir(out: Optional[Path], resume: bool, overwrite: bool) -> None:
    """Refuse to touch an existing run unless asked; called before anything is written.

    ``overwrite`` deletes only what nnsafety made: a run directory (``config.json`` or a
    checkpoint) or an empty folder. Any other folder may be a user's work and is never removed.
    """
    if out is None:
        if resume:
            raise ValueError("--resume needs an output run directory")
        return
    out = Path(out)
    if resume and overwrite:
        raise ValueError("expected at most one of --resume and --overwrite, got both")
    if out.exists() and not out.is_dir():
        raise ValueError(f"expected {out} to be a run directory, found a file; choose another --out")
    ckpt = out / runs.CHECKPOINT_DIR / runs.CHECKPOINT
    is_run = runs.is_run_dir(out) or ckpt.is_file()
    if resume:
        if ckpt.is_file():
            return
        if is_run:
            raise ValueError(f"{out} stopped before its first checkpoint, so there is nothing to resume; "
                             "pass --overwrite (with the same training options) to start it again")
        raise ValueError(f"expected a checkpoint to resume at {out / runs.CHECKPOINT_DIR}, found none")
    # Temp files of an atomic write cut short by a kill (".config.json.<random>.tmp") are ours.
    if not out.exists() or all(p.name.startswith(".") and p.name.endswith(".tmp") for p in out.iterdir()):
        return
    if not is_run:
        raise ValueError(f"{out} is a non-empty folder that is not a run directory (no {runs.CONFIG}); "
                         "refusing to write into it or replace it: choose a new or empty --out")
    if overwrite:
        return
    if ckpt.is_file() and not (out / runs.WEIGHTS).is_file():
        how = "pass --resume to continue it or --overwrite to replace it"
    elif (out / runs.WEIGHTS).is_file():
        how = "it holds a finished run; pass --overwrite to replace it"
    else:
        how = "it stopped before its first checkpoint; pass --overwrite to start it again"
    raise ValueError(f"{out} already exists; {how}")


def _versions() -> Dict[str, str]:
    from .. import __version__

    return {"nnsafety": __version__, "torch": torch.__version__, "python": platform.python_version()}


def _pick_device(pref: str, info: DistInfo) -> torch.device:
    if pref == "auto":
        pref = "cuda" if torch.cuda.is_available() else "cpu"
    if pref == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("expected a CUDA device for --device cuda, found none")
        return torch.device("cuda", info.local_rank)
    if pref == "cpu":
        return torch.device("cpu")
    raise ValueError(f"expected device auto, cpu or cuda, got {pref!r}")


def _channel_stats(ds: ArrayDataset) -> tuple[list, list]:
    x, _ = ds.tensors()
    dims = [0] + list(range(2, x.dim()))
    mean = x.mean(dim=dims)
    std = x.std(dim=dims).clamp_min(1e-3)  # constant channels would divide by zero
    return [round(float(v), 6) for v in mean], [round(float(v), 6) for v in std]


def _check_token_support(ds, config: TrainConfig, registered_model: bool, method: Method) -> None:
    """Text data (token ids) only with models and methods registered for tokens: one line at start."""
    from ..models import MODELS
    from .methods import list_methods

    if getattr(getattr(ds, "domain", None), "name", None) != "token":
        return
    if registered_model and "token" not in MODELS.domains(config.model):
        raise ValueError(f"model {config.model!r} does not take token ids and {config.data!r} is text; "
                         f"expected one of: {', '.join(MODELS.names(domain='token'))}")
    if "token" not in getattr(method, "domains", ("token",)):
        raise ValueError(f"method {config.method!r} does not apply to token ids and {config.data!r} is text; "
                         f"expected one of: {', '.join(list_methods(domain='token'))}")


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, info: DistInfo) -> List[torch.Tensor]:
    """This rank's index batches for ``epoch`` (same partition on every rank, see module doc)."""
    gen = torch.Generator().manual_seed(_seed64(seed * 1_000_003 + epoch))
    perm = torch.randperm(n, generator=gen)
    per_rank = n // info.world_size
    shard = perm[: per_rank * info.world_size].view(per_rank, info.world_size)[:, info.rank]
    batches = list(shard.split(batch_size // info.world_size))
    if len(batches) > 1 and batches[-1].numel() < 2:
        batches.pop()  # a batch of one breaks BatchNorm in train mode
    return batches


class Trainer:
    """Train ``config.model`` (or a user's ``model``) with ``config.method``; see ``train``."""

    def __init__(
        self,
        config: TrainConfig,
        out: Optional[str | Path] = None,
        resume: bool = False,
        overwrite: bool = False,
        model: Optional[nn.Module] = None,
        train_set: Optional[ArrayDataset] = None,
        test_set: Optional[ArrayDataset] = None,
        progress: Optional[bool] = None,
        distributed: bool = True,
    ) -> None:
        self.out = Path(out) if out is not None else None
        prepare_run_dir(self.out, resume, overwrite)
        if resume:
            saved = runs.read_config(self.out).get("train")
            if not isinstance(saved, dict):
                raise ValueError(f"{self.out / runs.CONFIG} holds no \"train\" options to resume with; "
                                 "pass --overwrite to start the run again")
            config = TrainConfig.from_dict(saved)
        self.config = config
        self.resume = resume
        self.overwrite = overwrite
        # distributed=False: one model per process under torchrun (the zoo's ranks train different models)
        self.info = init_distributed(config.device) if distributed else DistInfo()
        if config.batch_size % self.info.world_size:
            raise ValueError(
                f"expected batch_size divisible by the {self.info.world_size} processes, got {config.batch_size}"
            )
        self.device = _pick_device(config.device, self.info)
        self.train_set = train_set or load_dataset(config.data, root=config.data_root, split="train")
        self.test_set = test_set or load_dataset(config.data, root=config.data_root, split="test")
        if config.poison:
            self.train_set = poison_dataset(self.train_set, config.poison, seed=config.seed, **config.poison_kwargs)
            if getattr(self.train_set, "vocab", None) is not None and hasattr(self.test_set, "vocab"):
                from ..data.poison_text import encode_with  # the poisoned texts built a new vocabulary

                self.test_set = encode_with(self.test_set, self.train_set.vocab)
        self._encode_for_model(config.model if model is None else None)
        self.method: Method = create_method(config.method, **config.method_kwargs)
        _check_token_support(self.train_set, config, model is None, self.method)
        self.augment = BaseAugmentation(config.augment, config.augment_kwargs)
        torch.manual_seed(config.seed)  # model initialisation
        self.model_spec = self._model_spec(model)
        self.model = (model if model is not None else runs.build_model(self.model_spec)).to(self.device)
        if model is None and hasattr(self.train_set, "init_model"):  # e.g. pretrained word vectors
            self.train_set.init_model(self.model)
        self.method.check(self.model)
        self.progress = progress if progress is not None else sys.stderr.isatty()

    def _encode_for_model(self, name: Optional[str]) -> None:
        """Text data re-encoded with the tokenizer a registered model reads (minilm: WordPiece)."""
        from ..models import MODELS

        if name is None or name not in MODELS.names() or getattr(self.train_set, "texts", None) is None:
            return
        kind, max_len = getattr(MODELS.get(name), "tokenizer", (None, None))
        if kind == "minilm":
            from ..data.poison_text import encode_with
            from ..data.text_wordpiece import WordPieceVocab

            vocab = WordPieceVocab.minilm(max_len)
            self.train_set, self.test_set = encode_with(self.train_set, vocab), encode_with(self.test_set, vocab)

    def _model_spec(self, model: Optional[nn.Module]) -> Dict[str, Any]:
        ds = self.train_set
        if model is not None:  # a user's module cannot be rebuilt from a name; record what it is
            return {"name": None, "class": f"{type(model).__module__}.{type(model).__qualname__}",
                    "num_classes": ds.num_classes, "in_shape": list(ds.in_shape)}
        # mean/std become the model's Normalize layer: only meaningful for continuous inputs
        continuous = getattr(ds, "domain", None) is None or ds.domain.name in ("image", "feature")
        mean, std = _channel_stats(ds) if self.config.normalize and continuous else (None, None)
        kwargs = {**(ds.model_kwargs() if hasattr(ds, "model_kwargs") else {}), **self.config.model_kwargs}
        return {"name": self.config.model, "num_classes": ds.num_classes, "in_shape": list(ds.in_shape),
                "mean": mean, "std": std, "kwargs": kwargs}

    def _optimizer(self) -> torch.optim.Optimizer:
        c = self.config
        params = [p for p in self.model.parameters() if p.requires_grad]
        if c.optimizer == "sgd":
            return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, nesterov=c.nesterov and c.momentum > 0,
                                   weight_decay=c.weight_decay)
        if c.optimizer == "adam":  # L2 penalty through the gradient (coupled), unlike AdamW's decoupled decay
            return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
        return torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)

    def _run_config(self) -> Dict[str, Any]:
        ds = self.train_set
        return {
            "train": self.config.to_dict(),
            "model": self.model_spec,
            "data": {"name": self.config.data, "root": self.config.data_root, "num_classes": ds.num_classes,
                     "in_shape": list(ds.in_shape), "classes": ds.classes,
                     "n_train": len(self.train_set), "n_test": len(self.test_set)},
            "method": {"name": self.method.name, "hparams": self.method.hparams()},
            "poison": getattr(self.train_set, "poison_config", None),
            "seed": self.config.seed,
            "world_size": self.info.world_size,
            "versions": _versions(),
        }

    def _start_run_dir(self) -> None:
        if self.out is None or not self.info.is_main or self.resume:
            return
        if self.overwrite and self.out.exists():
            shutil.rmtree(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        runs.write_json_atomic(self.out / runs.CONFIG, self._run_config())
        runs.write_text_atomic(self.out / runs.METRICS, "")
        for fname, obj in getattr(self.train_set, "run_files", dict)().items():  # e.g. a text vocabulary
            runs.write_json_atomic(self.out / fname, obj)

    def _restore(self, optimizer, generator) -> Dict[str, Any]:
        """Load the checkpoint into model, optimizer and RNGs; a damaged or foreign one (wrong
        metadata types, a missing tensor) is one ``ValueError`` that says how to start over."""
        path = self.out / runs.CHECKPOINT_DIR / runs.CHECKPOINT
        tensors, meta = runs.load_checkpoint(self.out)
        counters = ("epoch", "step_in_epoch", "global_step", "world_size")
        bad = [k for k in counters if isinstance(meta.get(k), bool) or not isinstance(meta.get(k), int)
               or meta[k] < 0]
        accum = meta.get("accum")
        if not (isinstance(accum, list) and len(accum) == 4 and all(_is_number(v) for v in accum)):
            bad.append("accum")
        if not isinstance(meta.get("optim_param_groups"), list) or not isinstance(meta.get("optim_scalars"), dict):
            bad.append("optim_param_groups/optim_scalars")
        try:
            if bad:
                raise ValueError(f"metadata {', '.join(bad)} missing or of the wrong type")
            if meta["world_size"] != self.info.world_size:
                raise ValueError(f"it was written by {meta['world_size']} processes, resuming with "
                                 f"{self.info.world_size}; use the same number")
            restore_rng(unpack_state(tensors, meta, self.model, optimizer, self.info.rank), generator)
        except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as e:
            what = " ".join(line.strip() for line in str(e).splitlines() if line.strip())[:300] or type(e).__name__
            raise ValueError(f"cannot resume from {path}: {what}; pass --overwrite to start the run again") from None
        return meta

    def _diverged_message(self, loss: float, epoch: int) -> str:
        c = self.config
        where = ""
        if self.out is not None:
            where = (f"; {self.out} keeps the checkpoint before it, but resuming repeats the divergence: rerun with "
                     "--overwrite and a lower --lr, or delete the folder")
        return (f"training diverged: the training loss became {loss} in epoch {epoch} (lr {c.lr:g}, optimizer "
                f"{c.optimizer}, method {c.method}){where}")

    def _checkpoint(self, optimizer, generator, epoch: int, step_in_epoch: int, global_step: int,
                    accum: torch.Tensor) -> None:
        rng = all_gather_objects(capture_rng(generator), self.info)  # collective: every rank calls it
        if self.out is None or not self.info.is_main:
            return
        tensors, meta = pack_state(self.model, optimizer, rng)
        meta.update(epoch=epoch, step_in_epoch=step_in_epoch, global_step=global_step,
                    world_size=self.info.world_size, accum=accum.tolist())
        runs.save_checkpoint(self.out, tensors, meta)

    def fit(self) -> TrainResult:
        c, info = self.config, self.info
        self._start_run_dir()
        optimizer = self._optimizer()
        generator = torch.Generator().manual_seed(_seed64(c.seed * 7919 + info.rank))
        start_epoch, skip, global_step = 0, 0, 0
        accum = _new_accum(self.device)
        if self.resume:
            meta = self._restore(optimizer, generator)
            start_epoch, skip, global_step = meta["epoch"], meta["step_in_epoch"], meta["global_step"]
            accum = torch.tensor(meta["accum"], dtype=torch.float64, device=self.device)
            if info.is_main:
                runs.truncate_metrics(self.out, lambda r: r.get("epoch", 0) <= start_epoch)
        net = self.model
        if info.enabled:
            net = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        n = len(self.train_set)
        steps_per_epoch = len(epoch_batches(n, c.batch_size, c.seed, 0, info))
        total = steps_per_epoch * c.epochs
        warmup = int(round(c.warmup_epochs * steps_per_epoch))
        history = runs.read_metrics(self.out) if (self.resume and self.out) else []
        bar = _progress_bar(total, global_step, enabled=self.progress and info.is_main)
        lr = c.lr
        for epoch in range(start_epoch, c.epochs):
            t0 = time.perf_counter()
            net.train()
            for i, idx in enumerate(epoch_batches(n, c.batch_size, c.seed, epoch, info)):
                if epoch == start_epoch and i < skip:
                    continue
                x, y = self.train_set.get_batch(idx)
                x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
                x = self.augment(x, generator)  # same generator as the method: checkpointed, bit-exact resume
                lr = learning_rate(global_step, total, c.lr, c.schedule, warmup, c.milestones, c.gamma)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                ctx = StepContext(self.model, generator, self.train_set.num_classes, c.label_smoothing,
                                  epoch, global_step, getattr(self.train_set, "domain", None))
                out = self.method.loss(net, x, y, ctx)
                optimizer.zero_grad(set_to_none=True)
                out.loss.backward()
                optimizer.step()
                global_step += 1
                _accumulate(accum, out, y)
                if bar is not None:
                    bar.update(1)
                    if global_step % 10 == 0:  # reading the sums syncs the device: not every step
                        bar.set_postfix(epoch=epoch + 1, loss=f"{float(accum[0] / accum[2]):.3f}",
                                        acc=f"{float(accum[1] / accum[3]):.3f}" if accum[3] > 0 else "-")
                if c.checkpoint_every and global_step % c.checkpoint_every == 0 and i + 1 < steps_per_epoch:
                    self._checkpoint(optimizer, generator, epoch, i + 1, global_step, accum)
            totals = all_reduce_sum(accum, info).cpu()
            record = {"epoch": epoch + 1, "step": global_step, "lr": lr,
                      "train_loss": float(totals[0] / totals[2]),
                      "train_acc": float(totals[1] / totals[3]) if totals[3] > 0 else None,
                      "epoch_time_s": round(time.perf_counter() - t0, 4)}
            if not math.isfinite(record["train_loss"]):
                raise TrainingDiverged(self._diverged_message(record["train_loss"], epoch + 1))
            if info.is_main and ((epoch + 1) % c.eval_every == 0 or epoch + 1 == c.epochs):
                record.update(self.method.evaluate(self.model, self.test_set, self.device))
            history.append(record)
            if info.is_main and self.out is not None:
                runs.append_metrics(self.out, record)
            accum = _new_accum(self.device)
            self._checkpoint(optimizer, generator, epoch + 1, 0, global_step, accum)
        if bar is not None:
            bar.close()
        # model.safetensors marks a finished run (the zoo and audits rely on that); until then the
        # checkpoint holds the latest weights.
        if info.is_main and self.out is not None:
            runs.save_weights(self.model, self.out / runs.WEIGHTS)
        self.model.eval()
        return TrainResult(model=self.model, run_dir=self.out, history=history)


def _seed64(value: int) -> int:
    """Fold a derived seed into the 64-bit range ``manual_seed`` takes (seeds up to 2**63-1 are
    allowed; the usual small ones are unchanged, so old runs resume bit-exactly)."""
    return value % (2 ** 64)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _new_accum(device: torch.device) -> torch.Tensor:
    """Epoch sums kept on the device (no host sync per step): loss·n, correct, n, n with logits."""
    return torch.zeros(4, dtype=torch.float64, device=device)


def _accumulate(accum: torch.Tensor, out, y: torch.Tensor) -> None:
    n = y.shape[0]
    accum[0] += out.loss.detach().double() * n
    accum[2] += n
    if out.logits is not None:  # argmax over the last dim: also per-token accuracy for N×L×V logits,
        scored = y != -100      # where -100 marks padding targets that no loss scores
        accum[1] += ((out.logits.detach().argmax(-1) == y) & scored).sum()
        accum[3] += scored.sum()


def _progress_bar(total: int, initial: int, enabled: bool):
    return progress_bar(total, "train", True, initial=initial, unit="step") if enabled else None


def train(
    config: Optional[TrainConfig] = None,
    out: Optional[str | Path] = None,
    *,
    model: Optional[nn.Module | str] = None,
    train_set: Optional[ArrayDataset] = None,
    test_set: Optional[ArrayDataset] = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: Optional[bool] = None,
    distributed: bool = True,
    **overrides: Any,
) -> TrainResult:
    """Train and return the model: ``train(TrainConfig(model="cnn", epochs=30), out="runs/x")``.

    Keyword ``overrides`` replace config fields (``train(epochs=5, lr=0.1)``). ``model`` is either a
    registered name (``"mlp"``) or your own ``nn.Module``; with ``train_set``/``test_set``
    (``ArrayDataset``) any network trains on any in-memory data. ``distributed=False`` trains in
    this process alone even under ``torchrun``. Without ``config`` a registered model's
    ``train_defaults`` (e.g. the bilstm's AdamW) replace the global defaults, under ``overrides``,
    as in ``nnsafety train``; a ``config`` given is taken as it is.
    """
    if isinstance(model, str):
        overrides, model = {**overrides, "model": model}, None
    base = (config or TrainConfig()).to_dict()
    if config is None:
        base.update(model_train_defaults(overrides.get("model", base["model"])))
    base.update(overrides)
    cfg = TrainConfig.from_dict(base)
    return Trainer(cfg, out=out, resume=resume, overwrite=overwrite, model=model, train_set=train_set,
                   test_set=test_set, progress=progress, distributed=distributed).fit()
