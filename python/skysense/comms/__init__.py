"""Downlink communication model of the cooperative ISAC network (Huang et al., TWC 2026, Sec. II-B).

K single-antenna users are served by the N_b BSs jointly; during the N_s = N0^2 ISAC symbols
of a frame the BSs also transmit N0^2 - K sensing beams each, which leak into the users'
channels (eq. 3).  Channels ``h`` follow the paper's convention: the user receives ``h^H x``.

==============================  ==========================================================
``los_user_channels``           LoS BS-user channels (+ UAV-scattered paths), eq. 11 style
``mrt_beams``, ``zf_beams``     communication beamformers, per-BS unit power
``sensing_beams``               sensing beams: ROI wide beam or its user-nullspace version
``SENSING_BEAM_METHODS``        ``("nullspace", "roi")``
``link_powers``                 desired / multi-user / sensing / noise powers (eq. 4 terms)
``LinkPowers``                  their result: ``desired_w``, ``multiuser_w``, ``sensing_w``,
                                ``noise_w`` [W], with ``sinr`` and ``sir_sensing_db``
``sinr``                        SINR per user and subcarrier (eq. 4)
``spectral_efficiency``         sum over users and subcarriers of log2(1 + SINR) (eq. 5)
``frame_spectral_efficiency``   time sharing of ISAC and communication-only symbols
==============================  ==========================================================
"""

from skysense.comms.beamforming import SENSING_BEAM_METHODS, mrt_beams, sensing_beams, zf_beams
from skysense.comms.channels import los_user_channels
from skysense.comms.sinr import (
    LinkPowers,
    frame_spectral_efficiency,
    link_powers,
    sinr,
    spectral_efficiency,
)

__all__ = [
    "SENSING_BEAM_METHODS",
    "LinkPowers",
    "frame_spectral_efficiency",
    "link_powers",
    "los_user_channels",
    "mrt_beams",
    "sensing_beams",
    "sinr",
    "spectral_efficiency",
    "zf_beams",
]
