"""Streaming CSI-to-map of one BS: each epoch's bistatic CSI in, the updated VA map out."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from skysense._results import Result
from skysense._rng import RngLike, as_generator
from skysense._validation import as_array, check_positive
from skysense.mapping.mapper import Mapper
from skysense.mapping.state import PmfState
from skysense.pipeline.bistatic_front_end import (
    BistaticChannel,
    BistaticMeasurements,
    estimate_bistatic,
    measured_angles,
)
from skysense.pipeline.monostatic_front_end import (
    MonostaticChannel,
    MonostaticMeasurements,
    estimate_monostatic,
    in_clutter_box,
)

__all__ = ["CsiMapper", "MapUpdate"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, repr=False)
class MapUpdate(Result):
    """The map of one BS after one epoch of :meth:`CsiMapper.update`.

    Attributes
    ----------
    epoch : int
        Epochs processed before this one (0 for the first since the last reset).
    estimates_m : ndarray, shape (n_detected, 3) [m]
        MMSE positions of the detected VAs (existence above ``params.detect_threshold``).
    existence : ndarray, shape (n_detected,)
        Their existence probabilities.
    covariances_m2 : ndarray, shape (n_detected, 3, 3) [m^2]
        Their particle covariances.
    n_pmfs : int
        PMFs carried (detected or not).
    measurements : BistaticMeasurements
        This epoch's front-end output (one epoch).
    front_end_s, filter_s : float
        Wall-clock time of the front end (PARAMING, order, CRB; and the monostatic pencil
        when the echo CSI is given) and of the filter step [s].
    monostatic : MonostaticMeasurements or None
        This epoch's monostatic front-end output, when :meth:`CsiMapper.update` got the echo
        CSI.

    Examples
    --------
    >>> from skysense.mapping import Mapper, MappingParams, default_scene
    >>> from skysense.pipeline import CsiMapper, simulate_bistatic_csi
    >>> scene = default_scene(5)
    >>> (link,) = simulate_bistatic_csi(scene, rng=0, bs_indices=[0])
    >>> stream = CsiMapper(scene.base_stations_m[0], Mapper("bistatic", MappingParams(n_particles=200)), rng=0)
    >>> for e in range(5):
    ...     update = stream.update(link.csi[e], scene.trajectory_m[e])
    >>> update.epoch, update.covariances_m2.shape[1:]
    (4, (3, 3))
    """

    epoch: int
    estimates_m: FloatArray
    existence: FloatArray
    covariances_m2: FloatArray
    n_pmfs: int
    measurements: BistaticMeasurements
    front_end_s: float
    filter_s: float
    monostatic: MonostaticMeasurements | None = None


class CsiMapper:
    """Per-BS streaming pipeline: PARAMING front end + VA mapper, state kept across calls.

    Parameters
    ----------
    bs_position_m : array_like, shape (3,) [m]
        Position of the BS (the transmitter of the bistatic link and the monostatic radar).
    mapper : skysense.mapping.Mapper, optional
        Scheme, filter parameters, engine and threads (default ``Mapper()``, Scheme II).
    channel : BistaticChannel, optional
        Numerology and timing model of the bistatic link (default ``BistaticChannel()``); with
        an unknown timing offset each epoch is synchronised on its LoS path, and an epoch
        without one has no bistatic measurements (``MapUpdate.measurements.synchronised``).
    n_paths : int or "mdl"
        Model order of every epoch, or MDL per epoch (:func:`~skysense.pipeline.mdl_order`).
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Resolved once; the filter's draws continue on it across :meth:`update` calls, so a
        stream of epochs equals :meth:`skysense.mapping.Mapper.run` on the same measurements
        with the same ``rng`` (tested).
    monostatic_channel : MonostaticChannel, optional
        Panels and numerology of the BS's echoes, for :meth:`update` with ``monostatic_csi``
        (default ``MonostaticChannel()``).
    cluster_db : float, optional
        Censoring of resolved diffuse paths (:func:`~skysense.pipeline.estimate_bistatic`).

    Notes
    -----
    The filter is float64 and holds no global state; two instances never share a generator.
    The monostatic pseudo-positions are an input of :meth:`update`, either as positions or as
    the BS's echo CSI (:func:`~skysense.pipeline.estimate_monostatic` with
    ``monostatic_channel``, MDL order).

    Examples
    --------
    >>> from skysense.mapping import Mapper, MappingParams, default_scene
    >>> from skysense.pipeline import CsiMapper, simulate_bistatic_csi
    >>> scene = default_scene(3)
    >>> (link,) = simulate_bistatic_csi(scene, rng=0, bs_indices=[1])
    >>> stream = CsiMapper(scene.base_stations_m[1], Mapper("fusion3", MappingParams(n_particles=200)), rng=1)
    >>> update = stream.update(link.csi[0], scene.trajectory_m[0])
    >>> update.epoch, update.estimates_m.shape[1]
    (0, 3)
    >>> stream.reset(); stream.n_epochs
    0
    """

    def __init__(
        self,
        bs_position_m: npt.ArrayLike,
        mapper: Mapper | None = None,
        channel: BistaticChannel | None = None,
        *,
        n_paths: int | Literal["mdl"] = "mdl",
        rng: RngLike = None,
        monostatic_channel: MonostaticChannel | None = None,
        cluster_db: float | None = None,
    ) -> None:
        self.bs_position_m = as_array(
            bs_position_m, "bs_position_m", shape=(3,), kind="fiu", dtype=np.float64
        )
        self.mapper = Mapper() if mapper is None else mapper
        if not isinstance(self.mapper, Mapper):
            raise TypeError(f"mapper must be a mapping Mapper, got {type(self.mapper).__name__}")
        self.channel = BistaticChannel() if channel is None else channel
        if not isinstance(self.channel, BistaticChannel):
            raise TypeError(f"channel must be a BistaticChannel, got {type(self.channel).__name__}")
        if not (n_paths == "mdl" or (isinstance(n_paths, int) and n_paths >= 0)):
            raise ValueError(f"n_paths must be an int >= 0 or 'mdl', got {n_paths!r}")
        self.n_paths = n_paths
        self.monostatic_channel = (
            MonostaticChannel() if monostatic_channel is None else monostatic_channel
        )
        if not isinstance(self.monostatic_channel, MonostaticChannel):
            raise TypeError(
                "monostatic_channel must be a MonostaticChannel, got "
                f"{type(self.monostatic_channel).__name__}"
            )
        if cluster_db is not None:
            check_positive(cluster_db, "cluster_db", strict=False)
        self.cluster_db = cluster_db
        self._rng = as_generator(rng)
        self.reset()

    @property
    def n_epochs(self) -> int:
        """Epochs processed since the last :meth:`reset`."""
        return self._epoch

    @property
    def state(self) -> PmfState:
        """The PMFs after the last epoch."""
        return self._state

    def reset(self, *, rng: RngLike = None) -> None:
        """Forget the map (empty PMF set, epoch 0); a given ``rng`` replaces the generator."""
        if rng is not None:
            self._rng = as_generator(rng)
        self._state = PmfState.empty(self.mapper.params.n_particles)
        self._epoch = 0

    def update(
        self,
        csi: npt.ArrayLike,
        uav_position_m: npt.ArrayLike,
        monostatic_positions_m: npt.ArrayLike | None = None,
        *,
        monostatic_csi: npt.ArrayLike | None = None,
    ) -> MapUpdate:
        """Process one epoch: estimate the bistatic paths, then one step of the mapper.

        Parameters
        ----------
        csi : array_like, shape (n_tx, n_rx, n_subcarriers), complex
            This epoch's bistatic LS CSI.
        uav_position_m : array_like, shape (3,) [m]
        monostatic_positions_m : array_like, shape (n_monostatic, 3) [m], optional
            This epoch's monostatic pseudo-positions (default: none).
        monostatic_csi : array_like, shape ``monostatic_channel.csi_shape``, optional
            This epoch's echo CSI instead: its pseudo-positions inside the filter's
            ``clutter_box_m`` are the monostatic measurements.

        Returns
        -------
        MapUpdate
            Bistatic ranges above ``mapper.params.range_max_m`` (outside the filter's clutter
            interval) are not passed to the filter; ``measurements`` keeps them.
        """
        sc = self.channel.scenario
        arr = np.asarray(csi)
        if arr.shape != sc.csi_shape:
            raise ValueError(
                f"csi must be one epoch of shape (n_tx, n_rx, n_subcarriers) = {sc.csi_shape}, "
                f"got {arr.shape}"
            )
        uav = as_array(uav_position_m, "uav_position_m", shape=(3,), kind="fiu", dtype=np.float64)
        if monostatic_positions_m is None:
            mono = np.zeros((0, 3))
        else:
            mono = as_array(
                monostatic_positions_m,
                "monostatic_positions_m",
                shape=(None, 3),
                kind="fiu",
                dtype=np.float64,
            )
        if monostatic_csi is not None and monostatic_positions_m is not None:
            raise ValueError("give monostatic_positions_m or monostatic_csi, not both")
        t0 = time.perf_counter()
        meas = estimate_bistatic(
            arr,
            self.channel,
            n_paths=self.n_paths,
            bs_position_m=self.bs_position_m,
            uav_positions_m=uav,
            cluster_db=self.cluster_db,
        )
        echo = None
        if monostatic_csi is not None:
            echo = _echo_epoch(monostatic_csi, self.bs_position_m, self.monostatic_channel)
            mono = in_clutter_box(echo.positions_m[0], self.mapper.params)
        t1 = time.perf_counter()
        ranges = meas.ranges_m[0]
        # the filter's clutter model lives on [0, range_max_m]: a longer estimate is not a path
        in_range = ranges <= self.mapper.params.range_max_m
        ranges = ranges[in_range]
        angles = None
        if self.mapper.params.bistatic_angles:  # angle-aided mapper (docs/pipeline.md)
            (angles,) = measured_angles(meas, self.bs_position_m, self.channel)
            angles = angles.select(in_range)
        state, estimates = self.mapper.step(
            self._state,
            ranges,
            mono,
            uav,
            self.bs_position_m,
            rng=self._rng,
            first_epoch=self._epoch == 0,
            bistatic_angles=angles,
        )
        t2 = time.perf_counter()
        threshold = self.mapper.params.detect_threshold
        detected = state.existence_logodds > math.log(threshold) - math.log1p(-threshold)
        update = MapUpdate(
            epoch=self._epoch,
            estimates_m=estimates,
            existence=state.existence[detected],
            covariances_m2=_particle_covariances(state.select(detected)),
            n_pmfs=state.n_pmfs,
            measurements=meas,
            front_end_s=t1 - t0,
            filter_s=t2 - t1,
            monostatic=echo,
        )
        self._state = state
        self._epoch += 1
        return update

    def __repr__(self) -> str:
        return (
            f"CsiMapper(scheme={self.mapper.scheme!r}, n_particles="
            f"{self.mapper.params.n_particles}, epochs={self._epoch}, pmfs={self._state.n_pmfs})"
        )


def _echo_epoch(
    csi: npt.ArrayLike, bs_position_m: FloatArray, channel: MonostaticChannel
) -> MonostaticMeasurements:
    arr = np.asarray(csi)
    if arr.shape != channel.csi_shape:
        raise ValueError(
            "monostatic_csi must be one epoch of shape (n_panels, n_horizontal, n_vertical, "
            f"n_subcarriers) = {channel.csi_shape}, got {arr.shape}"
        )
    return estimate_monostatic(arr, bs_position_m, channel)


def _particle_covariances(state: PmfState) -> FloatArray:
    """Weighted particle covariance of each PMF, shape (n_pmfs, 3, 3) [m^2]."""
    if state.n_pmfs == 0:
        return np.zeros((0, 3, 3))
    lw = state.log_weights - state.log_weights.max(axis=1, keepdims=True)
    w = np.exp(lw)
    w /= w.sum(axis=1, keepdims=True)
    mean = np.einsum("kp,kpd->kd", w, state.positions_m)
    d = state.positions_m - mean[:, None, :]
    cov: FloatArray = np.einsum("kp,kpi,kpj->kij", w, d, d)
    return cov
