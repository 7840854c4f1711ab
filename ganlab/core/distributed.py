"""Multi-process training under torchrun: process group setup and the few collectives we use.

`torchrun --nproc_per_node N -m ganlab train ...` sets RANK, WORLD_SIZE, LOCAL_RANK and the
rendezvous variables; ganlab then runs DistributedDataParallel with NCCL on CUDA and gloo on
the CPU. `--batch-size` stays the GLOBAL batch: each of the N processes trains on its
batch_size / N slice of the same global batch, so steps, epochs and learning rates mean the
same thing at any scale. Rank 0 alone writes logs, grids and checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ganlab.errors import GanlabError


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in the job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: torch.device) -> tuple[DistEnv, torch.device]:
    """Join the process group torchrun prepared; returns the env and this rank's device.

    Args:
        device: the device the user asked for (cuda -> this rank's local GPU).
    Returns:
        (DistEnv, device). Not under torchrun: (DistEnv(), device) and nothing is initialised.
    """
    if not launched_by_torchrun():
        return DistEnv(), device
    env = DistEnv(
        rank=int(os.environ["RANK"]),
        world_size=int(os.environ["WORLD_SIZE"]),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )
    if device.type == "cuda":
        if env.local_rank >= torch.cuda.device_count():
            raise GanlabError(
                f"LOCAL_RANK {env.local_rank} but only "
                f"{torch.cuda.device_count()} GPU(s) are visible on this node; "
                "lower --nproc_per_node."
            )
        device = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise GanlabError(f"distributed training runs on cuda or cpu, not {device.type}.")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return env, device


def teardown(env: DistEnv, clean: bool = True) -> None:
    """Leave the process group. After a clean run the ranks first wait for each other: a rank
    that tore gloo down while rank 0 was still writing its last checkpoint was seen to abort
    ("terminate called without an active exception"). After an error nobody waits."""
    if env.enabled and dist.is_initialized():
        if clean:
            dist.barrier()
        dist.destroy_process_group()


def mean_over_ranks(t: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Average a small tensor (e.g. running losses) over all processes."""
    if env.enabled:
        t = t.clone()
        dist.all_reduce(t)
        t /= env.world_size
    return t


def any_rank(flag: bool, env: DistEnv, device: torch.device) -> bool:
    """True if `flag` is set on any process (so all ranks stop at the same step)."""
    if not env.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t)
    return bool(t.item() > 0)


def barrier(env: DistEnv) -> None:
    if env.enabled:
        dist.barrier()
