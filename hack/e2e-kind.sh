#!/usr/bin/env bash
# End to end on a machine with Docker: build the image, create a kind cluster, load the
# image, install the chart, apply the samples (the PBX simulator plays the central) and
# wait until calls flow. Needs docker, kind, kubectl and helm on PATH.
#   KEEP=1 keeps the cluster afterwards; CLUSTER=name picks its name.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER="${CLUSTER:-multcall-e2e}"
IMAGE="ghcr.io/zanc/multcall-operator:e2e"
for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "e2e-kind needs $tool on PATH" >&2; exit 2; }
done

cleanup() { [ "${KEEP:-0}" = 1 ] || kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true; }
trap cleanup EXIT

docker build -t "$IMAGE" .
kind get clusters | grep -qx "$CLUSTER" || kind create cluster --name "$CLUSTER" --wait 120s
kind load docker-image "$IMAGE" --name "$CLUSTER"

# The célula's namespace first: the chart gives the operator a Role there.
kubectl create namespace multcall-demo --dry-run=client -o yaml | kubectl apply -f -
kubectl label namespace multcall-demo pod-security.kubernetes.io/enforce=restricted --overwrite
helm upgrade --install multcall-operator charts/multcall-operator \
  --namespace multcall-system --create-namespace \
  --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" --set image.pullPolicy=IfNotPresent \
  --set 'watchNamespaces={multcall-demo}' \
  --wait --timeout 180s

# The samples name the published image; point them at the one just built.
cat deploy/samples/*.yaml | sed "s#ghcr.io/zanc/multcall-operator:[0-9.]*#$IMAGE#g" | kubectl apply -n multcall-demo -f -

echo "waiting for the célula to be Ready…"
kubectl wait -n multcall-demo celula/vendas --for=condition=Ready --timeout=180s

echo "pushing 200 calls through the célula…"
kubectl run -n multcall-demo multcall-load --rm -i --restart=Never --image="$IMAGE" --image-pull-policy=IfNotPresent \
  --overrides='{"spec":{"securityContext":{"runAsNonRoot":true,"runAsUser":10001,"seccompProfile":{"type":"RuntimeDefault"}},"containers":[{"name":"multcall-load","image":"'"$IMAGE"'","args":["sim","multcall","--celula","vendas","--redis","redis:6379","--calls","200","--rate","50"],"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}]}}'

kubectl get celulas,centrals,deployments -n multcall-demo
echo "e2e-kind: calls flowed end to end"
