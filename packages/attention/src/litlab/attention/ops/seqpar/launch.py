"""Run a function on P CPU processes joined in a gloo process group (tests, CPU benchmarks).

spawn_gloo(fn, P, *args)    calls fn(rank, P, *args) in P spawned processes, each inside an initialised
                            gloo group (torch.distributed's default group); a failure raises one error
                            with every failed rank's traceback, first failure first (the other ranks
                            usually fail after it, their peer gone)
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
import traceback
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.multiprocessing.spawn import ProcessException


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for MASTER_PORT)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _child(rank: int, size: int, port: int, threads: int, errors: str, init: bool, fn, args) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(threads)
    if init:
        dist.init_process_group("gloo", rank=rank, world_size=size)
    else:
        os.environ.update(LOCAL_RANK=str(rank), NODE_RANK="0", WORLD_SIZE=str(size))
    try:
        fn(rank, size, *args)
    except BaseException:
        Path(errors, f"{time.time():.6f}-rank{rank}").write_text(f"rank {rank}:\n{traceback.format_exc()}")
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _spawn(fn, size: int, args, threads: int, init: bool) -> None:
    if size < 1:
        raise ValueError(f"size: got {size}, expected >= 1 processes")
    with tempfile.TemporaryDirectory() as errors:
        try:
            mp.start_processes(_child, args=(size, free_port(), threads, errors, init, fn, args), nprocs=size,
                               start_method="spawn")  # fmt: skip
        except ProcessException as exc:
            reports = [p.read_text() for p in sorted(Path(errors).iterdir())]
            raise RuntimeError("\n".join(reports) or str(exc)) from None


def spawn_gloo(fn, size: int, *args, threads: int = 1) -> None:
    """fn(rank, size, *args) on `size` processes in a gloo group (spawned: fn must be importable)."""
    _spawn(fn, size, args, threads, init=True)


def spawn_lightning(fn, size: int, *args, threads: int = 1) -> None:
    """fn(rank, size, *args) on `size` processes that a Lightning Trainer with devices=size will join."""
    _spawn(fn, size, args, threads, init=False)
