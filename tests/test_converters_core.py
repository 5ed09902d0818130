"""The ConversationFormat and EverOS converters over real EverCore files and hand-made inputs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from converters.base import Converter, ConvertOptions
from converters.conversation_format import ConversationFormatConverter
from converters.everos import EverOSConverter, conversation_from_everos, to_everos_json
from importer.errors import InputError
from importer.models import Conversation, Message

DATA = Path(__file__).parent / "data"
EVERCORE = DATA / "evercore"
EVEROS = DATA / "everos"
T0 = 1738375200000  # 2025-02-01T02:00:00Z
TRUNCATED = b'{"session_meta": {"user_details": {}}, "conversation_list": ['


def read(converter: Converter, path: Path) -> list[Conversation]:
    return list(converter.read(path))


def read_one(converter: Converter, path: Path) -> Conversation:
    (conversation,) = read(converter, path)
    return conversation


def texts(converter: Converter, severity: str) -> list[str]:
    return [str(d) for d in converter.diagnostics if d.severity == severity]


def cf_message(i: int, **fields: Any) -> dict[str, Any]:
    return {
        "message_id": f"m{i}",
        "create_time": f"2025-02-01T02:00:{i:02d}Z",
        "sender": "alice",
        "content": f"message number {i}",
    } | fields


def write_cf(
    tmp_path: Path,
    messages: list[Any],
    *,
    name: str = "chat.json",
    users: dict[str, Any] | None = None,
    **meta: Any,
) -> Path:
    users = users or {"alice": {"full_name": "Alice"}, "bob": {"full_name": "Bob"}}
    doc = {
        "version": "1.0.0",
        "session_meta": {"name": "Chat", "user_details": users} | meta,
        "conversation_list": messages,
    }
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def cf_doc(*, meta: Any = None, users: Any = None, items: Any = ()) -> dict[str, Any]:
    """A ConversationFormat document with one part replaced (None leaves a part out)."""
    doc: dict[str, Any] = {"session_meta": meta or {"user_details": {} if users is None else users}}
    if items is not None:
        doc["conversation_list"] = list(items) if isinstance(items, tuple) else items
    return doc


def write_json(tmp_path: Path, data: Any, name: str = "everos.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# -- ConversationFormat: the real EverCore files -------------------------------------------


@pytest.mark.parametrize(
    ("name", "count", "kind", "conversation_id"),
    [
        ("team_chat_en.json", 509, "group", "group_sales_ai_2025"),
        ("team_chat_zh.json", 510, "group", "group_sales_ai_2025"),
        ("solo_chat_en.json", 104, "personal", "user_001"),
        ("solo_chat_zh.json", 104, "personal", "user_001"),
    ],
)
def test_real_files_read_completely_in_time_order(
    name: str, count: int, kind: str, conversation_id: str
) -> None:
    converter = ConversationFormatConverter()
    conversation = read_one(converter, EVERCORE / name)
    assert len(conversation.messages) == count
    assert (conversation.kind, conversation.conversation_id) == (kind, conversation_id)
    assert conversation.source == "conversation-format"
    assert conversation.origin == str(EVERCORE / name)
    stamps = [m.timestamp for m in conversation.messages]
    assert stamps == sorted(stamps)
    assert len({m.message_id for m in conversation.messages}) == count
    assert converter.rejected == [] and texts(converter, "error") == []


@pytest.mark.parametrize("name", ["team_chat_en.json", "team_chat_zh.json"])
def test_repeated_message_id_is_kept_twice_with_a_warning(name: str) -> None:
    converter = ConversationFormatConverter()
    conversation = read_one(converter, EVERCORE / name)
    repeated = [m for m in conversation.messages if m.message_id.startswith("msg_0425")]
    assert [m.message_id for m in repeated] == ["msg_0425", "msg_0425~2"]
    assert repeated[0].content != repeated[1].content
    warnings = texts(converter, "warning")
    assert any("msg_0425" in w and "repeated" in w for w in warnings)
    assert any("out of order" in w for w in warnings)


def test_exact_repeats_are_dropped_with_one_warning_and_differing_ones_kept(
    tmp_path: Path,
) -> None:
    # the real team chat (msg_0425 names two different messages) with two lines exported twice
    doc = json.loads((EVERCORE / "team_chat_en.json").read_text(encoding="utf-8"))
    items = doc["conversation_list"]
    doc["conversation_list"] = [*items, items[3], items[7], items[3]]
    path = write_json(tmp_path, doc, "team_chat_en.json")
    converter = ConversationFormatConverter()
    conversation = read_one(converter, path)
    assert len(conversation.messages) == len(items)
    ids = [m.message_id for m in conversation.messages]
    assert ids.count(items[3]["message_id"]) == 1 and "msg_0425~2" in ids
    repeats = [w for w in texts(converter, "warning") if "exact repeats" in w]
    assert repeats == [
        (
            f"{path}: 3 exact repeats of a message (same id, time, sender and text) dropped,"
            f" e.g. message id {items[3]['message_id']}"
        )
    ]


def test_a_converter_yielding_one_message_object_twice_imports_it_once(tmp_path: Path) -> None:
    class Twice(Converter):
        name = "twice"

        @classmethod
        def detect(cls, path: Path) -> bool:
            return True

        def conversations(self, path: Path) -> Iterator[Conversation]:
            message = Message(message_id="m1", timestamp=T0, sender_id="a", content="hi")
            yield Conversation(kind="group", conversation_id="g", messages=[message, message])

    converter = Twice()
    assert [m.message_id for m in read_one(converter, tmp_path).messages] == ["m1"]
    assert texts(converter, "warning") == [
        "?: 1 exact repeat of a message (same id, time, sender and text) dropped, e.g. message id m1"
    ]


def test_team_file_metadata_and_participants() -> None:
    conversation = read_one(ConversationFormatConverter(), EVERCORE / "team_chat_en.json")
    assert conversation.name == "Intelligent Sales Assistant Project Team"
    assert conversation.participants["user_103"] == "Chen"
    first = conversation.messages[0]
    assert (first.message_id, first.timestamp, first.sender_id) == ("msg_0001", T0, "user_103")
    assert (first.sender_name, first.role, first.reply_to) == ("Chen", "user", None)


def test_solo_file_is_personal_for_the_user_with_assistant_roles() -> None:
    conversation = read_one(ConversationFormatConverter(), EVERCORE / "solo_chat_en.json")
    assert conversation.key == "personal:user_001/chat_user_001_assistant"
    roles = {m.sender_id: m.role for m in conversation.messages}
    assert roles == {"user_001": "user", "robot_001": "assistant"}
    assert conversation.participants == {"user_001": "User", "robot_001": "AI Assistant"}


def test_scene_option_overrides_the_file_both_ways() -> None:
    solo_as_team = ConversationFormatConverter(ConvertOptions(scene="team"))
    conversation = read_one(solo_as_team, EVERCORE / "solo_chat_en.json")
    assert conversation.key == "group:chat_user_001_assistant"

    team_as_solo = ConversationFormatConverter(ConvertOptions(scene="solo"))
    conversation = read_one(team_as_solo, EVERCORE / "team_chat_en.json")
    # every entry of this file has role "user": the first one is the user
    assert (conversation.kind, conversation.conversation_id) == ("personal", "user_103")
    assert conversation.session_id == "group_sales_ai_2025"
    assert any("5 people write" in w for w in texts(team_as_solo, "warning"))


# -- ConversationFormat: hand-made files ---------------------------------------------------


def test_equal_timestamps_keep_file_order_when_sorting(tmp_path: Path) -> None:
    same = "2025-02-01T02:00:00Z"
    messages = [
        cf_message(1, create_time="2025-02-01T03:00:00Z"),
        cf_message(2, create_time=same),
        cf_message(3, create_time=same, sender="bob"),
        cf_message(4, create_time=same),
    ]
    converter = ConversationFormatConverter()
    conversation = read_one(converter, write_cf(tmp_path, messages))
    assert [m.message_id for m in conversation.messages] == ["m2", "m3", "m4", "m1"]
    assert any("out of order" in w for w in texts(converter, "warning"))


@pytest.mark.parametrize(
    ("create_time", "expected"),
    [
        ("2025-02-01T02:00:00Z", T0),
        ("2025-02-01T02:00:00+00:00", T0),
        ("2025-02-01T10:00:00+08:00", T0),
        ("2025-01-31T21:00:00-05:00", T0),
        ("2025-02-01T02:00:00.123Z", T0 + 123),
        ("2025-02-01T10:00:00.001+08:00", T0 + 1),
        ("2025-02-01T02:00:00.999999Z", T0 + 999),  # sub-millisecond part is cut, not rounded
        ("2025-02-01T02:00:00z", T0),
        (1738375200, T0),  # epoch seconds
        (1738375200.123, T0 + 123),  # epoch seconds with a fraction, exactly
        (T0 + 7, T0 + 7),  # epoch milliseconds
    ],
)
def test_create_time_to_exact_milliseconds(tmp_path: Path, create_time: Any, expected: int) -> None:
    path = write_cf(tmp_path, [cf_message(0, create_time=create_time)])
    assert read_one(ConversationFormatConverter(), path).messages[0].timestamp == expected


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({"timezone": "Asia/Shanghai"}, T0),
        ({"default_timezone": "Asia/Shanghai"}, T0),
        ({"timezone": "+08:00"}, T0),
        ({"timezone": "Asia/Shanghai", "default_timezone": "UTC"}, T0),
        ({"default_timezone": "UTC"}, T0 + 8 * 3600_000),
        ({}, T0 + 8 * 3600_000),
    ],
)
def test_time_without_offset_uses_the_session_time_zone(
    tmp_path: Path, meta: dict[str, Any], expected: int
) -> None:
    path = write_cf(tmp_path, [cf_message(0, create_time="2025-02-01T10:00:00")], **meta)
    assert read_one(ConversationFormatConverter(), path).messages[0].timestamp == expected


def test_unknown_time_zone_is_an_error_naming_the_field(tmp_path: Path) -> None:
    converter = ConversationFormatConverter()
    path = write_cf(tmp_path, [cf_message(0)], timezone="Mars/Olympus")
    assert read(converter, path) == []
    (error,) = texts(converter, "error")
    assert error.startswith(f"{path}: session_meta: field 'timezone'") and "Mars/Olympus" in error
    # a file that fails outright after a problem was found must not pass it on to the next file
    users = {"bot": {"role": "assistant"}}
    bots = write_cf(tmp_path, [], name="bots.json", users=users, timezone="X/Y", scene="solo")
    with pytest.raises(InputError, match="every entry is an assistant"):
        read(converter, bots)
    assert len(read(converter, write_cf(tmp_path, [cf_message(0)], name="good.json"))) == 1


def test_team_without_group_id_and_descriptive_scene(tmp_path: Path) -> None:
    path = write_cf(tmp_path, [cf_message(0)], name="Team Chat (EN).json", scene="work")
    converter = ConversationFormatConverter()
    assert read_one(converter, path).key == "group:team_chat_en"  # stable id from the file name
    unicode_names = [
        write_cf(tmp_path, [cf_message(0)], name=n) for n in ("团队.json", "家庭.json")
    ]
    ids = {read_one(converter, path).conversation_id for path in unicode_names}
    assert len(ids) == 2 and all(i.startswith("conversation-") for i in ids)
    assert any("'work'" in w and "--scene" in w for w in texts(converter, "warning"))


def test_solo_without_a_user_role_picks_the_most_frequent_human(tmp_path: Path) -> None:
    users = {"bot": {"role": "assistant"}, "alice": {}, "bob": {}}
    messages = [cf_message(0, sender="alice"), cf_message(1, sender="bob")]
    messages += [cf_message(2, sender="bob"), cf_message(3, sender="bot")]
    path = write_cf(tmp_path, messages, users=users, scene="solo")
    conversation = read_one(ConversationFormatConverter(), path)
    assert (conversation.kind, conversation.conversation_id) == ("personal", "bob")
    assert conversation.messages[3].role == "assistant"


def test_sender_name_fallbacks_and_refer_list_replies(tmp_path: Path) -> None:
    users = {"alice": {"full_name": "Alice"}, "bob": {}}
    messages = [
        cf_message(0, refer_list=[], sender_name="Ali"),
        cf_message(1, refer_list=["m0"]),
        cf_message(2, refer_list=[{"message_id": "m1", "content": "quoted"}], sender="bob"),
        cf_message(3, refer_list="m0"),
    ]
    converter = ConversationFormatConverter()
    conversation = read_one(converter, write_cf(tmp_path, messages, users=users))
    assert [m.sender_name for m in conversation.messages] == ["Ali", "Alice", "bob", "Alice"]
    assert [m.reply_to for m in conversation.messages] == [None, "m0", "m1", None]
    (warning,) = texts(converter, "warning")
    assert "message 4 (id m3): field 'refer_list'" in warning


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"sender": "user_999"}, "field 'sender': 'user_999' is not in session_meta.user_details"),
        ({"sender": None}, "field 'sender' is missing"),
        ({"content": None}, "field 'content' is missing"),
        ({"content": "   "}, "field 'content' is empty"),
        ({"content": ["a", "b"]}, "field 'content' must be a string"),
        ({"create_time": "yesterday"}, "field 'create_time': cannot parse 'yesterday' as ISO 8601"),
        ({"create_time": None}, "field 'create_time' is missing"),
        ({"create_time": True}, "field 'create_time' must be an ISO 8601 time"),
        ({"message_id": "gen_42"}, "field 'message_id': 'gen_42' starts with 'gen_'"),
    ],
)
def test_bad_message_is_named_by_file_index_and_field(
    tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    message = {k: v for k, v in cf_message(1, **change).items() if v is not None}
    path = write_cf(tmp_path, [cf_message(0), message, cf_message(2)])
    converter = ConversationFormatConverter()
    assert read(converter, path) == []
    (error,) = texts(converter, "error")
    place = f"message 2 (id {message['message_id']})" if "message_id" in message else "message 2"
    assert error.startswith(f"{path}: {place}: {expected}")
    (rejected,) = converter.rejected
    assert rejected.path == str(path) and rejected.where == place
    assert expected in str(rejected) and "conversation group:chat not imported" in str(rejected)


def test_every_bad_message_is_reported_at_once(tmp_path: Path) -> None:
    messages = [cf_message(0, sender="nobody"), "not a message", cf_message(2, content="")]
    converter = ConversationFormatConverter()
    assert read(converter, write_cf(tmp_path, messages)) == []
    errors = texts(converter, "error")
    assert [e.split(": ")[1] for e in errors] == [
        "message 1 (id m0)",
        "message 2",
        "message 3 (id m2)",
    ]
    assert "expected an object" in errors[1]
    (rejected,) = converter.rejected
    assert rejected.problems == errors and "3 problems" in str(rejected)
    assert all("\n" not in line for line in errors)


def test_missing_message_ids_are_derived_deterministically(tmp_path: Path) -> None:
    twin = {"create_time": "2025-02-01T02:00:00Z", "sender": "alice", "content": "same"}
    messages = [twin, dict(twin), cf_message(1, message_id=None)]
    path = write_cf(tmp_path, [{k: v for k, v in m.items() if v is not None} for m in messages])
    first, second = ConversationFormatConverter(), ConversationFormatConverter()
    ids = [m.message_id for m in read_one(first, path).messages]
    assert ids == [m.message_id for m in read_one(second, path).messages]
    assert len(set(ids)) == 3  # exact duplicates still get distinct ids
    assert not any(i.startswith("gen_") for i in ids)
    assert first.diagnostics == []


@pytest.mark.parametrize(
    ("doc", "where", "reason"),
    [
        ([1, 2], "top level", "expected a JSON object"),
        ({"conversation_list": []}, "top level", "field 'session_meta' is missing"),
        ({"session_meta": 1, "conversation_list": []}, "top level", "'session_meta' must be"),
        (cf_doc(meta={"name": "x"}), "session_meta", "field 'user_details' is missing"),
        (cf_doc(users=[]), "session_meta", "field 'user_details' must be an object"),
        (cf_doc(items=None), "top level", "field 'conversation_list' is missing"),
        (cf_doc(items={}), "top level", "field 'conversation_list' must be a list"),
        (cf_doc(users={"a": "Al"}), "session_meta.user_details.a", "expected an object"),
    ],
)
def test_file_shape_errors_name_the_field(
    tmp_path: Path, doc: Any, where: str, reason: str
) -> None:
    path = write_json(tmp_path, doc, "shape.json")
    with pytest.raises(InputError) as caught:
        read(ConversationFormatConverter(), path)
    assert (caught.value.path, caught.value.where) == (str(path), where)
    assert reason in caught.value.reason


@pytest.mark.parametrize("converter_class", [ConversationFormatConverter, EverOSConverter])
@pytest.mark.parametrize(
    ("content", "reason", "where"),
    [
        (b"", "file is empty", None),
        (b"  \n", "file is empty", None),
        (TRUNCATED, "truncated JSON", "line 1 column 62"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "not UTF-8", None),
        (b"{'single': 'quotes'}", "invalid JSON", "line 1 column 2"),
    ],
)
def test_unreadable_files_raise_one_clear_input_error(
    tmp_path: Path, converter_class: type[Converter], content: bytes, reason: str, where: str | None
) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        read(converter_class(), path)
    assert caught.value.path == str(path) and caught.value.where == where
    assert reason in str(caught.value) and "\n" not in str(caught.value)


# -- detection -----------------------------------------------------------------------------


def test_each_converter_detects_its_own_files_only(tmp_path: Path) -> None:
    for path in sorted(EVERCORE.glob("*.json")):
        assert ConversationFormatConverter.detect(path) and not EverOSConverter.detect(path)
    for path in sorted(EVEROS.glob("*.json")):
        assert EverOSConverter.detect(path) and not ConversationFormatConverter.detect(path)
    others = {
        "random.json": {"name": "x", "items": [1, 2, 3]},
        "telegram.json": {"name": "Chat", "type": "personal_chat", "messages": [{"id": 1}]},
        "list.json": [{"ts": "1.0", "text": "hi"}],
    }
    for name, data in others.items():
        path = write_json(tmp_path, data, name)
        assert not (ConversationFormatConverter.detect(path) or EverOSConverter.detect(path))
    wrong_suffix = tmp_path / "chat.txt"
    wrong_suffix.write_bytes((EVERCORE / "solo_chat_en.json").read_bytes())
    assert not ConversationFormatConverter.detect(wrong_suffix)
    assert not ConversationFormatConverter.detect(tmp_path) and not EverOSConverter.detect(tmp_path)


def test_everos_detects_an_id_written_after_a_long_message_list(tmp_path: Path) -> None:
    message = {"role": "user", "sender_id": "a", "timestamp": T0, "content": "x" * 200}
    path = write_json(tmp_path, {"messages": [message] * 1000, "group_id": "late"})
    assert path.stat().st_size > 2 * 65536
    assert EverOSConverter.detect(path)
    assert read_one(EverOSConverter(), path).conversation_id == "late"


# -- EverOS --------------------------------------------------------------------------------


def test_everos_group_file() -> None:
    converter = EverOSConverter()
    conversation = read_one(converter, EVEROS / "group.json")
    assert conversation.key == "group:architecture_review"
    assert conversation.name == "Architecture review"
    assert conversation.participants["helper_bot"] == "Helper"
    last = conversation.messages[-1]
    assert (last.role, last.reply_to, last.sender_name) == ("assistant", "g_002", "Helper")
    assert converter.diagnostics == []


def test_everos_personal_file_fills_senders_and_ids() -> None:
    conversation = read_one(EverOSConverter(), EVEROS / "personal.json")
    assert conversation.key == "personal:user_alice/weekend_plans"
    assert [m.sender_id for m in conversation.messages] == ["user_alice", "assistant", "user_alice"]
    assert conversation.messages[2].timestamp == 1705312805000  # from an ISO string
    assert all(m.message_id.startswith("derived-") for m in conversation.messages)
    again = read_one(EverOSConverter(), EVEROS / "personal.json")
    assert [m.message_id for m in again.messages] == [m.message_id for m in conversation.messages]


def test_everos_list_of_conversations() -> None:
    group, personal = read(EverOSConverter(), EVEROS / "several.json")
    assert (group.key, len(group.messages)) == ("group:book_club", 2)
    assert group.participants == {"u1": "Ana", "u2": "u2"}
    assert (personal.key, personal.messages[0].sender_id) == ("personal:u1", "u1")


def test_everos_bad_entry_in_a_list_leaves_the_others(tmp_path: Path) -> None:
    good = {"user_id": "u1", "messages": [{"role": "user", "timestamp": T0, "content": "hi"}]}
    path = write_json(tmp_path, [good, {"messages": []}, "junk", dict(good)])
    converter = EverOSConverter()
    assert [c.key for c in read(converter, path)] == ["personal:u1"]
    errors = texts(converter, "error")
    assert errors == [
        f"{path}: conversation 2: needs 'group_id' (group conversation) or 'user_id'"
        " (personal conversation)",
        f"{path}: conversation 3: expected a conversation object, got 'junk'",
        f"{path}: conversation 4: personal:u1 already appeared as conversation 1;"
        " merge the two entries",
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"timestamp": True}, "field 'timestamp' must be whole Unix milliseconds, not true"),
        ({"timestamp": 1705312800}, "field 'timestamp': 1705312800 is not Unix milliseconds"),
        ({"timestamp": 1.5e12 + 0.5}, "field 'timestamp' must be whole Unix milliseconds"),
        ({"timestamp": "soon"}, "field 'timestamp': cannot parse 'soon' as Unix milliseconds"),
        ({"timestamp": None}, "field 'timestamp' is missing"),
        ({"role": "bot"}, "field 'role' must be 'user' or 'assistant', not 'bot'"),
        ({"role": None}, "field 'role' is missing"),
        ({"sender_id": None}, "field 'sender_id' is missing (group messages need it)"),
        ({"content": ""}, "field 'content' is empty"),
        ({"content": 7}, "field 'content' must be a string, not 7"),
        ({"message_id": "gen_x"}, "field 'message_id': 'gen_x' starts with 'gen_'"),
    ],
)
def test_everos_bad_message_names_index_and_field(
    tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    good = {"role": "user", "sender_id": "a", "timestamp": T0, "content": "hi", "message_id": "x1"}
    bad = {k: v for k, v in (good | {"message_id": "x2"} | change).items() if v is not None}
    path = write_json(tmp_path, {"group_id": "g", "messages": [good, bad]})
    converter = EverOSConverter()
    assert read(converter, path) == []
    (error,) = texts(converter, "error")
    assert error.startswith(f"{path}: message 2 (id {bad['message_id']}): {expected}")
    assert converter.rejected[0].where == f"message 2 (id {bad['message_id']})"


def test_everos_object_built_in_code_is_checked_like_a_file() -> None:
    message = {"role": "user", "sender_id": "a", "timestamp": T0, "content": "x"}
    iso = message | {"timestamp": "2025-02-01T10:00:01+08:00"}
    data = {"group_id": "g", "messages": [iso, message | {"timestamp": float(T0)}, message]}
    conversation = conversation_from_everos(data)
    assert (conversation.key, conversation.origin) == ("group:g", "<memory>")
    assert [m.timestamp for m in conversation.messages] == [T0, T0, T0 + 1000]
    assert len({m.message_id for m in conversation.messages}) == 3  # twins get distinct ids
    with pytest.raises(InputError) as caught:
        conversation_from_everos({"group_id": "g", "messages": [message | {"role": "x"}, "y"]})
    assert caught.value.problems == [
        "<memory>: message 1: field 'role' must be 'user' or 'assistant', not 'x'",
        "<memory>: message 2: expected an object, got 'y'",
    ]


# -- to_everos_json ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["team_chat_en.json", "solo_chat_zh.json"])
def test_everos_json_round_trip(tmp_path: Path, name: str) -> None:
    original = read_one(ConversationFormatConverter(), EVERCORE / name)
    path = write_json(tmp_path, to_everos_json(original), "out.json")
    assert EverOSConverter.detect(path)
    converter = EverOSConverter()
    back = read_one(converter, path)
    assert back.messages == original.messages
    assert back.key == original.key
    assert (back.name, back.description) == (
        (original.name, original.description) if original.kind == "group" else (None, None)
    )
    assert converter.diagnostics == []


def test_everos_json_shapes() -> None:
    group = read_one(EverOSConverter(), EVEROS / "group.json")
    # the file holds every field in canonical form, so writing it back gives the same document
    assert to_everos_json(group) == json.loads((EVEROS / "group.json").read_text("utf-8"))
    personal = to_everos_json(read_one(EverOSConverter(), EVEROS / "personal.json"))
    assert list(personal) == ["user_id", "session_id", "messages"]
    assert "sender_name" not in personal["messages"][0]
    bare = Conversation(kind="group", conversation_id="g")
    assert to_everos_json(bare) == {"group_id": "g", "messages": []}
