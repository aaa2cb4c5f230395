#!/usr/bin/env bash
# End-to-end test on kind: the released packages, installed the way users install
# them, create a vCluster that Argo CD can reach.
#
#   1. a kind cluster and a local OCI registry on kind's network;
#   2. the runtime image and the xpkgs built (`make xpkg`), pushed to that registry
#      (`make push`), and the runtime image loaded into the kind node;
#   3. Crossplane (Helm chart, the pinned version), an ImageConfig that rewrites our
#      registry to the local one, and the platform's bootstrap/ (docs/operations.md, Install);
#   4. the configuration-clusters package at the version built, which pulls in the
#      Function and the other providers as its dependencies;
#   5. a `Cluster` with `provider: vcluster` (examples/cluster-vcluster/xr.yaml),
#      waited for until Ready;
#   6. the Argo CD cluster Secret turned into a kubeconfig and used, through a
#      port-forward, to list the vCluster's namespaces;
#   7. the Cluster deleted (deletion must finish on its own), everything torn down.
#
# Needs docker (with a running engine, for kind), kind, helm, kubectl, curl, the
# crossplane CLI and network access. When one is missing it says which and exits 0
# (SKIP), so that it never fails a test run on a machine without them; set
# E2E_REQUIRED=1 (CI) to make that a failure. E2E_KEEP=1 keeps the cluster.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
CLUSTER=${E2E_CLUSTER:-forge-e2e}
REGISTRY_NAME=${E2E_REGISTRY_NAME:-forge-e2e-registry}
REGISTRY_PORT=${E2E_REGISTRY_PORT:-5001}
XR_FILE=${E2E_XR:-examples/cluster-vcluster/xr.yaml}
TIMEOUT=${E2E_TIMEOUT:-1200s}
CROSSPLANE=${CROSSPLANE:-crossplane}
MAKE=${MAKE:-make}
KUBECTL=(kubectl --context "kind-${CLUSTER}")
WORK=""
PF_PID=""

log() { printf '\n=== %s\n' "$*"; }
fail() { printf 'e2e FAILED: %s\n' "$*" >&2; exit 1; }

