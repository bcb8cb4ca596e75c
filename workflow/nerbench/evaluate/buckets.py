"""Entity-length buckets: the one declaration of how scores are split by entity length.

Each bucket is registered under the key its scores have in a metrics file (``by_length``); its
entry gives the token range, the stem of the aggregate table's columns (``f1_<column>``,
``support_<column>``) and the label tables and figures print. Evaluation, aggregation, tables
and figures read the buckets through :func:`length_buckets`, so a bucket is added or changed
here only. A light module (no heavy imports): the aggregate step reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from nerbench.registry import Registry


@dataclass(frozen=True)
class LengthBucket:
    """Entities of ``min_tokens`` to ``max_tokens`` tokens (None: no upper bound)."""

    min_tokens: int
    max_tokens: int | None
    column: str  # aggregate columns f1_<column>, support_<column>
    label: str  # printed in tables and figures

    def holds(self, length: int) -> bool:
        """Whether an entity of ``length`` tokens falls in this bucket."""
        return self.min_tokens <= length and (self.max_tokens is None or length <= self.max_tokens)


LENGTH_BUCKETS: Registry[LengthBucket] = Registry("entity-length bucket")
LENGTH_BUCKETS.add("1", LengthBucket(1, 1, column="len1", label="1"))
LENGTH_BUCKETS.add("2", LengthBucket(2, 2, column="len2", label="2"))
LENGTH_BUCKETS.add(">=3", LengthBucket(3, None, column="len3plus", label="≥3"))


def length_buckets() -> list[tuple[str, LengthBucket]]:
    """The declared buckets, shortest first; they must cover every length from 1 token, once."""
    buckets = LENGTH_BUCKETS.items()
    expected: int | None = 1
    for name, bucket in buckets:
        if expected is None:
            raise ValueError(f"entity-length bucket '{name}' follows the open-ended bucket")
        if bucket.min_tokens != expected or (
            bucket.max_tokens is not None and bucket.max_tokens < bucket.min_tokens
        ):
            raise ValueError(
                f"entity-length bucket '{name}' covers {bucket.min_tokens}..{bucket.max_tokens} "
                f"tokens, expected to start at {expected}: buckets cover 1, 2, ... tokens in order"
            )
        expected = None if bucket.max_tokens is None else bucket.max_tokens + 1
    if expected is not None:
        raise ValueError("the last entity-length bucket must be open-ended (max_tokens=None)")
    return buckets


def bucket_of(length: int, buckets: list[tuple[str, LengthBucket]]) -> str:
    """The name of the bucket (of ``buckets``, from :func:`length_buckets`) holding ``length``."""
    for name, bucket in buckets:
        if bucket.holds(length):
            return name
    raise ValueError(f"no entity-length bucket holds {length} tokens")
