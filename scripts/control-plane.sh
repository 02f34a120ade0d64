#!/usr/bin/env bash
# A real Kubernetes control plane on 127.0.0.1 for the operator's integration tests:
# kube-apiserver, kube-controller-manager and kube-scheduler built from the official source
# through the Go module proxy, etcd built the same way, and kwok simulating nodes so that Pods
# are scheduled, become Running and Ready, and Deployments become Available.
#
#   scripts/control-plane.sh build [VERSION]       build the binaries once into the cache
#   scripts/control-plane.sh start [VERSION] DIR   start a control plane with its state in DIR
#   scripts/control-plane.sh stop DIR              stop it (by the PIDs recorded in DIR)
#   scripts/control-plane.sh restart DIR NAME      restart one component (apiserver, etcd, ...)
#   scripts/control-plane.sh versions              the Kubernetes versions this project tests
#
# The cache lives outside the repository (AGENTOS_K8S_CACHE, default ~/.cache/kube-agentos/k8s)
# and is keyed by version: binaries/<kubernetes>-etcd<etcd>-kwok<kwok>/. After `start`, DIR holds
# `kubeconfig` (cluster-admin), the certificates, one log per component and one PID file each.
set -euo pipefail

# The highest and the lowest Kubernetes minor the chart claims (Chart.yaml kubeVersion): the
# Go module proxy serves every staging module of a release from 1.33 on, not all of 1.31 or 1.32.
K8S_VERSIONS=(1.37.2 1.33.13)
ETCD_VERSION=3.6.16
KWOK_VERSION=0.8.0
CACHE=${AGENTOS_K8S_CACHE:-$HOME/.cache/kube-agentos/k8s}
export GOFLAGS=-mod=mod GOTOOLCHAIN=local CGO_ENABLED=0

log() { echo "control-plane: $*" >&2; }
die() { log "$*"; exit 1; }

bin_dir() { echo "$CACHE/binaries/$1-etcd$ETCD_VERSION-kwok$KWOK_VERSION"; }

