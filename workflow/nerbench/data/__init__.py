"""Corpora: sources and downloads, format readers, conversion to canonical JSONL, statistics."""
