"""Java vs Python AutoPhrase tokenizer on one training split: byte equality and time.

    PYTHONPATH=workflow python benchmarks/bench_autophrase_tokenizer.py TREE TRAIN_JSONL WORKDIR

Runs :func:`nerbench.dbr.autophrase_run.mine_phrases` twice (tokenizer java, then python; one
thread, default settings), times every tokenizer call and compares each file both runs wrote.
"""

from __future__ import annotations

import filecmp
import sys
import time
from pathlib import Path

from nerbench.dbr import autophrase_run
from nerbench.dbr.phrases import write_corpus
from nerbench.io import read_jsonl


def main(tree: str, train: str, workdir: str) -> int:
    root = Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
    corpus = root / "corpus.txt"
    write_corpus([r["tokens"] for r in read_jsonl(train)], corpus)
    print(f"corpus: {corpus.stat().st_size} bytes, {sum(1 for _ in open(corpus))} lines")
    timings: dict[str, float] = {}
    original = autophrase_run._tokenize

    def timed(tree, mode, src, dst, work, s, log):
        t0 = time.perf_counter()
        out = original(tree, mode, src, dst, work, s, log)
        key = f"{s['tokenizer']}"
        timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0
        return out

    autophrase_run._tokenize = timed
    for name in ("java", "python"):
        t0 = time.perf_counter()
        autophrase_run.mine_phrases(
            tree, corpus, root / name, {"tokenizer": name}, log=lambda m: None
        )
        print(
            f"{name}: mining {time.perf_counter() - t0:.1f} s, "
            f"tokenizer calls {timings[name]:.1f} s"
        )
    same = True
    for f in sorted((root / "java").iterdir()):
        g = root / "python" / f.name
        if f.is_file():
            eq = g.is_file() and filecmp.cmp(f, g, shallow=False)
            same &= eq
            print(f"{'same' if eq else 'DIFFERENT'}\t{f.stat().st_size}\t{f.name}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
