"""Reading a config file and the tables replica and agent configs share."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from wloadctl.config.errors import ConfigError


def read_toml(path: Path) -> dict[str, Any]:
    """A config file's TOML document, or a ConfigError naming the file."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: not UTF-8 text (invalid byte at offset {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from e


def tls_paths(doc: dict[str, Any], base: Path) -> dict[str, Path]:
    """The [tls] table's ca, cert and key paths (all three, or none)."""
    tls = doc.get("tls", {})
    if not isinstance(tls, dict) or set(tls) - {"ca", "cert", "key"}:
        raise ConfigError("tls: must be a table with ca, cert and key")
    if tls and set(tls) != {"ca", "cert", "key"}:
        raise ConfigError("tls: ca, cert and key are all required")
    for key in ("ca", "cert", "key"):
        if key in tls and (not isinstance(tls[key], str) or not tls[key]):
            raise ConfigError(f"tls.{key}: must be a path")
    return {k: base / v for k, v in tls.items()}
