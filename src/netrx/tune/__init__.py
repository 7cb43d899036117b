"""Hyperparameter search: scales (``space``)."""
