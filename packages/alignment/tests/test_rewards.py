"""Reward functions on edge cases: missing tags, several answers, thousands separators, GSM8K gold."""

import math

import pytest

from litlab.alignment.rewards import (
    accuracy_reward,
    compute_rewards,
    int_answer_reward,
    resolve_rewards,
    soft_format_reward,
    strict_format_reward,
    tag_count_reward,
)

GOOD = "<reasoning>\n12 + 30 = 42\n</reasoning>\n<answer>\n42\n</answer>"


def acc(completions, answers):
    return accuracy_reward(["p"] * len(completions), completions, answer=answers)


def test_accuracy_takes_the_last_answer_block():
    assert acc([GOOD, "<answer>41</answer> no, <answer>42</answer>", "<answer>42</answer><answer>41</answer>"],
               ["42"] * 3) == [1.0, 1.0, 0.0]  # fmt: skip


def test_accuracy_without_tags_or_with_an_empty_block_is_wrong():
    assert acc(["42", "<answer>42", "42</answer>", "<answer></answer>", ""], ["42"] * 5) == [0.0] * 5


def test_accuracy_compares_numbers_with_thousands_separators_and_decimals():
    done = ["<answer>1,234</answer>", "<answer> 1234.0 </answer>", "<answer>$1,234</answer>", "<answer>1234.</answer>"]
    assert acc(done, ["1234"] * 4) == [1.0] * 4
    assert acc(["<answer>1,234,567</answer>", "<answer>-3</answer>", "<answer>12,34</answer>"],
               ["1234567", "-3.00", "1234"]) == [1.0, 1.0, 0.0]  # fmt: skip


def test_accuracy_falls_back_to_exact_text_and_reads_gsm8k_gold():
    assert acc(["<answer>x + 1</answer>", "<answer>x+1</answer>"], ["x + 1"] * 2) == [1.0, 0.0]
    gsm = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72"
    assert acc(["<answer>72</answer>", "<answer>24</answer>"], [gsm, gsm]) == [1.0, 0.0]
    assert acc(["<answer>72</answer>", "<answer>72</answer>"], [None, "  "]) == [None, None]


def test_accuracy_reads_conversational_completions_and_checks_the_column():
    msgs = [[{"role": "assistant", "content": "<answer>7</answer>"}]]
    assert accuracy_reward(["p"], msgs, answer=["7"]) == [1.0]
    with pytest.raises(ValueError, match="`answer`"):
        accuracy_reward(["p"], ["<answer>7</answer>"])
    with pytest.raises(ValueError, match="1 completions but 2"):
        accuracy_reward(["p"], ["<answer>7</answer>"], answer=["7", "8"])


def test_strict_format_needs_the_whole_template_with_newlines():
    cases = [GOOD, GOOD + "\n", GOOD + " extra", "<reasoning>12</reasoning>\n<answer>\n42\n</answer>",
             "<reasoning>\na\n</reasoning>\n<answer>\n1\n</answer>\n<answer>\n2\n</answer>", " " + GOOD]  # fmt: skip
    assert strict_format_reward([""] * 6, cases) == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]


def test_soft_format_allows_any_whitespace_but_one_block_each():
    cases = [
        "<reasoning>a</reasoning><answer>1</answer>",
        "  <reasoning>\na\n</reasoning>  \n <answer>1</answer>\n",
        "<answer>1</answer>",
        "<reasoning>a</reasoning><answer>1</answer><answer>2</answer>",
        "text <reasoning>a</reasoning><answer>1</answer>",
        "<answer>1</answer><reasoning>a</reasoning>",
        GOOD,
    ]
    assert soft_format_reward([""] * 7, cases) == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]  # fmt: skip


def test_int_answer_and_tag_count():
    assert int_answer_reward([""] * 4, [GOOD, "<answer>1,000</answer>", "<answer>1.5</answer>", "no"]) == [
        1.0, 1.0, 0.0, 0.0]  # fmt: skip
    got = tag_count_reward([""] * 3, [GOOD, GOOD + "abc", "<answer>1</answer><answer>2</answer>"])
    assert got == pytest.approx([0.5, 0.5 - 0.003, 0.0])


def test_combination_is_a_weighted_nansum_and_all_none_is_nan():
    fns = resolve_rewards({"accuracy": 2.0, "strict_format": 0.5})
    table, total = compute_rewards(fns, ["p"] * 3, [GOOD, "<answer>42</answer>", GOOD], {"answer": ["42", "42", None]})
    assert table[:2].tolist() == [[1.0, 1.0], [1.0, 0.0]] and math.isnan(table[2, 0])
    assert total.tolist() == pytest.approx([2.5, 2.0, 0.5])
    only_acc = resolve_rewards({"accuracy": 1.0})
    _, total = compute_rewards(only_acc, ["p"], [GOOD], {"answer": [None]})
    assert math.isnan(total[0])


def test_custom_rewards_by_dotted_path_and_clear_errors():
    fns = resolve_rewards({"litlab.alignment.rewards.soft_format_reward": 1.0})
    assert compute_rewards(fns, ["p"], [GOOD], {})[1].tolist() == [1.0]
    with pytest.raises(ValueError, match="unknown reward 'acuracy'"):
        resolve_rewards({"acuracy": 1.0})
    with pytest.raises(ValueError, match="could not be imported"):
        resolve_rewards({"no_such_pkg.fn": 1.0})
    bad = {"short": (lambda prompts, completions, **kw: [1.0], 1.0)}
    with pytest.raises(ValueError, match="must return a list of 2"):
        compute_rewards(bad, ["p", "q"], ["a", "b"], {})
