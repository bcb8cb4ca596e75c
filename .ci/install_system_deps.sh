#!/usr/bin/env bash
# System packages the tests need: a JDK and g++ (AutoPhrase), a real single-node SLURM (slurm-wlm, munge),
# chromium for screenshots of the HTML report (~80 MB download, about a minute to install).
set -euo pipefail
need=()
command -v java >/dev/null || need+=(default-jdk-headless)
command -v g++ >/dev/null || need+=(g++)
{ command -v slurmctld && command -v slurmd && command -v munged; } >/dev/null || need+=(slurm-wlm munge)
command -v chromium >/dev/null || need+=(chromium)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages: ${need[*]} (install them as root: apt-get install ${need[*]})" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
