# Work-arounds for bugs of Snakemake itself, each limited to the versions known
# to have it. Included first by the Snakefile; nothing else lives here.
#
# Group jobs submitted twice (Snakemake 9.x, seen with 9.27.1): GroupJobFactory
# caches group jobs by their first members but merges them in place for
# --group-components; when the DAG is post-processed twice with the same
# pending jobs (on every run after the split checkpoint exists), merged groups
# are merged again and each preprocessing group is submitted twice to SLURM.
# The patch drops such stale cache entries. tests/test_profiles.py fails if
# the batching goes wrong again. Outside the known versions the patch is not
# applied, with a warning, so that a fixed Snakemake runs unpatched.

import snakemake as _snakemake
from snakemake.logging import logger as _logger

GROUP_CACHE_BUG_VERSIONS = {"9.27.1"}

if _snakemake.__version__ in GROUP_CACHE_BUG_VERSIONS:
    from snakemake.jobs import GroupJobFactory as _GroupJobFactory

    if not getattr(_GroupJobFactory, "_fresh_after_merge", False):
        _group_job_new = _GroupJobFactory.new

        def _fresh_group_job(self, id, jobs, resources):
            jobs = frozenset(jobs)
            cached = self.cache.get((id, jobs))
            if cached is not None and frozenset(cached.jobs) != jobs:
                del self.cache[(id, jobs)]
            return _group_job_new(self, id, jobs, resources)

        _GroupJobFactory.new = _fresh_group_job
        _GroupJobFactory._fresh_after_merge = True
else:
    _logger.warning(
        f"Snakemake {_snakemake.__version__} is not one of the versions with the "
        "double-submitted group jobs bug known here "
        f"({', '.join(sorted(GROUP_CACHE_BUG_VERSIONS))}): the work-around in "
        "rules/snakemake_patches.smk is not applied; if preprocessing groups are "
        "submitted twice, add this version to GROUP_CACHE_BUG_VERSIONS."
    )
