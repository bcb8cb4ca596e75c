"""Scoring predictions: one module per concept; import from the module that holds it.

* :mod:`~nerbench.evaluate.conll` -- the prediction file (CoNLL blocks) and its meta sidecar;
* :mod:`~nerbench.evaluate.gold` -- the check that a prediction holds the gold test split;
* :mod:`~nerbench.evaluate.decoding` -- the one IOB2 decoding rule, and entities of decoded tags;
* :mod:`~nerbench.evaluate.buckets` -- the entity-length buckets (one declaration);
* :mod:`~nerbench.evaluate.scores` -- exact, relaxed, by-length and nervaluate scores;
* :mod:`~nerbench.evaluate.bootstrap` -- bootstrap CIs and the paired bootstrap of reporting;
* :mod:`~nerbench.evaluate.cli` -- ``python -m nerbench evaluate``.

This package imports nothing itself, so light modules (``buckets``) stay light.
"""
