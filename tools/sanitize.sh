#!/usr/bin/env bash
# Build skysense._core with ASan + UBSan into its own venv (.asan-venv) and run the test suite
# under it. UBSan findings abort (-fno-sanitize-recover); ASan reports any invalid access.
# Leak checking is off for this run (CPython's own allocations at exit drown it); leaks across
# repeated kernel calls are measured by tests/test_memory.py instead.
#   bash tools/sanitize.sh [pytest args]      e.g. bash tools/sanitize.sh tests/imaging -x
# (test paths may be given from the repository root, tests/..., or from tests/)
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .asan-venv
# shellcheck disable=SC1091
. .asan-venv/bin/activate
python3 -m pip install --quiet --upgrade pip
python3 -m pip install --quiet scikit-build-core pybind11 scipy-openblas32
python3 -m pip install --quiet --no-build-isolation \
  -Ccmake.define.SKYSENSE_SANITIZE=ON -Ccmake.build-type=RelWithDebInfo \
  -Cbuild-dir=build/asan ".[test]"
runtime="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libubsan.so)"
# Run from outside the source tree so the installed (instrumented) package is imported.
args=()
for arg in "$@"; do args+=("${arg#tests/}"); done
cd tests
LD_PRELOAD="${runtime}" \
  ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  python3 -m pytest -q -p no:cacheprovider --rootdir=.. -c ../pyproject.toml "${args[@]:-.}"
