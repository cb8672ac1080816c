"""kposture: Kubernetes Security Posture Management.

The package is layered (see docs/architecture.md): ``model`` at the bottom, then ``inventory``,
``rules``, ``engine``; the edges ``sources`` and ``reports``; and the ``cli`` driver on top.
"""

__version__ = "0.1.0"
