#!/usr/bin/env bash
# Stops the control plane that up.sh started in DIR: every process listed in
# DIR/pids, newest first (so kwok and the controllers go before the API server
# and etcd), with SIGTERM and, after a grace period, SIGKILL.
# A pid is only signalled while its command line still mentions DIR, so a pid
# reused by an unrelated process after a reboot or crash is left alone.
# DIR itself is kept (logs); remove it yourself if you do not need it.
#
# Usage: hack/cluster/down.sh DIR
set -uo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
[ -d "$1" ] || exit 0
dir="$(cd "$1" && pwd)"
pidfile="$dir/pids"
[ -f "$pidfile" ] || exit 0

ours() { [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$dir"; }

mapfile -t lines < <(tac "$pidfile")
pids=()
for line in "${lines[@]}"; do
  name="${line%% *}"
  pid="${line##* }"
  [[ "$pid" =~ ^[0-9]+$ ]] || continue
  # The watcher calls this script when its owner exits; do not signal it then.
  [ "$name" = watcher ] && [ -n "${CLUSTER_DOWN_FROM_WATCHER:-}" ] && continue
  if ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
  fi
done

# Up to 10 s for a clean exit, then force.
for _ in $(seq 1 100); do
  left=()
  for pid in "${pids[@]}"; do ours "$pid" && left+=("$pid"); done
  [ ${#left[@]} -eq 0 ] && break
  sleep 0.1
done
for pid in "${pids[@]}"; do
  if ours "$pid"; then
    echo "down.sh: pid $pid did not stop on SIGTERM, killing it" >&2
    kill -KILL "$pid" 2>/dev/null
  fi
done
rm -f "$pidfile" "$dir/env"
