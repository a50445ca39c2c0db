"""Monte-Carlo reproductions of the papers' tables and figures, in process or on Dask.

One subpackage per system (``imaging``, ``bistatic``, ``mapping``); the runner is shared.

==========================  ==========================================================
``run_trials``              seeded, chunked trials of an experiment -> ``ExperimentResult``
``ExperimentResult``        per-trial arrays, per-cell summaries, JSON-ready results
``Experiment``              base class: cells, per-cell setup, one chunk, summary, report
``SetupCache``              per-process LRU cache of the per-cell setups (bytes-bounded)
``ChunkStore``              finished chunks on disk (``checkpoint=``): resume a run exactly
``task_seed``               ``root.spawn(n_chunks)[chunk]`` + the cell's key
``root_seed``               the root ``SeedSequence`` of a run from its ``rng``
``dask_client``             a LocalCluster (1 thread per process, pinned) or a scheduler
``ConsoleTable``            console table with labelled columns, ours against the paper
``Column``                  one column of a ``ConsoleTable`` (header, description, paper)
``ImagingTable2``           ``imaging-table2``: Table II, DR/FAR/MSE per mode and d0
``ImagingPsf``              ``imaging-psf``: Figs. 3-5, PSF sidelobes and off-grid error
``ImagingTradeoff``         ``imaging-tradeoff``: Fig. 10, DR and SE vs P_s at fixed P_t
``ImagingSionna``           ``imaging-sionna``: Table VI, ray-traced canyon (sionna extra)
``MappingMospa``            ``mapping-mospa``: MOSPA vs epoch and completeness, 7 methods
``MappingRuntime``          ``mapping-runtime``: per-epoch time of Scheme I/II vs P and load
``MappingCsi``              ``mapping-csi``: the mapper fed by PARAMING from CSI vs ideal data
``BistaticAccuracy``        ``bistatic-accuracy``: ToA/AoA/AoD error vs SNR, baselines, CRB
``BistaticSeparation``      ``bistatic-separation``: Fig. 8, two targets within the HPBW
``BistaticTimingOffset``    ``bistatic-timing-offset``: Fig. 7, ToA bias, angles unaffected
``BistaticDoppler``         ``bistatic-doppler``: Fig. 9, Doppler MAE vs SNR
``BistaticLatency``         ``bistatic-latency``: Table II, median latency per method
``BistaticWeakPath``        ``bistatic-weak-path``: a target 30 dB below the LoS, order criteria
``ImagingOffgrid``          ``imaging-offgrid``: Tables III/IV, SP vs learned imagers (torch)
``ImagingTracking``         ``imaging-tracking``: BP tracking of the imaged UAVs vs per-frame
``EXPERIMENTS``             the experiment classes (each has a ``name``)
``PAPER_TABLE2``            Table II values, with ``PAPER_TABLE2_SOURCE``
==========================  ==========================================================

Running trials needs threadpoolctl and Dask (``pip install 'skysense[experiments]'``),
figures matplotlib (``skysense[plot]``); both are imported on first use.
"""

from __future__ import annotations

from skysense.experiments.bistatic import (
    BistaticAccuracy,
    BistaticDoppler,
    BistaticLatency,
    BistaticSeparation,
    BistaticTimingOffset,
    BistaticWeakPath,
)
from skysense.experiments.cluster import dask_client
from skysense.experiments.imaging import (
    PAPER_FIG10,
    PAPER_PSF,
    PAPER_TABLE2,
    PAPER_TABLE2_SOURCE,
    PAPER_TABLE3,
    PAPER_TABLE4,
    PAPER_TABLE6,
    ImagingOffgrid,
    ImagingPsf,
    ImagingSionna,
    ImagingTable2,
    ImagingTracking,
    ImagingTradeoff,
)
from skysense.experiments.mapping import (
    PAPER_MAPPING,
    PAPER_MAPPING_RUNTIME,
    MappingCsi,
    MappingMospa,
    MappingRuntime,
)
from skysense.experiments.runner import (
    ChunkStore,
    Experiment,
    ExperimentResult,
    SetupCache,
    root_seed,
    run_trials,
    task_seed,
)
from skysense.experiments.table import Column, ConsoleTable

#: Experiment classes available to ``skysense reproduce NAME`` (looked up by ``.name``).
EXPERIMENTS: tuple[type[Experiment], ...] = (
    ImagingTable2,
    ImagingPsf,
    ImagingTradeoff,
    ImagingSionna,
    ImagingOffgrid,
    ImagingTracking,
    MappingMospa,
    MappingRuntime,
    MappingCsi,
    BistaticAccuracy,
    BistaticSeparation,
    BistaticTimingOffset,
    BistaticDoppler,
    BistaticLatency,
    BistaticWeakPath,
)

__all__ = [
    "EXPERIMENTS",
    "PAPER_FIG10",
    "PAPER_MAPPING",
    "PAPER_MAPPING_RUNTIME",
    "PAPER_PSF",
    "PAPER_TABLE2",
    "PAPER_TABLE2_SOURCE",
    "PAPER_TABLE3",
    "PAPER_TABLE4",
    "PAPER_TABLE6",
    "BistaticAccuracy",
    "BistaticDoppler",
    "BistaticLatency",
    "BistaticSeparation",
    "BistaticTimingOffset",
    "BistaticWeakPath",
    "ChunkStore",
    "Column",
    "ConsoleTable",
    "Experiment",
    "ExperimentResult",
    "ImagingOffgrid",
    "ImagingPsf",
    "ImagingSionna",
    "ImagingTable2",
    "ImagingTracking",
    "ImagingTradeoff",
    "MappingCsi",
    "MappingMospa",
    "MappingRuntime",
    "SetupCache",
    "dask_client",
    "root_seed",
    "run_trials",
    "task_seed",
]
