"""login_burst_per_source and login_rate_per_source in the replica config."""

from __future__ import annotations

from typing import Any

import pytest

from wloadctl.config import ConfigError, parse_config
from wloadctl.config.render import render_config
from wloadctl.config.toml import read_toml

BASE = {"node_id": "r1", "raft_address": "127.0.0.1:1", "api_address": "127.0.0.1:2", "data_dir": "d"}


def test_defaults_and_set() -> None:
    default = parse_config(dict(BASE))
    assert (default.login_burst_per_source, default.login_rate_per_source) == (30, 2.0)
    tuned = parse_config({**BASE, "login_burst_per_source": 200, "login_rate_per_source": 0.5})
    assert (tuned.login_burst_per_source, tuned.login_rate_per_source) == (200, 0.5)
    assert parse_config({**BASE, "login_rate_per_source": 5}).login_rate_per_source == 5.0


@pytest.mark.parametrize("value", [0, -1, 100_001, True, "30", 2.5])
def test_a_bad_burst_is_named(value: Any) -> None:
    with pytest.raises(ConfigError, match=r"login_burst_per_source: a whole number from 1 to 100000"):
        parse_config({**BASE, "login_burst_per_source": value})


@pytest.mark.parametrize("value", [0, 0.001, 10_001, False, "2/s"])
def test_a_bad_rate_is_named(value: Any) -> None:
    with pytest.raises(ConfigError, match=r"login_rate_per_source: logins per second, from 0.01 to 10000"):
        parse_config({**BASE, "login_rate_per_source": value})


def test_rendered_settings_are_top_level(tmp_path: Any) -> None:
    text = render_config("r1", "127.0.0.1:1", "127.0.0.1:2", "d", None, [("r1", "127.0.0.1:1", "127.0.0.1:2")],
                         settings={"login_burst_per_source": 3, "login_rate_per_source": 0.25})
    path = tmp_path / "r1.toml"
    path.write_text(text)
    config = parse_config(read_toml(path), base=tmp_path)
    assert (config.login_burst_per_source, config.login_rate_per_source) == (3, 0.25)
