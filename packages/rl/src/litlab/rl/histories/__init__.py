"""Learning histories for in-context RL: noise-distillation schedules, AD-epsilon generation for the grid
worlds, chunked memory-mapped storage and a return-curve report. `python -m litlab.rl.histories` generates."""

from litlab.rl.histories.generate import ad_eps_histories, calibrate_eps_end, generate
from litlab.rl.histories.report import report, task_curve_stats
from litlab.rl.histories.schedule import ad_eps, continuous_noise, mix_continuous
from litlab.rl.histories.store import FIELDS, HistorySet, TaskStream, completed_tasks, write_task

__all__ = [
    "FIELDS",
    "HistorySet",
    "TaskStream",
    "ad_eps",
    "ad_eps_histories",
    "calibrate_eps_end",
    "completed_tasks",
    "continuous_noise",
    "generate",
    "mix_continuous",
    "report",
    "task_curve_stats",
    "write_task",
]
