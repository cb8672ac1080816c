"""The CEL functions kposture knows: which ones its engine (cel-rust with the extension functions
of ``cel.stdlib``) runs in custom rules, and which ones Kubernetes 1.30 offers a
ValidatingAdmissionPolicy (the base environment of ``k8s.io/apiserver/pkg/cel/environment``:
standard CEL, the Kubernetes list, regex, URL, authz, quantity, IP and CIDR libraries, the strings
extension version 2, sets and optional types — not the lists, math or encoders extensions).

Owns ``FUNCTIONS`` (one row per function, the table docs/custom-rules.md shows) and the checks
``cel_programs`` (at load) and ``vap_export`` (at export) run on an expression's calls. A function
kposture runs must also have a cost model in ``cel_bounds``; the test suite holds the two equal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

OPERATORS = frozenset(
    {
        "_?_:_",
        "_||_",
        "_&&_",
        "_==_",
        "_!=_",
        "_<_",
        "_<=_",
        "_>_",
        "_>=_",
        "_in_",
        "_+_",
        "_-_",
        "_*_",
        "_/_",
        "_%_",
        "!_",
        "-_",
        "has",
    }
)


@dataclass(frozen=True, slots=True)
class Function:
    name: str
    kposture: bool
    """Runs in kposture's custom rules."""
    vap: bool
    """Offered by Kubernetes 1.30 to a ValidatingAdmissionPolicy."""
    library: str


def _rows() -> dict[str, Function]:
    rows: dict[str, Function] = {}

    def add(library: str, names: str, *, kposture: bool, vap: bool) -> None:
        for name in names.split():
            rows[name] = Function(name, kposture, vap, library)

    add(
        "standard",
        "size contains startsWith endsWith matches string int uint double bytes bool dyn type "
        "timestamp duration getFullYear getMonth getDayOfYear getDayOfMonth getDate getDayOfWeek "
        "getHours getMinutes getSeconds getMilliseconds",
        kposture=True,
        vap=True,
    )
    add("macros", "all exists exists_one map filter", kposture=True, vap=True)
    add(
        "optional types",
        "optional.of optional.none optional.ofNonZeroValue hasValue value orValue or",
        kposture=True,
        vap=True,
    )
    add("Kubernetes lists", "sum min max indexOf lastIndexOf", kposture=True, vap=True)
    add("Kubernetes lists", "isSorted", kposture=False, vap=True)
    add(
        "strings v2",
        "charAt lowerAscii upperAscii replace split substring trim join strings.quote",
        kposture=True,
        vap=True,
    )
    add("strings v2", "format", kposture=False, vap=True)
    add("strings v3", "reverse", kposture=True, vap=False)
    add("sets", "sets.contains sets.equivalent sets.intersects", kposture=True, vap=True)
    add("lists extension", "flatten sort distinct slice first last", kposture=True, vap=False)
    add("lists extension", "lists.range", kposture=True, vap=False)
    add(
        "math extension",
        "math.abs math.bitAnd math.bitNot math.bitOr math.bitShiftLeft math.bitShiftRight "
        "math.bitXor math.ceil math.floor math.greatest math.isFinite math.isInf math.isNaN "
        "math.least math.round math.sign math.sqrt math.trunc",
        kposture=True,
        vap=False,
    )
    add("encoders extension", "base64.decode base64.encode", kposture=True, vap=False)
    add("Kubernetes regex", "find findAll", kposture=False, vap=True)
    add(
        "Kubernetes URL",
        "url isURL getScheme getHost getHostname getPort getEscapedPath getQuery",
        kposture=False,
        vap=True,
    )
    add(
        "Kubernetes quantity",
        "quantity isQuantity sign isGreaterThan isLessThan compareTo add sub asInteger "
        "isInteger asApproximateFloat",
        kposture=False,
        vap=True,
    )
    add(
        "Kubernetes IP and CIDR",
        "ip isIP cidr isCIDR family isUnspecified isLoopback isLinkLocalMulticast "
        "isLinkLocalUnicast isGlobalUnicast containsIP containsCIDR prefixLength masked",
        kposture=False,
        vap=True,
    )
    add(
        "Kubernetes authz",
        "path group serviceAccount resource subresource namespace name check allowed reason "
        "errored error",
        kposture=False,
        vap=True,
    )
    return rows


FUNCTIONS = _rows()
"""Every function kposture knows of, by name (namespaced ones as ``math.abs``)."""


def not_in_kposture(names: Iterable[str]) -> list[str]:
    """The called functions kposture's engine does not provide (sorted, operators left out)."""
    return sorted(
        {
            name
            for name in names
            if name not in OPERATORS and not (name in FUNCTIONS and FUNCTIONS[name].kposture)
        }
    )


def not_in_vap(names: Iterable[str]) -> list[str]:
    """The called functions Kubernetes 1.30 does not offer a ValidatingAdmissionPolicy."""
    return sorted(
        {
            name
            for name in names
            if name not in OPERATORS and not (name in FUNCTIONS and FUNCTIONS[name].vap)
        }
    )
