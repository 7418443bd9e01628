"""TRL's preference-data conventions (TRL 1.x ``data_utils.maybe_extract_prompt``), reimplemented.

Implicit-prompt rows carry only ``chosen`` and ``rejected``, each holding the prompt too: a string
(standard) or a message list (conversational). The prompt is their longest common prefix, characters
for strings and whole messages for lists, and the rest of each is its completion. As in TRL, a shared
prefix that ends just after a space gives that space back to the completions, and where one side is a
prefix of the other the loop stops at the last shared position (the last element is kept as completion).
A string ``prompt`` beside conversational completions (datasets that add the prompt as a column while
the messages repeat it) is treated as implicit too, as TRL does; unlike TRL, a message-list prompt beside
string completions is left alone and refused as mixed by the reader, rather than split.
"""

from __future__ import annotations

__all__ = ["extract_prompt", "fill_implicit_prompt"]


def extract_prompt(chosen, rejected) -> dict:
    """{"prompt", "chosen", "rejected"} split at the shared prefix of ``chosen`` and ``rejected``."""
    idx = 0
    for idx in range(min(len(chosen), len(rejected))):
        if chosen[idx] != rejected[idx]:
            if chosen[idx - 1] == " ":  # the space before the completion stays with the completion
                idx -= 1
            break
    return {"prompt": chosen[:idx], "chosen": chosen[idx:], "rejected": rejected[idx:]}


def _kind(value) -> str | None:
    if isinstance(value, str):
        return "str"
    if isinstance(value, list) and all(isinstance(m, dict) for m in value):
        return "messages"
    return None


def fill_implicit_prompt(row: dict) -> bool:
    """Split an implicit-prompt row in place (adds ``prompt``, shortens the completions); True if it did.

    Rows without usable ``chosen``/``rejected`` of one kind, or whose ``prompt`` is already of their kind,
    are left as they are."""
    chosen, rejected = row.get("chosen"), row.get("rejected")
    kind = _kind(chosen)
    if kind is None or kind != _kind(rejected):
        return False
    prompt = row.get("prompt")
    if prompt is not None and not (kind == "messages" and isinstance(prompt, str)):
        return False  # an explicit prompt of the completions' kind, or a message prompt with string answers
    row.update(extract_prompt(chosen, rejected))
    return True
