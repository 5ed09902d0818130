"""Whole Slack exports, as a folder and as the zip Slack gives, converted end to end."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pytest

import converters
from converters.base import ConvertOptions
from converters.slack import SlackConverter
from converters.slack_threads import ts_millis
from importer.errors import InputError
from importer.models import Conversation

EXPORT = Path(__file__).parent / "data" / "slack" / "export"
TOP = "Acme Slack export Jun 12 2015 - Apr 23 2026"
#: anything a reader should never see: Slack tokens, entities, unresolved user mentions
RAW = re.compile(r"<[@#!][^>]*>|<https?://|&(?:amp|lt|gt|quot|#\d+);")

EXPECTED = {  # conversation key -> (name, messages, skipped), in the order they are yielded
    "group:slack_C061A0WJG": ("#random", 9, 4),
    "group:slack_C061A0YJG": ("#general", 7, 0),
    "group:slack_C061A0YJP": ("#general1", 14, 0),
    "group:slack_C061A0HJG": ("#sharedchannel", 4, 1),
    "group:slack_G0PRIV0001": ("#design-private", 12, 5),
    "group:slack_G0PRIV0002": ("#ops-alerts", 7, 1),
    "group:slack_G9HBG2A5D": ("Group DM: Jon, Jane, U064KUGRJ, U061A3E0G", 4, 0),
    "group:slack_DJ47BL849": ("DM: Jon, Jane", 2, 0),
    "group:slack_DHX1UP7EG": ("DM: Jane, U064KUGRJ", 6, 0),
    "group:slack_DK8HSJDHS": ("DM: Jon, U064KUGRJ", 4, 0),
}


def read(path: Path, *, system: bool = False) -> tuple[SlackConverter, list[Conversation]]:
    converter = SlackConverter(ConvertOptions(include_system_events=system))
    return converter, list(converter.read(path))


def make_zip(
    target: Path, source: Path = EXPORT, prefix: str = "", extra: Iterable[tuple[str, bytes]] = ()
) -> Path:
    """Zip an export folder the way Slack does (optionally inside one top-level folder)."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(source.rglob("*.json")):
            archive.write(file, prefix + file.relative_to(source).as_posix())
        for name, data in extra:
            archive.writestr(name, data)
    return target


def copy_export(tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXPORT, tmp_path / "export"))


def by_key(conversations: list[Conversation]) -> dict[str, Conversation]:
    return {c.key: c for c in conversations}


# -- detection ----------------------------------------------------------------------------------


def test_detects_folder_and_zip(tmp_path: Path) -> None:
    assert SlackConverter.detect(EXPORT)
    assert SlackConverter.detect(make_zip(tmp_path / "flat.zip"))
    assert SlackConverter.detect(make_zip(tmp_path / "nested.zip", prefix=f"{TOP}/"))
    assert converters.get("slack") is SlackConverter
    assert converters.detect(EXPORT) is SlackConverter
    assert converters.detect(tmp_path / "nested.zip") is SlackConverter


def test_does_not_detect_other_inputs(tmp_path: Path) -> None:
    assert not SlackConverter.detect(EXPORT / "users.json")
    assert not SlackConverter.detect(EXPORT / "general")
    assert not SlackConverter.detect(tmp_path)  # empty folder
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as archive:
        archive.writestr("notes/users.json", "[]")  # two levels down: not an export root
        archive.writestr("readme.txt", "hi")
    assert not SlackConverter.detect(tmp_path / "other.zip")
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    assert not SlackConverter.detect(tmp_path / "broken.zip")
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "users.json").write_text("[]")
    assert not SlackConverter.detect(lone)  # a users list and nothing else of an export


# -- the test export end to end -----------------------------------------------------------------


def check_readable(conversations: list[Conversation]) -> None:
    """What the acceptance check asks of every message of every conversation."""
    for conversation in conversations:
        assert conversation.source == "slack"
        assert conversation.kind == "group"
        stamps = [m.timestamp for m in conversation.messages]
        assert stamps == sorted(stamps), conversation.key
        for message in conversation.messages:
            assert message.timestamp == ts_millis(message.message_id.split("~")[0])
            assert message.content.strip(), message
            assert not RAW.search(message.content), message.content
            assert message.sender_name and message.sender_id
            assert conversation.participants[message.sender_id] == message.sender_name or (
                message.sender_id.startswith("B")  # a bot may post under several usernames
            )


def test_folder_end_to_end() -> None:
    converter, conversations = read(EXPORT)
    assert converter.rejected == []
    assert [(c.key, c.name, len(c.messages), c.skipped) for c in conversations] == [
        (key, *values) for key, values in EXPECTED.items()
    ]
    check_readable(conversations)
    warnings = [str(d) for d in converter.diagnostics]
    assert len(warnings) == 3 and all("repeated" in w for w in warnings)  # zulip's colliding ts


