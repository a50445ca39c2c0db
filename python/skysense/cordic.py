"""CORDIC phase (vectoring mode), floating point and bit-true fixed point (C++ kernel).

==========  ===============================================================
``phase``   phase of complex values, like ``numpy.angle``
``atan2``   ``atan2(y, x)`` of real arrays, like ``numpy.arctan2``
==========  ===============================================================

PARAMING takes the eigenvalue phases of eq. (35) through this kernel, the hardware view its
complexity count assumes (shift-and-add micro-rotations and an arctangent table).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from skysense import _blas, _core  # noqa: F401  (_blas first: loads the LAPACK of _core)
from skysense._validation import as_array, check_count
from skysense._workers import resolve_workers

__all__ = ["DEFAULT_ITERATIONS", "atan2", "phase"]

#: Default iterations per precision: the residual angle 2^-(n-1) is below the rounding level.
DEFAULT_ITERATIONS: dict[np.dtype[Any], int] = {np.dtype(np.float32): 25, np.dtype(np.float64): 54}
_MAX_ITERATIONS = 64
_MAX_WORD_BITS = 62


def _fixed_point(fixed_point: tuple[int, int] | None) -> tuple[int, int]:
    if fixed_point is None:
        return 0, 0
    try:
        word_bits, frac_bits = fixed_point
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"fixed_point must be None or (word_bits, frac_bits), got {fixed_point!r}"
        ) from exc
    word_bits = check_count(word_bits, "word_bits", minimum=4)
    frac_bits = check_count(frac_bits, "frac_bits", minimum=1)
    if word_bits > _MAX_WORD_BITS:
        raise ValueError(f"word_bits must be in [4, {_MAX_WORD_BITS}], got {word_bits}")
    if word_bits - frac_bits < 3:
        raise ValueError(
            "fixed point needs 3 integer bits (sign and range [-4, 4) for the CORDIC gain and pi): "
            f"word_bits - frac_bits = {word_bits - frac_bits}"
        )
    return word_bits, frac_bits


def atan2(
    y: ArrayLike,
    x: ArrayLike,
    *,
    iterations: int | None = None,
    fixed_point: tuple[int, int] | None = None,
    workers: int | None = None,
) -> NDArray[np.floating[Any]]:
    """Four-quadrant arctangent ``atan2(y, x)`` by CORDIC in vectoring mode.

    Parameters
    ----------
    y, x : array_like, float32 or float64, broadcastable
        Coordinates; the result has their broadcast shape. Integer input is cast to float64.
    iterations : int, optional
        Micro-rotations n in [1, 64]; default 25 (float32) or 54 (float64).
    fixed_point : tuple of int (word_bits, frac_bits), optional
        Bit-true fixed-point datapath: the block-scaled inputs, the atan table and the angle
        accumulator are two's-complement integers with ``frac_bits`` fractional bits in a
        ``word_bits`` word (``word_bits - frac_bits >= 3``, ``word_bits <= 62``). ``None``
        computes in floating point in the input precision.
    workers : int, optional
        Threads (``docs/conventions.md``: None is the current default, 1 unless
        :func:`skysense.set_workers` says otherwise; -1 every CPU). Results do not depend on it.

    Returns
    -------
    ndarray, float32 or float64
        Angles in [-pi, pi] [rad], in the dtype of ``y`` and ``x`` (float64 if mixed).

    Notes
    -----
    Inputs are scaled by a power of two so that ``max(|x|, |y|)`` lies in [0.5, 1) (exact;
    tiny and huge magnitudes behave alike), rotated into the right half-plane by
    :math:`\\pm\\pi/2` (the sign bit of ``y`` decides, as for ``numpy.arctan2``), then

    .. math::

        d_i = -\\mathrm{sign}(y_i), \\quad x_{i+1} = x_i - d_i y_i 2^{-i}, \\quad
        y_{i+1} = y_i + d_i x_i 2^{-i}, \\quad z_{i+1} = z_i - d_i \\arctan 2^{-i}.

    The error is at most :math:`\\arctan 2^{-(n-1)} \\le 2^{-(n-1)}` rad plus rounding
    (fixed point: about :math:`(n + 2) 2^{-f}`). ``atan2(0, 0)`` returns 0.

    References
    ----------
    J. E. Volder, "The CORDIC trigonometric computing technique", IRE Trans. Electron.
    Comput. EC-8(3), 1959.

    Examples
    --------
    >>> import numpy as np
    >>> from skysense import cordic
    >>> y, x = np.array([1.0, -1.0, 0.0]), np.array([1.0, 0.0, -2.0])
    >>> bool(np.allclose(cordic.atan2(y, x), np.arctan2(y, x), rtol=0, atol=1e-15))
    True
    """
    y = as_array(y, "y", kind="fiub")
    x = as_array(x, "x", kind="fiub")
    dtype = np.result_type(y.dtype, x.dtype)
    if dtype.kind != "f" or dtype not in (np.float32, np.float64):
        dtype = np.dtype(np.float64)
    if iterations is None:
        iterations = DEFAULT_ITERATIONS[dtype]
    iterations = check_count(iterations, "iterations")
    if iterations > _MAX_ITERATIONS:
        raise ValueError(f"iterations must be in [1, {_MAX_ITERATIONS}], got {iterations}")
    n_threads = resolve_workers(workers)
    word_bits, frac_bits = _fixed_point(fixed_point)
    yb, xb = np.broadcast_arrays(y, x)
    shape = yb.shape
    yf = np.ascontiguousarray(yb, dtype).ravel()
    xf = np.ascontiguousarray(xb, dtype).ravel()
    out = np.empty(yf.size, dtype)
    _core.cordic_atan2(
        y=yf,
        x=xf,
        out=out,
        iterations=iterations,
        word_bits=word_bits,
        frac_bits=frac_bits,
        n_threads=n_threads,
    )
    result: NDArray[np.floating[Any]] = out.reshape(shape)
    return result


def phase(
    z: ArrayLike,
    *,
    iterations: int | None = None,
    fixed_point: tuple[int, int] | None = None,
    workers: int | None = None,
) -> NDArray[np.floating[Any]]:
    """Phase of complex values by CORDIC, the counterpart of ``numpy.angle``.

    Parameters
    ----------
    z : array_like, complex64 or complex128 (real input is treated as complex)
        Values of any shape.
    iterations, fixed_point, workers
        As for :func:`atan2`.

    Returns
    -------
    ndarray, float32 (complex64 input) or float64, same shape as ``z``
        Phases in [-pi, pi] [rad].

    Examples
    --------
    >>> import numpy as np
    >>> from skysense import cordic
    >>> z = np.exp(1j * np.linspace(-3, 3, 7))
    >>> bool(np.allclose(cordic.phase(z), np.angle(z), rtol=0, atol=1e-15))
    True
    >>> bool(np.allclose(cordic.phase(z, fixed_point=(32, 28)), np.angle(z), atol=1e-7))
    True
    """
    z = as_array(z, "z", kind="fciub")
    if z.dtype.kind != "c":
        z = z.astype(np.complex64 if z.dtype == np.float32 else np.complex128)
    return atan2(z.imag, z.real, iterations=iterations, fixed_point=fixed_point, workers=workers)
