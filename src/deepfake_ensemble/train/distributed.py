"""Data-parallel training of one member on the devices of one node
(``models.<name>.gpus`` above 1).

A training job with ``gpus: N`` starts ``torchrun --standalone
--nproc-per-node N`` (:func:`launch`) from inside its own process: the job
stays one task (one SLURM task, one Snakemake job) and torchrun starts the N
worker processes on the node, gives each its rank and a free rendezvous
port, forwards a cancel (SIGTERM) to all of them and ends them all when one
fails. Each worker (:func:`main`) joins the process group (NCCL on CUDA,
gloo on CPU), takes GPU ``LOCAL_RANK`` and trains through the same
:func:`deepfake_ensemble.train.loop.train_model` as a single process does;
the loop reads the process group (:func:`ranks`) and wraps the model in
DistributedDataParallel.

Each rank sees a disjoint part of every batch (:class:`RankBatches`): the
epoch's order is the single process's, cut into the configured
``batch_size``, and rank ``r`` takes the ``r``-th share of each batch, so one
optimiser step of N processes sees exactly the items of one step of one
process (``docs/cluster.md``, "Several GPUs per member").
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import BatchSampler, Sampler

from ..defaults import DEFAULTS
from ..errors import InputError

# named, also where torchrun runs this module as __main__
log = logging.getLogger("deepfake_ensemble.train.distributed")

#: how long a rank waits for the others (rank 0 validates alone meanwhile)
TIMEOUT = datetime.timedelta(hours=6)
#: the arguments of the workers, written by :func:`launch` beside the resume state
ARGS_NAME = "ranks.json"


@dataclass(frozen=True)
class Ranks:
    """This process's place among the processes of one training job."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    #: a gloo group for the small messages (validation results), which rank
    #: 0 sends after validating alone; None in a single process
    control: Any = None
    #: whether the process joined a process group (torchrun started it): its
    #: model is then in DistributedDataParallel, one process alone included
    grouped: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0


def ranks() -> Ranks:
    """The ranks of the process group this process joined (:func:`init`), or
    a single process."""
    if not (dist.is_available() and dist.is_initialized()):
        return Ranks()
    return Ranks(
        rank=dist.get_rank(),
        world=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", dist.get_rank())),
        control=_CONTROL.get("group"),
        grouped=True,
    )


_CONTROL: dict[str, Any] = {}


def init(device: torch.device) -> None:
    """Join the process group torchrun (or :func:`spawn`) describes in the
    environment: NCCL on CUDA, gloo on CPU, with a gloo group beside NCCL for
    the messages sent while other ranks wait."""
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend, timeout=TIMEOUT)
    _CONTROL["group"] = (
        dist.new_group(backend="gloo", timeout=TIMEOUT) if backend == "nccl" else None
    )


def close() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
    _CONTROL.clear()


def share(value: Any, ranks_: Ranks) -> Any:
    """Rank 0's ``value`` on every rank."""
    if ranks_.world == 1:
        return value
    box = [value if ranks_.main else None]
    dist.broadcast_object_list(box, src=0, group=ranks_.control)
    return box[0]


def total(values: list[float], ranks_: Ranks) -> list[float]:
    """``values`` summed over the ranks."""
    if ranks_.world == 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor, group=ranks_.control)
    return tensor.tolist()


def check_split(name: str, batch_size: int, n_items: int, world: int) -> None:
    """One clear error where a batch cannot be shared by ``world`` ranks."""
    if batch_size % world:
        raise InputError(
            f"models.{name}.batch_size ({batch_size}) must divide by "
            f"models.{name}.gpus ({world}): each process takes an equal share"
        )
    if n_items < world:
        raise InputError(
            f"{name}: {n_items} training items cannot be shared by {world} processes"
        )


def share_bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    """Start and end of rank ``rank``'s contiguous share of ``n`` items
    (shares as equal as they can be, the first ones larger)."""
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


