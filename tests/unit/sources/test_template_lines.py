"""Mapping JSON paths to lines of Helm templates."""

from __future__ import annotations

from kposture.sources.template_lines import line_of_path, section_for, split_sections

TEMPLATE = """\
{{- if .Values.enabled }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "x.fullname" . }}
spec:
  template:
    spec:
      containers:
        - name: first
          image: "{{ .Values.image }}"
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
        - name: second
          securityContext:
            privileged: true
      volumes:
      {{- range .Values.volumes }}
      - name: {{ .name }}
        hostPath:
          path: {{ .path }}
      {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: svc
{{- end }}
"""


def test_sections_and_kinds() -> None:
    sections = split_sections(TEMPLATE)
    assert [s.start for s in sections] == [(2, 1), (24, 1)]
    used: set[int] = set()
    assert section_for(sections, "Service", used) is sections[1]
    assert section_for(sections, "Deployment", used) is sections[0]


def test_paths_land_on_template_lines() -> None:
    deployment = split_sections(TEMPLATE)[0]
    containers = ("spec", "template", "spec", "containers")
    assert line_of_path(deployment, (*containers, 0, "image")) == (11, 11)
    assert line_of_path(deployment, (*containers, 1, "securityContext", "privileged")) == (16, 13)
    # Keys rendered by toYaml are not in the template: the deepest key found wins.
    assert line_of_path(deployment, (*containers, 0, "resources", "limits", "cpu")) == (12, 11)
    # Missing container index: the list key; missing field in an item: the item.
    assert line_of_path(deployment, (*containers, 5, "image")) == (9, 7)
    assert line_of_path(deployment, (*containers, 0, "securityContext")) == (10, 11)
    # Items made by a range loop cannot be counted: the index is skipped.
    volumes = ("spec", "template", "spec", "volumes")
    assert line_of_path(deployment, (*volumes, 3, "hostPath", "path")) == (21, 11)
    assert line_of_path(deployment, ("metadata", "name")) == (5, 3)
    assert line_of_path(deployment, ("status",)) == (2, 1)
    assert deployment.subtree(("spec",)).position(("template",)) == (7, 3)