def test_channel_metadata() -> None:
    conversations = by_key(read(EXPORT)[1])
    general1 = conversations["group:slack_C061A0YJP"]
    assert general1.description == "For everyone (topic: general channel)"
    assert general1.origin == str(EXPORT / "general1")
    private = conversations["group:slack_G0PRIV0001"]
    assert (
        private.description
        == "Ship the widgets (https://example.com/widgets) (topic: Widgets & gadgets)"
    )
    assert private.participants["U0DELETED1"] == "Former Dev"
    dm = conversations["group:slack_DJ47BL849"]
    assert dm.description == "Slack direct messages between Jon, Jane"
    assert dm.participants == {"U061A1R2R": "Jon", "U061A5N1G": "Jane"}


def test_senders_bots_threads_and_files_of_the_private_channel() -> None:
    private = by_key(read(EXPORT)[1])["group:slack_G0PRIV0001"]
    rows = [(m.sender_name, m.content, m.reply_to) for m in private.messages]
    assert rows[0] == (
        "github",
        (
            "[acme/widgets] Pull request submitted by k._ (https://github.com/k-_)\n"
            "#42 Fix the <frobnicator> & its tests (https://github.com/acme/widgets/pull/42)\n"
            "Makes the frobnicator handle empty input."
        ),
        None,
    )
    assert rows[1][:2] == (
        "GitHub",
        (
            "[acme/widgets] 2 new commits pushed to master"
            " (https://github.com/acme/widgets/tree/master) by rheaparekh12"
        ),
    )
    assert rows[4][:2] == (
        "Former Dev",
        "@design review by Mar 2, 2016 please; questions to ops@example.com",
    )
    assert rows[5][:2] == ("Josef K.", "Shall we ship v2 on *Friday*? @Rhea Parekh")
    assert rows[6][:2] == ("Guest Gina", "Hi all, guest from the agency here")
    assert rows[7][:2] == ("Deploy Bot", "Deployed *v2.0.0-rc1* to staging")
    assert rows[8] == (
        "Steve Howell",
        "[reply to a deleted message] it was about the launch date",
        None,
    )
    quoted = '[reply to Josef K.: "Shall we ship v2 on *Friday*? @Rhea…"] '
    assert rows[9] == (
        "Rhea Parekh",
        quoted + "Yes & let's write release notes first",
        "1683720100.000200",
    )
    assert rows[10] == ("Josef K.", quoted + "Friday it is, @here", "1683720100.000200")
    assert rows[11][1] == "[file: Release notes v2 (release-notes.pdf)] [file]"


def test_bots_are_named_from_bot_add_integration_log_or_said_to_be_bots() -> None:
    ops = by_key(read(EXPORT)[1])["group:slack_G0PRIV0002"]
    senders = [(m.sender_id, m.sender_name) for m in ops.messages[:4]]
    assert senders == [
        ("B0JL6RASU", "jenkins-ci"),  # posted before the bot_add that names it
        ("B0JL6RASU", "jenkins-ci"),
        ("B8W3RA0PI", "Slack API Tester"),  # its app_id in integration_logs.json
        ("B0UNNAMED", "bot B0UNNAMED"),  # named nowhere in the export
    ]
    assert ops.participants["B0JL6RASU"] == "jenkins-ci"


def test_block_kit_content_replaces_the_placeholder_and_a_summary_it_covers() -> None:
    ops = by_key(read(EXPORT)[1])["group:slack_G0PRIV0002"]
    checks, poll = ops.messages[4], ops.messages[5]
    assert checks.sender_name == "Ops Checks"
    assert checks.content == (
        "Nightly checks: :large_green_square: PASS\n*API*: passed\n*Web*: passed\n"
        "*Worker*: failed, see log (https://ci.example.com/job/worker/31)\n"
        "Started at 2018-01-27 02:00 UTC\nFinished at 2018-01-27 02:09 UTC"
    )
    assert "can't be displayed" not in "".join(m.content for m in ops.messages)
    # the text is the poll's title only: the blocks hold it and the votes
    assert poll.content == (
        "*Which day for the retro?*\n:one: Thursday    `2`\n@Rhea Parekh, @Josef K.\n"
        ":two: Friday    `0`\nCreated by @Rhea Parekh with /poll"
    )


def test_legacy_file_comment_keeps_its_author_and_comment() -> None:
    ops = by_key(read(EXPORT)[1])["group:slack_G0PRIV0002"]
    comment = ops.messages[6]
    assert (comment.sender_id, comment.sender_name) == ("U6006P1CN", "Josef K.")
    assert comment.content == (
        "[comment on file: Runbook v3 (runbook.pdf)]"
        " Step 4 needs the new token, see tokens (https://wiki.example.com/tokens)"
    )


