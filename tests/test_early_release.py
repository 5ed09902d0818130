"""Sending starts while inputs are still read: a conversation is released to the sender once no
input still unread may hold more of it (``Converter.keys``), and everything else once reading is
done. Merging across inputs must come out exactly as when everything was read first."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from converters.base import ConvertOptions
from converters.discord import DiscordConverter
from converters.everos import EverOSConverter
from importer import BatchImporter
from importer.discovery import Input, discover
from importer.merge import Spool, SpooledConversation
from importer.pipeline import _Found, spool_inputs
from importer.sandbox import SandboxServer
from tests.support import DATA

T0 = 1_700_000_000_000


def _everos(path: Path, group: str, numbers: range, *, shuffled: bool = False) -> Path:
    messages: list[dict[str, Any]] = [
        {"role": "user", "sender_id": "u1", "timestamp": T0 + i * 1000,
         "content": f"{group} says {i}", "message_id": f"{group}-{i}"}
        for i in numbers
    ]
    if shuffled:
        messages.reverse()
    path.write_text(json.dumps({"group_id": group, "messages": messages}), encoding="utf-8")
    return path


def _releases(paths: list[Path]) -> list[list[tuple[str, int]]]:
    """What ``spool_inputs`` released, batch by batch: (key, messages) in each."""
    inputs, errors = discover(paths)
    assert not errors
    batches: list[list[SpooledConversation]] = []
    with Spool() as spool:
        assert spool_inputs(inputs, ConvertOptions(), spool, _Found(), None, batches.append)
        return [[(s.key, s.count) for s in batch] for batch in batches]


def test_the_key_of_an_everos_file_is_told_without_its_messages(tmp_path: Path) -> None:
    converter = EverOSConverter()
    assert converter.keys(_everos(tmp_path / "g.json", "g", range(3))) == {"group:g"}
    assert converter.keys(DATA / "everos" / "personal.json") == {
        next(converter.read(DATA / "everos" / "personal.json")).key
    }
    assert converter.keys(DATA / "everos" / "several.json") is None  # a list: not told cheaply
    broken = tmp_path / "broken.json"
    broken.write_text('{"messages": [{"role": "us', encoding="utf-8")
    assert converter.keys(broken) is None  # reading it says what is wrong
    # cut short after its id: it may hold that group (held, to be safe), reading says the rest
    broken.write_text('{"group_id": "g", "messages": [', encoding="utf-8")
    assert converter.keys(broken) == {"group:g"}


def test_the_key_of_a_discord_export_is_told_from_its_head() -> None:
    """One file per channel; the later parts of a split channel are read with their first part,
    so they hold nothing of their own."""
    for path in sorted((DATA / "discord" / "dce").iterdir()):
        read = {conversation.key for conversation in DiscordConverter().read(path)}
        assert DiscordConverter().keys(path) == read, path.name


def test_a_conversation_is_released_once_no_unread_input_holds_it(tmp_path: Path) -> None:
    first = _everos(tmp_path / "1.json", "shared", range(0, 80))
    other = _everos(tmp_path / "2.json", "alone", range(10))
    last = _everos(tmp_path / "3.json", "shared", range(70, 150))
    assert _releases([first, other, last]) == [
        [("group:alone", 10)],  # after the second input; "shared" waits for the third
        [("group:shared", 150)],  # merged once reading is done: ten repeats kept once
    ]


def test_every_conversation_is_held_while_an_input_of_unknown_keys_is_unread(
    tmp_path: Path,
) -> None:
    early = _everos(tmp_path / "1.json", "early", range(5))
    listing = tmp_path / "2.json"
    shutil.copy(DATA / "everos" / "several.json", listing)  # keys told only by reading it
    releases = _releases([early, listing])
    assert len(releases) == 1  # nothing before the list was read
    assert ("group:early", 5) in releases[0]


def test_an_input_of_unknown_keys_holds_back_only_what_was_read_before_it(
    tmp_path: Path,
) -> None:
    """Once the list (its keys told only by reading it) is read, what waited for it goes, except
    what a later input still holds."""
    first = _everos(tmp_path / "1.json", "shared", range(0, 10))
    listing = tmp_path / "2.json"
    shutil.copy(DATA / "everos" / "several.json", listing)
    other = _everos(tmp_path / "3.json", "other", range(5))
    last = _everos(tmp_path / "4.json", "shared", range(10, 20))
    releases = _releases([first, listing, other, last])
    assert [sorted(batch) for batch in releases] == [
        [("group:book_club", 2), ("personal:u1", 1)],  # after the list; "shared" waits
        [("group:other", 5)],
        [("group:shared", 20)],
    ]


def test_a_conversation_read_out_of_order_waits_to_be_ordered(tmp_path: Path) -> None:
    backwards = _everos(tmp_path / "1.json", "backwards", range(20), shuffled=True)
    forwards = _everos(tmp_path / "2.json", "forwards", range(20))
    assert _releases([backwards, forwards]) == [
        [("group:forwards", 20)], [("group:backwards", 20)]
    ]


@pytest.mark.parametrize("read_in_child", [True, False], ids=["forked reader", "reader thread"])
def test_inputs_sent_while_others_are_read_are_stored_once_in_time_order(
    tmp_path: Path, sandbox: SandboxServer, read_in_child: bool
) -> None:
    """Fifty conversations, one of them split over the first and the last input and one out of
    order: everything is stored once, and those two in time order (held until reading was done,
    then merged while the others were being sent); the same whether the inputs are read in a
    forked child (where the platform forks) or in a thread (elsewhere)."""
    folder = tmp_path / "exports"
    folder.mkdir()
    _everos(folder / "000.json", "split", range(0, 300))
    for n in range(1, 48):
        _everos(folder / f"{n:03d}.json", f"g{n}", range(40))
    _everos(folder / "048.json", "backwards", range(40), shuffled=True)
    _everos(folder / "049.json", "split", range(250, 600))
    importer = BatchImporter(api_url=sandbox.url, chunk_size=50, checkpoint_dir=tmp_path / "ck",
                             read_in_child=read_in_child)
    report = asyncio.run(importer.import_directory(folder))
    assert report.exit_code == 0 and report.messages_sent == 48 * 40 + 600
    stored = {c.key: c for c in sandbox.store.conversations()}
    assert len(stored) == 49
    split = stored["group:split"]
    assert (split.messages, split.unique_ids, split.duplicates) == (600, 600, 0)
    assert split.chronological and stored["group:backwards"].chronological
    assert all(c.messages == c.unique_ids == 40 for key, c in stored.items() if key != "group:split")


def test_an_input_whose_keys_left_a_conversation_out_fails_instead_of_sending_it_late(
    tmp_path: Path,
) -> None:
    """A custom converter whose ``keys`` misses a conversation: when the part read late arrives,
    the conversation is already being sent. That part is not slipped in out of order: the input
    fails with a line naming it."""

    class Unsure(EverOSConverter):
        name = "unsure"

        def keys(self, path: Path) -> frozenset[str] | None:
            return frozenset({"group:somewhere-else"})

    first = _everos(tmp_path / "1.json", "shared", range(0, 50))
    second = _everos(tmp_path / "2.json", "shared", range(50, 100))
    found = _Found()
    batches: list[list[SpooledConversation]] = []
    with Spool() as spool:
        spool_inputs([Input(first, Unsure), Input(second, Unsure)], ConvertOptions(), spool,
                     found, None, batches.append)
        assert [[(s.key, s.count) for s in batch] for batch in batches] == [
            [("group:shared", 50)]
        ]
    [error] = found.errors
    assert str(second) in str(error) and "already being sent" in str(error)


def test_a_file_that_opens_with_its_group_id_is_told_from_its_first_bytes(
    tmp_path: Path,
) -> None:
    """The layout of the EverOS docs and of ``convert``: no parsing needed. Anything else (an
    escaped id, the id after the messages, a byte-order mark) gives the same key by parsing."""
    converter = EverOSConverter()
    for name, text in {
        "plain": '{"group_id": "g 1", "messages": []}',
        "bom": '\ufeff{ "group_id" :"g 1", "messages": []}',
        "escaped": '{"group_id": "g \\u0031", "messages": []}',
        "after": '{"messages": [], "group_id": "g 1"}',
    }.items():
        path = tmp_path / f"{name}.json"
        path.write_text(text, encoding="utf-8")
        assert converter.keys(path) == {"group:g 1"}, name
