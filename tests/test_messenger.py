"""Messenger / Instagram exports: reading, text repair, placeholders, events, and imports end to end."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import converters
from converters.base import ConvertOptions
from converters.messenger import MessengerConverter, thread_id
from converters.messenger_text import is_system_line, person_id, repair
from importer.discovery import discover
from importer.models import Conversation
from importer.sandbox.store import SandboxStore
from tests.support import DATA, run_cli

MESSENGER = DATA / "messenger"
FACEBOOK = MESSENGER / "facebook" / "your_facebook_activity" / "messages"
GROUP = FACEBOOK / "inbox" / "hikingcrew_Xa8Kq2LmZp"
DM = FACEBOOK / "archived_threads" / "jorgmuller_Qm3Vt9RkLw"
INSTAGRAM = (
    MESSENGER / "instagram" / "your_instagram_activity" / "messages" / "inbox"
    / "zoeng_17841405822304914" / "message_1.json"
)  # fmt: skip
E2EE = MESSENGER / "e2ee" / "messages" / "Zoe Ng_7.json"
CHAT_ANALYTICS = MESSENGER / "chat-analytics" / "2A_7M.json"


def read(path: Path, **options: object) -> tuple[list[Conversation], MessengerConverter]:
    converter = MessengerConverter(ConvertOptions(**options))  # type: ignore[arg-type]
    return list(converter.read(path)), converter


def contents(conversation: Conversation) -> list[str]:
    return [m.content for m in conversation.messages]


# -- threads -------------------------------------------------------------------------------------


def test_a_thread_folder_joins_its_parts_oldest_first() -> None:
    (group,), converter = read(GROUP)
    assert group.key == "group:messenger_Xa8Kq2LmZp" and group.kind == "group"
    times = [m.timestamp for m in group.messages]
    assert times == sorted(times) and len(times) == 15
    # the first words are in message_2.json (older part), the last in message_1.json
    assert group.messages[0].content == "Servus! Wann geht's los? 🏔️"
    assert group.messages[-1].content == "Packing list:\n- Stirnlampe\n- 2 l Wasser\n- Müsliriegel"
    # the two parts meet in order: the last of message_2.json, then the first of message_1.json
    index = contents(group).index("[audio]")
    assert contents(group)[index - 1].startswith("[shared link: https://www.instagram.com/p/")
    assert not converter.rejected


def test_newest_first_files_are_reversed_so_equal_times_keep_their_order(tmp_path: Path) -> None:
    newest_first = [
        {"sender_name": "Bo", "timestamp_ms": 1_700_000_005_000, "content": "second at :05"},
        {"sender_name": "Ann", "timestamp_ms": 1_700_000_005_000, "content": "first at :05"},
        {"sender_name": "Bo", "timestamp_ms": 1_700_000_001_000, "content": "at :01"},
    ]
    path = tmp_path / "message_1.json"
    path.write_text(json.dumps({"participants": [], "messages": newest_first}), encoding="utf-8")
    (chat,), converter = read(path)
    assert contents(chat) == ["at :01", "first at :05", "second at :05"]
    assert not converter.diagnostics  # no "out of order" warning: newest first is the format


def test_a_single_part_given_alone_is_read_alone() -> None:
    (newer,), _ = read(GROUP / "message_1.json")
    (older,), _ = read(GROUP / "message_2.json")
    (whole,), _ = read(GROUP)
    assert newer.key == older.key == whole.key
    assert newer.messages[-1].timestamp > older.messages[-1].timestamp
    assert sorted(contents(newer) + contents(older)) == sorted(contents(whole))


def test_mojibake_is_repaired_in_every_string() -> None:
    raw = (GROUP / "message_1.json").read_text(encoding="utf-8")
    assert "J\\u00c3\\u00b6rg M\\u00c3\\u00bcller" in raw  # as Facebook writes it
    (group,), _ = read(GROUP)
    assert group.name == "Hiking crew 🥾"
    assert group.participants["jorg_muller"] == "Jörg Müller"
    assert group.participants["zoe_ng"] == "Zoë Ng"
    assert {m.sender_name for m in group.messages} >= {"Jörg Müller", "Zoë Ng"}
    assert "Olha a vista de ontem 😍" in contents(group)
    strings = [group.name or "", *group.participants.values()]
    strings += [s for m in group.messages for s in (m.content, m.sender_name or "")]
    assert not [s for s in strings if "Ã" in s or "ð\x9f" in s or "â\x80" in s]


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("J\u00c3\u00b6rg", "Jörg"),
        ("Thanks again all \u00f0\u009f\u0098\u00bb", "Thanks again all 😻"),  # 4-byte emoji
        ("\u00e2\u009d\u00a4\u00ef\u00b8\u008f", "❤️"),
        ("I\u00e2\u0080\u0099m", "I’m"),
        ("h\u00c3\u00a9tf\u00c5\u0091n", "hétfőn"),
        ("plain ascii", "plain ascii"),
        ("café", "café"),  # already clean Latin-1 text: not UTF-8 bytes, left alone
        ("你好 Привет", "你好 Привет"),  # above U+00FF: clean text, left alone
        ("cut \u00f0\u009f\u0098", "cut \u00f0\u009f\u0098"),  # a cut sequence is not guessed at
    ],
)
def test_repair_is_exact_or_leaves_the_text_alone(written: str, expected: str) -> None:
    assert repair(written) == expected


def test_media_become_placeholders() -> None:
    (group,), _ = read(GROUP)
    texts = contents(group)
    for placeholder in (
        "[2 photos]", "[sticker]", "[audio]", "[file: packing-list.pdf]", "[gif]", "[video]",
    ):  # fmt: skip
        assert placeholder in texts
    # a share with text keeps the text and appends the link
    assert (
        "Route for Saturday\n[shared link: https://www.alltrails.com/trail/germany/bavaria/hoellental]"
        in texts
    )
    # "Zoë Ng sent an attachment." is replaced by what was attached
    assert "[shared link: https://www.instagram.com/p/Cq1xYzAbCdE/]" in texts
    assert not any("sent an attachment" in t for t in texts)
    (alice,), _ = read(CHAT_ANALYTICS)
    assert contents(alice) == [
        "[photo]", "[sticker]", "[audio]", "[file: blabla.docx]", "you what", "Whats up!", "Hello",
    ]  # fmt: skip


def test_system_events_are_left_out_and_counted() -> None:
    (group,), converter = read(GROUP)
    texts = contents(group)
    for event in ("named the group", "set the nickname", "changed the group photo",
                  "video chat ended", "added Jörg", "Ana Souza left the group"):  # fmt: skip
        assert not any(event in t for t in texts), event
    # a person writing about someone leaving is not an event
    assert "Ana left the group. Was it something I said? 😅" in texts
    # 7 events (subscribe, rename, call, nickname, unsent, photo, unsubscribe) + 1 empty message
    assert group.skipped == 8
    assert [d.message for d in converter.diagnostics] == [
        "messages with no text or media left out: 1"
    ]


def test_system_events_are_kept_on_request() -> None:
    (group,), _ = read(GROUP, include_system_events=True)
    texts = contents(group)
    assert len(texts) == 15 + 7 and group.skipped == 1
    assert "You named the group Hiking crew 🥾." in texts
    assert "You added Jörg Müller, Zoë Ng and Ana Souza to the group." in texts
    assert "The video chat ended." in texts
    assert "[unsent message]" in texts
    assert "Ana Souza left the group." in texts


@pytest.mark.parametrize(
    ("text", "sender", "event"),
    [
        ("Bryan Chiu added Zuhayer Sarwar to the group.", "Bryan Chiu", True),
        ("You set the nickname for Rico Lopez to #1 CE Major.", "Phillip Tran", True),
        ("You named the group #1 UCD Degenerates.", "Phillip Tran", True),
        ("Ann changed the chat theme.", "Ann Lee", True),
        ("Reacted 😂 to your message ", "zoe.ng", True),
        ("Liked a message", "zoe.ng", True),
        ("The video chat ended.", "Ann Lee", True),
        ("Missed video chat", "Ann Lee", True),
        ("You called Bo Ek.", "Ann Lee", True),
        ("You called him twice, he never answered.", "Ann Lee", False),
        ("Bo left the group.", "Ann Lee", False),  # about someone else: a person's words
        ("I left the group chat muted", "Ann Lee", False),
        ("Ann Lee: added milk to the list", "Ann Lee", False),
        # wording other public parsers of real exports match
        ("Bo Ek set her own nickname to Bobo.", "Bo Ek", True),
        ("Bo cleared the nickname for Ann Lee.", "Bo Ek", True),
        ('Bo Ek removed vote for "Sat" in the poll: When?', "Bo Ek", True),
        ('Bo Ek voted for "Sat" and 1 other option in the poll: When?', "Bo Ek", True),
        (
            "Bo Ek turned on member approval and will review requests to join the group.",
            "Bo Ek",
            True,
        ),
        ("Bo Ek joined the video chat.", "Bo Ek", True),
        ("You missed an audio call", "Ann Lee", True),
        ("started an audio call", "ann.lee", True),
        ("Say hi to your new connection", "Ann Lee", True),
        ("Reminder, 30 minutes until 7:00 PM.", "Ann Lee", True),
        ("Reminder: buy milk", "Ann Lee", False),
    ],
)
def test_event_lines_start_with_the_sender(text: str, sender: str, event: bool) -> None:
    assert is_system_line(text, sender, ["Bo Ek"]) is event


def test_newer_style_direct_chat_without_type() -> None:
    (dm,), _ = read(DM)
    assert dm.key == "group:messenger_Qm3Vt9RkLw" and dm.name == "Jörg Müller"
    assert contents(dm) == [
        "Hast du die Karte noch? 🗺️", "Ja, liegt im Auto", "Ruf später nochmal an – bin im Zug 🚆",
    ]  # fmt: skip
    assert dm.skipped == 2  # "You called Jörg Müller." and "Jörg Müller missed your call."


def test_instagram_file_with_only_participants_and_messages() -> None:
    assert converters.detect(INSTAGRAM) is MessengerConverter
    (chat,), _ = read(INSTAGRAM)
    assert chat.conversation_id == "messenger_17841405822304914"  # from the thread folder
    assert chat.name == "Zoë Ng, priya.raman"
    assert contents(chat) == [
        "did you see the sunrise pics?",
        "[shared link: https://www.instagram.com/reel/C3kLmNoPqRs/]",
        "Nächstes Mal kommst du mit! 🙌",
        "[photo]",
    ]
    assert chat.skipped == 4  # a reaction notice, a like, an audio call, a missed video chat


def test_byte_order_mark(tmp_path: Path) -> None:
    folder = tmp_path / "inbox" / "hikingcrew_Xa8Kq2LmZp"
    shutil.copytree(GROUP, folder)
    for part in folder.glob("*.json"):
        part.write_bytes(b"\xef\xbb\xbf" + part.read_bytes())
    assert MessengerConverter.detect(folder)
    assert MessengerConverter.detect(folder / "message_1.json")
    (with_bom,), _ = read(folder)
    (without,), _ = read(GROUP)
    assert with_bom.messages == without.messages


def test_end_to_end_encrypted_download() -> None:
    assert converters.detect(E2EE) is MessengerConverter
    (chat,), _ = read(E2EE)
    assert chat.key == "group:messenger_e2ee_zoe_ng_7" and chat.name == "Zoë Ng"
    assert contents(chat) == [
        "Treffpunkt morgen: Hütte um 8? 🛖",
        "[photo]",
        "https://maps.app.goo.gl/x7Yz",
        "[attachment]",  # "Failed to download media"
        "[audio]",
    ]
    assert chat.skipped == 1  # the unsent placeholder


def test_ids_are_derived_stable_and_distinct() -> None:
    (first,), _ = read(GROUP)
    (again,), _ = read(GROUP)
    ids = [m.message_id for m in first.messages]
    assert ids == [m.message_id for m in again.messages]
    assert len(set(ids)) == len(ids)  # the two "ok" in the same millisecond too
    assert all(i.startswith("derived-") for i in ids)
    assert thread_id("johndoe_abc123XYZ9") == "abc123XYZ9"
    assert thread_id("260608097764728") == "260608097764728"
    assert person_id("Jörg Müller") == "jorg_muller"
    assert person_id("李雷").startswith("conversation-")  # no Latin letters: a hash keeps it apart


# -- folders and discovery -------------------------------------------------------------------------


def test_messages_folder_gives_every_thread_and_ignores_other_files() -> None:
    conversations, converter = read(FACEBOOK)
    assert [c.key for c in conversations] == [
        "group:messenger_Xa8Kq2LmZp",  # inbox
        "group:messenger_Qm3Vt9RkLw",  # archived_threads
        "group:messenger_1845920374",  # message_requests
    ]
    assert not converter.rejected
    inputs, errors = discover([FACEBOOK.parent.parent])
    assert [(i.path, i.converter) for i in inputs] == [(FACEBOOK, MessengerConverter)]
    assert errors == []  # autofill_information.json belongs to the messages folder


def test_an_inbox_folder_is_walked_thread_by_thread(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    shutil.copytree(GROUP, inbox / GROUP.name)
    shutil.copytree(DM, inbox / DM.name)
    inputs, errors = discover([inbox])
    assert not errors
    assert [(i.path.name, i.converter.name) for i in inputs] == [
        (GROUP.name, "messenger"),
        (DM.name, "messenger"),
    ]


def test_the_same_thread_in_two_boxes_is_one_conversation(tmp_path: Path) -> None:
    root = tmp_path / "messages"
    shutil.copytree(GROUP, root / "inbox" / GROUP.name)
    shutil.copytree(GROUP, root / "e2ee_cutover" / GROUP.name)
    (merged,), _ = read(root)
    (single,), _ = read(GROUP)
    assert merged.messages == single.messages


def test_other_formats_are_not_taken_for_messenger() -> None:
    for path in [
        *(DATA / "discord" / "dce").glob("*.json"),
        *(DATA / "evercore").glob("*.json"),
        *(DATA / "everos").glob("*.json"),
        DATA / "slack" / "export",
        DATA / "slack" / "export" / "general",
    ]:
        assert not MessengerConverter.detect(path), path
    for path in (GROUP, GROUP / "message_2.json", INSTAGRAM, E2EE, CHAT_ANALYTICS):
        assert converters.detect(path) is MessengerConverter, path


# -- bad input -------------------------------------------------------------------------------------


def test_a_broken_part_rejects_its_thread_and_names_the_place(tmp_path: Path) -> None:
    folder = tmp_path / "bandtour_Lp0Qw8Er2T"
    shutil.copytree(GROUP, folder)
    part = folder / "message_2.json"
    part.write_bytes(part.read_bytes()[:700])
    conversations, converter = read(folder)
    assert conversations == []
    (rejected,) = converter.rejected
    assert "message_2.json" in rejected.problems[0]
    assert "truncated JSON" in rejected.problems[0] and "line" in rejected.problems[0]


def test_an_empty_first_part_is_reported_with_its_thread(tmp_path: Path) -> None:
    folder = tmp_path / "hikingcrew_Xa8Kq2LmZp"
    shutil.copytree(GROUP, folder)
    (folder / "message_1.json").write_bytes(b"")
    inputs, errors = discover([tmp_path])
    assert [(i.path, i.converter) for i in inputs] == [(folder, MessengerConverter)]
    assert errors == []
    conversations, converter = read(folder)
    assert conversations == []
    assert converter.rejected[0].problems == [f"{folder / 'message_1.json'}: file is empty"]


def test_a_message_without_time_is_named(tmp_path: Path) -> None:
    data = json.loads((GROUP / "message_1.json").read_text(encoding="utf-8"))
    del data["messages"][3]["timestamp_ms"]
    data["messages"][5]["sender_name"] = ""
    path = tmp_path / "message_1.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    conversations, converter = read(path)
    assert conversations == []
    assert [str(p) for p in converter.diagnostics if p.severity == "error"] == [
        f"{path}: message 3: field 'timestamp_ms' is missing"
    ]
    assert any("message 5: field 'sender_name' is missing" in str(d) for d in converter.diagnostics)


# -- end to end ------------------------------------------------------------------------------------


def test_import_into_the_sandbox_stores_every_converted_message_once(tmp_path: Path) -> None:
    exports = tmp_path / "exports"
    shutil.copytree(MESSENGER, exports, ignore=shutil.ignore_patterns("*.py"))
    expected: dict[str, list[tuple[str, int, str, str]]] = {}
    for path in (FACEBOOK, INSTAGRAM, E2EE, CHAT_ANALYTICS):
        for conversation in read(path)[0]:
            expected[conversation.key] = [
                (m.message_id, m.timestamp, m.sender_id, m.content) for m in conversation.messages
            ]
    db = tmp_path / "sandbox.db"
    args = (exports, "--sandbox-db", db, "--checkpoint-dir", tmp_path / "ck", "--no-progress")
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    store = SandboxStore(db)
    try:
        stored = {c.key: c for c in store.conversations()}
        assert set(stored) == set(expected) and len(stored) == 6
        for key, messages in expected.items():
            kind, conversation_id = key.split(":", 1)
            rows = store.messages(kind, conversation_id)
            assert [
                (r["message_id"], r["timestamp"], r["sender_id"], r["content"]) for r in rows
            ] == messages
            assert stored[key].flushes == 1 and stored[key].duplicates == 0
        assert stored["group:messenger_Xa8Kq2LmZp"].name == "Hiking crew 🥾"
    finally:
        store.close()
    again = run_cli(*args, cwd=tmp_path)  # a second run sends nothing
    assert again.returncode == 0 and "Messages: 0 sent, 35 already imported" in again.stdout
