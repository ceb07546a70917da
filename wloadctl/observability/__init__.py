"""Metrics: what each process counts and how it is exported to Prometheus (docs/observability.md)."""
