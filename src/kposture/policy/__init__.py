"""User rules in CEL, the language of Kubernetes ValidatingAdmissionPolicy: loading rule files,
compiling and evaluating their expressions, testing them against fixtures, and exporting them as
ValidatingAdmissionPolicy manifests. Compiled rules are ordinary ``rules.base.Rule`` values, so they
join the registry and run wherever the built-in rules run; the drivers (CLI, server) load them."""
