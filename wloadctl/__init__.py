"""WLOADCTL: enterprise workload automation."""

__version__ = "0.1.0"
