"""Operation counts of the bistatic estimators in real flops (the style of eqs. 44-46).

The paper sums PARAMING's sub-blocks (Sec. IV: Golub-Reinsch SVD of X1, the matrix Psi of
eq. (34), QZ of the q x q pencil, CORDIC phases of eq. (35), the LS stages of eqs. (36)-(41))
into eq. (44) and gives the grid baselines as eqs. (45)-(46); the counts here follow those
sub-blocks with textbook flop counts, one complex multiply-add = 8 real flops. They count the
*algorithms as published* (full SVD for PARAMING, a joint AoA x AoD x ToA grid for the grid
methods), so they are the paper's comparison, not a profile of this library's faster
implementations (which find PARAMING's q triplets by a block Krylov iteration on the
FFT-applied Hankel operator, or a Gram matrix and partial eigendecomposition, and use
separable grid correlations).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from skysense._results import Result
from skysense._validation import check_count
from skysense.bistatic.grid import Grid
from skysense.bistatic.hankel import resolve_subarrays
from skysense.bistatic.scenario import Scenario

__all__ = ["OperationCounts", "operation_counts"]

_CMAC = 8  # real flops of one complex multiply-add


@dataclass(frozen=True, repr=False)
class OperationCounts(Result):
    """Real flops per CSI of each estimator, as published.

    Attributes
    ----------
    paraming : int
        PARAMING in total (the sum of ``paraming_stages``).
    bartlett, music, dml : int
        The grid methods on the given grid.
    paraming_stages : dict of str to int
        PARAMING per stage: ``"svd"``, ``"pencil"``, ``"eig"``, ``"cordic"``,
        ``"least_squares"``.

    Examples
    --------
    >>> from skysense import bistatic as bs
    >>> counts = bs.operation_counts(bs.Scenario(), 4)
    >>> counts.paraming == sum(counts.paraming_stages.values())
    True
    """

    paraming: int
    bartlett: int
    music: int
    dml: int
    paraming_stages: dict[str, int]


def operation_counts(
    scenario: Scenario,
    n_paths: int,
    *,
    grid: Grid | None = None,
    subarrays: Sequence[int] | None = None,
    cordic_iterations: int = 48,
) -> OperationCounts:
    """Real flops per CSI of PARAMING and the grid methods.

    Parameters
    ----------
    scenario : Scenario
        Array and subcarrier counts.
    n_paths : int
        Model order q.
    grid : Grid, optional
        Grid of Bartlett/MUSIC/DML (default ``Grid.uniform``: 1 degree, 1/(4 N df)).
    subarrays : tuple of int (Mt, Mr, M), optional
        PARAMING's sub-array sizes (default half of each dimension).
    cordic_iterations : int
        CORDIC iterations per eigenvalue phase (shift-adds, counted as flops).

    Returns
    -------
    OperationCounts
        Real flops per CSI of each method (one field per method).

    Examples
    --------
    >>> from skysense import bistatic as bs
    >>> counts = bs.operation_counts(bs.Scenario(), 4)
    >>> counts.music > counts.dml > counts.bartlett > counts.paraming
    True
    """
    if not isinstance(scenario, Scenario):
        raise TypeError(f"scenario must be a bistatic.Scenario, got {type(scenario).__name__}")
    q = check_count(n_paths, "n_paths")
    grid = Grid.uniform(scenario) if grid is None else grid
    nt, nr, n = scenario.n_tx, scenario.n_rx, scenario.n_subcarriers
    mt, mr, m = resolve_subarrays(scenario, subarrays)
    kt, kr, kn = nt - mt + 1, nr - mr + 1, n - m + 1
    big_l, big_p = mt * m * mr, kt * (kn - 1) * kr
    stages = {
        # Golub-Reinsch SVD of X1 (L x P) with both factors, complex (x4 real)
        "svd": 4 * (4 * big_l**2 * big_p + 8 * big_l * big_p**2 + 9 * big_p**3),
        "pencil": _CMAC * (q * big_l * big_p + q * q * big_p),  # Psi = U^H X2 V S^-1
        "eig": 4 * 30 * q**3,  # QZ / Hessenberg-QR of the q x q pencil
        "cordic": q * check_count(cordic_iterations, "cordic_iterations") * 3,
        "least_squares": _CMAC * (nt * nr * n * q + n * q * q + q * nt * nr),
    }
    n_ant = nt * nr * n  # steering vector length over the whole CSI
    points = grid.aoa_rad.size * grid.aod_rad.size * grid.toa_s.size
    covariance = _CMAC * big_l * big_l * big_p + 4 * 9 * big_l**3  # X1 X1^H and its EVD
    return OperationCounts(
        paraming=sum(stages.values()),
        # |a(theta)^H h|^2 at every grid point
        bartlett=points * (_CMAC * n_ant + 3),
        # ||E_n^H a||^2 with the (L - q)-dimensional noise subspace at every point
        music=covariance + points * (_CMAC * big_l * (big_l - q) + 2 * big_l),
        # alternating projections: q coordinates, each a grid search of projections onto q atoms
        dml=2 * q * points * (_CMAC * n_ant * q + 8 * q**3),
        paraming_stages=stages,
    )
