#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl, kwok and helm from the Go module proxy at the versions pinned in
# versions.env, into a cache outside the checkout:
#
#   $MULTCALL_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/multcall-operator)
#     k8s/<K8S_VERSION>/bin/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl}
#     etcd/<ETCD_VERSION>/bin/etcd
#     kwok/<KWOK_VERSION>/bin/kwok
#     helm/<HELM_VERSION>/bin/helm
#     bin/<all four versions>/   symlinks to the above, printed on stdout at the end
#
# Each component carries a stamp of what produced it (version, Go version,
# wrapper go.mod/go.sum, link flags); when the stamp matches, nothing is built,
# so a cached run takes a few milliseconds. Progress goes to stderr; stdout is
# only the bin directory, so callers can do BIN="$(hack/cluster/build.sh)".
#
# Environment: MULTCALL_CACHE, BUILD_JOBS (go build -p, default: nproc),
# FORCE=1 to rebuild everything.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache="${MULTCALL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/multcall-operator}"
jobs="${BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"
# Never let the go command fetch another toolchain (only the module proxy is
# reachable in CI), and build what go.mod/go.sum say, nothing newer.
export GOTOOLCHAIN=local
export GOFLAGS="-mod=readonly -buildvcs=false"
export CGO_ENABLED=0

log() { echo "build.sh: $*" >&2; }

mkdir -p "$cache"
# Several test workers may start clusters at once; only one of them builds.
exec 9>"$cache/.build.lock"
flock 9

go_version="$(go version)"

# build NAME VERSION LDFLAGS OUT=PKG...
# Builds each package PKG of the wrapper module hack/cluster/NAME to
# $cache/NAME/VERSION/bin/OUT unless the stamp says it is already there.
build() {
  local name="$1" version="$2" ldflags="$3"
  shift 3
  local dest="$cache/$name/$version/bin" mod="$here/$name" stamp want spec out
  stamp="$cache/$name/$version/stamp"
  want="$(printf '%s\n' "$version" "$go_version" "$ldflags" "$*" |
    cat - "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -d' ' -f1)"
  if [ "${FORCE:-0}" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  # A version bump must go through gen-modules.sh so that go.sum matches it.
  if ! grep -q "$version" "$mod/go.mod"; then
    log "$mod/go.mod is not at $version; run hack/cluster/gen-modules.sh $name"
    exit 1
  fi
  log "building $name $version (go build -p $jobs) ..."
  local start=$SECONDS
  rm -f "$stamp"
  mkdir -p "$dest"
  for spec in "$@"; do
    out="${spec%%=*}"
    # -o into a temp name and rename, so an interrupted build never leaves a
    # truncated binary behind under the final name.
    (cd "$mod" && go build -p "$jobs" -trimpath -ldflags "$ldflags" \
      -o "$dest/.$out.tmp" "${spec#*=}")
    mv -f "$dest/.$out.tmp" "$dest/$out"
  done
  echo "$want" >"$stamp"
  log "built $name $version in $((SECONDS - start))s"
}

# Version information that the release builds stamp in; without it the API
# server reports v0.0.0-master, which breaks clients that check the version.
k8s_minor="${K8S_VERSION#v1.}"
k8s_minor="${k8s_minor%%.*}"
k8s_ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  k8s_ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$k8s_minor -X $p.gitTreeState=clean"
done
build k8s "$K8S_VERSION" "$k8s_ld" \
  kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver \
  kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager \
  kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler \
  kubectl=k8s.io/kubernetes/cmd/kubectl

build etcd "$ETCD_VERSION" "-s -w" etcd=go.etcd.io/etcd/server/v3

build kwok "$KWOK_VERSION" "-s -w" kwok=sigs.k8s.io/kwok/cmd/kwok

# helm's default .Capabilities.KubeVersion (used by `helm template` without a
# cluster) follows the client-go it is built with, as its own Makefile does.
helm_kube="$(sed -n 's#^[[:space:]]*k8s\.io/client-go v0\.\([0-9]*\)\..*#\1#p' "$here/helm/go.mod")"
helm_ld="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_ld+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$helm_kube"
done
build helm "$HELM_VERSION" "$helm_ld" helm=helm.sh/helm/v3/cmd/helm

# One directory with everything, so PATH needs a single entry.
bin="$cache/bin/k8s-$K8S_VERSION.etcd-$ETCD_VERSION.kwok-$KWOK_VERSION.helm-$HELM_VERSION"
if [ ! -x "$bin/helm" ]; then
  mkdir -p "$bin"
  for b in k8s/"$K8S_VERSION"/bin/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl} \
    etcd/"$ETCD_VERSION"/bin/etcd kwok/"$KWOK_VERSION"/bin/kwok helm/"$HELM_VERSION"/bin/helm; do
    ln -sfn "$cache/$b" "$bin/$(basename "$b")"
  done
fi
echo "$bin"
