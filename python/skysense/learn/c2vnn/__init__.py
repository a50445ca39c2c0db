"""IFFT-C2VNN (bistatic paper, Sec. III-B and III-D): complex-valued layers, the 2-D and 3-D
networks, simulated training windows, training and the ``IfftC2vnn`` estimator.

Modules: ``config`` and ``data`` (NumPy), ``layers``, ``networks``, ``train`` and
``estimator`` (torch). The public names are re-exported by :mod:`skysense.learn`; importing
this package imports nothing.
"""
