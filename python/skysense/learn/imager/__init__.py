"""The learned off-grid imager (imaging paper, Secs. III-C and IV): sharded datasets on the
forward model, the resCNN/CNN/Dn-* refiners, OHEM losses, training and the ``OffGridImager``.

Modules: ``data`` (datasets, NumPy), ``evaluate`` (Table III/IV scores, NumPy), ``dataset``,
``networks``, ``losses``, ``train`` and ``estimator`` (torch). The public names are
re-exported by :mod:`skysense.learn`; importing this package imports nothing.
"""
