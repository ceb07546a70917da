"""The web console, served on every replica's HTTP port with the same users, roles and audit as the CLI.

aiohttp routes (routes.py, app.py) and Jinja2 templates (templates/, autoescaped) over the replica's
own gRPC API (gateway.py): see docs/console.md.
"""

from wloadctl.console.app import Console

__all__ = ["Console"]
