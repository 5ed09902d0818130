"""EverOS batch JSON and ConversationFormat files read as streams: members in any order, lists
with bad or broken entries, exact places of parse errors, bounded memory.

The large inputs come from ``benchmarks/gen_everos.py`` (deterministic); each is checked against
the same document read whole, through ``conversation_from_everos`` or the header-first layout.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.gen_everos import write_file
from converters import everos
from converters._common import IdDeriver
from converters.base import Converter
from converters.conversation_format import ConversationFormatConverter
from converters.everos import EverOSConverter, conversation_from_everos
from converters.json_tail import BIG_BYTES, Tail, read_tail
from importer.errors import InputError
from importer.models import Conversation
from tests.support import run_cli_peak

T0 = 1_738_375_200_000
CONVERTERS: dict[str, type[Converter]] = {
    "everos": EverOSConverter,
    "cf": ConversationFormatConverter,
}


def read(converter: Converter, path: Path) -> list[Conversation]:
    return list(converter.read(path))


def errors(converter: Converter) -> list[str]:
    return [str(d) for d in converter.diagnostics if d.severity == "error"]


def message(i: int, **fields: Any) -> dict[str, Any]:
    base = {"role": "user", "sender_id": f"u{i % 3}", "timestamp": T0 + i, "content": f"m {i}"}
    return base | {"message_id": f"id{i}"} | fields


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


# -- large generated files -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["everos", "cf"])
def test_header_after_20000_messages_reads_like_header_first(tmp_path: Path, fmt: str) -> None:
    first, last = tmp_path / "first.json", tmp_path / "last.json"
    write_file(first, 20_000, fmt=fmt)  # type: ignore[arg-type]
    write_file(last, 20_000, fmt=fmt, header_last=True)  # type: ignore[arg-type]
    data = last.read_bytes()
    list_key, header_key = (
        (b'"messages"', b'"group_id"')
        if fmt == "everos"
        else (b'"conversation_list"', b'"session_meta"')
    )
    assert data.index(header_key) > data.index(list_key)
    converter = CONVERTERS[fmt]()
    (one,) = read(converter, first)
    (other,) = read(converter, last)
    assert len(one.messages) == len(other.messages) == 20_000
    assert one.model_dump(exclude={"origin"}) == other.model_dump(exclude={"origin"})
    assert one.name == "Benchmark group" and len(one.participants) == 24
    assert errors(converter) == [] and converter.rejected == []


def test_streamed_everos_file_equals_the_object_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "late.json"
    write_file(path, 20_000, header_last=True)
    whole = conversation_from_everos(json.loads(path.read_text("utf-8")))
    (streamed,) = read(EverOSConverter(), path)
    assert streamed.messages == whole.messages
    assert streamed.participants == whole.participants
    assert (streamed.key, streamed.name) == (whole.key, whole.name)
    derived = [m for m in streamed.messages if m.message_id.startswith("derived-")]
    assert len(derived) == 400  # every 50th message comes without an id


def test_solo_file_with_header_last_is_filed_under_who_writes_most(tmp_path: Path) -> None:
    path = tmp_path / "solo.json"
    write_file(path, 5_000, fmt="cf", header_last=True, solo=True)
    converter = ConversationFormatConverter()
    (conversation,) = read(converter, path)
    assert conversation.key == "personal:user_01/bench_group"
    assert {m.role for m in conversation.messages if m.sender_id == "user_00"} == {"assistant"}
    (warning,) = [str(d) for d in converter.diagnostics if d.severity == "warning"]
    assert "scene solo but 2 people write (user_01, user_02)" in warning
    assert conversation.source_meta["version"] == "1.0.0"


def test_validate_only_memory_stays_bounded(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    write_file(path, 300_000, header_last=True)
    result, peak = run_cli_peak(path, "--validate-only", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 conversations, 300,000 messages" in result.stdout
    # json.load of this 65 MB file alone takes ~600 MB; streamed, the whole process stays small
    assert peak < 150 * 1024 * 1024, f"peak RSS {peak / 2**20:.0f} MB"


# -- members in any order --------------------------------------------------------------------


def test_members_in_any_order_and_in_lists(tmp_path: Path) -> None:
    entries: list[dict[str, Any]] = [
        {"group_id": "g1", "messages": [message(i) for i in range(3)]},
        {"user_id": "u", "messages": [message(i) for i in range(2)], "session_id": "s"},
        {
            "messages": [message(i) for i in range(4)],
            "group_meta": {"name": "Late"},
            "group_id": "g2",
        },
        {"user_id": "u", "messages": [message(9, sender_id=None)]},
    ]
    path = write(tmp_path / "list.json", entries)
    converter = EverOSConverter()
    found = {c.key: c for c in read(converter, path)}
    assert list(found) == ["group:g1", "personal:u/s", "group:g2", "personal:u"]
    assert [len(c.messages) for c in found.values()] == [3, 2, 4, 1]
    assert found["group:g2"].name == "Late"
    assert found["personal:u"].messages[0].sender_id == "u"
    whole = [conversation_from_everos(entry) for entry in entries]
    assert [c.messages for c in found.values()] == [c.messages for c in whole]
    assert converter.diagnostics == []


def test_list_with_a_bad_entry_in_the_middle_rejects_only_it(tmp_path: Path) -> None:
    entries = [
        {"group_id": "a", "messages": [message(i) for i in range(1000)]},
        {"group_id": "b", "messages": [message(i) for i in range(1000)] + [message(5, role="x")]},
        {"messages": [message(i) for i in range(1000)]},
        "junk",
        [1, 2],
        {"messages": [message(i) for i in range(1000)], "user_id": "u"},
    ]
    path = write(tmp_path / "list.json", entries)
    converter = EverOSConverter()
    assert [(c.key, len(c.messages)) for c in read(converter, path)] == [
        ("group:a", 1000),
        ("personal:u", 1000),
    ]
    assert errors(converter) == [
        (
            f"{path}: conversation 2, message 1001 (id id5): field 'role' must be 'user' or"
            " 'assistant', not 'x'"
        ),
        (
            f"{path}: conversation 3: needs 'group_id' (group conversation) or 'user_id'"
            " (personal conversation)"
        ),
        f"{path}: conversation 4: expected a conversation object, got 'junk'",
        f"{path}: conversation 5: expected a conversation object, got a list",
    ]


def test_messages_that_are_no_objects_are_charged_to_their_own_entry(tmp_path: Path) -> None:
    # the second parser hands out messages by the objects the first one counted; anything else
    # at the edge of an entry must still land in the right one
    entries: list[dict[str, Any]] = [
        {"group_id": "a", "messages": [message(0), message(1), "x"]},
        {"group_id": "b", "messages": ["y", message(0)]},
        {"group_id": "c", "messages": [message(0)]},
        {"group_id": "d", "messages": []},
        {"group_id": "e", "messages": [[1], message(1)]},
        {"group_id": "f"},
        {"group_id": "g", "messages": [message(2), 5]},
    ]
    path = write(tmp_path / "list.json", entries)
    converter = EverOSConverter()
    kept = read(converter, path)
    assert [(c.key, len(c.messages)) for c in kept] == [("group:c", 1), ("group:d", 0)]
    assert kept[0].messages == conversation_from_everos(entries[2]).messages
    assert errors(converter) == [
        f"{path}: conversation 1, message 3: expected an object, got 'x'",
        f"{path}: conversation 2, message 1: expected an object, got 'y'",
        f"{path}: conversation 5, message 1: expected an object, got [1]",
        f"{path}: conversation 7, message 2: expected an object, got 5",
        f"{path}: conversation 6: field 'messages' is missing",
    ]


@pytest.mark.parametrize("fmt", ["everos", "cf"])
def test_a_member_after_the_messages_far_from_the_end_is_still_read(
    tmp_path: Path, fmt: str
) -> None:
    # read from the end, the big value is the padding, not the messages: once they are read,
    # that shows, and the members between are read then
    padding = {"blob": "x" * (BIG_BYTES + 1000)}
    if fmt == "everos":
        messages = [message(i) for i in range(2000)]
        data: dict[str, Any] = {"group_id": "g", "messages": messages}
        data |= {"group_meta": {"name": "Named late"}, "padding": padding}
    else:
        items = [{"create_time": T0 + i, "sender": "a", "content": f"m {i}"} for i in range(2000)]
        meta = {"name": "Named late", "user_details": {"a": {}}}
        data = {"session_meta": meta, "conversation_list": items, "version": "9", "pad": padding}
    (conversation,) = read(CONVERTERS[fmt](), write(tmp_path / "padded.json", data))
    assert conversation.name == "Named late" and len(conversation.messages) == 2000
    assert fmt == "everos" or conversation.source_meta["version"] == "9"


def test_a_late_session_too_far_from_the_end_is_an_error_not_a_wrong_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a file this small is parsed whole (and its key is right); streamed, it cannot be
    monkeypatch.setattr(everos, "_WHOLE_BYTES", 0)
    data = {
        "user_id": "u",
        "messages": [message(i) for i in range(2000)],
        "session_id": "s",
        "padding": {"blob": "x" * (BIG_BYTES + 1000)},
    }
    converter = EverOSConverter()
    path = write(tmp_path / "padded.json", data)
    assert read(converter, path) == []
    (error,) = errors(converter)
    assert "the fields that name the conversation come after the message list" in error


def tail_of(data: bytes) -> Tail | None:
    return read_tail(io.BytesIO(data), 0, len(data))


def test_members_after_a_big_list_are_read_from_the_end_of_the_file() -> None:
    messages = json.dumps([message(i) for i in range(5000)])
    first = f'{{"group_id": "g", "messages": {messages}}}\n'.encode()
    tail = tail_of(first)
    assert tail is not None and tail.members == []
    assert tail.big_end == first.rindex(b"]") and tail.followed == BIG_BYTES
    tricky = 'a \\"]}, "group_id": "x" \\\\'  # quotes, brackets and backslashes in text
    meta = {"name": tricky, "tags": [1, {"k": None}], "on": True}
    last = f'{{"messages": {messages}, "group_id": "g", "group_meta": {json.dumps(meta)}}}'
    tail = tail_of(last.encode())
    assert tail is not None
    assert tail.members == [("group_id", "g"), ("group_meta", json.loads(json.dumps(meta)))]
    assert tail.follows(len(last) - 20_000) and not tail.follows(tail.big_end - BIG_BYTES)


@pytest.mark.parametrize(
    "data",
    [
        b'{"group_id": "g", "messages": []}',  # all of it small: nothing to step over
        b'{"messages": [{"a": 1}], "group_id": "g"',  # cut short
        b'{"messages": [' + b'{"a": 1},' * 40_000 + b'{"a": 1}], "x": "' + b"y" * BIG_BYTES + b'"}',
        b'{"messages": [' + b'{"a": 1},' * 40_000 + b'{"a": 1}], "group_id": "g",}',
        b'{"messages": [' + b'{"a": 1},' * 40_000 + b'{"a": 1}], "messages": []}',
    ],
)
def test_an_end_of_file_that_is_not_plain_gives_no_tail(data: bytes) -> None:
    tail = tail_of(data)
    # the last one is read, but names the list itself: the caller passes over the messages
    assert tail is None or ("messages", []) in tail.members


def test_a_member_given_twice_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "twice.json"
    path.write_text('{"group_id": "a", "messages": [], "group_id": "b"}', encoding="utf-8")
    with pytest.raises(InputError, match="field 'group_id' appears twice"):
        read(EverOSConverter(), path)
    listed = tmp_path / "twice-list.json"
    listed.write_text('[{"group_id": "a", "messages": [], "messages": []}]', encoding="utf-8")
    converter = EverOSConverter()
    assert read(converter, listed) == []
    assert errors(converter) == [f"{listed}: conversation 1: field 'messages' appears twice"]


def test_conversation_format_with_session_meta_last(tmp_path: Path) -> None:
    path = tmp_path / "late.json"
    meta = {"group_id": "g", "timezone": "Asia/Shanghai", "user_details": {"a": {"full_name": "A"}}}
    items = [{"create_time": "2025-02-01T10:00:00", "sender": "a", "content": "hi"}]
    doc = {"conversation_list": items, "session_meta": meta, "version": "1.0.0"}
    path.write_text(json.dumps(doc), encoding="utf-8")
    (conversation,) = read(ConversationFormatConverter(), path)
    assert conversation.messages[0].timestamp == T0  # read in the session's zone
    assert (conversation.key, conversation.source_meta["version"]) == ("group:g", "1.0.0")


# -- broken files ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["everos", "cf"])
def test_file_cut_mid_stream_is_truncated_at_its_end(tmp_path: Path, fmt: str) -> None:
    whole = tmp_path / "whole.json"
    write_file(whole, 20_000, fmt=fmt)  # type: ignore[arg-type]
    data = whole.read_bytes()
    cut = tmp_path / "cut.json"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as caught:
        read(CONVERTERS[fmt](), cut)
    text = cut.read_text("utf-8", errors="ignore")
    line, column = text.count("\n") + 1, len(text) - text.rfind("\n")
    assert caught.value.reason == "truncated JSON (the file ends too early)"
    assert caught.value.where == f"line {line} column {column}"


@pytest.mark.parametrize("cut_from_end", [1000, 0])
def test_list_cut_mid_stream_keeps_the_conversations_before(
    tmp_path: Path, cut_from_end: int
) -> None:
    entries = [{"group_id": f"g{n}", "messages": [message(i) for i in range(500)]} for n in (1, 2)]
    data = json.dumps(entries).encode()
    # inside the second entry's messages, or inside its very first one
    end = len(data) - cut_from_end if cut_from_end else data.index(b'"messages": [{"ro', 100) + 16
    path = tmp_path / "cut.json"
    path.write_bytes(data[:end])
    converter = EverOSConverter()
    assert [c.key for c in read(converter, path)] == ["group:g1"]
    (error,) = errors(converter)
    assert error.startswith(f"{path}: conversation 2, line 1 column {end + 1}:")
    assert error.endswith("truncated JSON (the file ends too early)")


def test_invalid_byte_deep_in_a_file_is_named_where_json_names_it(tmp_path: Path) -> None:
    whole = tmp_path / "whole.json"
    write_file(whole, 20_000)
    text = whole.read_text("utf-8")
    at = text.index('"m0012345"')
    broken = text[:at] + "@" + text[at + 1 :]
    path = tmp_path / "broken.json"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(broken)
    with pytest.raises(InputError) as caught:
        read(EverOSConverter(), path)
    assert caught.value.where == f"line {expected.value.lineno} column {expected.value.colno}"
    assert caught.value.reason.startswith("invalid JSON (")


def test_byte_order_mark_and_bad_utf8(tmp_path: Path) -> None:
    body = json.dumps({"group_id": "g", "messages": [message(i) for i in range(3)]}).encode()
    marked = tmp_path / "bom.json"
    marked.write_bytes(b"\xef\xbb\xbf" + body)
    assert len(read(EverOSConverter(), marked)[0].messages) == 3
    bad = tmp_path / "latin1.json"
    bad.write_bytes(body.replace(b"m 2", b"m \xe9"))
    with pytest.raises(InputError, match=rf"not UTF-8 text \(byte {body.index(b'm 2') + 2}\)"):
        read(EverOSConverter(), bad)


# -- derived ids -----------------------------------------------------------------------------


def _former_id(conversation: str, seen: dict[tuple[int, str, str], int], key: Any) -> str:
    """Derived ids as they were computed before digests (every key kept whole)."""
    occurrence = seen.get(key, 0)
    seen[key] = occurrence + 1
    payload = json.dumps([conversation, *key, occurrence], ensure_ascii=False)
    return "derived-" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]


def test_derived_ids_do_not_change_with_times_in_or_out_of_order() -> None:
    keys = [(T0 + n % 7, f"s{n % 2}", "same" if n % 3 else f"text {n}") for n in range(200)]
    keys = sorted(keys[:100]) + keys[100:]  # in order first, then going back and forth
    deriver, seen = IdDeriver("conv"), dict[tuple[int, str, str], int]()
    ids = [deriver.derive(*key) for key in keys]
    assert ids == [_former_id("conv", seen, key) for key in keys]
    assert len(set(ids)) == len(ids)
