"""TRL's preference-data conventions: implicit prompts, one shared boundary, conversational labels.

Each row is tokenized by litlab's reader + `PreferenceEncoder` and, where trl is installed, by TRL's own
`DPOTrainer._prepare_dataset` (prompt extraction, EOS, tokenization) on the same tokenizer; the prompt
tokens and each side's labelled tokens must be TRL's exactly.
"""

import json
import types

import pytest

from litlab.alignment.data import PreferenceEncoder
from litlab.alignment.data.files import load_preference_rows
from litlab.alignment.data.trl_conventions import extract_prompt, fill_implicit_prompt

CHAT = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SYSTEM = {"role": "system", "content": "You are a careful calculator. " * 12}  # ~100 tokens: no 64-token cut
ROWS = [
    {"chosen": "What is 1 + 1? <answer>2</answer>", "rejected": "What is 1 + 1? <answer>3</answer>"},  # implicit
    {"prompt": "What is 4 + 4? <ans", "chosen": "wer>8</answer>", "rejected": "wer>9</answer>"},  # merge at the cut
    {"prompt": "What is 4 + 4? <ans", "chosen": "wer>8</answer>", "rejected": " no"},  # merges on one side only
    {"chosen": [SYSTEM, {"role": "user", "content": "What is 2 + 3?"}, {"role": "assistant", "content": "5"}],
     "rejected": [SYSTEM, {"role": "user", "content": "What is 2 + 3?"}, {"role": "assistant", "content": "6"}]},
    {"prompt": [{"role": "user", "content": "What is 7 + 1?"}],
     "chosen": [{"role": "assistant", "content": "<answer>8</answer>"}],
     "rejected": [{"role": "assistant", "content": "<answer>1</answer>"}]},
]  # fmt: skip


@pytest.mark.parametrize(
    "chosen, rejected, expected",
    [
        ("Q: hi A: yes", "Q: hi A: no", ("Q: hi A:", " yes", " no")),  # the space goes back to the answers
        ("abc", "abd", ("ab", "c", "d")),
        ("ab", "abc", ("a", "b", "bc")),  # a prefix of the other: TRL stops at the last shared position
        ([{"r": 1}, {"r": 2}], [{"r": 1}, {"r": 3}], ([{"r": 1}], [{"r": 2}], [{"r": 3}])),
    ],
)
def test_extract_prompt_by_hand(chosen, rejected, expected):
    out = extract_prompt(chosen, rejected)
    assert (out["prompt"], out["chosen"], out["rejected"]) == expected


def test_extract_prompt_matches_trl():
    data_utils = pytest.importorskip("trl.data_utils")
    string_prompt = {"prompt": "What?", "chosen": ROWS[2]["chosen"], "rejected": ROWS[2]["rejected"]}
    cases = [dict(r) for r in ROWS] + [string_prompt]
    for row in cases:
        ours = dict(row)
        fill_implicit_prompt(ours)
        assert ours == {**row, **data_utils.maybe_extract_prompt(dict(row))}


def _encode(tokenizer, row, tmp_path, **kw):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(row) + "\n")
    rows, bad = load_preference_rows(str(path))
    assert not bad
    enc = PreferenceEncoder(tokenizer, {tokenizer.eos_token_id}, max_length=512, max_prompt_length=None, **kw)
    chosen, rejected = enc.encode(rows[0])
    assert chosen.input_ids[: chosen.label_start] == rejected.input_ids[: rejected.label_start]
    labelled = [s.input_ids[s.label_start : s.label_end] for s in (chosen, rejected)]
    return chosen.input_ids[: chosen.label_start], labelled


