"""Training (Adam, batch 128, MSE, mixed SNR) and validated checkpoints of IFFT-C2VNN."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from skysense._validation import check_count, check_positive
from skysense.learn.c2vnn import C2vnnConfig, C2vnnNet, build_c2vnn
from skysense.learn.c2vnn3d import (
    C2vnn3dConfig,
    C2vnn3dNet,
    build_c2vnn3d,
    make_training_set_3d,
)
from skysense.learn.c2vnn_data import make_training_set

__all__ = [
    "C2vnnCheckpointError",
    "C2vnnTrainConfig",
    "C2vnnTrainResult",
    "load_c2vnn",
    "save_c2vnn",
    "train_c2vnn",
    "training_metadata",
]

_LOG = logging.getLogger(__name__)
#: Checkpoint format tag and version.
FORMAT = "skysense-ifft-c2vnn"
VERSION = 1


class C2vnnCheckpointError(ValueError):
    """A corrupted, foreign or mismatched IFFT-C2VNN checkpoint."""


@dataclass(frozen=True)
class C2vnnTrainConfig:
    """Training set and optimiser settings.

    Parameters
    ----------
    n_draws : int
        Simulated CSIs (each gives ~``n_targets + 1`` windows).
    snr_db : float or (float, float)
        Fixed SNR (specialist) or uniform mixed-SNR range [dB] (default, the paper's choice).
    epochs : int
        Passes over the training windows.
    batch_size : int
        Mini-batch (128 in the paper).
    learning_rate : float
        Initial Adam step size.
    final_learning_rate_fraction : float
        The step size follows a cosine decay to this fraction of ``learning_rate``.
    validation_fraction : float
        Share of windows held out for the validation loss.
    seed : int
        Seeds the data, the initialisation and the mini-batch order.
    n_targets : int
        Targets per draw (plus the LoS path).
    fluctuation : {"none", "swerling1"}
        Gain model of :func:`~skysense.bistatic.simulate`.
    doppler_loss_weight : float
        3-D model only: weight of the Doppler term (cycles per sub-frame, |nu| <~ 0.2 against
        |sin| <= 1) in the MSE; the other three outputs have weight 1.
    """

    n_draws: int = 20_000
    snr_db: float | tuple[float, float] = (0.0, 30.0)
    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 1e-3
    final_learning_rate_fraction: float = 0.05
    validation_fraction: float = 0.05
    seed: int = 0
    n_targets: int = 3
    fluctuation: str = "none"
    doppler_loss_weight: float = 1.0

    def __post_init__(self):
        check_count(self.n_draws, "n_draws")
        check_positive(self.doppler_loss_weight, "doppler_loss_weight")
        check_count(self.epochs, "epochs")
        check_count(self.batch_size, "batch_size")
        check_positive(self.learning_rate, "learning_rate")
        if not 0.0 < self.validation_fraction < 1.0:
            raise ValueError("validation_fraction must lie in (0, 1)")


@dataclass(frozen=True)
class C2vnnTrainResult:
    """Trained network (C2vnnNet or C2vnn3dNet) and per-epoch losses (MSE of the targets)."""

    model: C2vnnNet | C2vnn3dNet
    train_loss: np.ndarray
    validation_loss: np.ndarray
    wall_time_s: float


def train_c2vnn(
    config: C2vnnConfig, train_config: C2vnnTrainConfig | None = None
) -> C2vnnTrainResult:
    """Simulate a training set with ``bistatic.simulate`` and fit the network (Adam, MSE).

    A :class:`~skysense.learn.C2vnn3dConfig` trains the 3-D Doppler model on sub-frame stacks
    (targets up to 100 m/s, unit gains; ``fluctuation`` is not used). Deterministic for a given
    seed and thread count. Progress goes to ``logging`` (INFO).
    """
    tc = C2vnnTrainConfig() if train_config is None else train_config
    start = time.perf_counter()
    data_seed, init_seed, order_seed = np.random.SeedSequence(tc.seed).spawn(3)
    if isinstance(config, C2vnn3dConfig):  # Doppler: sub-frames stacked, 4 outputs
        snr = (tc.snr_db, tc.snr_db) if np.ndim(tc.snr_db) == 0 else tuple(tc.snr_db)
        x, y = make_training_set_3d(
            config, tc.n_draws, snr_db=snr, seed=data_seed, n_targets=tc.n_targets
        )
    else:
        x, y = make_training_set(
            config.scenario,
            tc.n_draws,
            window=config.window,
            snr_db=tc.snr_db,
            seed=data_seed,
            n_targets=tc.n_targets,
            fluctuation=tc.fluctuation,
        )
    n_val = max(1, round(tc.validation_fraction * len(x)))
    if len(x) - n_val < 1:
        raise ValueError(f"only {len(x)} training windows; raise n_draws")
    xt, yt = torch.from_numpy(x[n_val:]), torch.from_numpy(y[n_val:])
    xv, yv = torch.from_numpy(x[:n_val]), torch.from_numpy(y[:n_val])
    build = build_c2vnn3d if isinstance(config, C2vnn3dConfig) else build_c2vnn
    model = build(config, init_seed)
    opt = torch.optim.Adam(model.parameters(), lr=tc.learning_rate)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, tc.epochs, eta_min=tc.learning_rate * tc.final_learning_rate_fraction
    )
    gen = torch.Generator().manual_seed(int(order_seed.generate_state(1)[0]))
    weights = torch.ones(y.shape[1])
    if isinstance(config, C2vnn3dConfig):
        weights[3] = tc.doppler_loss_weight

    def loss_fn(pred, target):  # eq. (25), mean over windows and outputs, Doppler weighted
        return torch.mean((pred - target) ** 2 * weights)

    train_loss, val_loss = [], []
    for epoch in range(tc.epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(xt), tc.batch_size):
            idx = perm[i : i + tc.batch_size]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])  # eq. (25)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
        train_loss.append(total / len(xt))
        model.eval()
        with torch.no_grad():
            val_loss.append(float(loss_fn(model(xv), yv)))
        _LOG.info("epoch %d: train %.3e, validation %.3e", epoch, train_loss[-1], val_loss[-1])
    return C2vnnTrainResult(
        model=model,
        train_loss=np.asarray(train_loss),
        validation_loss=np.asarray(val_loss),
        wall_time_s=time.perf_counter() - start,
    )


def save_c2vnn(path, model: C2vnnNet, metadata: dict | None = None) -> None:
    """Write a weights-only checkpoint: format tag, config, state dict, metadata (JSON types)."""
    if not isinstance(model, C2vnnNet | C2vnn3dNet):
        raise TypeError(f"model must be a C2vnnNet or C2vnn3dNet, got {type(model).__name__}")
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    torch.save(
        {
            "format": FORMAT,
            "version": VERSION,
            "kind": "3d" if isinstance(model, C2vnn3dNet) else "2d",
            "config": model.config.to_dict(),
            "state_dict": state,
            "metadata": dict(metadata or {}),
        },
        Path(path),
    )


def load_c2vnn(path, *, expected_config: C2vnnConfig | None = None):
    """Load a checkpoint with ``torch.load(weights_only=True)`` and validate it.

    Returns
    -------
    model : C2vnnNet or C2vnn3dNet
        In eval mode.
    metadata : dict
        Training metadata stored with the weights.

    Raises
    ------
    FileNotFoundError
        No such file.
    C2vnnCheckpointError
        Not a readable checkpoint, another format or version, a config that does not match
        ``expected_config``, or weights of the wrong names, shapes or with NaN.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip and torch errors of a damaged file
        raise C2vnnCheckpointError(f"{path} is not a readable checkpoint: {exc}") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise C2vnnCheckpointError(f"{path} is not an IFFT-C2VNN checkpoint ({FORMAT})")
    if ckpt.get("version") != VERSION:
        raise C2vnnCheckpointError(
            f"{path} has checkpoint version {ckpt.get('version')}, expected {VERSION}"
        )
    kind = ckpt.get("kind", "2d")
    if kind not in ("2d", "3d"):
        raise C2vnnCheckpointError(f"{path} holds an unknown model kind {kind!r}")
    config_cls, net_cls = (C2vnn3dConfig, C2vnn3dNet) if kind == "3d" else (C2vnnConfig, C2vnnNet)
    try:
        config = config_cls.from_dict(ckpt["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise C2vnnCheckpointError(f"{path} holds an invalid config: {exc}") from exc
    if expected_config is not None and config != expected_config:
        raise C2vnnCheckpointError(
            f"{path} was trained for {config}, not the expected {expected_config}"
        )
    model = net_cls(config)
    state = ckpt.get("state_dict")
    want = model.state_dict()
    if not isinstance(state, dict) or set(state) != set(want):
        raise C2vnnCheckpointError(f"{path}: weight names do not match the architecture")
    for name, tensor in state.items():
        if not isinstance(tensor, torch.Tensor) or tensor.shape != want[name].shape:
            raise C2vnnCheckpointError(f"{path}: weight {name!r} has the wrong shape")
        if not torch.isfinite(tensor).all():
            raise C2vnnCheckpointError(f"{path}: weight {name!r} contains NaN or Inf")
    model.load_state_dict(state)
    model.eval()
    meta = ckpt.get("metadata", {})
    return model, meta if isinstance(meta, dict) else {}


def _asdict(tc: C2vnnTrainConfig) -> dict:
    d = dataclasses.asdict(tc)
    d["snr_db"] = list(tc.snr_db) if np.ndim(tc.snr_db) else float(tc.snr_db)
    return d


def training_metadata(tc: C2vnnTrainConfig, result: C2vnnTrainResult) -> dict:
    """JSON-able record of how a model was trained (stored in its checkpoint)."""
    return {
        "train_config": _asdict(tc),
        "final_train_loss": float(result.train_loss[-1]),
        "final_validation_loss": float(result.validation_loss[-1]),
        "wall_time_s": float(result.wall_time_s),
        "torch_version": str(torch.__version__),
        "threads": torch.get_num_threads(),
        "finite": bool(math.isfinite(result.train_loss[-1])),
    }


def main(argv=None) -> None:
    """``python -m skysense.learn.c2vnn_train OUT.pt [--draws N --epochs E --seed S ...]``."""
    import argparse

    parser = argparse.ArgumentParser(description="Train an IFFT-C2VNN for the default scenario")
    parser.add_argument("out", type=Path)
    parser.add_argument("--draws", type=int, default=C2vnnTrainConfig.n_draws)
    parser.add_argument("--epochs", type=int, default=C2vnnTrainConfig.epochs)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--window", type=int, default=C2vnnConfig.window)
    parser.add_argument("--filters", type=int, default=C2vnnConfig.n_filters)
    parser.add_argument("--hidden", type=int, default=C2vnnConfig.n_hidden)
    parser.add_argument("--snr-db", type=float, nargs="+", default=[0.0, 30.0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--subframes", type=int, default=0, help="S >= 2: the 3-D Doppler model")
    parser.add_argument(
        "--doppler-weight", type=float, default=1.0, help="3-D: Doppler loss weight"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    snr = args.snr_db[0] if len(args.snr_db) == 1 else tuple(args.snr_db)
    tc = C2vnnTrainConfig(
        n_draws=args.draws,
        epochs=args.epochs,
        seed=args.seed,
        snr_db=snr,
        doppler_loss_weight=args.doppler_weight,
    )
    sizes = {"window": args.window, "n_filters": args.filters, "n_hidden": args.hidden}
    if args.subframes:
        config = C2vnn3dConfig(n_subframes=args.subframes, **sizes)
    else:
        config = C2vnnConfig(**sizes)
    result = train_c2vnn(config, tc)
    save_c2vnn(args.out, result.model, training_metadata(tc, result))
    _LOG.info("saved %s after %.1f s", args.out, result.wall_time_s)


if __name__ == "__main__":
    main()
