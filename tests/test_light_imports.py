"""The parts the GPU scripts run import where datasets, gymnasium, mujoco and jsonargparse are missing (the GPU
image), from the sources as they are: the package ``__init__``s resolve their names lazily
(``litlab.shared.lazy``), so no script writes a stand-in package at run time."""

import subprocess
import sys
import textwrap

import pytest

ABSENT = ("datasets", "gymnasium", "mujoco", "jsonargparse")

BLOCKER = textwrap.dedent(
    f"""
    import importlib, importlib.abc, sys

    class Absent(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in {ABSENT!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}} (absent on the GPU image)")

    sys.meta_path.insert(0, Absent())
    for name in sys.argv[1:]:
        importlib.import_module(name)
    """
)


def _import_without_absent(*modules: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER, *modules], capture_output=True, text=True, timeout=180, check=False
    )


@pytest.mark.parametrize(
    "modules",
    [
        ("litlab.attention.ops", "litlab.attention.ops.triton_config", "litlab.attention.models"),
        ("litlab.rl.fql", "litlab.rl.fql.graph"),
        ("litlab.alignment.logprobs", "litlab.alignment.losses"),
        ("litlab.robotics", "litlab.robotics.tokenizers.reference", "litlab.robotics.data.synthetic",
         "litlab.robotics.spline_toy.module"),
    ],
    ids=["attention", "rl", "alignment", "robotics"],
)
def test_gpu_script_imports_need_none_of_the_absent_packages(modules):
    done = _import_without_absent(*modules)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_blocker_does_block():
    # the check above can fail: a module that needs gymnasium does not import under it
    done = _import_without_absent("litlab.rl.envs")
    assert done.returncode != 0 and "absent on the GPU image" in done.stderr
