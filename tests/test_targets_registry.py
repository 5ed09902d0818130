"""The target registry: names, options and the guess from a URL."""

from __future__ import annotations

import pytest

from importer.errors import ConfigError
from importer.targets import (
    TARGET_NAMES,
    EverCoreTarget,
    EverOSTarget,
    GoodMemTarget,
    guess_target,
    make_target,
)


def test_every_name_makes_its_adapter() -> None:
    assert TARGET_NAMES == ("everos", "evercore", "goodmem")
    everos = make_target("everos", "https://api.example", "k", async_mode=False)
    assert isinstance(everos, EverOSTarget) and everos.async_mode is False
    core = make_target("evercore", "http://localhost:1995/api/v0/memories")
    assert isinstance(core, EverCoreTarget)
    assert core.identity == "evercore:http://localhost:1995/api/v0/memories"
    goodmem = make_target("goodmem", "http://gm:8080", "gm_x", space_name="chats", batch_size=5)
    assert isinstance(goodmem, GoodMemTarget)
    assert goodmem.identity == "goodmem:http://gm:8080#space=chats"
    assert goodmem.max_chunk_messages == 250


def test_unknown_names_and_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown target 'mem0'; choose one of: everos, evercore"):
        make_target("mem0", "http://x")
    with pytest.raises(ConfigError, match="target evercore: .*space_name"):
        make_target("evercore", "http://x/api/v0/memories", space_name="s")
    with pytest.raises(ConfigError, match="target goodmem: .*at least 1"):
        make_target("goodmem", "http://x", memory_messages=0)


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("http://localhost:1995/api/v0/memories", "evercore"),
        ("http://localhost:1995/api/v1/memories/", "evercore"),
        ("https://api.evermind.ai", "everos"),
        ("https://api.evermind.ai/", "everos"),
        ("http://localhost:8080/api/v1/memories/group", "everos"),
    ],
)
def test_guess_from_the_url(url: str, name: str) -> None:
    assert guess_target(url) == name
