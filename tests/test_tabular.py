"""CSV / TSV / JSON Lines chat logs read through a column map, and their import into the sandbox."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import converters
from converters.base import ConvertOptions
from converters.tabular import JsonlConverter, TabularConverter
from converters.tabular_io import Spool
from importer import BatchImporter
from importer.discovery import discover
from importer.errors import InputError
from importer.models import Conversation
from importer.sandbox import SandboxServer
from importer.sandbox.store import SandboxStore
from tests.support import DATA, run_cli

FITBIT = DATA / "tabular" / "fitbit_messages.csv"
BOT_LOG = DATA / "tabular" / "bot_log.jsonl"
FITBIT_MAP = {
    "conversation": "conversation_id",
    "message_id": "message_id",
    "content": "content",
    "sender": "sent_by_id",
    "sender_name": "sent_by",
    "timestamp": "timestamp",
}
BOT_MAP = {
    "timestamp": "ts",
    "sender": "author.id",
    "sender_name": "author.name",
    "content": "text",
    "conversation": "room",
    "role": "kind",
}


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def read(
    path: Path, converter_class: type[TabularConverter] = TabularConverter, **options: object
) -> tuple[list[Conversation], TabularConverter]:
    converter = converter_class(ConvertOptions(**options))  # type: ignore[arg-type]
    return list(converter.read(path)), converter


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's zone set to America/New_York for the test."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# -- reading --------------------------------------------------------------------------------------


def test_csv_with_a_column_map_gives_one_conversation_per_value() -> None:
    conversations, converter = read(FITBIT, column_map=FITBIT_MAP, timezone="Europe/Warsaw")
    steps, sleep = conversations
    assert (steps.key, sleep.key) == ("group:csv_7f3a91c2", "group:csv_b61e04d9")  # first seen
    assert [m.message_id for m in steps.messages] == ["m-1001", "m-1002", "m-1003", "m-1004"]
    assert steps.messages[0].timestamp == ms("2023-03-04T07:02:11+01:00")  # zone-less: --timezone
    assert steps.participants == {"28ABCD": "Dana Kowalski", "29QRST": "Omar Haddad",
                                  "2BXYZW": "Lee Chen"}  # fmt: skip
    assert steps.messages[1].content == "Count me in 🏃‍♀️"
    assert steps.messages[2].content == (
        'Same, but I\'m traveling Thursday — "airport steps" count, right?'
    )
    assert sleep.messages[1].content == "Glad it did! Try a fixed bedtime, too.\nEven on weekends."
    assert not converter.diagnostics


def test_jsonl_with_nested_keys_numbers_and_iso_times() -> None:
    conversations, converter = read(BOT_LOG, JsonlConverter, column_map=BOT_MAP)
    ops, random = conversations
    assert (ops.key, random.key) == ("group:jsonl_ops", "group:jsonl_random")
    assert ops.name == "#ops"
    assert [(m.timestamp, m.sender_id, m.sender_name, m.role) for m in ops.messages] == [
        (1709280000123, "u-17", "Mara", "user"),
        (1709280090500, "bot-1", "CI", "assistant"),  # float seconds, exactly; "bot" role
        (1709280150000, "u-3", "Kofi", "user"),  # ISO 8601 with offset
    ]
    assert random.messages[0].content == "lunch?"
    assert not converter.diagnostics


def test_the_same_file_under_both_names(tmp_path: Path) -> None:
    copy = tmp_path / "log.ndjson"
    copy.write_bytes(BOT_LOG.read_bytes())
    via_csv, _ = read(copy, TabularConverter, column_map=BOT_MAP)
    via_jsonl, _ = read(BOT_LOG, JsonlConverter, column_map=BOT_MAP)
    assert [c.messages for c in via_csv] == [c.messages for c in via_jsonl]


def test_tsv_and_semicolons_and_a_header_that_names_the_fields(tmp_path: Path) -> None:
    tsv = write(tmp_path, "chat.tsv", "Timestamp\tSender\tContent\n1700000000\tann\thello, you\n")
    semi = write(tmp_path, "chat.csv", "timestamp;sender;content\n1700000000000;ann;hello, you\n")
    (a,), _ = read(tsv)
    (b,), _ = read(semi)
    assert a.key == "group:csv_chat"  # no conversation column: the file is one conversation
    assert a.messages == b.messages
    assert a.messages[0].timestamp == 1_700_000_000_000 and a.messages[0].content == "hello, you"


def test_time_without_offset_is_read_in_the_machines_zone(tmp_path: Path, new_york: None) -> None:
    path = write(
        tmp_path,
        "t.csv",
        "ts,who,text\n2023-01-15 12:00:00,a,winter\n2023-07-15T12:00:00,a,summer\n"
        "2023-07-15T12:00:00Z,a,utc\n",
    )
    (chat,), _ = read(path, column_map={"timestamp": "ts", "sender": "who", "content": "text"})
    assert {m.content: m.timestamp for m in chat.messages} == {
        "winter": int(datetime(2023, 1, 15, 17, tzinfo=UTC).timestamp() * 1000),  # EST, UTC-5
        "summer": int(datetime(2023, 7, 15, 16, tzinfo=UTC).timestamp() * 1000),  # EDT, UTC-4
        "utc": int(datetime(2023, 7, 15, 12, tzinfo=UTC).timestamp() * 1000),
    }


def test_rows_are_grouped_through_the_spool(tmp_path: Path) -> None:
    class Tiny(TabularConverter):
        spool_limit = 2

    in_memory, _ = read(FITBIT, column_map=FITBIT_MAP)
    spilled, _ = read(FITBIT, Tiny, column_map=FITBIT_MAP)
    assert [c.messages for c in spilled] == [c.messages for c in in_memory]

    spool = Spool(limit=3)
    for i in range(10):
        spool.add("abc"[i % 3], (i, f"row {i}"))
    assert spool.pop("b") == [[1, "row 1"], [4, "row 4"], [7, "row 7"]]
    assert spool.pop("a") == [[i, f"row {i}"] for i in (0, 3, 6, 9)]
    spool.close()


def test_empty_content_is_left_out_with_a_warning_and_roles_speak(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "ai.csv",
        "when,role,text\n1700000000,user,hi\n1700000001,assistant,hello!\n1700000002,user,\n",
    )
    (chat,), converter = read(path, column_map={"timestamp": "when", "role": "role",
                                                "content": "text"})  # fmt: skip
    assert [(m.sender_id, m.role) for m in chat.messages] == [
        ("user", "user"), ("assistant", "assistant"),
    ]  # fmt: skip
    assert [str(d) for d in converter.diagnostics] == [
        f"{path}: conversation 'ai': rows with empty content left out: 1"
    ]


# -- problems -------------------------------------------------------------------------------------


def test_a_mapped_column_missing_from_the_header_is_named() -> None:
    with pytest.raises(InputError) as caught:
        read(FITBIT, column_map={**FITBIT_MAP, "timestamp": "sent_at"})
    assert str(caught.value) == (
        f"{FITBIT}: row 1: column 'sent_at' (mapped to timestamp) is not in the header; the"
        " header has: conversation_id, message_id, content, sent_by, sent_by_id, timestamp"
    )


def test_no_map_and_no_field_names_says_how_to_map() -> None:
    # "timestamp" and "content" are found by name, the sender is not
    with pytest.raises(InputError, match=r"no column for sender; map it, e\.g\. --map sender="):
        read(FITBIT)
    with pytest.raises(InputError, match=r"no key for timestamp, content, sender; map it"):
        read(BOT_LOG, JsonlConverter)
    with pytest.raises(InputError, match="unknown field.*: author"):
        read(FITBIT, column_map={**FITBIT_MAP, "author": "sent_by"})


def test_a_bad_time_rejects_its_conversation_and_names_row_and_column(tmp_path: Path) -> None:
    text = FITBIT.read_text(encoding="utf-8").replace("2023-03-04 21:20:45", "04/03/2023 21:20")
    path = write(tmp_path, "fitbit.csv", text)
    conversations, converter = read(path, column_map=FITBIT_MAP)
    assert [c.key for c in conversations] == ["group:csv_7f3a91c2"]  # the other one is imported
    (rejected,) = converter.rejected
    assert str(rejected) == (
        f"{path}: row 6: column 'timestamp' (timestamp) cannot parse '04/03/2023 21:20' as a time"
        " (expected ISO 8601 or Unix seconds/milliseconds); conversation group:csv_b61e04d9"
        " not imported"
    )


def test_every_bad_row_is_named(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.jsonl",
        '{"ts": 1700000000, "who": "a", "text": "fine"}\n'
        '{"ts": 1700000001, "text": "no sender"}\n'
        "not json\n"
        '{"ts": true, "who": "a", "text": "boolean time"}\n'
        '{"ts": 1700000003, "who": "a", "text": "x", "id": "gen_7"}\n'
        '{"ts": "1969-07-20T20:17:00Z", "who": "a", "text": "moon"}\n',
    )
    columns = {"timestamp": "ts", "sender": "who", "content": "text", "message_id": "id"}
    conversations, converter = read(path, JsonlConverter, column_map=columns)
    assert conversations == []
    errors = [str(d) for d in converter.diagnostics if d.severity == "error"]
    assert errors == [
        f"{path}: line 2: column 'who' (sender) is missing",
        f"{path}: line 4: column 'ts' (timestamp) cannot read true as a time",
        f"{path}: line 5: column 'id' (message_id) 'gen_7' starts with 'gen_'",
        f"{path}: line 6: column 'ts' (timestamp) '1969-07-20T20:17:00Z' is before 1970",
        f"{path}: line 3: invalid JSON (Expecting value, column 1)",
    ]


def test_too_many_cells_and_unknown_roles(tmp_path: Path) -> None:
    path = write(tmp_path, "r.csv", "ts,role,text\n1,user,a,b\n1700000000,narrator,hi\n")
    conversations, converter = read(path, column_map={"timestamp": "ts", "role": "role",
                                                      "content": "text"})  # fmt: skip
    assert conversations == []
    assert [str(d) for d in converter.diagnostics] == [
        f"{path}: row 3: column 'role' (role) 'narrator' is not user or assistant",
        f"{path}: row 2: 4 cells but the header has 3 columns",
    ]


def test_a_bad_time_zone_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown time zone 'Mars/Olympus'"):
        read(FITBIT, column_map=FITBIT_MAP, timezone="Mars/Olympus")


# -- choosing the converter -------------------------------------------------------------------------


def test_never_guessed_but_found_when_named(tmp_path: Path) -> None:
    assert converters.detect(FITBIT) is None and converters.detect(BOT_LOG) is None
    assert converters.get("csv") is TabularConverter and converters.get("jsonl") is JsonlConverter
    inputs, errors = discover([FITBIT.parent], source="csv")
    assert [i.path.name for i in inputs] == ["bot_log.jsonl", "fitbit_messages.csv"]
    assert errors == []
    notes = write(tmp_path, "notes.txt", "timestamp,sender,content\n1700000000,a,hi\n")
    write(tmp_path, "chat.csv", "timestamp,sender,content\n1700000000,a,hi\n")
    inputs, errors = discover([tmp_path], source="csv")
    assert [i.path.name for i in inputs] == ["chat.csv"] and errors == []
    inputs, errors = discover([notes], source="csv")  # named: read whatever its name
    assert [i.path for i in inputs] == [notes] and errors == []
    assert TabularConverter.matches(FITBIT, FITBIT_MAP)
    assert not TabularConverter.matches(FITBIT, {"timestamp": "ts"})
    assert TabularConverter.matches(BOT_LOG, BOT_MAP)
    assert not TabularConverter.matches(DATA / "everos" / "group.json", {})


# -- end to end -------------------------------------------------------------------------------------


async def test_converted_csv_imports_into_the_sandbox(
    tmp_path: Path, sandbox: SandboxServer
) -> None:
    conversations, _ = read(FITBIT, column_map=FITBIT_MAP, timezone="UTC")
    importer = BatchImporter(api_url=sandbox.url, checkpoint_dir=tmp_path / "ck")
    for conversation in conversations:
        report = await importer.import_conversation(conversation)
        assert report.exit_code == 0
    for conversation in conversations:
        rows = sandbox.store.messages("group", conversation.conversation_id)
        assert [(r["message_id"], r["timestamp"], r["sender_id"], r["sender_name"], r["content"])
                for r in rows] == [
            (m.message_id, m.timestamp, m.sender_id, m.sender_name, m.content)
            for m in conversation.messages
        ]  # fmt: skip
    assert importer.get_stats()["messages_sent"] == 6


def test_cli_import_of_a_self_describing_csv(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "standup.csv",
        "timestamp,sender,sender_name,content,conversation\n"
        "2024-05-02T09:00:00Z,u1,Ana,yesterday: fixed the login bug,standup\n"
        "2024-05-02T09:01:00Z,u2,Ben,today: reviews,standup\n",
    )
    db = tmp_path / "sandbox.db"
    result = run_cli(path, "--source", "csv", "--sandbox-db", db, "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    store = SandboxStore(db)
    try:
        rows = store.messages("group", "csv_standup")
    finally:
        store.close()
    assert [(r["sender_id"], r["sender_name"], r["content"]) for r in rows] == [
        ("u1", "Ana", "yesterday: fixed the login bug"),
        ("u2", "Ben", "today: reviews"),
    ]
    assert rows[0]["timestamp"] == ms("2024-05-02T09:00:00+00:00")
