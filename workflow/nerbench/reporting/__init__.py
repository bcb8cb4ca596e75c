"""Aggregation of run metrics, the tables registry and renderers, and the figures."""
