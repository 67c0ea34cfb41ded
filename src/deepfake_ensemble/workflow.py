"""Glue of the Snakemake entry points under ``scripts/``.

Every script has the same shape::

    with rule_job(snakemake) as threads:
        stage_function(path=snakemake.input.x, ..., cfg=dict(snakemake.params.y))

:func:`rule_job` sends logging, warnings and progress bars to the rule's
``log:`` file, limits the job's threads, pins the CPU kernels
(:mod:`numerics`), and ends the job on bad input with one line
``error: <message>`` (no traceback). Any other exception is an error of the
workflow's own: its traceback goes to the log.

Imports only the standard library, so no job loads torch through it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

from . import numerics
from .defaults import DEFAULTS
from .errors import InputError

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


def limit_threads(threads: int) -> int:
    """Use ``threads`` for BLAS/OpenMP and for torch and OpenCV where loaded.

    The environment variables reach libraries loaded later; torch and OpenCV,
    when already imported, are told directly. Nothing is imported here.
    """
    threads = max(1, int(threads))
    for var in THREAD_VARIABLES:
        os.environ[var] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:
        cv2.setNumThreads(threads)
    return threads


def _fail(handle, stderr, message: str) -> None:
    line = f"error: {message}"
    print(line, file=handle, flush=True)
    print(line, file=stderr, flush=True)
    raise SystemExit(1)


@contextlib.contextmanager
def logged(log_path: str | os.PathLike) -> Iterator[logging.Logger]:
    """Redirect stdout/stderr and logging of the block to ``log_path``.

    :class:`InputError` ends the process with ``error: <message>`` in the log
    and on the real stderr (Snakemake's output); any other exception writes
    its traceback to the log and the same one line, naming the log, to stderr.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", buffering=1, encoding="utf-8") as handle:
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = handle
        root = logging.getLogger()
        handler = logging.StreamHandler(handle)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        logging.captureWarnings(True)
        try:
            yield logging.getLogger("deepfake_ensemble")
        except InputError as exc:
            _fail(handle, old_err, str(exc))
        except Exception as exc:
            traceback.print_exc(file=handle)
            _fail(
                handle,
                old_err,
                f"{type(exc).__name__}: {exc} (traceback in {log_path})",
            )
        finally:
            root.removeHandler(handler)
            sys.stdout, sys.stderr = old_out, old_err


@contextlib.contextmanager
def rule_job(smk) -> Iterator[int]:
    """The context of one rule's job: its log, its threads, its errors.

    ``smk`` is the ``snakemake`` object of a script; yields the thread count.
    CPU kernels are pinned as ``train.cpu_numerics`` says (:mod:`numerics`),
    before the job computes anything.
    """
    mode = smk.config.get("train", {}).get(
        "cpu_numerics", DEFAULTS["train.cpu_numerics"]
    )
    with logged(smk.log[0]):
        threads = limit_threads(smk.threads)
        numerics.pin(mode)
        yield threads
