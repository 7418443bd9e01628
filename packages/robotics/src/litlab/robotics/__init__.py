"""litlab.robotics: FAST action tokenization (arXiv 2501.09747), binning baseline, LeRobot v3 action-chunk
datasets, the PointMass2D demonstration simulator and the paper's spline toy."""

from litlab.robotics.data.chunks import ActionChunkDataModule, ActionChunkDataset
from litlab.robotics.data.lerobot_v3 import LeRobotV3Dataset, write_lerobot_v3
from litlab.robotics.spline_toy.module import SplineToy
from litlab.robotics.sims.pointmass2d import PointMass2DEnv
from litlab.robotics.tokenizers import (
    BinningTokenizer,
    DecodeResult,
    FASTDecodeError,
    FASTTokenizer,
    QuantileNormalizer,
    fast_coefficients,
)
from litlab.robotics.vla import ClosedLoopEval, TinyVLA, TinyVLAFlow, VLAConfig, VLADataModule, VLAModule, VLAProcessor

__all__ = [
    "ClosedLoopEval",
    "TinyVLA",
    "TinyVLAFlow",
    "VLAConfig",
    "VLADataModule",
    "VLAModule",
    "VLAProcessor",
    "ActionChunkDataModule",
    "ActionChunkDataset",
    "BinningTokenizer",
    "DecodeResult",
    "FASTDecodeError",
    "FASTTokenizer",
    "LeRobotV3Dataset",
    "PointMass2DEnv",
    "QuantileNormalizer",
    "SplineToy",
    "fast_coefficients",
    "write_lerobot_v3",
]
