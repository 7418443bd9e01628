"""litlab.robotics: FAST action tokenization (arXiv 2501.09747), binning baseline, LeRobot v3 action-chunk
datasets, the PointMass2D demonstration simulator, the paper's spline toy and a small VLA policy.

Public names resolve lazily (``litlab.shared.lazy``): ``import litlab.robotics.tokenizers`` does not import
the datasets, simulator and VLA stack. A new public name is one entry below.
"""

from litlab.shared.lazy import lazy_exports

_TOKENIZERS = "litlab.robotics.tokenizers"
_VLA = "litlab.robotics.vla"
_EXPORTS: dict[str, str] = {
    "ActionChunkDataModule": "litlab.robotics.data.chunks",
    "ActionChunkDataset": "litlab.robotics.data.chunks",
    "BinningTokenizer": _TOKENIZERS,
    "ClosedLoopEval": _VLA,
    "DecodeResult": _TOKENIZERS,
    "FASTDecodeError": _TOKENIZERS,
    "FASTTokenizer": _TOKENIZERS,
    "LeRobotV3Dataset": "litlab.robotics.data.lerobot_v3",
    "PointMass2DEnv": "litlab.robotics.sims.pointmass2d",
    "QuantileNormalizer": _TOKENIZERS,
    "SplineToy": "litlab.robotics.spline_toy.module",
    "TinyVLA": _VLA,
    "TinyVLAFlow": _VLA,
    "VLAConfig": _VLA,
    "VLADataModule": _VLA,
    "VLAModule": _VLA,
    "VLAProcessor": _VLA,
    "fast_coefficients": _TOKENIZERS,
    "write_lerobot_v3": "litlab.robotics.data.lerobot_v3",
}

__all__, __getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
