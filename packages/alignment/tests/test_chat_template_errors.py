"""A chat template that raises on a row (an unknown role) drops that row and counts it, like other bad rows;
it was a raw jinja2 traceback that stopped the whole data set-up."""

import json

import pytest

from litlab.alignment.lit import PreferenceDataModule

STRICT_CHAT = (
    "{% for m in messages %}{% if m['role'] not in ['user', 'assistant'] %}"
    "{{ raise_exception('unknown role ' + m['role']) }}{% endif %}"
    "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def row(role: str) -> dict:
    return {"prompt": [{"role": role, "content": "What is 2 + 3?"}],
            "chosen": [{"role": "assistant", "content": "<answer>5</answer>"}],
            "rejected": [{"role": "assistant", "content": "<answer>6</answer>"}]}  # fmt: skip


def setup(tmp_path, task_dir, rows):  # noqa: ANN001
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    dm = PreferenceDataModule(train_files=[str(path)], tokenizer=str(task_dir / "tokenizer"),
                              chat_template=STRICT_CHAT, eos_tokens=["<|im_end|>"])  # fmt: skip
    dm.setup("fit")
    return dm


def test_row_the_template_refuses_is_dropped_and_counted(tmp_path, task_dir) -> None:  # noqa: ANN001
    with pytest.warns(UserWarning, match="chat_template_error"):
        dm = setup(tmp_path, task_dir, [row("user"), row("wizard"), row("user")])
    assert dm.report["train"]["usable"] == 2 and dm.report["train"]["dropped"] == {"chat_template_error": 1}
    assert len(dm.train_set) == 2


def test_every_row_refused_is_one_clear_error(tmp_path, task_dir) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=r"no pair survived encoding: .*'chat_template_error': 2"):
        setup(tmp_path, task_dir, [row("wizard"), row("oracle")])
