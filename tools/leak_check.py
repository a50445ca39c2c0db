"""Exercise every C++ entry point a few times on small inputs under valgrind memcheck.

    python tools/leak_check.py --valgrind      # ~3 min on 2 cores; exit 1 on a finding

runs this file under ``valgrind --leak-check=full`` (with ``PYTHONMALLOC=malloc``) and fails
if any "definitely lost" block or invalid/uninitialised access has a stack frame in skysense's
``_core`` (CPython, NumPy, SciPy and numba report their own one-off import-time blocks, which
are not ours). Without ``--valgrind`` it only runs the calls. The RSS checks of
tests/test_memory.py and bench/test_long_runs.py measure leaks over many calls instead.
"""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from skysense import bistatic, cordic, mapping
from skysense.imaging import Scenario, SensingOperator, sensing_matrix, subspace_pursuit

N_CALLS = 3


def main() -> None:
    rng = np.random.default_rng(0)
    scenario = Scenario(roi_size_m=(12.0, 12.0, 0.0), voxel_size_m=3.0, n_antennas_side=2)
    a = sensing_matrix(scenario)
    op = SensingOperator(scenario, np.complex64)
    y = rng.standard_normal((2, a.shape[0])) + 1j * rng.standard_normal((2, a.shape[0]))
    sc = bistatic.Scenario(n_tx=4, n_rx=4, n_subcarriers=16)
    paths = bistatic.random_paths(sc, rng=rng, n_targets=1)
    csi = bistatic.simulate(sc, paths, 20.0, rng=rng).csi
    params = mapping.MappingParams(n_particles=50)
    state = mapping.PmfState.empty(50)
    link = mapping.Link("bistatic", np.array([80.0, 95.0]), np.array([0.0, 0.0, 30.0]))
    for _ in range(N_CALLS):
        subspace_pursuit(a, y, 2)
        op.rmatvec(y)
        op.matvec(op.rmatvec(y))
        for method in ("krylov", "gram", "svd"):
            bistatic.paraming(csi, 2, scenario=sc, method=method)
        cordic.phase(y[0], fixed_point=(32, 28))
        state = mapping.spa_update(state, [link], params, rng=1).state


def _valgrind() -> int:
    with tempfile.NamedTemporaryFile(suffix=".log") as log:
        cmd = ["valgrind", "--leak-check=full", "--show-leak-kinds=definite", "--num-callers=40"]
        cmd += [f"--log-file={log.name}", sys.executable, __file__]
        subprocess.run(cmd, check=True, env={**os.environ, "PYTHONMALLOC": "malloc"})
        records = re.split(r"==\d+== \n", Path(log.name).read_text())
    ours = re.compile(r"skysense/_core|skysense::")
    kinds = ("definitely lost", "Invalid read", "Invalid write", "uninitialised")
    findings = [r for r in records if any(k in r for k in kinds) and ours.search(r)]
    lost = [r for r in records if "definitely lost" in r]
    print(f"valgrind: {len(lost)} definitely-lost records in all, {len(findings)} in skysense")
    for r in findings:
        print(r)
    return 1 if findings else 0


if __name__ == "__main__":
    if "--valgrind" in sys.argv[1:]:
        sys.exit(_valgrind())
    main()
