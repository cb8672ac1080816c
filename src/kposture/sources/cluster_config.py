"""Connecting to a cluster: kubeconfig and in-cluster configuration, behind a tiny transport.

Owns the only use of the official ``kubernetes`` client: its configuration loaders (kubeconfig
contexts, ``KUBECONFIG`` lists of files, in-cluster service account, bearer tokens, client
certificates, exec credential plugins of every ``client.authentication.k8s.io`` version, token
refresh) and its REST client. Listing goes through ``Transport.get``, which returns the raw JSON
bytes of a response, so no typed model objects are ever built. Configuration problems become a
``ClusterConfigError`` with a one-line message; connection problems a ``TransportError``.

A connection also carries what the ``ClusterFacts`` probes need: a second, *anonymous* transport to
the same server (same URL, CA, TLS and proxy settings, but no token, no basic auth and no client
certificate) and the resolver for the endpoint's host name. Fakes leave both out: not probed.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

IN_CLUSTER = "in-cluster"
"""The context name reported for in-cluster configuration."""

_SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ClusterError(Exception):
    """A cluster scan cannot start; the message is one line for the user."""


class ClusterConfigError(ClusterError):
    """A kubeconfig that cannot be used: missing file, unknown context, bad credentials setup."""


class TransportError(Exception):
    """The server could not be reached or stopped answering (connect/read timeout, reset)."""


@dataclass(frozen=True, slots=True)
class Response:
    """A response's status code and raw body."""

    status: int
    body: bytes


class Transport(Protocol):
    """Sends GET requests to the API server. Thread-safe: kinds are listed concurrently."""

    def get(self, path: str, query: Sequence[tuple[str, str]] = ()) -> Response:
        """GET ``path`` with ``query``; raise ``TransportError`` when no response arrives."""
        ...


Resolver = Callable[[str, int], Sequence[str]]
"""Resolves a host name and port to IP address strings (``socket.getaddrinfo``: name resolution
only, no packet to the host itself); raises ``OSError`` when it cannot."""


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to for a TCP connection, in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True, slots=True)
class Connection:
    """A configured transport with the context name and server URL it talks to; ``anonymous`` (the
    same server without credentials) and ``resolve`` serve the ClusterFacts probes, None when a
    connection cannot probe (test fakes)."""

    transport: Transport
    context: str
    server: str
    anonymous: Transport | None = None
    resolve: Resolver | None = None


class _ClientTransport:
    """``Transport`` over the official client's REST layer (urllib3 pool, its auth settings);
    ``authenticated=False`` sends no credentials (the anonymous probe)."""

    def __init__(self, api: Any, timeout: tuple[float, float], authenticated: bool = True) -> None:
        self._api = api
        self._timeout = timeout
        self._auth = ["BearerToken"] if authenticated else []

    def get(self, path: str, query: Sequence[tuple[str, str]] = ()) -> Response:
        import urllib3  # noqa: PLC0415 - a dependency of the client, imported where it is used
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

        api = self._api
        try:
            # param_serialize applies the auth settings (and refreshes exec-plugin tokens).
            method, url, headers, _, _ = api.param_serialize(
                "GET",
                path,
                query_params=list(query),
                header_params={"Accept": "application/json"},
                auth_settings=self._auth,
            )
            response = api.call_api(method, url, headers, _request_timeout=self._timeout)
            return Response(int(response.status), bytes(response.read()))
        except ApiException as exc:  # the client's wrapper for TLS failures
            raise TransportError(_first_line(str(exc.reason or exc))) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransportError(_describe(exc)) from None

    def stream(
        self, path: str, query: Sequence[tuple[str, str]] = (), read_timeout: float = 330.0
    ) -> StreamResponse:
        """GET ``path`` without reading the body: a watch. The response's lines are read as they
        arrive; ``read_timeout`` bounds the silence between two reads (a paused server)."""
        import urllib3  # noqa: PLC0415 - a dependency of the client, imported where it is used
        from kubernetes.client.exceptions import ApiException  # noqa: PLC0415

        api = self._api
        try:
            method, url, headers, _, _ = api.param_serialize(
                "GET",
                path,
                query_params=list(query),
                header_params={"Accept": "application/json"},
                auth_settings=self._auth,
            )
            response = api.call_api(
                method, url, headers, _request_timeout=(self._timeout[0], read_timeout)
            )
        except ApiException as exc:
            raise TransportError(_first_line(str(exc.reason or exc))) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise TransportError(_describe(exc)) from None
        return _ClientStream(response.response)