@pytest.mark.parametrize("index", range(len(ROWS)))
def test_tokens_and_labels_match_trl(tokenizer, tmp_path, index):
    trl = pytest.importorskip("trl")
    from datasets import Dataset

    tokenizer.chat_template = CHAT
    prompt, (chosen, rejected) = _encode(tokenizer, ROWS[index], tmp_path)
    args = trl.DPOConfig(output_dir=str(tmp_path / "o"), report_to=[], use_cpu=True, bf16=False, max_length=512)
    stub = types.SimpleNamespace(_tokenizer=tokenizer)
    ref = trl.DPOTrainer._prepare_dataset(stub, Dataset.from_list([ROWS[index]]), tokenizer, args, "train")[0]
    assert (prompt, chosen, rejected) == (ref["prompt_ids"], ref["chosen_ids"], ref["rejected_ids"])


def test_litlab_convention_is_kept_as_an_option(tokenizer, tmp_path):
    tokenizer.chat_template = CHAT
    _, (trl_chosen, _) = _encode(tokenizer, ROWS[3], tmp_path)
    _, (own_chosen, _) = _encode(tokenizer, ROWS[3], tmp_path, convention="litlab")
    end, newline = tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer("\n", add_special_tokens=False)["input_ids"]
    assert trl_chosen[-1 - len(newline) :] == [end, *newline]  # TRL labels the template's text after the turn end
    assert own_chosen == trl_chosen + [tokenizer.eos_token_id]  # litlab: the turn end is not EOS, so one is added
    enc = PreferenceEncoder(tokenizer, {tokenizer.eos_token_id, end}, max_length=512, max_prompt_length=None,
                            convention="litlab")  # fmt: skip
    side = enc.encode(load_preference_rows(str(tmp_path / "rows.jsonl"))[0][0])[0]
    assert side.input_ids[side.label_start : side.label_end] == trl_chosen[: -len(newline)]  # stops at <|im_end|>
    with pytest.raises(ValueError, match="convention"):
        PreferenceEncoder(tokenizer, {tokenizer.eos_token_id}, max_length=8, max_prompt_length=None, convention="x")


def test_one_boundary_for_both_sides_where_a_token_spans_it(tokenizer, tmp_path):
    row = ROWS[2]  # "<ans" + "wer>" merges on the chosen side only
    prompt, (chosen, rejected) = _encode(tokenizer, row, tmp_path)
    enc = PreferenceEncoder(tokenizer, {tokenizer.eos_token_id}, max_length=512, max_prompt_length=None,
                            convention="litlab")  # fmt: skip
    own_chosen, own_rejected = enc.encode(load_preference_rows(str(tmp_path / "rows.jsonl"))[0][0])
    assert own_chosen.label_start < own_rejected.label_start  # litlab: each side its own boundary
    assert len(prompt) == own_chosen.label_start  # TRL: the shorter one for both
    assert tokenizer.decode(rejected).endswith(" no<|endoftext|>") and tokenizer.decode(rejected) != " no<|endoftext|>"


def test_synthetic_task_writes_conversational_rows(tmp_path, task_dir):
    from litlab.alignment.data.synthetic import main
    from litlab.alignment.lit import PreferenceDataModule

    main(["--out", str(tmp_path / "arith"), "--n-train", "6", "--conversational"])
    chat = [json.loads(line) for line in open(tmp_path / "arith" / "train_chat.jsonl")]
    plain = [json.loads(line) for line in open(tmp_path / "arith" / "train.jsonl")]
    assert len(chat) == len(plain) == 6
    for c, p in zip(chat, plain, strict=True):
        assert c["prompt"] == [{"role": "user", "content": p["prompt"].rstrip("\n")}]
        assert c["chosen"] == [{"role": "assistant", "content": p["chosen"]}]
        assert c.get("rejected_terminated") == p.get("rejected_terminated")
    dm = PreferenceDataModule(train_files=[str(tmp_path / "arith" / "train_chat.jsonl")],
                              tokenizer=str(task_dir / "tokenizer"), chat_template=CHAT)  # fmt: skip
    dm.setup("fit")
    assert dm.report["train"]["usable"] == 6