def test_bots_json_names_bots_and_broken_optional_lists_only_warn(tmp_path: Path) -> None:
    source = copy_export(tmp_path)
    bots = [{"id": "B0UNNAMED", "deleted": False, "name": "Backup Bot", "app_id": "A0BACKUP1"}]
    (source / "bots.json").write_text(json.dumps(bots))
    ops = by_key(read(source)[1])["group:slack_G0PRIV0002"]
    assert ops.messages[3].sender_name == "Backup Bot"
    (source / "integration_logs.json").write_text('[{"app_id": "A02", "app_type": "Slack')
    converter, conversations = read(source)
    ops = by_key(conversations)["group:slack_G0PRIV0002"]
    assert ops.messages[2].sender_name == "bot B8W3RA0PI"
    assert [str(d) for d in converter.diagnostics if "integration_logs" in str(d)] == [
        (
            f"{source / 'integration_logs.json'}: line 1 column 32: truncated JSON;"
            " bots may be named by their id"
        )
    ]


def test_system_events_included_on_request() -> None:
    _converter, conversations = read(EXPORT, system=True)
    random = by_key(conversations)["group:slack_C061A0WJG"]
    assert len(random.messages) == 13 and random.skipped == 0
    assert random.messages[0].content == "@Josef K. has joined the channel"
    private = by_key(conversations)["group:slack_G0PRIV0001"]
    assert private.skipped == 1  # the tombstone stays out
    assert "added an integration to this channel: github" in private.messages[0].content
    check_readable(conversations)


# -- zips -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", f"{TOP}/"])
def test_zip_gives_what_the_folder_gives(tmp_path: Path, prefix: str) -> None:
    archive = make_zip(tmp_path / "slack.zip", prefix=prefix)
    converter, conversations = read(archive)
    _, expected = read(EXPORT)
    assert converter.rejected == []
    strip = {"origin"}
    assert [c.model_dump(exclude=strip) for c in conversations] == [
        c.model_dump(exclude=strip) for c in expected
    ]
    assert conversations[0].origin == f"{archive}!/{prefix}random"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slack.zip"]  # nothing extracted


def test_unsafe_zip_members_are_ignored(tmp_path: Path) -> None:
    evil = json.dumps([{"type": "message", "user": "U1", "text": "pwned", "ts": "1.0"}]).encode()
    archive = make_zip(
        tmp_path / "slack.zip",
        extra=[("../escape/2020-01-01.json", evil), ("/abs/2020-01-01.json", evil),
               ("random/../../2020-01-01.json", evil)],
    )  # fmt: skip
    converter, conversations = read(archive)
    assert len(conversations) == len(EXPECTED)
    assert all("pwned" not in m.content for c in conversations for m in c.messages)
    unsafe = [str(d) for d in converter.diagnostics if "unsafe" in d.message]
    assert unsafe == [
        f"{archive}!/../escape/2020-01-01.json: unsafe name; ignored",
        f"{archive}!//abs/2020-01-01.json: unsafe name; ignored",
        f"{archive}!/random/../../2020-01-01.json: unsafe name; ignored",
    ]


def test_bad_day_files_reject_only_their_conversation(tmp_path: Path) -> None:
    source = copy_export(tmp_path)
    (source / "general" / "2015-06-12.json").write_text('[{"type": "message", "ts": "14')
    (source / "DJ47BL849" / "2015-06-12.json").write_text('{"not": "a list"}')
    archive = make_zip(tmp_path / "slack.zip", source=source)
    converter, conversations = read(archive)
    assert len(conversations) == len(EXPECTED) - 2
    assert "group:slack_C061A0YJG" not in by_key(conversations)
    problems = [p for error in converter.rejected for p in error.problems]
    assert problems == [
        f"{archive}!/general/2015-06-12.json: line 1 column 28: truncated JSON",
        f"{archive}!/DJ47BL849/2015-06-12.json: expected a list of messages, found dict",
    ]


