"""One style for result types: frozen dataclasses with a short ``repr``.

Every result of a public function is a ``@dataclass(frozen=True, repr=False)`` that
inherits :class:`Result`; its ``repr`` shows each field on one line, arrays as dtype and
shape plus their first few values, so printing a result of 640 singular values takes a
handful of lines, not hundreds.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["Result", "short_repr"]

_MAX_ITEMS = 4
_MAX_LEN = 72


def short_repr(value: Any) -> str:
    """A one-line summary of a field value (arrays: dtype, shape and leading values)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        head = ", ".join(
            np.array2string(np.asarray(v), precision=4, separator=", ")
            for v in value.reshape(-1)[:_MAX_ITEMS]
        )
        more = ", ..." if value.size > _MAX_ITEMS else ""
        return f"{value.dtype}{list(value.shape)} [{head}{more}]"
    if isinstance(value, Result):
        return f"{type(value).__name__}(...)"
    if isinstance(value, dict):
        return f"dict({len(value)} keys)" if len(value) > _MAX_ITEMS else repr(value)
    if isinstance(value, list | tuple) and len(value) > _MAX_ITEMS:
        return f"{type(value).__name__}(len={len(value)})"
    text = repr(value)
    return text if len(text) <= _MAX_LEN else text[: _MAX_LEN - 3] + "..."


class Result:
    """Base of every result dataclass: a short, readable ``repr``.

    Examples
    --------
    >>> import dataclasses
    >>> import numpy as np
    >>> @dataclasses.dataclass(frozen=True, repr=False)
    ... class Fit(Result):
    ...     x: np.ndarray
    ...     n_iter: int
    >>> Fit(np.arange(10.0), 3)
    Fit(
      x=float64[10] [0., 1., 2., 3., ...],
      n_iter=3,
    )
    """

    def __repr__(self) -> str:
        if not dataclasses.is_dataclass(self):  # pragma: no cover - misuse
            return object.__repr__(self)
        lines = [
            f"  {f.name}={short_repr(getattr(self, f.name))},"
            for f in dataclasses.fields(self)
            if f.repr
        ]
        return "\n".join([f"{type(self).__name__}(", *lines, ")"])
