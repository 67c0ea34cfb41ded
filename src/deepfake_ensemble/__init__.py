"""Reproducible deepfake-detection ensembles: ingest, preprocessing, four
single detectors, six stacked ensembles and their evaluation."""

__version__ = "0.1.0"
