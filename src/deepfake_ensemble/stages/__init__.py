"""One function per Snakemake rule, one module per rule file.

``rules/<family>.smk`` -> ``scripts/<rule>.py`` -> ``stages/<family>.py``
``<rule>()``. Each function takes plain paths (the rule's declared inputs and
outputs, nothing else) and config dicts, and composes the package's building
blocks. A module here imports only what its rules' conda environment
(``envs/*.yaml``) installs; ``tests/test_envs.py`` checks that in one virtual
environment per file.
"""
