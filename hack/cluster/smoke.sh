#!/usr/bin/env bash
# End-to-end check of the local control plane: starts a cluster (or uses the
# one whose DIR is given and already up), then checks that
#   - a kwok Node is Ready,
#   - a 2-replica Deployment gets both Pods Running and Ready,
#   - a ServiceAccount token authenticates and RBAC applies to it,
#   - helm can talk to the cluster,
# and stops the cluster again if it started it.
#
# Usage: hack/cluster/smoke.sh [DIR]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
own=0
if [ $# -ge 1 ] && [ -s "$1/env" ]; then
  dir="$(cd "$1" && pwd)"
else
  tmp=0
  [ $# -ge 1 ] || tmp=1
  dir="${1:-$(mktemp -d "${TMPDIR:-/tmp}/multcall-smoke-XXXXXX")}"
  own=1
  # Stops the cluster; a temp dir is removed after success, kept for its logs otherwise.
  finish() {
    local rc=$?
    "$here/down.sh" "$dir"
    if [ "$tmp" = 1 ]; then
      if [ "$rc" = 0 ]; then rm -rf "$dir"; else echo "smoke: failed; logs in $dir/logs" >&2; fi
    fi
  }
  trap finish EXIT
  "$here/up.sh" "$dir" >/dev/null
fi
# shellcheck disable=SC1091
source "$dir/env"
export KUBECONFIG
k() { "$CLUSTER_BIN_DIR/kubectl" "$@"; }
step() { echo "smoke: $*" >&2; }

step "nodes"
k get nodes -o wide
k wait --for=condition=Ready node --all --timeout=30s >/dev/null

ns="smoke-$RANDOM"
k create namespace "$ns" >/dev/null
step "deployment in namespace $ns"
k -n "$ns" apply -f - >/dev/null <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: busybox
spec:
  replicas: 2
  selector:
    matchLabels: {app: busybox}
  template:
    metadata:
      labels: {app: busybox}
    spec:
      containers:
      - name: busybox
        image: busybox:1.36
        command: ["sleep", "infinity"]
EOF
k -n "$ns" rollout status deployment/busybox --timeout=60s >&2
k -n "$ns" wait --for=condition=Ready pod -l app=busybox --timeout=60s >/dev/null
k -n "$ns" get pods -o wide
running="$(k -n "$ns" get pods -l app=busybox -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' | grep -c Running)"
[ "$running" = 2 ] || { echo "smoke: expected 2 Running pods, got $running" >&2; exit 1; }
k -n "$ns" delete deployment busybox --wait=true >/dev/null
step "deployment deleted"

step "ServiceAccount token + RBAC"
k -n "$ns" create serviceaccount smoke >/dev/null
k -n "$ns" create role pod-reader --verb=get,list,watch --resource=pods >/dev/null
k -n "$ns" create rolebinding smoke-pod-reader --role=pod-reader --serviceaccount="$ns:smoke" >/dev/null
token="$(k -n "$ns" create token smoke --duration=10m)"
# A kubeconfig-free client: only the server, the CA and the bearer token.
ca="$(mktemp)"
k config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d >"$ca"
as_sa() { "$CLUSTER_BIN_DIR/kubectl" --kubeconfig=/dev/null --server="$KUBE_APISERVER_URL" --certificate-authority="$ca" --token="$token" "$@"; }
who="$(as_sa auth whoami -o jsonpath='{.status.userInfo.username}')"
[ "$who" = "system:serviceaccount:$ns:smoke" ] || { echo "smoke: token authenticated as '$who'" >&2; exit 1; }
[ "$(as_sa -n "$ns" auth can-i list pods)" = yes ]
[ "$(as_sa -n "$ns" auth can-i delete pods || true)" = no ]
[ "$(as_sa -n default auth can-i list pods || true)" = no ]
as_sa -n "$ns" get pods >/dev/null 2>&1
rm -f "$ca"
step "token authenticates as $who; can list pods in $ns only"

step "helm"
"$CLUSTER_BIN_DIR/helm" version --short
HELM_CACHE_HOME="$dir/helm/cache" HELM_CONFIG_HOME="$dir/helm/config" HELM_DATA_HOME="$dir/helm/data" \
  "$CLUSTER_BIN_DIR/helm" list -A >/dev/null

k delete namespace "$ns" --wait=false >/dev/null
step "ok"
[ "$own" = 1 ] && echo "smoke: stopping the cluster" >&2
exit 0