# A throwaway Go module that requires one upstream module and builds some of its commands.
# Kubernetes' own go.mod points every k8s.io/* staging module at ./staging/...; outside its
# repository each one is replaced by the published v0.<minor>.<patch> of the same release.
build_kubernetes() {
  local version=$1 out=$2 work=$3 staging
  mkdir -p "$work/kubernetes" && cd "$work/kubernetes"
  go mod download -json "k8s.io/kubernetes@v$version" >/dev/null
  staging=$(awk '$2 == "=>" && $3 ~ /^\.\/staging\// {print $1}' \
    "$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/v$version.mod")
  [ -n "$staging" ] || die "no staging modules found in k8s.io/kubernetes@v$version's go.mod"
  {
    echo "module kube-agentos.test/kubernetes"
    echo "go 1.23"
    echo "require k8s.io/kubernetes v$version"
    for module in $staging; do echo "replace $module => $module v0.${version#1.}"; done
  } >go.mod
  local minor=${version#1.}; minor=${minor%%.*}
  local pkg=k8s.io/component-base/version
  local ldflags="-s -w -X $pkg.gitVersion=v$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  for command in kube-apiserver kube-controller-manager kube-scheduler; do
    go build -trimpath -ldflags "$ldflags" -o "$out/$command" "k8s.io/kubernetes/cmd/$command"
  done
}

# build_command NAME MODULE VERSION PACKAGE OUT WORK: one command of a module that needs no replace.
build_command() {
  local name=$1 module=$2 version=$3 package=$4 out=$5 work=$6
  mkdir -p "$work/$name" && cd "$work/$name"
  printf 'module kube-agentos.test/%s\ngo 1.23\nrequire %s v%s\n' "$name" "$module" "$version" >go.mod
  go build -trimpath -ldflags "-s -w" -o "$out/$name" "$package"
}

cmd_build() {
  local version=${1:-${K8S_VERSIONS[0]}} out work started
  out=$(bin_dir "$version")
  if [ -x "$out/kwok" ]; then echo "$out"; return 0; fi
  command -v go >/dev/null || die "Go is needed to build the control plane"
  started=$(date +%s)
  work=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$work' '$out.partial'" EXIT
  rm -rf "$out.partial" && mkdir -p "$out.partial"
  log "building Kubernetes v$version, etcd v$ETCD_VERSION and kwok v$KWOK_VERSION into $out"
  (build_kubernetes "$version" "$out.partial" "$work")
  (build_command etcd go.etcd.io/etcd/server/v3 "$ETCD_VERSION" go.etcd.io/etcd/server/v3 "$out.partial" "$work")
  (build_command kwok sigs.k8s.io/kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok "$out.partial" "$work")
  rm -rf "$out" && mv "$out.partial" "$out"
  log "built in $(($(date +%s) - started)) s"
  echo "$out"
}

# Certificates: one CA; the API server's serving certificate; a cluster-admin client
# certificate (O=system:masters) shared by the controllers, kwok and the tests; the service
# account signing key pair.
make_certs() {
  local dir=$1
  local ssl=(quiet openssl)
  "${ssl[@]}" req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=kube-agentos-test-ca" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt"
  cat >"$dir/serving.ext" <<EOF
subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth
EOF
  "${ssl[@]}" req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$dir/apiserver.key" -out "$dir/apiserver.csr"
  "${ssl[@]}" x509 -req -in "$dir/apiserver.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 3650 -extfile "$dir/serving.ext" -out "$dir/apiserver.crt"
  echo "extendedKeyUsage=clientAuth" >"$dir/client.ext"
  "${ssl[@]}" req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kube-agentos-admin" \
    -keyout "$dir/admin.key" -out "$dir/admin.csr"
  "${ssl[@]}" x509 -req -in "$dir/admin.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 3650 -extfile "$dir/client.ext" -out "$dir/admin.crt"
  "${ssl[@]}" genrsa -out "$dir/sa.key" 2048
  "${ssl[@]}" rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub"
}

# quiet COMMAND...: run it with its output kept back, shown only when it fails.
quiet() {
  local out
  out=$("$@" 2>&1) || { local rc=$?; log "$1 failed ($rc): $out"; return "$rc"; }
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$(($(date +%s) + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || { log "gave up waiting for $what"; return 1; }
    sleep 0.2
  done
}

spawn() {  # spawn DIR NAME COMMAND...: run in the background, log, PID and command line in DIR
  local dir=$1 name=$2
  shift 2
  printf '%s\0' "$@" >"$dir/$name.args"
  setsid "$@" >>"$dir/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/$name.pid"
}

stop_one() {  # stop_one DIR NAME: SIGTERM, then SIGKILL after 5 s
  local dir=$1 name=$2 pid
  [ -f "$dir/$name.pid" ] || return 0
  pid=$(cat "$dir/$name.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/$name.pid"
}

# Restart one component with the command line it was started with (the tests restart the API
# server in the middle of a reconcile). Returns once the API server answers again.
cmd_restart() {
  local dir=${1:?usage: restart DIR COMPONENT} name=${2:?usage: restart DIR COMPONENT} args
  [ -f "$dir/$name.args" ] || die "no $name was started in $dir"
  mapfile -d '' args <"$dir/$name.args"
  stop_one "$dir" "$name"
  spawn "$dir" "$name" "${args[@]}"
  local server
  server=$(awk '/server:/ {print $2; exit}' "$dir/kubeconfig")
  ready() {
    curl -sf --cacert "$dir/ca.crt" --cert "$dir/admin.crt" --key "$dir/admin.key" "$server/readyz" >/dev/null
  }
  wait_for 120 "the API server" ready || die "the API server did not come back"
}

# Wait for the API server's /readyz; fail at once, saying which, when etcd or the API server
# has exited (a port taken between choosing and binding it, a damaged cached binary).
api_ready() {  # api_ready DIR PORT
  local dir=$1 port=$2 name deadline=$(($(date +%s) + 120))
  # curl, not kubectl: kubectl may be missing where only the control plane is wanted.
  until curl -sf --cacert "$dir/ca.crt" --cert "$dir/admin.crt" --key "$dir/admin.key" \
    "https://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
    for name in etcd apiserver; do
      kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null || { log "$name exited"; return 1; }
    done
    [ "$(date +%s)" -lt "$deadline" ] || { log "the API server was not ready within 120 s"; return 1; }
    sleep 0.2
  done
}

# What a failed start leaves to read: the end of each component's log, on standard error.
report_failure() {
  local dir=$1 name
  for name in etcd apiserver controller-manager scheduler kwok; do
    [ -s "$dir/$name.log" ] || continue
    log "--- the last lines of $name.log"
    tail -n 25 "$dir/$name.log" >&2
  done
}

# A start that fails (a race for a port, a slow disk) is reported, cleaned up and tried again
# with new ports, up to three times. Each attempt runs in a bash of its own so that `set -e`
# holds inside it.
cmd_start() {
  local version=${1:-${K8S_VERSIONS[0]}} dir=${2:?usage: start VERSION DIR} attempt
  cmd_build "$version" >/dev/null
  mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
  [ ! -e "$dir/apiserver.pid" ] || die "$dir already holds a control plane: stop it first"
  for attempt in 1 2 3; do
    if bash "$0" start-once "$version" "$dir"; then return 0; fi
    log "attempt $attempt of 3 to start Kubernetes v$version failed"
    report_failure "$dir"
    cmd_stop "$dir"
    find "$dir" -mindepth 1 -delete
  done
  die "Kubernetes v$version did not start (the logs of each attempt are above)"
}

cmd_start_once() {
  local version=$1 dir=$2 bin started
  started=$(date +%s.%N)
  bin=$(bin_dir "$version")
  make_certs "$dir"
  local etcd_port etcd_peer port
  etcd_port=$(free_port); etcd_peer=$(free_port); port=$(free_port)
  spawn "$dir" etcd "$bin/etcd" --data-dir "$dir/etcd" --name test \
    --listen-client-urls "http://127.0.0.1:$etcd_port" \
    --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "test=http://127.0.0.1:$etcd_peer" \
    --unsafe-no-fsync --quota-backend-bytes 4294967296 --log-level warn
  cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority: $dir/ca.crt
users:
- name: admin
  user:
    client-certificate: $dir/admin.crt
    client-key: $dir/admin.key
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
EOF
  # The audit log records every request but the controllers' reads, with who made it and the
  # answer: the tests count the operator's writes and refusals from the API server's own record.
  cat >"$dir/audit-policy.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  users: [kube-agentos-admin, "system:apiserver"]
  verbs: [get, list, watch]
- level: Metadata
EOF
  spawn "$dir" apiserver "$bin/kube-apiserver" \
    --audit-policy-file "$dir/audit-policy.yaml" --audit-log-path "$dir/audit.log" \
    --audit-log-mode blocking --audit-log-format json \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$port" \
    --endpoint-reconciler-type none \
    --tls-cert-file "$dir/apiserver.crt" --tls-private-key-file "$dir/apiserver.key" \
    --client-ca-file "$dir/ca.crt" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$dir/sa.pub" --service-account-signing-key-file "$dir/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 \
    --authorization-mode Node,RBAC \
    --enable-admission-plugins NamespaceLifecycle,ServiceAccount,OwnerReferencesPermissionEnforcement,ResourceQuota,LimitRanger \
    --allow-privileged=true --profiling=false --v 1
  api_ready "$dir" "$port"
  spawn "$dir" controller-manager "$bin/kube-controller-manager" \
    --kubeconfig "$dir/kubeconfig" --authentication-kubeconfig "$dir/kubeconfig" \
    --authorization-kubeconfig "$dir/kubeconfig" --bind-address 127.0.0.1 --secure-port 0 \
    --service-account-private-key-file "$dir/sa.key" --root-ca-file "$dir/ca.crt" \
    --use-service-account-credentials=false --leader-elect=false \
    --concurrent-gc-syncs 5 --v 1
  spawn "$dir" scheduler "$bin/kube-scheduler" \
    --kubeconfig "$dir/kubeconfig" --authentication-kubeconfig "$dir/kubeconfig" \
    --authorization-kubeconfig "$dir/kubeconfig" --bind-address 127.0.0.1 --secure-port 0 \
    --leader-elect=false --v 1
  write_stages "$dir/kwok-stages.yaml"
  spawn "$dir" kwok "$bin/kwok" --kubeconfig "$dir/kubeconfig" --config "$dir/kwok-stages.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --disregard-status-with-annotation-selector kwok.x-k8s.io/status=custom \
    --cidr 10.244.0.0/16 --node-ip 127.0.0.1 --node-port 0
  add_nodes "$dir" "$port"
  log "Kubernetes v$version up at https://127.0.0.1:$port in $(python3 -c "import time; print(round(time.time() - $started, 1))") s; KUBECONFIG=$dir/kubeconfig"
}

# What kwok does in place of kubelets: a node turns Ready and keeps reporting so; a pod bound
# to one of its nodes starts Running with every container ready; a pod being deleted goes.
write_stages() {
  cat >"$1" <<'EOF'
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: node-ready}
spec:
  resourceRef: {apiGroup: v1, kind: Node}
  selector:
    matchExpressions:
    - {key: '.status.conditions.[] | select( .type == "Ready" ) | .status', operator: NotIn, values: ["True"]}
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      {{ range NodeConditions }}
      - {lastHeartbeatTime: {{ $now | Quote }}, lastTransitionTime: {{ $now | Quote }}, message: {{ .message | Quote }}, reason: {{ .reason | Quote }}, status: {{ .status | Quote }}, type: {{ .type | Quote }}}
      {{ end }}
      addresses:
      - {address: {{ NodeIP | Quote }}, type: InternalIP}
      - {address: {{ NodeName | Quote }}, type: Hostname}
      allocatable: {{ YAML .status.allocatable 1 }}
      capacity: {{ YAML .status.capacity 1 }}
      nodeInfo: {architecture: amd64, operatingSystem: linux, kubeletVersion: fake, kubeProxyVersion: fake, containerRuntimeVersion: fake, kernelVersion: fake, osImage: fake, machineID: "", bootID: "", systemUUID: ""}
      phase: Running
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: node-heartbeat}
spec:
  resourceRef: {apiGroup: v1, kind: Node}
  selector:
    matchExpressions:
    - {key: '.status.conditions.[] | select( .type == "Ready" ) | .status', operator: In, values: ["True"]}
  delay: {durationMilliseconds: 10000, jitterDurationMilliseconds: 12000}
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      {{ range NodeConditions }}
      - {lastHeartbeatTime: {{ $now | Quote }}, lastTransitionTime: {{ $now | Quote }}, message: {{ .message | Quote }}, reason: {{ .reason | Quote }}, status: {{ .status | Quote }}, type: {{ .type | Quote }}}
      {{ end }}
  immediateNextStage: true
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: pod-running}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: .metadata.deletionTimestamp, operator: DoesNotExist}
    - {key: .status.phase, operator: In, values: [Pending]}
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - {type: PodScheduled, status: "True", lastTransitionTime: {{ $now | Quote }}}
      - {type: Initialized, status: "True", lastTransitionTime: {{ $now | Quote }}}
      - {type: ContainersReady, status: "True", lastTransitionTime: {{ $now | Quote }}}
      - {type: Ready, status: "True", lastTransitionTime: {{ $now | Quote }}}
      containerStatuses:
      {{ range .spec.containers }}
      - {name: {{ .name | Quote }}, image: {{ .image | Quote }}, imageID: "", ready: true, started: true, restartCount: 0, state: {running: {startedAt: {{ $now | Quote }}}}}
      {{ end }}
      {{ with NodeIPWith .spec.nodeName }}
      hostIP: {{ . | Quote }}
      {{ end }}
      {{ with PodIPWith .spec.nodeName false .metadata.uid .metadata.name .metadata.namespace }}
      podIP: {{ . | Quote }}
      {{ end }}
      phase: Running
      startTime: {{ $now | Quote }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: pod-gone}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: .metadata.deletionTimestamp, operator: Exists}
  next:
    delete: true
