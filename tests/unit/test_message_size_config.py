"""max_message_bytes in the replica config: 16 MiB unless set, within 4-64 MiB."""

from __future__ import annotations

from typing import Any

import pytest

from wloadctl.config import ConfigError, parse_config
from wloadctl.config.server import DEFAULT_MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES_LIMIT, MIN_MESSAGE_BYTES

BASE = {"node_id": "r1", "raft_address": "127.0.0.1:1", "api_address": "127.0.0.1:2", "data_dir": "d"}


def test_default_and_set() -> None:
    assert parse_config(dict(BASE)).max_message_bytes == DEFAULT_MAX_MESSAGE_BYTES == 16 << 20
    assert parse_config({**BASE, "max_message_bytes": 32 << 20}).max_message_bytes == 32 << 20


@pytest.mark.parametrize("value", [MIN_MESSAGE_BYTES - 1, MAX_MESSAGE_BYTES_LIMIT + 1, True, "16MiB", 1.5e7])
def test_out_of_range_or_not_a_number(value: Any) -> None:
    with pytest.raises(ConfigError, match=r"max_message_bytes: a number of bytes from 4194304 to 67108864"):
        parse_config({**BASE, "max_message_bytes": value})
