#!/usr/bin/env bash
# Install a single-node SLURM (Debian/Ubuntu packages) for tests/test_slurm.py.
# The test itself configures and starts munged, slurmctld and slurmd; this script only installs.
# Usage (as root, or with sudo):  bash .ci/install_slurm.sh
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends slurm-wlm munge
# slurm-wlm does not start anything on a container without systemd; the test starts the daemons.
command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null
slurmctld -V