EOF
}

# Two fake nodes (so a PodDisruptionBudget or a rollout has somewhere to go), managed by kwok.
# Created (201) or already there (409) both do; anything else is said, with the answer's body.
add_nodes() {
  local dir=$1 port=$2 node code
  for node in kwok-node-0 kwok-node-1; do
    code=$(curl -sS -o "$dir/node.answer" -w '%{http_code}' --cacert "$dir/ca.crt" \
      --cert "$dir/admin.crt" --key "$dir/admin.key" --retry 5 --retry-connrefused \
      -X POST -H 'Content-Type: application/json' "https://127.0.0.1:$port/api/v1/nodes" -d @- <<EOF
{"apiVersion": "v1", "kind": "Node",
 "metadata": {"name": "$node", "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
              "labels": {"kubernetes.io/hostname": "$node", "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok"}},
 "status": {"allocatable": {"cpu": "1000", "memory": "4Ti", "pods": "5000"},
            "capacity": {"cpu": "1000", "memory": "4Ti", "pods": "5000"}}}
EOF
    ) || { log "creating node $node failed"; return 1; }
    case $code in
      201 | 409) ;;
      *) log "creating node $node answered $code: $(head -c 2000 "$dir/node.answer")"; return 1 ;;
    esac
  done
  rm -f "$dir/node.answer"
}

cmd_stop() {
  local dir=${1:?usage: stop DIR} name
  for name in kwok scheduler controller-manager apiserver etcd; do
    stop_one "$dir" "$name"
  done
}

case ${1:-} in
  build) shift; cmd_build "$@" ;;
  start) shift; cmd_start "$@" ;;
  start-once) shift; cmd_start_once "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  restart) shift; cmd_restart "$@" ;;
  versions) echo "${K8S_VERSIONS[@]}" ;;
  *) echo "usage: $0 build [VERSION] | start VERSION DIR | stop DIR | restart DIR NAME | versions" >&2; exit 2 ;;
esac
