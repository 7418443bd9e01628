"""litlab.shared.lazy: names resolve on first access, once, to the object of the named submodule."""

import json
import sys
import types

import pytest

from litlab.shared.lazy import lazy_exports


def _package(exports):
    pkg = types.ModuleType("fakepkg")
    pkg.__all__, pkg.__getattr__, pkg.__dir__ = lazy_exports("fakepkg", vars(pkg), exports)
    return pkg


def test_name_resolves_to_the_submodule_object_and_is_cached():
    sys.modules.pop("colorsys", None)
    pkg = _package({"dumps": "json", "rgb_to_hsv": "colorsys"})
    assert pkg.__all__ == ["dumps", "rgb_to_hsv"]
    assert "colorsys" not in sys.modules  # nothing imported before the first access
    assert pkg.dumps is json.dumps and "dumps" in vars(pkg)
    assert pkg.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0) and "colorsys" in sys.modules
    assert {"dumps", "rgb_to_hsv"} <= set(dir(pkg))


def test_unknown_name_raises_attribute_error_with_the_public_names():
    pkg = _package({"dumps": "json"})
    with pytest.raises(AttributeError, match=r"'fakepkg' has no attribute 'loads'; public names: \['dumps'\]"):
        pkg.loads  # noqa: B018
