"""Sources read the outside world into model objects; this package owns manifests on disk and
stdin.

``load_manifests`` reads files, directories (Helm charts and Kustomize directories rendered) and
stdin into located ``K8sObject``s plus input errors, warnings and notes. Only this package parses
YAML or imports a renderer.
"""

from kposture.sources.manifests import LoadedManifests, load_manifests

__all__ = ["LoadedManifests", "load_manifests"]
