"""The FAST paper's spline toy (arXiv 2501.09747, Fig. 3): a small autoregressive model that predicts the
cubic spline through 4 random points from its first samples, with FAST or naive binning tokens.
The sweep over sampling rates is ``benchmarks/robotics/robotics_spline_toy.py``."""

from litlab.robotics.spline_toy.data import ActionCodec, spline_toy_batch
from litlab.robotics.spline_toy.module import SplineToy

__all__ = ["ActionCodec", "SplineToy", "spline_toy_batch"]
