"""Experiments of the FAST paper (arXiv 2501.09747) reproduced at CPU scale; scripts in ``benchmarks/``."""
