"""torch access to a sharded dataset: a ``Dataset`` and a shard-local shuffling sampler."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from skysense.learn.imager.data import DatasetReader

__all__ = ["OffGridDataset", "ShardSampler", "split_frames"]


def split_frames(n_frames: int, validation_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation frame indices: the last ``round(fraction * n)`` frames validate.

    Frames are i.i.d. draws, so a contiguous tail is an unbiased split and keeps each shard
    in one split (the authors use a seeded ``random_split`` of a dataset held in RAM).

    Parameters
    ----------
    n_frames : int
        Frames in the dataset.
    validation_fraction : float
        Share of the frames that validate, in (0, 1).

    Returns
    -------
    train, validation : ndarray of int64
        Frame indices.

    Examples
    --------
    >>> train, validation = split_frames(10, 0.2)
    >>> validation.tolist()
    [8, 9]
    """
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    n_val = max(1, round(validation_fraction * n_frames))
    if n_val >= n_frames:
        raise ValueError(
            f"{n_frames} frames cannot be split with validation_fraction={validation_fraction}"
        )
    idx = np.arange(n_frames)
    return idx[: n_frames - n_val], idx[n_frames - n_val :]


class OffGridDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Frames of a dataset folder as ``(input, label)`` float32 tensors.

    Parameters
    ----------
    path : str, Path or DatasetReader
        Folder written by :func:`~skysense.learn.generate_dataset`.
    frames : array_like of int, optional
        Global frame indices in this view (default: all).

    Notes
    -----
    ``input`` has shape ``(C, *input_shape)`` and ``label`` ``(*grid_shape)``. One shard is
    held in memory; use :class:`ShardSampler` so that consecutive items share a shard.

    Examples
    --------
    >>> import tempfile
    >>> from skysense.imaging import Scenario
    >>> from skysense.learn import generate_dataset
    >>> s = Scenario(roi_size_m=(15.0, 15.0, 0.0), n_antennas_side=2)
    >>> path = generate_dataset(tempfile.mkdtemp() + "/ds", 3, scenario=s, n_targets=1, rng=0)
    >>> x, y = OffGridDataset(path)[2]
    >>> tuple(x.shape), tuple(y.shape)
    ((2, 5, 5), (5, 5))
    """

    def __init__(self, path: str | os.PathLike[str] | DatasetReader, frames: Any = None) -> None:
        self.reader = path if isinstance(path, DatasetReader) else DatasetReader(path)
        n = self.reader.n_frames
        self.frames = np.arange(n) if frames is None else np.asarray(frames, dtype=np.int64)
        if self.frames.ndim != 1 or (self.frames.size and not (self.frames >= 0).all()):
            raise ValueError("frames must be a 1-D array of non-negative frame indices")
        if self.frames.size and self.frames.max() >= n:
            raise ValueError(f"frames index up to {self.frames.max()}, dataset has {n}")

    def __len__(self) -> int:
        return int(self.frames.size)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        j, k = self.reader.locate(int(self.frames[i]))
        shard = self.reader.shard(j)
        x = torch.from_numpy(np.ascontiguousarray(shard["inputs"][k], dtype=np.float32))
        y = torch.from_numpy(shard["labels"][k].astype(np.float32))
        return x, y


class ShardSampler(Sampler[int]):
    """Random order that visits the shards in random order, shuffling within each.

    Parameters
    ----------
    dataset : OffGridDataset
    generator : torch.Generator
        Source of the permutations (seeded by the trainer).
    """

    def __init__(self, dataset: OffGridDataset, generator: torch.Generator) -> None:
        self.dataset = dataset
        self.generator = generator
        reader = dataset.reader
        shard_of = np.searchsorted(reader.offsets, dataset.frames, side="right") - 1
        self.groups = [np.flatnonzero(shard_of == j) for j in range(reader.n_shards)]
        self.groups = [g for g in self.groups if g.size]

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Iterator[int]:
        order = torch.randperm(len(self.groups), generator=self.generator).tolist()
        for j in order:
            g = self.groups[j]
            perm = torch.randperm(g.size, generator=self.generator).numpy()
            yield from g[perm].tolist()
