"""Print the jobs of the workflow's DAG, as Snakemake plans them, as JSON.

    python tests/dag_jobs.py WORKDIR [CONFIGFILE ...]

One object per job: ``id``, ``rule``, ``wildcards``, ``input`` and
``output`` (paths relative to WORKDIR) and ``deps`` (the ids of the jobs it
depends on: the DAG's edges). Nothing is run (the DAG of a dry run: the
split checkpoint must already exist in WORKDIR for the preprocessing jobs to
be planned). A separate process, since Snakemake changes into WORKDIR.

Snakemake's command line prints a job's new wildcards only (``--dag``) and
no files (``--d3dag``); this reads them from Snakemake's own DAG object
(Snakemake 9: ``Workflow._prepare_dag`` / ``_build_dag``, as ``--dag`` does).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from snakemake.api import SnakemakeApi
from snakemake.settings.types import (
    ConfigSettings,
    DAGSettings,
    OutputSettings,
    ResourceSettings,
)

SNAKEFILE = Path(__file__).resolve().parents[1] / "Snakefile"


def dag_jobs(workdir: str, configfiles: list[str]) -> list[dict]:
    with SnakemakeApi(OutputSettings()) as api:
        workflow_api = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(
                configfiles=[Path(c).resolve() for c in configfiles]
            ),
            snakefile=SNAKEFILE,
            workdir=Path(workdir),
        )
        workflow_api.dag(dag_settings=DAGSettings())
        workflow = workflow_api._workflow
        workflow._prepare_dag(
            forceall=False, ignore_incomplete=True, lock_warn_only=True
        )
        workflow._build_dag()
        dag = workflow.dag
        jobs = list(dag.jobs)
        ids = {job: i for i, job in enumerate(jobs)}
        return [
            {
                "id": ids[job],
                "rule": job.rule.name,
                "wildcards": dict(job.wildcards.items()),
                "input": sorted(str(f) for f in job.input),
                "output": sorted(str(f) for f in job.output),
                "deps": sorted(ids[d] for d in dag.dependencies[job] if d in ids),
                # the ensembles a fitting or applying job handles, and the
                # members each chooses from
                "members": dict(job.params.get("members", {})),
                "ensembles": list(job.params.get("ensembles", [])),
            }
            for job in jobs
        ]


if __name__ == "__main__":
    jobs = dag_jobs(sys.argv[1], sys.argv[2:])
    print("\n" + json.dumps(jobs))
