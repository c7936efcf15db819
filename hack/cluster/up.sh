#!/usr/bin/env bash
# Starts a local Kubernetes control plane in DIR, without containers:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
# (which plays the kubelet for fake Nodes, so Pods get scheduled and turn
# Running/Ready without running anything).
#
# Usage: hack/cluster/up.sh DIR
#
# Writes:
#   DIR/kubeconfig   admin (system:masters) kubeconfig, certificates embedded
#   DIR/env          KEY='value' lines: KUBECONFIG, KUBE_APISERVER_URL,
#                    CLUSTER_BIN_DIR, ETCD_ENDPOINT (sourceable by sh)
#   DIR/pids         "name pid" lines, read by down.sh
#   DIR/logs/*.log   one log per component
#
# Returns once /readyz is ok, the default ServiceAccount exists in namespace
# default and every fake Node is Ready. Any failure stops what was started.
#
# Environment:
#   CLUSTER_BIN_DIR  binaries to use (default: output of build.sh, which builds
#                    them if they are not cached yet)
#   NODES            number of fake Nodes, named kwok-node-0.. (default 1)
#   NODE_TAINT=1     taint the Nodes with kwok.x-k8s.io/node=fake:NoSchedule,
#                    so only Pods that tolerate it land there (default: no
#                    taint, since every Node of this cluster is fake anyway)
#   WATCH_PID        when set, a watcher runs down.sh as soon as this process
#                    exits, so a crashed test run leaves no control plane behind
#   WATCH_RM_DIR=1   the watcher also removes DIR after down.sh
#   UP_TIMEOUT       seconds to wait for readiness (default 120)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
mkdir -p "$1"
dir="$(cd "$1" && pwd)"
case "$dir" in *[[:space:]\']*) echo "up.sh: DIR must not contain spaces or quotes: $dir" >&2; exit 2 ;; esac

nodes="${NODES:-1}"
timeout="${UP_TIMEOUT:-120}"
t0=$(date +%s%N)
log() { echo "up.sh: [$(( ($(date +%s%N) - t0) / 1000000 ))ms] $*" >&2; }

if [ -s "$dir/pids" ]; then
  echo "up.sh: $dir/pids exists; run hack/cluster/down.sh $dir first" >&2
  exit 1
fi

bin="${CLUSTER_BIN_DIR:-$("$here/build.sh")}"
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok; do
  [ -x "$bin/$b" ] || { echo "up.sh: $bin/$b missing; run hack/cluster/build.sh" >&2; exit 1; }
done

# A fresh cluster every time: state left by an earlier run in DIR is dropped.
rm -rf "$dir/etcd" "$dir/pki" "$dir/logs" "$dir/kwok-home" "$dir/env" "$dir/kubeconfig"
mkdir -p "$dir/pki" "$dir/logs" "$dir/kwok-home"
: >"$dir/pids"

started_ok=0
cleanup() {
  if [ "$started_ok" != 1 ]; then
    log "start failed; logs are in $dir/logs, stopping what was started"
    for f in "$dir"/logs/*.log; do
      [ -f "$f" ] && { echo "--- tail $f" >&2; tail -n 15 "$f" >&2; }
    done
    "$here/down.sh" "$dir" >&2 || true
  fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- ports
# Ports are picked at random among unprivileged ones and probed; when two
# clusters race for the same port, the loser fails to bind and up.sh retries
# that component with new ports (see start_with_retry).
used_ports=" "
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  while :; do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 30000))
    case "$used_ports" in *" $p "*) continue ;; esac
    port_busy "$p" && continue
    used_ports+="$p "
    echo "$p"
    return
  done
}

# ---------------------------------------------------------------- certificates
# One throw-away CA signs the API server's serving certificate and the client
# certificates of every component. ECDSA P-256 keeps key generation instant.
pki="$dir/pki"
ossl() { openssl "$@" 2>/dev/null; }
newkey() { ossl ecparam -name prime256v1 -genkey -noout -out "$pki/$1.key"; }
ossl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
  -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 3650 -subj "/CN=multcall-local-ca" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
# sign NAME SUBJECT EXTENSIONS
sign() {
  newkey "$1"
  ossl req -new -key "$pki/$1.key" -subj "$2" -out "$pki/$1.csr"
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" "$3" >"$pki/$1.ext"
  ossl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -days 3650 -extfile "$pki/$1.ext" -out "$pki/$1.crt"
  rm -f "$pki/$1.csr" "$pki/$1.ext"
}
# The in-cluster names and the first service IP go into the serving
# certificate too, so tools that talk to https://kubernetes.default work.
service_cidr=10.96.0.0/16
# Independent openssl runs: in parallel.
sign apiserver "/CN=kube-apiserver" \
  "extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" &
# The bootstrap RBAC policy grants system:kube-scheduler what the scheduler
# needs. admin, kwok (which writes Node and Pod status) and the
# controller-manager (see --use-service-account-credentials) are cluster admins.
sign admin "/O=system:masters/CN=multcall-admin" "extendedKeyUsage=clientAuth" &
sign controller-manager "/O=system:masters/CN=system:kube-controller-manager" "extendedKeyUsage=clientAuth" &
sign scheduler "/CN=system:kube-scheduler" "extendedKeyUsage=clientAuth" &
sign kwok "/O=system:masters/CN=kwok" "extendedKeyUsage=clientAuth" &
# Key pair that signs and verifies ServiceAccount tokens.
{ newkey sa && ossl ec -in "$pki/sa.key" -pubout -out "$pki/sa.pub"; } &
wait
for f in apiserver.crt admin.crt controller-manager.crt scheduler.crt kwok.crt sa.pub; do
  [ -s "$pki/$f" ] || { log "openssl failed for $f"; exit 1; }
done
log "certificates ready"

b64() { base64 -w0 <"$1"; }
# kubeconfig NAME SERVER -> $dir/NAME.kubeconfig (admin -> $dir/kubeconfig)
kubeconfig() {
  local out="$dir/$1.kubeconfig"
  [ "$1" = admin ] && out="$dir/kubeconfig"
  cat >"$out" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: multcall-local
  cluster:
    server: $2
    certificate-authority-data: $(b64 "$pki/ca.crt")
users:
- name: $1
  user:
    client-certificate-data: $(b64 "$pki/$1.crt")
    client-key-data: $(b64 "$pki/$1.key")
contexts:
- name: multcall-local
  context:
    cluster: multcall-local
    user: $1
    namespace: default
current-context: multcall-local
EOF
  chmod 600 "$out"
}

# ---------------------------------------------------------------- processes
# start NAME CMD... : runs CMD detached (own session, stdio on a log file, so
# it outlives this script and does not hold a caller's pipes open).
start() {
  local name="$1"
  shift
  setsid "$@" </dev/null >>"$dir/logs/$name.log" 2>&1 &
  echo "$name $!" >>"$dir/pids"
  last_pid=$!
}
alive() { kill -0 "$1" 2>/dev/null; }
# listening PID PORT: PID has bound PORT (not just anyone, which would be a
# clash that PID is about to die of). Without ss, any listener counts.
listening() {
  if command -v ss >/dev/null; then
    ss -Hltnp "sport = :$2" 2>/dev/null | grep -q "pid=$1,"
  else
    port_busy "$2"
  fi
}
# Drops NAME's line from the pid file (after it died on a port clash).
forget() { sed -i "/^$1 /d" "$dir/pids"; }
deadline() { echo $(( $(date +%s) + timeout )); }
api() { curl -sf --max-time 5 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "$server$1"; }

# etcd: single member, loopback only. --unsafe-no-fsync: the data is thrown
# away with the cluster, and fsync dominates write latency on slow disks.
start_etcd() {
  etcd_port=$(free_port)
  local peer
  peer=$(free_port)
  start etcd "$bin/etcd" --name=multcall --data-dir="$dir/etcd" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$peer" --initial-advertise-peer-urls="http://127.0.0.1:$peer" \
    --initial-cluster="multcall=http://127.0.0.1:$peer" --initial-cluster-state=new \
    --unsafe-no-fsync --log-level=warn --quota-backend-bytes=$((2 * 1024 * 1024 * 1024))
  etcd_pid=$last_pid
  local end
  end=$(deadline)
  until curl -sf --max-time 2 "http://127.0.0.1:$etcd_port/health" | grep -q '"health":"true"'; do
    alive "$etcd_pid" || return 1
    [ "$(date +%s)" -lt "$end" ] || { log "etcd not healthy after ${timeout}s"; exit 1; }
    sleep 0.1
  done
}

# --endpoint-reconciler-type=none: the "kubernetes" Service would otherwise be
# given the advertise address, 127.0.0.1, which Endpoints validation rejects
# every 10 s; nothing here routes Service traffic anyway.
start_apiserver() {
  api_port=$(free_port)
  server="https://127.0.0.1:$api_port"
  start kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$etcd_port" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
    --cert-dir="$pki" --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" \
    --authorization-mode=RBAC \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
    --service-cluster-ip-range="$service_cidr" \
    --allow-privileged=true \
    --endpoint-reconciler-type=none \
    --profiling=false
  api_pid=$last_pid
  # Bound port = no clash; readiness is awaited later, while the other
  # components start up in parallel.
  local end
  end=$(deadline)
  until listening "$api_pid" "$api_port"; do
    alive "$api_pid" || return 1
    [ "$(date +%s)" -lt "$end" ] || { log "kube-apiserver did not listen after ${timeout}s"; exit 1; }
    sleep 0.05
  done
}

# start_with_retry NAME FUNC: a component that exits while starting is retried
# with new ports if its log says a port was taken, otherwise up.sh fails.
start_with_retry() {
  local name="$1" fn="$2" try
  for try in 1 2 3; do
    "$fn" && return 0
    if grep -q 'address already in use' "$dir/logs/$name.log"; then
      log "$name lost a port race, retrying with other ports"
      forget "$name"
      continue
    fi
    log "$name exited while starting"
    exit 1
  done
  log "$name could not bind after 3 tries"
  exit 1
}

start_with_retry etcd start_etcd
log "etcd ready on 127.0.0.1:$etcd_port"
start_with_retry kube-apiserver start_apiserver
log "kube-apiserver listening at $server"
for c in admin controller-manager scheduler kwok; do kubeconfig "$c" "$server"; done

# --secure-port=0: no health/metrics endpoint, so no port to allocate.
# --use-service-account-credentials=false: all controllers share the
# controller-manager's identity (a cluster admin, see its certificate) instead
# of one ServiceAccount each. Real clusters do the latter, but fetching ~40
# tokens before the controllers start doubles the start-up time; the RBAC of
# the workloads under test is enforced either way.
# --root-ca-file publishes the CA in every namespace (kube-root-ca.crt) and
# --service-account-private-key-file lets the controllers mint tokens.
start kube-controller-manager "$bin/kube-controller-manager" \
  --kubeconfig="$dir/controller-manager.kubeconfig" \
  --secure-port=0 --leader-elect=false \
  --use-service-account-credentials=false \
  --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
  --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
  --service-cluster-ip-range="$service_cidr" \
  --cluster-name=multcall-local --controllers='*'
kcm_pid=$last_pid

start kube-scheduler "$bin/kube-scheduler" \
  --kubeconfig="$dir/scheduler.kubeconfig" --secure-port=0 --leader-elect=false
sched_pid=$last_pid

# kwok reads ~/.kwok/kwok.yaml when it exists; a private HOME keeps a
# developer's own kwok setup out of this cluster. With no stage given it uses
# its built-in "fast" stages: Nodes turn Ready, Pods Running/Ready at once.
# The Node IP is loopback so that anything trying to reach a "kubelet"
# (logs, exec, port-forward) is refused on this machine instead of leaving it.
HOME="$dir/kwok-home" start kwok "$bin/kwok" \
  --kubeconfig="$dir/kwok.kubeconfig" \
  --manage-all-nodes=true \
  --cidr=10.244.0.1/16 --node-ip=127.0.0.1 \
  --node-lease-duration-seconds=40
kwok_pid=$last_pid

# The three above retry until the API server answers; start-up overlaps.
end=$(deadline)
until [ "$(api /readyz 2>/dev/null)" = ok ]; do
  alive "$api_pid" || { log "kube-apiserver exited"; exit 1; }
  [ "$(date +%s)" -lt "$end" ] || { log "kube-apiserver not ready after ${timeout}s"; exit 1; }
  sleep 0.1
done
log "kube-apiserver ready"

# ---------------------------------------------------------------- fake Nodes
# Posted straight to the API (kubectl would first spend a second on discovery).
# The labels and the kwok.x-k8s.io/node annotation follow kwok's own examples.
taints='[]'
[ "${NODE_TAINT:-0}" = 1 ] && taints='[{"key":"kwok.x-k8s.io/node","value":"fake","effect":"NoSchedule"}]'
for i in $(seq 0 $((nodes - 1))); do
  n="kwok-node-$i"
  curl -sSf --max-time 10 --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    -H 'Content-Type: application/json' -o /dev/null "$server/api/v1/nodes" -d @- <<EOF
{"apiVersion":"v1","kind":"Node",
 "metadata":{"name":"$n",
  "annotations":{"node.alpha.kubernetes.io/ttl":"0","kwok.x-k8s.io/node":"fake"},
  "labels":{"kubernetes.io/arch":"amd64","kubernetes.io/os":"linux","kubernetes.io/hostname":"$n",
   "kubernetes.io/role":"agent","node-role.kubernetes.io/agent":"","type":"kwok"}},
 "spec":{"taints":$taints},
 "status":{"capacity":{"cpu":"32","memory":"256Gi","pods":"110"},
  "allocatable":{"cpu":"32","memory":"256Gi","pods":"110"}}}
EOF
done
log "created $nodes fake node(s)"

# ---------------------------------------------------------------- readiness
end=$(deadline)
check_alive() {
  local p
  for p in "$kcm_pid:kube-controller-manager" "$sched_pid:kube-scheduler" "$kwok_pid:kwok" "$api_pid:kube-apiserver" "$etcd_pid:etcd"; do
    alive "${p%%:*}" || { log "${p#*:} exited"; exit 1; }
  done
  [ "$(date +%s)" -lt "$end" ] || { log "cluster not ready after ${timeout}s"; exit 1; }
}
# Pods are rejected until the ServiceAccount admission plugin finds the
# namespace's default ServiceAccount, which the controller-manager creates.
until api /api/v1/namespaces/default/serviceaccounts/default >/dev/null 2>&1; do check_alive; sleep 0.1; done
log "default ServiceAccount exists"
ready_nodes() {
  api /api/v1/nodes 2>/dev/null | tr -d ' \n' | grep -o '"type":"Ready","status":"True"' | wc -l
}
until [ "$(ready_nodes)" -ge "$nodes" ]; do check_alive; sleep 0.1; done
log "$nodes node(s) Ready"

cat >"$dir/env" <<EOF
KUBECONFIG='$dir/kubeconfig'
KUBE_APISERVER_URL='$server'
CLUSTER_BIN_DIR='$bin'
ETCD_ENDPOINT='http://127.0.0.1:$etcd_port'
EOF

if [ -n "${WATCH_PID:-}" ]; then
  # Polls the owner once a second; when it is gone, tears the cluster down
  # (and with WATCH_RM_DIR=1 removes DIR, for throw-away temp dirs).
  start watcher bash -c 'while kill -0 "$0" 2>/dev/null; do sleep 1; done
    CLUSTER_DOWN_FROM_WATCHER=1 "$1" "$2"; [ "$3" != 1 ] || rm -rf "$2"' \
    "$WATCH_PID" "$here/down.sh" "$dir" "${WATCH_RM_DIR:-0}"
fi

started_ok=1
log "cluster up: KUBECONFIG=$dir/kubeconfig ($server)"
echo "$dir/env"
