"""Input coercion and validation shared by every public entry point.

Checks run in the order ndim, shape, dtype, finiteness, and every message names
the argument, what was expected and what was received.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np
import numpy.typing as npt

from skysense._workers import resolve_workers

__all__ = [
    "MemoryLimitError",
    "as_array",
    "check_count",
    "check_finite_scalar",
    "check_memory",
    "check_positive",
    "complex_dtype",
    "resolve_workers",
]

#: Default ceiling for a dense array that a function is asked to allocate [bytes].
DEFAULT_MAX_BYTES = 1 << 30


class MemoryLimitError(MemoryError):
    """A requested dense array would exceed the configured memory limit."""


def check_finite_scalar(value: object, name: str) -> float:
    """Return ``value`` as float; raise if it is not a finite real number."""
    if isinstance(value, bool) or not isinstance(value, Real | np.number):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {number}")
    return number


def check_positive(value: object, name: str, *, strict: bool = True) -> float:
    """Return ``value`` as a finite float > 0 (or >= 0 when ``strict`` is False)."""
    number = check_finite_scalar(value, name)
    if number < 0 or (strict and number == 0):
        raise ValueError(f"{name} must be {'> 0' if strict else '>= 0'}, got {number}")
    return number


#: Largest count any entry point takes (frames, iterations, sizes): what a C ``int`` holds, so
#: that a count reaches every compiled kernel unchanged; larger ones could not fit in memory or
#: finish anyway, and would otherwise surface as pybind's "incompatible function arguments".
MAX_COUNT = 2**31 - 1


def check_count(value: object, name: str, *, minimum: int = 1, maximum: int = MAX_COUNT) -> int:
    """Return ``value`` as an int in ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return int(value)


def complex_dtype(dtype: npt.DTypeLike) -> np.dtype:
    """Validate a complex dtype: complex64 or complex128."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be complex64 or complex128, got {dtype!r}") from exc
    if dt not in (np.dtype(np.complex64), np.dtype(np.complex128)):
        raise TypeError(f"dtype must be complex64 or complex128, got {dt}")
    return dt


def as_array(
    x: npt.ArrayLike,
    name: str,
    *,
    ndim: int | tuple[int, ...] | None = None,
    shape: tuple[int | None, ...] | None = None,
    dtype: npt.DTypeLike | None = None,
    kind: str = "fc",
    check_finite: bool = True,
) -> np.ndarray:
    """Coerce ``x`` to a C-contiguous ndarray and validate it.

    Parameters
    ----------
    ndim : int or tuple of int, optional
        Allowed numbers of dimensions.
    shape : tuple, optional
        Expected shape; ``None`` entries match any length.
    dtype : dtype, optional
        Target dtype; values are cast to it only after the kind check passed.
    kind : str
        Allowed dtype kinds of the input (``'f'`` float, ``'c'`` complex,
        ``'i'``/``'u'`` integer, ``'b'`` bool).
    check_finite : bool
        Reject NaN/Inf entries.
    """
    arr = np.asarray(x)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            raise ValueError(f"{name} must have ndim in {allowed}, got shape {arr.shape}")
    if shape is not None and (
        arr.ndim != len(shape)
        or any(e is not None and e != s for e, s in zip(shape, arr.shape, strict=True))
    ):
        want = "(" + ", ".join("n" if e is None else str(e) for e in shape) + ")"
        raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if arr.dtype.kind not in kind:
        raise TypeError(f"{name} has dtype {arr.dtype}, expected kind in {kind!r}")
    if check_finite and arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or Inf")
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    # not np.ascontiguousarray alone: it turns 0-d input into shape (1,) (0-d in, 0-d out)
    return arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)


def as_batch(
    x: npt.ArrayLike, n: int, name: str, *, check_finite: bool = True, hint: str = ""
) -> tuple[np.ndarray, bool]:
    """Validate one vector (n,) or a batch (n_frames, n): returns ``(x2, single)``.

    ``x2`` has shape (n_frames, n) (a view where possible); ``single`` tells whether ``x`` was
    one vector. An empty batch, a wrong length or NaN/Inf (with ``check_finite``) raise;
    ``hint`` is appended to the length message.
    """
    arr = as_array(x, name, ndim=(1, 2), kind="fciu", check_finite=False)
    if arr.shape[-1] != n:
        raise ValueError(
            f"Dimension mismatch: {name} has shape {arr.shape}, expected ({n},) or "
            f"(n_frames, {n}){hint}"
        )
    if arr.ndim == 2 and arr.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {arr.shape})")
    if check_finite and arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or Inf")
    return arr.reshape(-1, n), arr.ndim == 1


def check_memory(nbytes: int, what: str, max_bytes: float | None, alternative: str = "") -> None:
    """Raise :class:`MemoryLimitError` if allocating ``nbytes`` exceeds ``max_bytes``."""
    limit = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    if nbytes > limit:
        hint = f"; use {alternative} instead" if alternative else ""
        raise MemoryLimitError(
            f"{what} needs {nbytes / 2**20:.1f} MiB, above the limit of "
            f"{limit / 2**20:.1f} MiB (max_bytes){hint}"
        )
