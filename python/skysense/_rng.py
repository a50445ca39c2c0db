"""The ``rng`` convention: one keyword-only argument, resolved once (SPEC 7, as in SciPy).

Every public function that draws random numbers takes ``rng=None``: None (fresh OS
entropy), an int seed, a :class:`numpy.random.SeedSequence` or a
:class:`numpy.random.Generator` (used as is, so the caller's stream advances).  Batch entry
points spawn independent children with :func:`spawn`; C++ kernels receive seeds drawn here
and never own a global engine.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np

__all__ = ["RngLike", "as_generator", "spawn"]

#: What an ``rng`` argument accepts.
RngLike: TypeAlias = int | np.integer | np.random.SeedSequence | np.random.Generator | None


def as_generator(rng: RngLike, name: str = "rng") -> np.random.Generator:
    """Resolve an ``rng`` argument to a :class:`numpy.random.Generator`.

    Raises
    ------
    TypeError
        For anything else (a legacy ``RandomState``, a float, a string, ...).
    ValueError
        For a negative int seed.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, np.random.SeedSequence):
        return np.random.default_rng(rng)
    if isinstance(rng, bool) or not isinstance(rng, int | np.integer):
        raise TypeError(
            f"{name} must be None, an int seed, a numpy.random.SeedSequence or a "
            f"numpy.random.Generator, got {type(rng).__name__}"
        )
    if rng < 0:
        raise ValueError(f"{name} must be a non-negative int seed, got {rng}")
    return np.random.default_rng(int(rng))


def spawn(rng: RngLike, n: int, name: str = "rng") -> list[np.random.Generator]:
    """``n`` independent child generators of ``rng`` (for batch entry points)."""
    return list(as_generator(rng, name).spawn(n))
