"""VANER's instructions for the labeler: templates, dataset and type names, DBR samples, and
the prompted, tokenised sentence with the position of each word's first sub-token."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from nerbench.io import InputError
from nerbench.methods.base import (
    Example,
)

INSTRUCTION_MODES = ("dataset", "type")
# Instruction templates: (dataset + type, type only); the sentence follows directly.
# "vaner": github.com/Eulring/VANER utils_vaner.py parse_mt() (token1, token2), commit
# 8289c169d38acd90dd6f0a55bd02eeb356b1f71f. "recognize": this project's earlier wording.
PROMPT_TEMPLATES = {
    "vaner": (
        "If any {type} entity is mentioned in the {dataset} input, extract it. ##input: ",
        "If any {type} entity is mentioned in the input, extract it. ##input: ",
    ),
    "recognize": (
        "### Instruction: Recognize {type} entities in the {dataset} dataset.\n### Input: ",
        "### Instruction: Recognize {type} entities.\n### Input: ",
    ),
}
DEFAULT_TEMPLATE = "vaner"
LEGACY_TEMPLATE = "recognize"  # models saved without a template name were trained with it
# VANER's spelling of our dataset names (the cohort names its unllama_train_vaner.py and
# unllama_eval_vaner.py pass to parse_mt); names not listed are spelled alike.
VANER_DATASET_NAMES = {"NCBI-disease": "ncbi", "JNLPBA-gene": "JNLPBA"}
DBR_PREFIX = "dbr:"
DBR_ID_PREFIXES = ("dbr:", "random:")  # record ids "<variant>:<doc>/<sent>" of nerbench.dbr.samples
DEMO_SUFFIX = "-demo"


# --------------------------------------------------------------------------- instructions


def display_dataset(name: str | None) -> str | None:
    """Dataset name as written in a prompt: ``NCBI-disease-demo`` -> ``NCBI-disease``."""
    if not name:
        return None
    return name[: -len(DEMO_SUFFIX)] if name.endswith(DEMO_SUFFIX) else name


def display_type(entity_type: str) -> str:
    """Entity type as written in a prompt (``cell_line`` -> ``cell line``)."""
    return entity_type.replace("_", " ")


def is_dbr(example: Example) -> bool:
    """True for DBR samples and raw text: ``dataset`` None or ``dbr:...``, or a DBR record id."""
    if example.dataset is None or example.dataset.startswith(DBR_PREFIX):
        return True
    return example.id.startswith(DBR_ID_PREFIXES)


def dbr_types(example: Example) -> list[str]:
    """The type a DBR sample asks for: its only declared type, else the only type in its tags.

    A sample of a multi-type dataset without a declared target type and with no (or several)
    entity types in its tags is ambiguous and yields no query: asking for the wrong type would
    teach its negatives as non-entities of a type they may belong to.
    """
    if len(example.types) == 1:
        return list(example.types)
    in_tags = sorted({t[2:] for t in example.tags or [] if t != "O"})
    return in_tags if len(in_tags) == 1 else []


def build_instruction(
    entity_type: str, dataset: str | None = None, template: str = DEFAULT_TEMPLATE
) -> str:
    """Prompt prefix for ``entity_type`` (and ``dataset``, None = type only); the sentence follows.

    ``dataset`` is the display name (:func:`display_dataset`); template ``vaner`` spells it
    as VANER does (:data:`VANER_DATASET_NAMES`).
    """
    with_dataset, type_only = PROMPT_TEMPLATES[check_prompt_template(template)]
    what = display_type(entity_type)
    if not dataset:
        return type_only.format(type=what)
    if template == "vaner":
        dataset = VANER_DATASET_NAMES.get(dataset, dataset)
    return with_dataset.format(type=what, dataset=dataset)


def check_prompt_template(name: str | None) -> str:
    """A known template name (None = the default); anything else is an :class:`InputError`."""
    name = name or DEFAULT_TEMPLATE
    if name not in PROMPT_TEMPLATES:
        raise InputError(
            f"hparam 'prompt_template' is '{name}'; allowed: {', '.join(PROMPT_TEMPLATES)}"
        )
    return name


def prompt_dataset(example: Example, mode: str, known: Iterable[str] | None) -> str | None:
    """Dataset name to put in the prompt, or None for the type-only form.

    ``known``: display names of the training datasets (None = any). A dataset the model was not
    trained on gets the type-only form, as for VANER's adaptation to unseen corpora.
    """
    if mode == "type" or is_dbr(example):
        return None
    name = display_dataset(example.dataset)
    if known is not None and name not in set(known):
        return None
    return name


def check_instruction_mode(mode: str | None) -> str:
    mode = mode or "dataset"
    if mode not in INSTRUCTION_MODES:
        raise InputError(
            f"hparam 'instruction' is '{mode}'; allowed: {', '.join(INSTRUCTION_MODES)}"
        )
    return mode


# --------------------------------------------------------------------------- tokenisation


@dataclass
class Prompted:
    """Token ids of ``prompt + " ".join(words)`` and, per token, the word it belongs to.

    ``word_of[k]`` is the index of the word containing token ``k`` (None for special tokens,
    prompt tokens and bare spaces); ``charge[k]`` is the word a token is counted against when
    sizing windows (spaces go to the word that follows; prompt and special tokens to None).
    """

    ids: list[int]
    word_of: list[int | None]
    charge: list[int | None]

    def first_positions(self, n_words: int) -> list[int]:
        """Position of each word's first sub-token (-1 where the word has no token)."""
        first = [-1] * n_words
        for k, w in enumerate(self.word_of):
            if w is not None and first[w] < 0:
                first[w] = k
        return first

    def word_lengths(self, n_words: int) -> list[int]:
        counts = [0] * n_words
        for w in self.charge:
            if w is not None:
                counts[w] += 1
        return counts


