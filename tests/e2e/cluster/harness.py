"""The test cluster harness: start, stop, break and drive kposture's real API server (etcd +
kube-apiserver 1.20.2 on 127.0.0.1) through ``scripts/test-cluster/cluster.sh``.

The ``kube_cluster`` fixture (tests/e2e/cluster/conftest.py, session scope) starts the cluster in a
private state dir, yields a :class:`KubeCluster` and stops it (removing the state) at the end of the
session. The binaries come from ``scripts/test-cluster/build.sh`` (cached in
``~/.cache/kposture/k8s-1.20.2/bin``): when they are missing the tests skip, unless
``KPOSTURE_BUILD_CLUSTER=1`` asks to build them first (about 6 minutes on 2 cores).

kube-controller-manager runs too when its binary is there (``KPOSTURE_CLUSTER_CONTROLLER_MANAGER=0``
leaves it out): it creates ReplicaSets and Pods for Deployments (Pods stay Pending: there is no scheduler
or kubelet), ServiceAccount token Secrets, and finishes namespace deletion.

Tests that stop the cluster (fault tests) must start it again, e.g. ``with kube_cluster.stopped(): ...``.
See docs/testing.md.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SCRIPTS = REPO / "scripts" / "test-cluster"
CLUSTER_SH = SCRIPTS / "cluster.sh"
BUILD_SH = SCRIPTS / "build.sh"
K8S_VERSION = "1.20.2"
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager")
ADMIN_CONTEXT = "kposture-admin"
USER_CONTEXT = "kposture-user"
ADMIN_CERT_CONTEXT = "kposture-admin-cert"
LIMIT = (
    300  # seconds for any one script or kubectl call: a hang fails the test, it does not stall CI
)


def k8s_bin_dir() -> Path:
    """Where build.sh caches kube-apiserver and kube-controller-manager."""
    if configured := os.environ.get("KPOSTURE_K8S_BIN"):
        return Path(configured)
    cache = Path(os.environ.get("KPOSTURE_CACHE", Path.home() / ".cache" / "kposture"))
    return cache / f"k8s-{K8S_VERSION}" / "bin"


def _run(args: Sequence[str | Path], *, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=LIMIT,
        env=env,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(str(a) for a in args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )
    return proc.stdout


@dataclass
class KubeCluster:
    """A running test cluster and the ways to reach, break and restore it.

    Attributes mirror ``state_dir/cluster.json``, written by cluster.sh; they are refreshed by
    :meth:`start` (a restart keeps ports, tokens, certificates and etcd data unless a port was taken).
    """

    state_dir: Path
    controller_manager: bool = True
    extra_apiserver_args: list[str] = field(default_factory=list)
    kubeconfig: Path = field(init=False)
    server: str = field(init=False)
    ca_file: Path = field(init=False)
    admin_token: str = field(init=False)
    user_token: str = field(init=False)
    apiserver_args: list[str] = field(init=False)
    ports: dict[str, int] = field(init=False)

    admin_context = ADMIN_CONTEXT
    user_context = USER_CONTEXT
    admin_cert_context = ADMIN_CERT_CONTEXT

    # -- lifecycle ------------------------------------------------------------------------------

    def _script(self, *args: str) -> str:
        env = dict(os.environ)
        env["KPOSTURE_APISERVER_EXTRA_ARGS"] = " ".join(self.extra_apiserver_args)
        return _run(["bash", CLUSTER_SH, *args, "--state-dir", self.state_dir], env=env)

    def start(self) -> None:
        """Start every component that is not running and wait for /readyz (and the controllers)."""
        self._script("start", *(["--controller-manager"] if self.controller_manager else []))
        self._load()

    def stop(self, component: str | None = None, *, kill: bool = False) -> None:
        """Stop the whole cluster (or one component), keeping its state for :meth:`start`.

        SIGTERM (SIGKILL after 5 s); ``kill=True`` sends SIGKILL at once, like a crash.
        """
        if component is not None and component not in COMPONENTS:
            raise ValueError(f"component must be one of {COMPONENTS}, not {component!r}")
        args = ["--only", component] if component else ["--keep"]
        self._script("stop", *args, *(["--kill"] if kill else []))

    def destroy(self) -> None:
        """Stop everything and remove the state dir (the end of the session)."""
        self._script("stop")

    @contextmanager
    def stopped(self, component: str | None = None, *, kill: bool = False) -> Iterator[None]:
        """Stop the cluster (or one component) for the ``with`` block, then start it again."""
        self.stop(component, kill=kill)
        try:
            yield
        finally:
            self.start()

    def pid(self, component: str = "kube-apiserver") -> int | None:
        """The component's process (group) id while it runs, else None."""
        try:
            pid = int((self.state_dir / "run" / f"{component}.pid").read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def is_running(self, component: str = "kube-apiserver") -> bool:
        return self.pid(component) is not None

    @contextmanager
    def paused(self, component: str = "kube-apiserver") -> Iterator[None]:
        """SIGSTOP the component for the ``with`` block: connections hang (timeout tests), then SIGCONT."""
        pid = self.pid(component)
        if pid is None:
            raise RuntimeError(f"{component} is not running")
        os.killpg(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.killpg(pid, signal.SIGCONT)

    def _load(self) -> None:
        doc = json.loads((self.state_dir / "cluster.json").read_text())
        self.kubeconfig = Path(doc["kubeconfig"])
        self.server = doc["server"]
        self.ca_file = Path(doc["ca_file"])
        self.admin_token = doc["admin_token"]
        self.user_token = doc["user_token"]
        self.apiserver_args = list(doc["apiserver_args"])
        self.ports = dict(doc["ports"])

    # -- files ----------------------------------------------------------------------------------

    def static_pod_manifest(self, component: str = "kube-apiserver") -> Path:
        """A kubeadm-style static pod manifest whose command is the component's real command line."""
        return self.state_dir / "manifests" / f"{component}.yaml"

    def log(self, component: str = "kube-apiserver") -> Path:
        """The component's log file (``audit`` for the API server's audit log)."""
        return self.state_dir / "logs" / f"{component}.log"

    # -- kubectl --------------------------------------------------------------------------------

    def kubectl(
        self,
        *args: str,
        context: str = ADMIN_CONTEXT,
        input: str | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster; raises with kubectl's output when ``check`` and it fails."""
        cmd = ["kubectl", f"--kubeconfig={self.kubeconfig}", f"--context={context}", *args]
        proc = subprocess.run(
            cmd,
            input=input,
            capture_output=True,
            text=True,
            timeout=LIMIT,
            check=False,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}"
            )
        return proc

    def apply(
        self,
        *sources: Path | str,
        namespace: str | None = None,
        server_side: bool = True,
        field_manager: str = "kposture-tests",
        context: str = ADMIN_CONTEXT,
    ) -> subprocess.CompletedProcess[str]:
        """``kubectl apply`` files or folders (``Path``) or manifest text (``str``).

        Server-side apply by default (``--server-side --force-conflicts``; 1.20 supports it); pass
        ``server_side=False`` for a client-side apply, whose managedFields manager is
        ``kubectl-client-side-apply``. Namespaces the manifests name are created first when missing.
        """
        files: list[str] = []
        texts: list[str] = []
        for source in sources:
            if isinstance(source, Path):
                files += ["-f", str(source)]
            else:
                texts.append(source)
        if not files and not texts:
            raise ValueError("nothing to apply")
        args = ["apply"]
        if server_side:
            args += ["--server-side", "--force-conflicts", f"--field-manager={field_manager}"]
        if namespace:
            args += ["-n", namespace]
        self.ensure_namespaces(*_namespaces_in(sources), *([namespace] if namespace else []))
        last = None
        if files:
            last = self.kubectl(*args, *files, context=context)
        if texts:
            last = self.kubectl(*args, "-f", "-", context=context, input="\n---\n".join(texts))
        assert last is not None
        return last

    def ensure_namespaces(self, *names: str) -> None:
        """Create these namespaces when they are missing."""
        for name in sorted(
            set(names) - {"default", "kube-system", "kube-public", "kube-node-lease"}
        ):
            if self.kubectl("get", "namespace", name, check=False).returncode != 0:
                self.kubectl("create", "namespace", name)


def _namespaces_in(sources: Sequence[Path | str]) -> set[str]:
    """The namespaces that manifest files, folders or texts put objects in."""
    import yaml

    names: set[str] = set()
    for source in sources:
        texts = [source] if isinstance(source, str) else _manifest_texts(source)
        for text in texts:
            for doc in yaml.safe_load_all(text):
                if isinstance(doc, dict):
                    names.update(_namespaces_of(doc))
    return names


def _manifest_texts(path: Path) -> list[str]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml", ".json"})
    else:
        files = [path]
    return [f.read_text() for f in files]


def _namespaces_of(doc: dict[str, object]) -> set[str]:
    if doc.get("kind") == "List" and isinstance(doc.get("items"), list):
        return {
            ns for item in doc["items"] if isinstance(item, dict) for ns in _namespaces_of(item)
        }
    meta = doc.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("namespace"), str):
        return {meta["namespace"]}
    return set()


def binaries_missing(controller_manager: bool) -> str | None:
    """None when the cluster can start, else why not."""
    bin_dir = k8s_bin_dir()
    if not (bin_dir / "kube-apiserver").exists():
        return f"no kube-apiserver in {bin_dir}"
    if controller_manager and not (bin_dir / "kube-controller-manager").exists():
        return f"no kube-controller-manager in {bin_dir}"
    if shutil.which("etcd") is None:
        return "no etcd on PATH"
    return None
