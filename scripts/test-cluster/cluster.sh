#!/usr/bin/env bash
# kposture's real test cluster: etcd + kube-apiserver 1.20.2 (and optionally kube-controller-manager) on
# 127.0.0.1, with static token authentication, x509 client certificates and Node,RBAC authorization.
#
#   cluster.sh start [--controller-manager] [--state-dir DIR]   start (or restart) the cluster
#   cluster.sh stop  [--keep] [--only COMPONENT] [--kill] [--state-dir DIR]
#                    stop every component (SIGTERM to its process group, SIGKILL after 5 s) and remove
#                    the state dir; --keep keeps it so a later `start` reuses ports, tokens, certs and
#                    etcd data; --only stops one of etcd, kube-apiserver, kube-controller-manager (implies
#                    --keep); --kill sends SIGKILL at once (a crash rather than a shutdown)
#   cluster.sh status [--state-dir DIR]                          which components run; exit 1 if none
#   cluster.sh env    [--state-dir DIR]                          print the cluster's shell variables
#
# The binaries come from scripts/test-cluster/build.sh (cached in
# ${KPOSTURE_CACHE:-~/.cache/kposture}/k8s-1.20.2/bin, or $KPOSTURE_K8S_BIN); etcd is Debian's etcd-server.
# Everything else lives in the state dir (default ${KPOSTURE_CLUSTER_DIR:-${TMPDIR:-/tmp}/kposture-cluster}):
#   kubeconfig             contexts kposture-admin (current), kposture-user, kposture-admin-cert
#   cluster.env            shell variables (server URL, ports, tokens, paths); cluster.json the same as JSON
#   tokens.csv             the --token-auth-file
#   pki/                   ca.crt/key, apiserver.crt/key, sa.key/pub, admin-cert.crt/key
#   kube-apiserver.args    the server's exact flags, one per line; kube-apiserver.cmdline the command line
#   manifests/*.yaml       kubeadm-style static pod manifests carrying the same command lines
#   audit-policy.yaml      the audit policy (examples/audit-policy.yaml); logs/audit.log the audit log
#   etcd/                  etcd data; logs/*.log component logs; run/*.pid process (group) ids
#
# Environment: KPOSTURE_CONTROLLER_MANAGER=1 (same as --controller-manager), KPOSTURE_ANONYMOUS_AUTH
# (default false), KPOSTURE_APISERVER_EXTRA_ARGS (extra flags appended, space separated; a repeated flag's
# last value wins), KPOSTURE_CLUSTER_TIMEOUT (seconds to wait for readiness, default 90),
# KPOSTURE_CLUSTER_STOP_GRACE (seconds between SIGTERM and SIGKILL, default 5).
set -euo pipefail

K8S_VERSION=1.20.2
CACHE="${KPOSTURE_CACHE:-$HOME/.cache/kposture}"
K8S_BIN="${KPOSTURE_K8S_BIN:-$CACHE/k8s-$K8S_VERSION/bin}"
STATE="${KPOSTURE_CLUSTER_DIR:-${TMPDIR:-/tmp}/kposture-cluster}"
TIMEOUT="${KPOSTURE_CLUSTER_TIMEOUT:-90}"
WITH_KCM="${KPOSTURE_CONTROLLER_MANAGER:-0}"
ANONYMOUS="${KPOSTURE_ANONYMOUS_AUTH:-false}"
COMPONENTS=(etcd kube-apiserver kube-controller-manager)
AUDIT_POLICY="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/examples/audit-policy.yaml"

die() {
    echo "cluster.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '5,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

cmd="${1:-}"
[ -n "$cmd" ] || usage
shift
keep=0
only=""
hard=0
GRACE="${KPOSTURE_CLUSTER_STOP_GRACE:-5}"
while [ $# -gt 0 ]; do
    case "$1" in
    --controller-manager) WITH_KCM=1 ;;
    --keep) keep=1 ;;
    --kill) hard=1 ;;
    --only)
        only="${2:?--only needs a component}"
        keep=1
        shift
        ;;
    --state-dir)
        STATE="${2:?--state-dir needs a directory}"
        shift
        ;;
    -h | --help) usage ;;
    *) die "unknown argument: $1" ;;
    esac
    shift