preflight() {
  local missing=() tool
  if ! command -v docker >/dev/null 2>&1; then
    missing+=("docker")
  elif ! docker info >/dev/null 2>&1; then
    missing+=("a Docker engine (the docker CLI is here, but 'docker info' reaches no daemon)")
  fi
  for tool in kind helm kubectl curl go "$CROSSPLANE"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  if command -v curl >/dev/null 2>&1 &&
    ! curl -fs --max-time 10 -o /dev/null https://charts.crossplane.io/stable/index.yaml; then
    missing+=("network (https://charts.crossplane.io is unreachable)")
  fi
  if ((${#missing[@]})); then
    printf 'SKIP e2e: missing:\n'
    printf '  - %s\n' "${missing[@]}"
    printf 'make e2e needs docker (an engine, for kind), kind, helm, kubectl, curl, go, the crossplane CLI and network access.\n'
    [[ ${E2E_REQUIRED:-0} == 1 ]] && exit 1
    exit 0
  fi
}

diagnostics() {
  log "diagnostics"
  "${KUBECTL[@]}" get pkg,pkgrev -o wide || true
  "${KUBECTL[@]}" get lock lock -o yaml || true
  "${KUBECTL[@]}" get composite,managed -A -o wide || true
  "${KUBECTL[@]}" describe -f "$XR_FILE" || true
  "${KUBECTL[@]}" get events -A --sort-by=.lastTimestamp | tail -n 60 || true
  "${KUBECTL[@]}" logs -n crossplane-system deploy/crossplane --tail=100 || true
}

teardown() {
  local rc=$?
  if [[ -n $PF_PID ]]; then kill "$PF_PID" 2>/dev/null || true; fi
  ((rc == 0)) || diagnostics
  if [[ ${E2E_KEEP:-0} == 1 ]]; then
    log "E2E_KEEP=1: keeping kind cluster ${CLUSTER} and registry ${REGISTRY_NAME}"
  else
    log "tearing down"
    kind delete cluster --name "$CLUSTER" || true
    docker rm -f "$REGISTRY_NAME" >/dev/null 2>&1 || true
  fi
  if [[ -n $WORK ]]; then rm -rf "$WORK"; fi
  return "$rc"
}

# pin NAME: a pinned version from functions/forge/versions.py (one source of truth).
pin() {
  PYTHONPATH="$ROOT/functions" "$ROOT/.venv/bin/python" -c "from forge import versions; print($1)"
}

start_registry_and_cluster() {
  log "kind cluster ${CLUSTER} and registry ${REGISTRY_NAME}"
  kind create cluster --name "$CLUSTER" --wait 120s
  docker run -d --restart=always --name "$REGISTRY_NAME" \
    -p "127.0.0.1:${REGISTRY_PORT}:5000" registry:2 >/dev/null
  docker network connect kind "$REGISTRY_NAME"
  local ip
  ip=$(docker inspect -f '{{(index .NetworkSettings.Networks "kind").IPAddress}}' "$REGISTRY_NAME")
  # Crossplane's package manager (go-containerregistry) speaks plain HTTP to an
  # RFC 1918 address, so the in-cluster name of the registry is its IP on kind's network.
  [[ $ip =~ ^(10\.|172\.(1[6-9]|2[0-9]|3[01])\.|192\.168\.) ]] ||
    fail "registry IP ${ip} on the kind network is not an RFC 1918 address"
  IN_CLUSTER_REGISTRY="${ip}:5000"
  local node
  for node in $(kind get nodes --name "$CLUSTER"); do
    docker exec "$node" mkdir -p "/etc/containerd/certs.d/${IN_CLUSTER_REGISTRY}"
    printf '[host."http://%s"]\n' "$IN_CLUSTER_REGISTRY" |
      docker exec -i "$node" cp /dev/stdin "/etc/containerd/certs.d/${IN_CLUSTER_REGISTRY}/hosts.toml"
  done
}

build_and_push() {
  log "building ${VERSION} for ${ARCH} and pushing to localhost:${REGISTRY_PORT}/forge"
  "$MAKE" xpkg VERSION="$VERSION" ARCH="$ARCH" CROSSPLANE="$CROSSPLANE"
  # The charts too (build/charts/), pushed with the helm on PATH over plain HTTP.
  "$MAKE" packages VERSION="$VERSION" ARCH="$ARCH" CROSSPLANE="$CROSSPLANE"
  "$MAKE" push VERSION="$VERSION" ARCH="$ARCH" CROSSPLANE="$CROSSPLANE" \
    REGISTRY="localhost:${REGISTRY_PORT}/forge" HELM="$(command -v helm)" PLAIN_HTTP=1
  # The node gets the runtime under the name Crossplane will run it as, in case its
  # containerd ignores certs.d (then it would try HTTPS against the registry).
  local runtime
  runtime="${IN_CLUSTER_REGISTRY}/forge/$(pin 'versions.FUNCTION_PACKAGE.rsplit("/", 1)[1]'):${VERSION}"
  docker load --input "build/runtime-${ARCH}.tar"  # make xpkg built it without Docker
  docker tag "function-forge-runtime:${VERSION}-${ARCH}" "$runtime"
  kind load docker-image --name "$CLUSTER" "$runtime"
}

install_crossplane() {
  local chart_version registry
  chart_version=$(pin 'versions.CROSSPLANE.version')
  log "Crossplane ${chart_version}"
  helm upgrade --install crossplane crossplane \
    --repo "$(pin 'versions.CROSSPLANE.repository')" --version "$chart_version" \
    --kube-context "kind-${CLUSTER}" --namespace crossplane-system --create-namespace --wait
  registry=$(pin 'versions.FUNCTION_PACKAGE.rsplit("/", 1)[0]')
  log "ImageConfig ${registry} -> ${IN_CLUSTER_REGISTRY}/forge; bootstrap/01, 02 (provider-kubernetes)"
  "${KUBECTL[@]}" apply -f - <<EOF
apiVersion: pkg.crossplane.io/v1beta1
kind: ImageConfig
metadata:
  name: forge-e2e-registry
spec:
  matchImages:
    - type: Prefix
      prefix: ${registry}
  rewriteImage:
    prefix: ${IN_CLUSTER_REGISTRY}/forge
---
apiVersion: v1
kind: Namespace
metadata:
  name: argocd
EOF
  # The platform's one-time bootstrap (docs/operations.md, Install): the Configuration comes next, at
  # the version just built instead of the release bootstrap/03 pins.
  "${KUBECTL[@]}" apply -f bootstrap/01-crossplane-rbac.yaml -f bootstrap/02-provider-kubernetes.yaml
  "${KUBECTL[@]}" wait provider.pkg.crossplane.io/crossplane-contrib-provider-kubernetes \
    --for=condition=Healthy --timeout="$TIMEOUT"
}

install_configuration() {
  local registry
  registry=$(pin 'versions.FUNCTION_PACKAGE.rsplit("/", 1)[0]')
  log "configuration-clusters ${VERSION} (and its dependencies)"
  "${KUBECTL[@]}" apply -f - <<EOF
apiVersion: pkg.crossplane.io/v1
kind: Configuration
metadata:
  name: configuration-clusters
spec:
  package: ${registry}/configuration-clusters:${VERSION}
EOF
  "${KUBECTL[@]}" wait configuration.pkg.crossplane.io/configuration-clusters \
    --for=condition=Installed --timeout="$TIMEOUT"
  "${KUBECTL[@]}" wait configuration.pkg.crossplane.io/configuration-clusters \
    --for=condition=Healthy --timeout="$TIMEOUT"
  "${KUBECTL[@]}" wait function.pkg.crossplane.io --all --for=condition=Healthy --timeout="$TIMEOUT"
  "${KUBECTL[@]}" wait xrd --all --for=condition=Established --timeout="$TIMEOUT"
  local crd
  for crd in clusterproviderconfigs.helm.m.crossplane.io clusterproviderconfigs.kubernetes.m.crossplane.io; do
    "${KUBECTL[@]}" wait "crd/${crd}" --for=create --timeout="$TIMEOUT"
    "${KUBECTL[@]}" wait "crd/${crd}" --for=condition=Established --timeout="$TIMEOUT"
  done
  "${KUBECTL[@]}" apply -f bootstrap/04-provider-configs.yaml
}

create_cluster() {
  log "Cluster from ${XR_FILE}"
  "${KUBECTL[@]}" apply -f "$XR_FILE"
  "${KUBECTL[@]}" wait -f "$XR_FILE" --for=condition=Ready --timeout="$TIMEOUT"
}

check_argocd_secret() {
  local name secret server host namespace port local_port
  name=$("${KUBECTL[@]}" get -f "$XR_FILE" -o jsonpath='{.metadata.name}')
  log "Argo CD cluster Secret of ${name}"
  secret=$("${KUBECTL[@]}" get secret -n argocd -l argocd.argoproj.io/secret-type=cluster \
    -o jsonpath="{.items[?(@.metadata.name==\"${name}-cluster\")].metadata.name}")
  [[ -n $secret ]] || fail "no Secret ${name}-cluster labelled argocd.argoproj.io/secret-type=cluster in argocd"
  "${KUBECTL[@]}" get secret -n argocd "$secret" -o json >"$WORK/secret.json"
  server=$(python3 e2e/argocd_kubeconfig.py server <"$WORK/secret.json")
  # https://<service>.<namespace>.svc[:port]: reachable in the cluster; forward it here.
  [[ $server =~ ^https://([a-z0-9-]+)\.([a-z0-9-]+)\.svc(:([0-9]+))?$ ]] ||
    fail "server ${server} is not an in-cluster Service URL"
  host=${BASH_REMATCH[1]}
  namespace=${BASH_REMATCH[2]}
  port=${BASH_REMATCH[4]:-443}
  local_port=$((20000 + RANDOM % 20000))
  "${KUBECTL[@]}" port-forward -n "$namespace" "svc/${host}" "${local_port}:${port}" >"$WORK/pf.log" 2>&1 &
  PF_PID=$!
  python3 e2e/argocd_kubeconfig.py kubeconfig --server "https://127.0.0.1:${local_port}" \
    <"$WORK/secret.json" >"$WORK/kubeconfig.json"
  local attempt
  for attempt in $(seq 1 30); do
    if kubectl --kubeconfig "$WORK/kubeconfig.json" get namespaces >"$WORK/ns.txt" 2>"$WORK/ns.err"; then
      break
    fi
    ((attempt == 30)) && fail "the Argo CD credentials do not reach ${server}: $(cat "$WORK/ns.err")"
    sleep 2
  done
  cat "$WORK/ns.txt"
  grep -q '^default ' "$WORK/ns.txt" || fail "the vCluster has no default namespace"
  grep -q '^crossplane-system ' "$WORK/ns.txt" || fail "no crossplane-system in the vCluster"
  kill "$PF_PID" 2>/dev/null || true
  PF_PID=""
  log "Argo CD's credentials reach the vCluster API at ${server} (verified TLS, client certificate)"
}

delete_cluster() {
  log "deleting the Cluster (must finish without help)"
  "${KUBECTL[@]}" delete -f "$XR_FILE" --wait=true --timeout="$TIMEOUT"
}

main() {
  preflight
  WORK=$(mktemp -d)
  trap teardown EXIT
  "$MAKE" venv >/dev/null
  VERSION=${VERSION:-$("$ROOT/.venv/bin/python" -m forge_dev.packaging version)}
  case "$(docker info --format '{{.Architecture}}')" in
    x86_64 | amd64) ARCH=amd64 ;;
    aarch64 | arm64) ARCH=arm64 ;;
    *) fail "unsupported Docker architecture $(docker info --format '{{.Architecture}}')" ;;
  esac
  start_registry_and_cluster
  build_and_push
  install_crossplane
  install_configuration
  create_cluster
  check_argocd_secret
  delete_cluster
  log "e2e PASSED (${VERSION})"
}

main "$@"
