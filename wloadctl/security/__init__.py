"""Security for WLOADCTL: certificates for mutual TLS between replicas, agents and clients (see docs/security.md)."""