class StreamResponse(Protocol):
    """A response read as it arrives (a watch): its status, its lines, and a way to stop reading
    from another thread."""

    status: int

    def lines(self) -> Iterator[bytes]:
        """Each newline-terminated line as it arrives; ``TransportError`` when the connection
        breaks or stays silent too long; ends at the end of the body."""
        ...

    def read(self) -> bytes:
        """The whole body (an error status)."""
        ...

    def close(self) -> None:
        """Stop reading; a ``lines`` loop in another thread ends (or raises) soon after."""
        ...


class _ClientStream:
    __slots__ = ("_response", "status")

    def __init__(self, response: Any) -> None:
        self._response = response
        self.status = int(response.status)

    def lines(self) -> Iterator[bytes]:
        import urllib3  # noqa: PLC0415

        pending = b""
        try:
            for chunk in self._response.stream(65536, decode_content=True):
                pending += chunk
                while True:
                    end = pending.find(b"\n")
                    if end < 0:
                        break
                    line, pending = pending[:end], pending[end + 1 :]
                    if line.strip():
                        yield line
        except (urllib3.exceptions.HTTPError, OSError, ValueError, AttributeError) as exc:
            # AttributeError/ValueError: the connection was closed under the reader (``close``).
            raise TransportError(_describe(exc)) from None
        if pending.strip():
            yield pending

    def read(self) -> bytes:
        try:
            return bytes(self._response.read())
        except Exception as exc:  # any failure reading an error body is a lost body
            raise TransportError(_describe(exc)) from None

    def close(self) -> None:
        response = self._response
        try:
            connection = getattr(response, "connection", None) or getattr(
                response, "_connection", None
            )
            sock = getattr(connection, "sock", None)
            if sock is not None:
                import socket  # noqa: PLC0415

                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        with contextlib.suppress(Exception):  # closing a broken connection may fail; it is closed
            response.close()


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "; ".join(lines[:2]) if lines else "connection failed"


_CONNECTION_REPR = re.compile(r"^HTTPS?Connection(?:Pool)?\(host=[^()]*?, port=[^()]*?\): ")
"""The connection object's repr that urllib3 puts before what happened."""


