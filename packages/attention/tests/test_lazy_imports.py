"""The package ``__init__`` resolves its public names lazily: the ops and the Backbone import without the
language-model and data stack (the GPU scripts import them where datasets is not installed)."""

import subprocess
import sys

import pytest

import litlab.attention

HEAVY = ("datasets", "tokenizers", "litlab.attention.lm", "litlab.attention.data")


def _loaded_after(statement: str) -> list[str]:
    code = f"import sys\n{statement}\nprint(' '.join(n for n in {HEAVY!r} if n in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.split()


@pytest.mark.parametrize(
    "statement",
    [
        "import litlab.attention.ops",
        "from litlab.attention import lightning_attn, slopes",
        "from litlab.attention import Backbone",
    ],
)
def test_light_names_do_not_import_the_lm_and_data_stack(statement):
    assert _loaded_after(statement) == []


def test_the_language_model_still_brings_its_stack():
    # the check above can fail: naming LanguageModel / TextDataModule does load that stack
    assert "litlab.attention.lm" in _loaded_after("from litlab.attention import LanguageModel")
    assert "litlab.attention.data" in _loaded_after("from litlab.attention import TextDataModule")


def test_every_public_name_resolves_to_its_submodule_object():
    from litlab.attention.models import Backbone
    from litlab.attention.ops import lightning_attn

    assert litlab.attention.__all__ == sorted(litlab.attention.__all__)
    for name in litlab.attention.__all__:
        assert getattr(litlab.attention, name).__name__ == name
    assert litlab.attention.Backbone is Backbone and litlab.attention.lightning_attn is lightning_attn
    assert set(litlab.attention.__all__) <= set(dir(litlab.attention))


def test_unknown_name_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match="'NoSuchThing'"):
        litlab.attention.NoSuchThing  # noqa: B018
    with pytest.raises(ImportError):
        from litlab.attention import NoSuchThing  # noqa: F401
