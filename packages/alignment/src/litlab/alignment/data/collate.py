"""Collation of encoded pairs into one right-padded batch of 2B rows (chosen 0..B-1, rejected B..2B-1).

Masks come from the recorded label spans, never from `input_ids == pad_id`. `targets` are
already shifted: targets[r, t] is the label predicted from position t (-100 where there is none).
"""

from __future__ import annotations

import torch
from torch import Tensor

IGNORE = -100


class PreferenceCollator:
    """List of {"chosen": EncodedSide-like dict, "rejected": ...} -> batch dict of tensors.

    Keys: input_ids, attention_mask, targets [R, T]; completion_mask, eos_mask [R, T] bool;
    is_rejected, pair_index [R]. With chosen_only=True only the chosen rows are emitted (SFT).
    """

    def __init__(self, pad_id: int, eos_ids: set[int], chosen_only: bool = False) -> None:
        if pad_id in eos_ids:
            raise ValueError(f"pad id {pad_id} is an EOS id {sorted(eos_ids)}: padding must differ from EOS")
        self.pad_id, self.eos_ids, self.chosen_only = pad_id, torch.tensor(sorted(eos_ids)), chosen_only

    def __call__(self, examples: list[dict]) -> dict[str, Tensor]:
        sides = ("chosen",) if self.chosen_only else ("chosen", "rejected")
        rows = [(ex[s], k, i) for k, s in enumerate(sides) for i, ex in enumerate(examples)]
        width = max(len(r["input_ids"]) for r, _, _ in rows)
        n = len(rows)
        input_ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        attention_mask = torch.zeros(n, width, dtype=torch.long)
        targets = torch.full((n, width), IGNORE, dtype=torch.long)
        for r, (side, _, _) in enumerate(rows):
            ids = torch.as_tensor(side["input_ids"], dtype=torch.long)
            input_ids[r, : len(ids)] = ids
            attention_mask[r, : len(ids)] = 1
            lo, hi = side["label_start"], side["label_end"]
            targets[r, lo - 1 : hi - 1] = ids[lo:hi]  # position t predicts token t + 1
        completion_mask = targets != IGNORE
        return dict(
            input_ids=input_ids,
            attention_mask=attention_mask,
            targets=targets,
            completion_mask=completion_mask,
            eos_mask=completion_mask & torch.isin(targets, self.eos_ids),
            is_rejected=torch.tensor([k == 1 for _, k, _ in rows]),
            pair_index=torch.tensor([i for _, _, i in rows]),
        )