def _describe(exc: BaseException) -> str:
    """The whole reason a request got no answer: the cause urllib3 wraps (TLS verification, name
    resolution, refused connection, timeout), without the connection's repr in front of it."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, BaseException):
        exc = reason
    text = _CONNECTION_REPR.sub("", str(exc))
    return _first_line(text)


PROBE_TIMEOUT = 10.0
"""Seconds the anonymous probe waits to connect and for an answer."""


def connect(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    timeout: tuple[float, float] = (5.0, 60.0),
    pool_size: int = 8,
) -> Connection:
    """A connection from ``kubeconfig`` (else ``$KUBECONFIG``, else ``~/.kube/config``, else the
    in-cluster service account) and ``context`` (else the current context)."""
    from kubernetes import client, config  # noqa: PLC0415 - importing the client costs ~0.2 s

    configuration = client.Configuration()
    files = _kubeconfig_files(kubeconfig)
    if files:
        name = _load_kubeconfig(config, configuration, files, context)
    elif context is None and _in_cluster():
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except config.ConfigException as exc:
            raise ClusterConfigError(f"in-cluster configuration: {exc}") from None
        name = IN_CLUSTER
    else:
        where = os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise ClusterConfigError(
            f"no kubeconfig found ({where}) and not running inside a cluster; "
            "pass --kubeconfig FILE"
        )
    configuration.retries = 0  # one retry of our own; also: a redirect is never followed
    configuration.connection_pool_maxsize = pool_size
    api = client.ApiClient(configuration)
    anonymous = client.ApiClient(_without_credentials(configuration))
    probe_timeout = (min(timeout[0], PROBE_TIMEOUT), min(timeout[1], PROBE_TIMEOUT))
    return Connection(
        _ClientTransport(api, timeout),
        name,
        str(configuration.host),
        _ClientTransport(anonymous, probe_timeout, authenticated=False),
        resolve_host,
    )


def _without_credentials(configuration: Any) -> Any:
    """A copy of the client configuration for the same server with the same CA, TLS and proxy
    settings, holding no credential of any kind: no token or token hook, no basic auth, no client
    certificate, one small pool."""
    anonymous = copy.deepcopy(configuration)
    anonymous.api_key = {}
    anonymous.api_key_prefix = {}
    anonymous.refresh_api_key_hook = None
    anonymous.username = None
    anonymous.password = None
    anonymous.access_token = None
    anonymous.cert_file = None
    anonymous.key_file = None
    anonymous.connection_pool_maxsize = 1
    return anonymous


def _kubeconfig_files(kubeconfig: str | None) -> list[str]:
    if kubeconfig is not None:
        path = Path(kubeconfig).expanduser()
        if not path.is_file():
            problem = "is a directory" if path.is_dir() else "does not exist"
            raise ClusterConfigError(f"kubeconfig {kubeconfig} {problem}")
        if not os.access(path, os.R_OK):
            raise ClusterConfigError(f"kubeconfig {kubeconfig} is not readable")
        return [str(path)]
    listed = os.environ.get("KUBECONFIG", "")
    files = [str(Path(p).expanduser()) for p in listed.split(os.pathsep) if p]
    if not files:
        files = [str(Path("~/.kube/config").expanduser())]
    return [f for f in files if Path(f).is_file()]


_KUBECONFIG_KEYS = frozenset({"clusters", "contexts", "users", "current-context", "preferences"})


def check_kubeconfig_file(path: str) -> None:
    """Raise ``ClusterConfigError`` "PATH is not a kubeconfig file: why" when ``path`` is not YAML
    or not a mapping with kubeconfig fields (``/etc/passwd``, a binary, a manifest); an empty file is
    left to the loader, which says so."""
    import yaml  # noqa: PLC0415 - only needed when a kubeconfig is read

    try:
        with open(path, "rb") as handle:  # noqa: PTH123 - the client reads it by path as well
            data = yaml.safe_load(handle)
    except OSError as exc:
        raise ClusterConfigError(f"cannot read kubeconfig {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        reason = " ".join(str(exc).split())
        raise ClusterConfigError(
            f"{path} is not a kubeconfig file: invalid YAML: {reason}"
        ) from None
    if data is None:
        return
    if not isinstance(data, dict):
        what = "text" if isinstance(data, str) else f"a YAML {type(data).__name__}"
        raise ClusterConfigError(
            f"{path} is not a kubeconfig file: it holds {what}, not a mapping of clusters, "
            "contexts and users"
        )
    if data.get("kind") == "Config":
        return  # a kubeconfig, perhaps an incomplete one: the loader says what is missing
    if "kind" in data or not _KUBECONFIG_KEYS & set(data):
        kind = data.get("kind")
        what = f"a {kind}" if isinstance(kind, str) else "a mapping"
        raise ClusterConfigError(
            f"{path} is not a kubeconfig file: it holds {what} without clusters, contexts or users"
        )


def _load_kubeconfig(config: Any, configuration: Any, files: list[str], context: str | None) -> str:
    shown = os.pathsep.join(files)
    for file in files:
        check_kubeconfig_file(file)
    try:
        document = config.kube_config.KubeConfigMerger(shown).config
        if document is None:
            raise ClusterConfigError(f"kubeconfig {shown} holds no configuration")
        value = document.value if isinstance(document.value, dict) else {}
        contexts = [_node_value(c).get("name") for c in value.get("contexts") or []]
        current = value.get("current-context")
        name = context or (current if isinstance(current, str) else "")
        if not name:
            raise ClusterConfigError(f"{shown}: no current-context set; pass --context")
        if name not in contexts:
            known = ", ".join(str(c) for c in contexts) or "none"
            raise ClusterConfigError(f"context {name!r} not found in {shown} (contexts: {known})")
        loader = config.kube_config.KubeConfigLoader(
            config_dict=document,
            config_base_path=None,
            active_context=name,
            config_persister=None,
        )
        loader.load_and_set(configuration)
    except ClusterConfigError:
        raise
    except Exception as exc:  # the loader raises many types for a malformed file
        raise ClusterConfigError(f"kubeconfig {shown}: {_first_line(str(exc))}") from None
    return name


def _node_value(node: Any) -> dict[str, Any]:
    value = getattr(node, "value", node)
    return value if isinstance(value, dict) else {}


def _in_cluster() -> bool:
    return (
        bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
        and (_SERVICE_ACCOUNT_DIR / "token").is_file()
    )