done
if [ -n "$only" ]; then
    case " ${COMPONENTS[*]} " in
    *" $only "*) ;;
    *) die "--only takes one of: ${COMPONENTS[*]}" ;;
    esac
fi
mkdir -p "$(dirname "$STATE")"
STATE="$(cd "$(dirname "$STATE")" && pwd)/$(basename "$STATE")"
PKI="$STATE/pki"
RUN="$STATE/run"
LOGS="$STATE/logs"

# ---------------------------------------------------------------- processes

pid_of() { # the pid (= process group id) of a running component, or nothing
    local f="$RUN/$1.pid" pid
    [ -f "$f" ] || return 1
    pid="$(cat "$f")"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    # A child that died while this script still runs is a zombie: kill -0 succeeds on it.
    case "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" in Z | X | "") return 1 ;; esac
    echo "$pid"
}

# stop_component NAME: SIGTERM to the process group, SIGKILL after $GRACE seconds (or at once with --kill).
# kube-apiserver 1.20 stops listening at once on SIGTERM but lingers for up to a minute while clients
# (kube-controller-manager's watches) hold connections, hence a short grace period.
stop_component() {
    local name="$1" pid i sig=TERM
    pid="$(pid_of "$name")" || {
        rm -f "$RUN/$name.pid"
        return 0
    }
    [ "$hard" = 1 ] && sig=KILL
    kill "-$sig" -- "-$pid" 2>/dev/null || kill "-$sig" "$pid" 2>/dev/null || true
    for i in $(seq 1 $((GRACE * 10))); do
        pid_of "$name" >/dev/null || break
        sleep 0.1
    done
    if pid_of "$name" >/dev/null; then
        echo "note: $name (pid $pid) still running ${GRACE} s after SIGTERM; sending SIGKILL" >&2
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -f "$RUN/$name.pid"
    echo "stopped $name (pid $pid, SIG$sig)"
}

spawn() { # spawn NAME ARGS...: run in a new session (its own process group), detached from our stdio
    local name="$1"
    shift
    # Not a process group leader here (no job control), so setsid execs in place: $! is the pid, the
    # process group id and the session id.
    setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 &
    echo "$!" >"$RUN/$name.pid"
}

log_tail() {
    echo "---- last lines of $LOGS/$1.log" >&2
    tail -n "${2:-30}" "$LOGS/$1.log" >&2 || true
    echo "----" >&2
}

# ---------------------------------------------------------------- helpers (python3 for HTTP and ports)

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_busy() {
    python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
EOF
}

