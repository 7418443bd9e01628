"""Run a script or module with ``LA_CONFIG`` applied to this GPU's default kernel launch configuration.

    python3 benchmarks/attention/launch_env.py benchmarks/attention/attention_kernels.py --out results
    python3 benchmarks/attention/launch_env.py -m pytest packages/attention/tests/test_ops_gpu.py -q

``LA_CONFIG`` names a JSON file of ``KernelConfig`` fields (launch options as ``{"num_warps": ..,
"num_stages": ..}``); its values patch the entry of ``litlab.attention.ops.triton_config.TABLE`` for this
device's compute capability (the Hopper entry where the table has none), so every later launch and plan
uses them. Without ``LA_CONFIG`` the target runs unchanged. ``attention_gpu_run.sh`` runs each step so.
"""

from __future__ import annotations

import json
import os
import runpy
import sys


def apply_la_config() -> None:
    path = os.environ.get("LA_CONFIG")
    if not path:
        return
    import torch

    from litlab.attention.ops import triton_config

    cap = torch.cuda.get_device_capability()
    base = triton_config.TABLE.get(cap, triton_config.HOPPER)
    with open(path) as f:
        triton_config.TABLE[cap] = base.patched(json.load(f))


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1:2] == ["-m"] and len(sys.argv) < 3:
        raise SystemExit(f"usage: {sys.argv[0]} SCRIPT [ARGS...] | -m MODULE [ARGS...]")
    apply_la_config()
    if sys.argv[1] == "-m":
        sys.argv = sys.argv[2:]
        sys.path.insert(0, os.getcwd())  # as ``python -m`` does
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    else:
        sys.argv = sys.argv[1:]
        runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
