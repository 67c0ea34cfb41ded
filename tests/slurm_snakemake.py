"""Snakemake as the SLURM tests run it: the executor plugin as shipped, except
that it checks on the test cluster's jobs every ``POLL_S`` seconds throughout.

The plugin (2.8) waits 10 s longer after every status check in which no job
ended, up to 180 s: right for a real cluster, whose jobs take hours, but on the
one-node test cluster, whose jobs take seconds, the runs waited longer than
they computed (the CI workflow: 434 s through the cluster, 159 s locally).
The profile users run (profiles/slurm) is untouched; tests/slurm_overlay
already sets the first checks to 1-2 s.

    python tests/slurm_snakemake.py <snakemake arguments>
"""

import runpy
import sys

from snakemake_executor_plugin_slurm import Executor

POLL_S = 2

Executor.next_seconds_between_status_checks = property(
    lambda self: POLL_S, lambda self, value: None
)

if __name__ == "__main__":
    sys.argv[0] = "snakemake"
    runpy.run_module("snakemake", run_name="__main__", alter_sys=True)