# http_ok URL [TOKEN] [CAFILE]: exit 0 when GET URL answers 200
http_ok() {
    python3 - "$@" <<'EOF'
import ssl, sys, urllib.request
url = sys.argv[1]
token = sys.argv[2] if len(sys.argv) > 2 else ""
cafile = sys.argv[3] if len(sys.argv) > 3 else ""
req = urllib.request.Request(url)
if token:
    req.add_header("Authorization", "Bearer " + token)
ctx = None
if url.startswith("https"):
    ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl._create_unverified_context()
try:
    with urllib.request.urlopen(req, timeout=2, context=ctx) as resp:
        sys.exit(0 if resp.status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
}

# wait_until NAME DESCRIPTION COMMAND...: poll COMMAND until it succeeds, NAME dies or the timeout passes
wait_until() {
    local name="$1" what="$2" deadline
    shift 2
    deadline=$(($(date +%s) + TIMEOUT))
    until "$@"; do
        if ! pid_of "$name" >/dev/null; then
            echo "cluster.sh: $name exited before $what" >&2
            log_tail "$name" 40
            return 1
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "cluster.sh: $name: no $what after ${TIMEOUT} s" >&2
            log_tail "$name" 40
            return 1
        fi
        sleep 0.25
    done
}

random_token() {
    if command -v openssl >/dev/null; then
        openssl rand -hex 16
    else
        python3 -c 'import secrets; print(secrets.token_hex(16))'
    fi
}

# ---------------------------------------------------------------- certificates

gen_pki_openssl() {
    local d="$PKI"
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=kposture-test-ca" \
        -keyout "$d/ca.key" -out "$d/ca.crt" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    cat >"$d/apiserver.ext" <<EOF
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
EOF
    cat >"$d/client.ext" <<EOF
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth
EOF
    openssl req -new -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
        -keyout "$d/apiserver.key" -out "$d/apiserver.csr" 2>/dev/null
    openssl x509 -req -sha256 -days 3650 -in "$d/apiserver.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
        -CAcreateserial -extfile "$d/apiserver.ext" -out "$d/apiserver.crt" 2>/dev/null
    openssl req -new -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kposture-admin-cert" \
        -keyout "$d/admin-cert.key" -out "$d/admin-cert.csr" 2>/dev/null
    openssl x509 -req -sha256 -days 3650 -in "$d/admin-cert.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
        -CAcreateserial -extfile "$d/client.ext" -out "$d/admin-cert.crt" 2>/dev/null
    openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
    openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
    rm -f "$d"/*.csr "$d"/*.ext "$d"/*.srl
}

gen_pki_python() { # the same files with Python's `cryptography`
    python3 - "$PKI" <<'EOF'
import datetime, ipaddress, sys
from pathlib import Path
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

d = Path(sys.argv[1])
now = datetime.datetime.now(datetime.timezone.utc)

def key(name):
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (d / f"{name}.key").write_bytes(k.private_bytes(serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    return k

def name(cn, org=None):
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)] if org else []
    return x509.Name(attrs + [x509.NameAttribute(NameOID.COMMON_NAME, cn)])

def cert(subject, k, issuer, issuer_key, exts):
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(k.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
         .not_valid_after(now + datetime.timedelta(days=3650)))
    for ext, critical in exts:
        b = b.add_extension(ext, critical=critical)
    return b.sign(issuer_key, hashes.SHA256())

def usage(**kw):
    base = dict(digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False)
    return x509.KeyUsage(**{**base, **kw})

ca_key = key("ca")
ca_name = name("kposture-test-ca")
ca = cert(ca_name, ca_key, ca_name, ca_key, [(x509.BasicConstraints(ca=True, path_length=None), True),
          (usage(key_cert_sign=True, crl_sign=True), True)])
(d / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
leaf = usage(digital_signature=True, key_encipherment=True)
sans = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("10.0.0.1"))]
sans += [x509.DNSName(n) for n in ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                                   "kubernetes.default.svc.cluster.local")]
k = key("apiserver")
c = cert(name("kube-apiserver"), k, ca_name, ca_key, [(x509.BasicConstraints(ca=False, path_length=None), False),
         (leaf, True), (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
         (x509.SubjectAlternativeName(sans), False)])
(d / "apiserver.crt").write_bytes(c.public_bytes(serialization.Encoding.PEM))
k = key("admin-cert")
c = cert(name("kposture-admin-cert", "system:masters"), k, ca_name, ca_key,
         [(x509.BasicConstraints(ca=False, path_length=None), False), (leaf, True),
          (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)])
(d / "admin-cert.crt").write_bytes(c.public_bytes(serialization.Encoding.PEM))
sa = key("sa")
(d / "sa.pub").write_bytes(sa.public_key().public_bytes(serialization.Encoding.PEM,
                           serialization.PublicFormat.SubjectPublicKeyInfo))
EOF
}

gen_pki() {
    mkdir -p "$PKI"
    chmod 700 "$PKI"
    if command -v openssl >/dev/null; then
        gen_pki_openssl
    elif python3 -c 'import cryptography' 2>/dev/null; then
        gen_pki_python
    else
        echo "== neither openssl nor Python's cryptography found: installing openssl"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null ||
            die "cannot install openssl (run apt-get update first?)"
        gen_pki_openssl
    fi
    chmod 600 "$PKI"/*.key
}

# ---------------------------------------------------------------- configuration files

b64() { base64 -w0 <"$1"; }

write_kubeconfigs() {
    local ca server="https://127.0.0.1:$APISERVER_PORT"
    ca="$(b64 "$PKI/ca.crt")"
    cat >"$STATE/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kposture
  cluster:
    server: $server
    certificate-authority-data: $ca
users:
- name: kposture-admin
  user:
    token: $ADMIN_TOKEN
- name: kposture-user
  user:
    token: $USER_TOKEN
- name: kposture-admin-cert
  user:
    client-certificate-data: $(b64 "$PKI/admin-cert.crt")
    client-key-data: $(b64 "$PKI/admin-cert.key")
contexts:
- name: kposture-admin
  context:
    cluster: kposture
    user: kposture-admin
    namespace: default
- name: kposture-user
  context:
    cluster: kposture
    user: kposture-user
    namespace: default
- name: kposture-admin-cert
  context:
    cluster: kposture
    user: kposture-admin-cert
    namespace: default
current-context: kposture-admin
EOF
    cat >"$STATE/kube-controller-manager.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: kposture
  cluster:
    server: $server
    certificate-authority-data: $ca
users:
- name: kube-controller-manager
  user:
    token: $KCM_TOKEN
contexts:
- name: kube-controller-manager
  context:
    cluster: kposture
    user: kube-controller-manager
current-context: kube-controller-manager
EOF
    chmod 600 "$STATE/kubeconfig" "$STATE/kube-controller-manager.kubeconfig"
}

write_env() {
    cat >"$STATE/cluster.env" <<EOF
KPOSTURE_CLUSTER_DIR=$STATE
KPOSTURE_CLUSTER_SERVER=https://127.0.0.1:$APISERVER_PORT
KPOSTURE_CLUSTER_KUBECONFIG=$STATE/kubeconfig
KPOSTURE_CLUSTER_CA=$PKI/ca.crt
APISERVER_PORT=$APISERVER_PORT
ETCD_PORT=$ETCD_PORT
ETCD_PEER_PORT=$ETCD_PEER_PORT
KCM_PORT=$KCM_PORT
ADMIN_TOKEN=$ADMIN_TOKEN
USER_TOKEN=$USER_TOKEN
KCM_TOKEN=$KCM_TOKEN
EOF
    chmod 600 "$STATE/cluster.env"
    python3 - "$STATE" <<'EOF'
import json, sys
from pathlib import Path
state = Path(sys.argv[1])
env = dict(line.split("=", 1) for line in (state / "cluster.env").read_text().splitlines() if "=" in line)
args_file = state / "kube-apiserver.args"
doc = {
    "state_dir": str(state),
    "server": env["KPOSTURE_CLUSTER_SERVER"],
    "kubeconfig": env["KPOSTURE_CLUSTER_KUBECONFIG"],
    "ca_file": env["KPOSTURE_CLUSTER_CA"],
    "ports": {k: int(env[k.upper()]) for k in ("apiserver_port", "etcd_port", "etcd_peer_port", "kcm_port")},
    "admin_token": env["ADMIN_TOKEN"],
    "user_token": env["USER_TOKEN"],
    "contexts": {"admin": "kposture-admin", "user": "kposture-user", "admin_cert": "kposture-admin-cert"},
    "apiserver_args": args_file.read_text().splitlines() if args_file.exists() else [],
}
(state / "cluster.json").write_text(json.dumps(doc, indent=2) + "\n")
EOF
}

# static_pod NAME IMAGE ARGS...: a kubeadm-style static pod manifest with the component's command line
static_pod() {
    local name="$1" image="$2" a
    shift 2
    mkdir -p "$STATE/manifests"
    {
        cat <<EOF
# The command line $name runs with in kposture's test cluster (generated by cluster.sh).
apiVersion: v1
kind: Pod
metadata:
  name: $name
  namespace: kube-system
  labels:
    component: $name
    tier: control-plane
spec:
  hostNetwork: true
  priorityClassName: system-node-critical
  containers:
  - name: $name
    image: $image
    command:
EOF
        python3 -c 'import json, sys; print("".join(f"    - {json.dumps(a)}\n" for a in sys.argv[1:]), end="")' "$@"
    } >"$STATE/manifests/$name.yaml"
}

# ---------------------------------------------------------------- start

load_or_init_state() {
    mkdir -p "$STATE" "$RUN" "$LOGS"
    chmod 700 "$STATE"
    if [ -f "$STATE/cluster.env" ]; then
        # shellcheck disable=SC1091
        . "$STATE/cluster.env"
    else
        ADMIN_TOKEN="$(random_token)"
        USER_TOKEN="$(random_token)"
        KCM_TOKEN="$(random_token)"
        ETCD_PORT="$(free_port)"
        ETCD_PEER_PORT="$(free_port)"
        APISERVER_PORT="$(free_port)"
        KCM_PORT="$(free_port)"
    fi
    [ -f "$PKI/ca.crt" ] && [ -f "$PKI/sa.key" ] || gen_pki
    # user,token,uid,"group1,group2": an admin, an unprivileged user (no bindings: only what every
    # authenticated user may do) and the controller-manager's identity (bootstrap RBAC binds it).
    cat >"$STATE/tokens.csv" <<EOF
$ADMIN_TOKEN,kposture-admin,kposture-admin,"system:masters"
$USER_TOKEN,kposture-user,kposture-user,"kposture:users"
$KCM_TOKEN,system:kube-controller-manager,system:kube-controller-manager
EOF
    chmod 600 "$STATE/tokens.csv"
    # The audit policy the detections are written for, as docs/detections.md documents it.
    cp "$AUDIT_POLICY" "$STATE/audit-policy.yaml"
}

ensure_port() { # ensure_port VAR COMPONENT: keep the port unless something else holds it now
    local var="$1" name="$2" port
    port="${!var}"
    if ! pid_of "$name" >/dev/null && port_busy "$port"; then
        local new
        new="$(free_port)"
        echo "cluster.sh: port $port for $name is taken; using $new" >&2
        printf -v "$var" '%s' "$new"
    fi
}

start_etcd() {
    pid_of etcd >/dev/null && return 0
    ensure_port ETCD_PORT etcd
    ensure_port ETCD_PEER_PORT etcd
    local args=(
        --name=kposture --data-dir="$STATE/etcd"
        --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT"
        --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT"
        --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT"
        --initial-cluster="kposture=http://127.0.0.1:$ETCD_PEER_PORT"
        --logger=zap --log-level=warn
    )
    static_pod etcd "k8s.gcr.io/etcd:3.4.13-0" etcd "${args[@]}"
    spawn etcd "$(command -v etcd)" "${args[@]}"
    wait_until etcd "health" http_ok "http://127.0.0.1:$ETCD_PORT/health"
}

apiserver_args() {
    APISERVER_ARGS=(
        --advertise-address=127.0.0.1
        --bind-address=127.0.0.1
        --secure-port="$APISERVER_PORT"
        --insecure-port=0
        --etcd-servers="http://127.0.0.1:$ETCD_PORT"
        --tls-cert-file="$PKI/apiserver.crt"
        --tls-private-key-file="$PKI/apiserver.key"
        --client-ca-file="$PKI/ca.crt"
        --token-auth-file="$STATE/tokens.csv"
        --anonymous-auth="$ANONYMOUS"
        --authorization-mode=Node,RBAC
        --enable-admission-plugins=NodeRestriction
        --allow-privileged=true
        --service-account-issuer=https://kubernetes.default.svc.cluster.local
        --service-account-key-file="$PKI/sa.pub"
        --service-account-signing-key-file="$PKI/sa.key"
        --service-cluster-ip-range=10.0.0.0/24
        --audit-policy-file="$STATE/audit-policy.yaml"
        --audit-log-path="$LOGS/audit.log"
        --audit-log-maxsize=100
        --audit-log-maxbackup=1
        --v=1
    )
    if [ -n "${KPOSTURE_APISERVER_EXTRA_ARGS:-}" ]; then
        local extra
        read -r -a extra <<<"$KPOSTURE_APISERVER_EXTRA_ARGS"
        APISERVER_ARGS+=("${extra[@]}")
    fi
}

start_apiserver() {
    pid_of kube-apiserver >/dev/null && return 0
    ensure_port APISERVER_PORT kube-apiserver
    apiserver_args
    local bin="$K8S_BIN/kube-apiserver"
    printf '%s\n' "${APISERVER_ARGS[@]}" >"$STATE/kube-apiserver.args"
    { printf '%q' "$bin" && printf ' %q' "${APISERVER_ARGS[@]}" && echo; } >"$STATE/kube-apiserver.cmdline"
    static_pod kube-apiserver "k8s.gcr.io/kube-apiserver:v$K8S_VERSION" kube-apiserver "${APISERVER_ARGS[@]}"
    write_kubeconfigs
    write_env
    spawn kube-apiserver "$bin" "${APISERVER_ARGS[@]}"
    wait_until kube-apiserver "/readyz" \
        http_ok "https://127.0.0.1:$APISERVER_PORT/readyz" "$ADMIN_TOKEN" "$PKI/ca.crt"
}

default_sa_exists() {
    http_ok "https://127.0.0.1:$APISERVER_PORT/api/v1/namespaces/default/serviceaccounts/default" \
        "$ADMIN_TOKEN" "$PKI/ca.crt"
}

start_kcm() {
    pid_of kube-controller-manager >/dev/null && return 0
    ensure_port KCM_PORT kube-controller-manager
    write_env
    local args=(
        --kubeconfig="$STATE/kube-controller-manager.kubeconfig"
        --bind-address=127.0.0.1
        --secure-port="$KCM_PORT"
        --port=0
        --cert-dir="$STATE/kcm-certs"
        --leader-elect=false
        --use-service-account-credentials=true
        --service-account-private-key-file="$PKI/sa.key"
        --root-ca-file="$PKI/ca.crt"
        --cluster-signing-cert-file="$PKI/ca.crt"
        --cluster-signing-key-file="$PKI/ca.key"
        --service-cluster-ip-range=10.0.0.0/24
        --v=1
    )
    static_pod kube-controller-manager "k8s.gcr.io/kube-controller-manager:v$K8S_VERSION" \
        kube-controller-manager "${args[@]}"
    spawn kube-controller-manager "$K8S_BIN/kube-controller-manager" "${args[@]}"
    wait_until kube-controller-manager "healthz" http_ok "https://127.0.0.1:$KCM_PORT/healthz"
    # Its controllers run once the default ServiceAccount appears.
    wait_until kube-controller-manager "default ServiceAccount" default_sa_exists
}

cmd_start() {
    [ -x "$K8S_BIN/kube-apiserver" ] ||
        die "no kube-apiserver in $K8S_BIN: run scripts/test-cluster/build.sh first"
    if [ "$WITH_KCM" = 1 ]; then
        [ -x "$K8S_BIN/kube-controller-manager" ] ||
            die "no kube-controller-manager in $K8S_BIN: run scripts/test-cluster/build.sh first"
    fi
    command -v etcd >/dev/null || die "no etcd on PATH: run scripts/test-cluster/build.sh (installs etcd-server)"
    command -v python3 >/dev/null || die "python3 is required"
    local t0="$EPOCHREALTIME"
    load_or_init_state
    if ! { start_etcd && start_apiserver && { [ "$WITH_KCM" != 1 ] || start_kcm; }; }; then
        echo "cluster.sh: start failed; logs in $LOGS (state kept in $STATE)" >&2
        for c in kube-controller-manager kube-apiserver etcd; do stop_component "$c" >/dev/null; done
        exit 1
    fi
    write_env
    printf 'cluster ready in %s s: https://127.0.0.1:%s\n' \
        "$(python3 -c "print(f'{$EPOCHREALTIME - $t0:.1f}')")" "$APISERVER_PORT"
    echo "  export KUBECONFIG=$STATE/kubeconfig   # contexts: kposture-admin, kposture-user, kposture-admin-cert"
}

cmd_stop() {
    [ -d "$STATE" ] || {
        echo "no cluster state in $STATE"
        return 0
    }
    if [ -n "$only" ]; then
        stop_component "$only"
        return 0
    fi
    local c
    for c in kube-controller-manager kube-apiserver etcd; do stop_component "$c"; done
    if [ "$keep" = 0 ]; then
        rm -rf "$STATE"
        echo "removed $STATE"
    fi
}

cmd_status() {
    local c pid any=1
    [ -f "$STATE/cluster.env" ] && grep '^KPOSTURE_CLUSTER_SERVER=' "$STATE/cluster.env" | cut -d= -f2
    for c in "${COMPONENTS[@]}"; do
        if pid="$(pid_of "$c")"; then
            echo "$c: running (pid $pid)"
            any=0
        else
            echo "$c: stopped"
        fi
    done
    return "$any"
}

case "$cmd" in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
env)
    [ -f "$STATE/cluster.env" ] || die "no cluster state in $STATE"
    cat "$STATE/cluster.env"
    ;;
*) usage ;;
esac
