"""Action tokenizers: FAST (arXiv 2501.09747), per-dimension binning, quantile normalization."""

from litlab.robotics.tokenizers.binning import BinningTokenizer
from litlab.robotics.tokenizers.dct import dct, dct_matrix, fast_coefficients, idct
from litlab.robotics.tokenizers.fast import DecodeResult, FASTDecodeError, FASTTokenizer
from litlab.robotics.tokenizers.normalize import QuantileNormalizer

__all__ = [
    "BinningTokenizer",
    "DecodeResult",
    "FASTDecodeError",
    "FASTTokenizer",
    "QuantileNormalizer",
    "dct",
    "dct_matrix",
    "fast_coefficients",
    "idct",
]
