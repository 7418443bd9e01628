"""Tokenizing preference rows by the diff method (TRL 1.x).

Render the prompt (chat template with the generation prompt for conversational rows) and prompt +
completion whole, tokenize both without special tokens, and take the longest common token prefix as the
boundary (a prompt that is not a full prefix, a BPE merge across the boundary, is counted). String
completions get the EOS appended unless one is already last, never a second one; run-on completions
(`*_terminated: false`, a litlab flag TRL ignores) get none.

`convention="trl"` (the default) gives TRL's `DPOTrainer` tokens and labels: one boundary shared by both
sides (the shorter common prefix), and conversational completions labelled whole, template text after the
end-of-turn token included, with no EOS added. `convention="litlab"` keeps litlab's earlier choices: each
side split at its own boundary, conversational labels ending at the last EOS / end-of-turn token (the
template's text after it unlabelled) and an EOS appended where the completion holds none.

The prompt is truncated first (`keep_end` keeps its last tokens); a pair
whose prompt fills `max_length` is dropped; a completion cut by `max_length` is dropped by default, and
when kept never carries an EOS.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from .files import is_conversational

TRUNCATION_MODES = ("keep_end", "keep_start")
CONVENTIONS = ("trl", "litlab")


@dataclass
class EncodedSide:
    input_ids: list[int]
    label_start: int  # first labelled position (the first completion token)
    label_end: int  # one past the last labelled position


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class PreferenceEncoder:
    """Row -> (chosen, rejected) EncodedSide pair, or the reason it was dropped; `stats` counts events."""

    def __init__(
        self,
        tokenizer,
        eos_ids: set[int],
        *,
        max_length: int,
        max_prompt_length: int | None,
        truncation_mode: str = "keep_end",
        drop_truncated: bool = True,
        chat_template: str | None = None,
        convention: str = "trl",
    ) -> None:
        if convention not in CONVENTIONS:
            raise ValueError(f"convention must be one of {CONVENTIONS}, got {convention!r}")
        self.trl = convention == "trl"
        if truncation_mode not in TRUNCATION_MODES:
            raise ValueError(f"truncation_mode must be one of {TRUNCATION_MODES}, got {truncation_mode!r}")
        if max_length < 2 or (max_prompt_length is not None and not 1 <= max_prompt_length < max_length):
            raise ValueError(
                f"need max_length >= 2 and 1 <= max_prompt_length < max_length, got {max_length}, {max_prompt_length}"
            )
        self.tok, self.eos_ids, self.eos = tokenizer, set(eos_ids), tokenizer.eos_token_id
        self.max_length, self.max_prompt_length = max_length, max_prompt_length
        self.keep_end, self.drop_truncated = truncation_mode == "keep_end", drop_truncated
        self.chat_template = chat_template or getattr(tokenizer, "chat_template", None)
        self.stats: Counter = Counter()

    def _ids(self, text: str) -> list[int]:
        return list(self.tok(text, add_special_tokens=False)["input_ids"])

    def _render(self, row: dict) -> tuple[str, dict[str, str]] | str:
        if not is_conversational(row):
            return row["prompt"], {s: row["prompt"] + row[s] for s in ("chosen", "rejected")}
        if self.chat_template is None:
            raise ValueError("conversational rows need a chat template: the tokenizer has none; set chat_template")
        if row["prompt"][-1]["role"] == "assistant":
            return "prompt_ends_with_assistant"
        from jinja2.exceptions import TemplateError

        render = lambda msgs, gen: self.tok.apply_chat_template(
            msgs, tokenize=False, add_generation_prompt=gen, chat_template=self.chat_template
        )
        try:  # a template that raises on the row (an unknown role, say) drops the row, counted by reason
            prompt = render(row["prompt"], True)
            return prompt, {s: render(row["prompt"] + row[s], False) for s in ("chosen", "rejected")}
        except TemplateError:
            return "chat_template_error"

    def _completion(self, comp: list[int], terminated: bool, conversational: bool) -> tuple[list[int], list[int]]:
        """(labelled tokens, unlabelled tail) of one completion."""
        last = max((i for i, t in enumerate(comp) if t in self.eos_ids), default=None)
        if terminated and conversational and self.trl:  # TRL labels the rendered turn whole, adds nothing
            return comp, []
        if terminated:
            if last is not None and (conversational or last == len(comp) - 1):
                return comp[: last + 1], comp[last + 1 :]
            return comp + [self.eos], []
        if conversational and last is not None:  # the template closed the turn: drop that end
            return comp[:last], []
        return comp, []

    def _side(self, prompt_ids: list[int], full: list[int], boundary: int, terminated: bool,
              conv: bool) -> EncodedSide | str:  # fmt: skip
        if boundary < len(prompt_ids):
            self.stats["prompt_not_prefix"] += 1
        prompt, (labelled, tail) = full[:boundary], self._completion(full[boundary:], terminated, conv)
        if not labelled:
            return "empty_completion"
        mpl = self.max_prompt_length
        if mpl is not None and len(prompt) > mpl:
            self.stats["prompt_truncated"] += 1
            prompt = prompt[-mpl:] if self.keep_end else prompt[:mpl]
        if not prompt:
            return "empty_prompt"
        room = self.max_length - len(prompt)
        if room <= 0:
            return "prompt_fills_max_length"
        if len(labelled) > room:
            if self.drop_truncated:
                return "completion_truncated"
            self.stats["completion_truncated_kept"] += 1
            labelled, tail = labelled[:room], []
            while labelled and labelled[-1] in self.eos_ids:  # a cut completion never ends in EOS
                labelled.pop()
            if not labelled:
                return "empty_completion"
        tail = tail[: room - len(labelled)]
        return EncodedSide(prompt + labelled + tail, len(prompt), len(prompt) + len(labelled))

    def encode(self, row: dict) -> tuple[EncodedSide, EncodedSide] | str:
        rendered = self._render(row)
        if isinstance(rendered, str):
            return rendered
        prompt_text, texts = rendered
        prompt_ids, conv = self._ids(prompt_text), is_conversational(row)
        full = {side: self._ids(texts[side]) for side in ("chosen", "rejected")}
        bounds = {side: common_prefix(prompt_ids, ids) for side, ids in full.items()}
        if self.trl:  # one boundary for both sides, as TRL's DPOTrainer
            bounds = dict.fromkeys(bounds, min(bounds.values()))
        sides = []
        for side in ("chosen", "rejected"):
            terminated = row.get(f"{side}_terminated", True) is not False
            encoded = self._side(prompt_ids, full[side], bounds[side], terminated, conv)
            if isinstance(encoded, str):
                return encoded
            sides.append(encoded)
        return sides[0], sides[1]
