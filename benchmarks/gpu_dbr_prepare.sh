#!/usr/bin/env bash
# The GPU check's first command (issue #28): install the DBR tools carried in .gpu-dbr/ (the
# faiss-cpu wheel and a slim AutoPhrase; benchmarks/gpu_wheels.py pack-dbr) into the ignored
# .gpu-site/, which the device keeps for the next command while the machine stays warm, and see
# that they load there. Run the check itself (carrying .whl and .gpu) right after it:
#
#   bash benchmarks/gpu_check.sh OUTDIR --prepare-dbr    # carry .gpu-dbr; ~15 s
#   bash benchmarks/gpu_check.sh OUTDIR                  # carry .whl .gpu; finds .gpu-site/
#
# OUTDIR gets one file, prepare_dbr.log. Environment: PYTHON (default python3).
set -uo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-python3}
mkdir -p "$1" || exit 2
LOG=$(cd "$1" && pwd)/prepare_dbr.log
cd "$REPO" || exit 2
{
    echo "prepare-dbr $(date -u +%FT%TZ) in $REPO"
    timeout 120 "$PY" benchmarks/gpu_wheels.py install-dbr --site "$REPO/.gpu-site" &&
        PYTHONPATH=$REPO/.gpu-site:$REPO/workflow timeout 90 "$PY" -c '
import faiss
from nerbench.dbr.autophrase_build import package_version, package_dir, prebuilt_binaries_run
print("faiss", faiss.__version__, "| autophrase", package_version(), "in", package_dir(),
      "| prebuilt binaries run:", prebuilt_binaries_run())'
} >"$LOG" 2>&1
rc=$?
echo "prepare-dbr: exit $rc $(date -u +%FT%TZ)" >>"$LOG"
cat "$LOG"
exit $rc