class RankBatches(Sampler[list[int]]):
    """The batches of ``sampler``'s order (``batch_size`` items each, the
    last dropped when ``drop_last``) and of them rank ``rank``'s share: the
    union over the ranks of their ``k``-th batches is the single process's
    ``k``-th batch. Works with any order (the study's permutation, the
    class-balanced draws)."""

    def __init__(
        self, sampler, batch_size: int, drop_last: bool, rank: int, world: int
    ) -> None:
        self.batches = BatchSampler(sampler, batch_size, drop_last)
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches:
            start, end = share_bounds(len(batch), self.rank, self.world)
            yield batch[start:end]


def skip_draws(generator: torch.Generator, n: int) -> None:
    """Advance ``generator`` past ``n`` items' augmentation draws (one uniform
    per item, :func:`deepfake_ensemble.train.models.base.prepare_batch`), so
    that each rank flips its items as the single process flips them."""
    if n > 0:
        torch.rand(n, generator=generator)


# -- the launcher (the job) and the workers ------------------------------------------
def _src_dir() -> str:
    return str(Path(__file__).resolve().parents[2])


def launch(arguments: Mapping[str, Any], world: int, args_dir: Path) -> None:
    """Run ``world`` workers with torchrun on this node, each calling
    :func:`deepfake_ensemble.train.jobs.train` with ``arguments``; their output
    goes to this process's stderr (the job's log)."""
    args_dir = Path(args_dir)
    args_dir.mkdir(parents=True, exist_ok=True)
    args_file = args_dir / ARGS_NAME
    from ..io import write_json

    write_json(dict(arguments), args_file)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (_src_dir(), env.get("PYTHONPATH")) if p
    )
    # torchrun sets OMP_NUM_THREADS=1 unless it is set; the workers set their
    # own share of the job's threads (arguments["threads"])
    env.setdefault("OMP_NUM_THREADS", str(arguments.get("threads") or 1))
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={world}",
        "-m",
        __name__,
        str(args_file),
    ]
    log.info("%s: %d processes: %s", arguments["model"], world, " ".join(cmd))
    sys.stderr.flush()
    done = subprocess.run(cmd, env=env, stdout=sys.stderr, stderr=sys.stderr)
    if done.returncode:
        raise RuntimeError(
            f"{arguments['model']}: torchrun ended with exit status "
            f"{done.returncode} (the workers' errors are above in this log)"
        )


def worker_logging(rank: int) -> None:
    """Log lines to stderr (the job's log), each with its rank (:func:`main`
    keeps the other ranks to warnings once they joined)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(
            f"%(asctime)s %(levelname)s rank {rank} %(name)s: %(message)s"
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)


def main(argv: list[str] | None = None) -> None:
    """A worker started by torchrun: join the group, train, leave."""
    from .. import numerics
    from ..workflow import limit_threads
    from .jobs import train
    from .predict import resolve_device

    (args_file,) = argv if argv is not None else sys.argv[1:]
    arguments = json.loads(Path(args_file).read_text())
    rank = int(os.environ["RANK"])
    worker_logging(rank)
    limit_threads(arguments["threads"])
    numerics.pin(
        arguments["train_config"].get("cpu_numerics", DEFAULTS["train.cpu_numerics"])
    )
    device = resolve_device(
        arguments["train_config"].get("device", DEFAULTS["train.device"])
    )
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
        arguments["train_config"] = {**arguments["train_config"], "device": str(device)}
    init(device)
    world = dist.get_world_size()
    log.info("%s: rank %d of %d on %s", arguments["model"], rank, world, device)
    if rank:
        logging.getLogger().setLevel(logging.WARNING)
    try:
        train(**arguments)
    finally:
        close()


def spawn(fn: Callable[..., Any], world: int, *args: Any) -> None:
    """Run ``fn(*args)`` in ``world`` gloo processes of one group on this
    machine (the tests and the benchmark of :mod:`benchmarks.ddp_equivalence`);
    each calls :func:`init` through :func:`_spawned`."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_spawned, args=(world, port, fn, args), nprocs=world, join=True)


def _spawned(rank: int, world: int, port: int, fn, args) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
    )
    init(torch.device("cpu"))
    try:
        fn(*args)
    finally:
        close()


if __name__ == "__main__":
    main()