def _word_starts(prompt: str, words: Sequence[str]) -> list[int]:
    starts, pos = [], len(prompt)
    for i, w in enumerate(words):
        pos += 1 if i else 0
        starts.append(pos)
        pos += len(w)
    return starts


def _locate(
    offsets: Sequence[tuple[int, int]], prompt: str, words: Sequence[str]
) -> tuple[list[int | None], list[int | None]]:
    """Map token character offsets to words (by the token's last character)."""
    starts = _word_starts(prompt, words)
    word_of: list[int | None] = []
    charge: list[int | None] = []
    for s, e in offsets:
        if e <= s or e - 1 < len(prompt) or not words:
            word_of.append(None)
            charge.append(None)
            continue
        w = bisect.bisect_right(starts, e - 1) - 1  # last word starting at or before the char
        inside = w >= 0 and e - 1 < starts[w] + len(words[w])
        word_of.append(w if inside else None)
        # a space between words is charged to the following word
        charge.append(w if inside else min(w + 1, len(words) - 1))
    return word_of, charge


def tokenize_prompted(
    tokenizer: Any, prompts: Sequence[str], sentences: Sequence[Sequence[str]]
) -> list[Prompted]:
    """Tokenise ``prompt + sentence`` texts in one batch and locate every word's sub-tokens."""
    texts = [p + " ".join(ws) for p, ws in zip(prompts, sentences, strict=True)]
    if not texts:
        return []
    enc = tokenizer(texts, add_special_tokens=True, return_offsets_mapping=True)
    out = []
    for i, (prompt, words) in enumerate(zip(prompts, sentences, strict=True)):
        word_of, charge = _locate(enc["offset_mapping"][i], prompt, words)
        out.append(Prompted(list(enc["input_ids"][i]), word_of, charge))
    return out


def fit_length(p: Prompted, max_length: int) -> Prompted:
    """Drop non-first sub-tokens (longest word first) until ``p`` fits ``max_length``."""
    ids, word_of, charge = list(p.ids), list(p.word_of), list(p.charge)
    while len(ids) > max_length:
        counts: dict[int, list[int]] = {}
        for k, w in enumerate(word_of):
            if w is not None:
                counts.setdefault(w, []).append(k)
        longest = max(counts.values(), key=len, default=[])
        if len(longest) > 1:
            drop = longest[-1]
        else:  # only bare-space tokens inside the sentence are left to drop
            spaces = [k for k, (w, c) in enumerate(zip(word_of, charge, strict=True))
                      if w is None and c is not None]  # fmt: skip
            if not spaces:
                raise InputError(f"max_length {max_length} is too small for the prompt and words")
            drop = spaces[-1]
        del ids[drop], word_of[drop], charge[drop]
    return Prompted(ids, word_of, charge)


def type_labels(tags: Sequence[str], entity_type: str) -> list[int]:
    """B/I/O ids (0=O, 1=B, 2=I) of one entity type in a multi-type IOB2 tag sequence."""
    out = []
    for tag in tags:
        if tag == f"B-{entity_type}":
            out.append(1)
        elif tag == f"I-{entity_type}":
            out.append(2)
        else:
            out.append(0)
    return out