def test_what_is_not_a_slack_export_says_what_it_lacks(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    (notes / "drafts").mkdir(parents=True)
    (notes / "drafts" / "todo.json").write_text("[]")
    (notes / "readme.json").write_text("{}")
    with pytest.raises(
        InputError,
        match=r"notes: not a Slack export: no channels\.json or users\.json at the top, and no"
        r" channel folders with day files \(<channel>/YYYY-MM-DD\.json\)",
    ):
        read(notes)
    with pytest.raises(InputError, match=r"readme\.json: not a Slack export: give the export's"):
        read(notes / "readme.json")
    lists_only = tmp_path / "lists-only"
    lists_only.mkdir()
    for name in ("users.json", "channels.json"):
        shutil.copy(EXPORT / name, lists_only / name)
    assert SlackConverter.detect(lists_only)
    with pytest.raises(InputError, match="Slack export without messages: no channel folders"):
        read(lists_only)
    with pytest.raises(InputError, match="Slack export without messages"):
        read(make_zip(tmp_path / "lists-only.zip", source=lists_only))


def test_broken_user_list_stops_the_export(tmp_path: Path) -> None:
    source = copy_export(tmp_path)
    (source / "users.json").write_text("[{")
    with pytest.raises(InputError, match=r"users\.json: line 1 column 3: truncated JSON"):
        read(source)
    (source / "users.json").write_text('{"U1": "not a list"}')
    with pytest.raises(InputError, match=r"users\.json: expected a list, found dict"):
        read(source)


# -- unusual shapes -------------------------------------------------------------------------------


def write_day(folder: Path, day: str, messages: list[dict[str, object]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{day}.json").write_text(json.dumps(messages))


def test_enterprise_grid_users_and_unlisted_folders(tmp_path: Path) -> None:
    root = tmp_path / "grid"
    root.mkdir()
    (root / "org_users.json").write_text(json.dumps([{"id": "W1", "real_name": "Wen"}]))
    (root / "channels.json").write_text("[]")
    write_day(root / "lost-and-found", "2020-09-13", [
        {"type": "message", "user": "W1", "text": "hi <@W1>", "ts": "1600000000.000100"},
    ])  # fmt: skip
    write_day(root / "quiet", "2020-09-13", [
        {"type": "message", "subtype": "channel_join", "user": "W1", "text": "joined",
         "ts": "1600000000.000100"},
    ])  # fmt: skip
    assert SlackConverter.detect(root)
    converter, conversations = read(root)
    (found,) = conversations
    assert (found.conversation_id, found.name) == ("slack_lost-and-found", "#lost-and-found")
    assert [(m.sender_name, m.content) for m in found.messages] == [("Wen", "hi @Wen")]
    assert [str(d) for d in converter.diagnostics] == [
        (
            f"{root / 'lost-and-found'}: folder not in any conversation list;"
            " imported as channel #lost-and-found"
        ),
        f"{root / 'quiet'}: folder not in any conversation list; imported as channel #quiet",
        f"{root / 'quiet'}: nothing to import (1 system events or deleted messages skipped)",
    ]


def test_channels_listed_without_a_folder_are_not_conversations() -> None:
    conversations = by_key(read(EXPORT)[1])
    assert "group:slack_DRS3PSLDK" not in conversations  # listed in dms.json, no messages
    assert "group:slack_G6H1Z0ZPS" not in conversations


def test_self_dm_is_named_once_and_nameless_users_fall_back_to_profiles(tmp_path: Path) -> None:
    source = copy_export(tmp_path)
    users = json.loads((source / "users.json").read_text())
    users.append({"id": "U064KUGRJ", "name": "", "deleted": True, "profile": {}})
    (source / "users.json").write_text(json.dumps(users))
    message: dict[str, object] = {"type": "message", "user": "U064KUGRJ", "text": "note to self"}
    write_day(source / "DRS3PSLDK", "2020-09-13", [{**message, "ts": "1600000000.1"}])
    profile = {"real_name": "Sam Self"}
    write_day(
        source / "DRS3PSLDK",
        "2020-09-14",
        [{**message, "ts": "1600000001.1", "user_profile": profile}],
    )
    self_dm = by_key(read(source)[1])["group:slack_DRS3PSLDK"]
    assert self_dm.name == "DM: Sam Self"  # named after reading, from what messages taught
    assert [m.sender_name for m in self_dm.messages] == ["Sam Self", "Sam Self"]
    assert self_dm.participants == {"U064KUGRJ": "Sam Self"}


def test_corrupt_zip_member_and_unreadable_zip(tmp_path: Path) -> None:
    archive = tmp_path / "slack.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as out:
        for file in sorted(EXPORT.rglob("*.json")):
            out.write(file, file.relative_to(EXPORT).as_posix())
    data = archive.read_bytes()
    body = (EXPORT / "DJ47BL849" / "2015-08-18.json").read_bytes()
    start = data.index(body)
    archive.write_bytes(
        data[:start] + body.replace(b"random", b"RANDOM") + data[start + len(body) :]
    )
    converter, conversations = read(archive)
    assert len(conversations) == len(EXPECTED) - 1
    (error,) = converter.rejected
    assert error.problems == [
        (
            f"{archive}!/DJ47BL849/2015-08-18.json: cannot read zip member:"
            " Bad CRC-32 for file 'DJ47BL849/2015-08-18.json'"
        )
    ]
    (tmp_path / "fake.zip").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="fake.zip: cannot open zip: File is not a zip file"):
        read(tmp_path / "fake.zip")
