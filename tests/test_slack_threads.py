"""Exact timestamps from ts, thread reassembly across day files, what is skipped, bad records."""

from __future__ import annotations

from typing import Any

import pytest

from converters.slack_markup import SlackRenderer
from converters.slack_threads import ChannelAssembler, snippet, ts_micros, ts_millis
from importer.models import Message

USERS = {"U1": "Alice", "U2": "Bob", "U3": "Carol"}


def msg(ts: str, text: str, user: str = "U1", **fields: Any) -> dict[str, Any]:
    return {"type": "message", "user": user, "text": text, "ts": ts, **fields}


def assemble(*days: tuple[str, list[Any]], system: bool = False) -> ChannelAssembler:
    assembler = ChannelAssembler(SlackRenderer(USERS), include_system_events=system)
    for day, records in days:
        assembler.feed(records, f"export/general/{day}.json", day)
    return assembler


def contents(messages: list[Message]) -> list[str]:
    return [m.content for m in messages]


# -- ts -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ts", "millis"),
    [
        ("1504000000.000200", 1504000000000),
        ("1504000000.999999", 1504000000999),  # float would round this up to ...001000
        ("1516457078.000065", 1516457078000),
        ("1776959516.007659", 1776959516007),
        ("144139100.000008", 144139100000),
        ("1504000000", 1504000000000),
        ("1504000000.5", 1504000000500),
        ("1504000000.12", 1504000000120),
    ],
)
def test_ts_to_exact_millis(ts: str, millis: int) -> None:
    assert ts_millis(ts) == millis


@pytest.mark.parametrize("ts", [None, 1504000000.5, "", "abc", "15.0a", "-1.5", "１２.3"])
def test_ts_that_is_not_a_slack_ts(ts: Any) -> None:
    assert ts_micros(ts) is None


def test_ts_order_is_exact_beyond_float_precision() -> None:
    assert ts_micros("1504000000.000201") == ts_micros("1504000000.000200") + 1  # type: ignore[operator]


def test_snippet() -> None:
    assert snippet("short one") == "short one"
    assert snippet("Hi\n\nthere\tfriend") == "Hi there friend"
    long = "random message but it is too long for the thread topic name"
    assert snippet(long) == "random message but it is too long for…"
    assert snippet("x" * 100) == "x" * 40 + "…"
    assert snippet("Release notes:" + "\n" * 400 + "- fixed") == "Release notes:…"


# -- threads ------------------------------------------------------------------------------------


def test_replies_filed_days_later_are_put_in_order_and_linked() -> None:
    assembler = assemble(
        ("2023-05-10", [
            msg("1683720100.000200", "Shall we ship v2 on *Friday*?", thread_ts="1683720100.000200"),
            msg("1683720200.000300", "unrelated", user="U3"),
        ]),
        ("2023-05-12", [
            msg("1683878500.000400", "Yes &amp; notes first", user="U2",
                thread_ts="1683720100.000200", parent_user_id="U1"),
        ]),
    )  # fmt: skip
    messages = assembler.finish()
    assert [m.message_id for m in messages] == [
        "1683720100.000200", "1683720200.000300", "1683878500.000400"
    ]  # fmt: skip
    assert [m.timestamp for m in messages] == [1683720100000, 1683720200000, 1683878500000]
    reply = messages[2]
    assert reply.reply_to == "1683720100.000200"
    assert reply.content == '[reply to Alice: "Shall we ship v2 on *Friday*?"] Yes & notes first'
    assert reply.sender_name == "Bob"
    assert messages[0].reply_to is None and messages[1].reply_to is None


def test_day_files_out_of_order_still_give_chronological_messages() -> None:
    late = ("2023-05-12", [msg("1683878500.000400", "reply", thread_ts="1683720100.000200")])
    early = ("2023-05-10", [msg("1683720100.000200", "parent", thread_ts="1683720100.000200")])
    messages = assemble(late, early).finish()
    assert contents(messages) == ["parent", '[reply to Alice: "parent"] reply']


def test_thread_broadcast_listed_twice_gives_exact_copies_even_after_an_edit() -> None:
    parent = msg("1434139102.000002", "thread message", thread_ts="1434139102.000002")
    broadcast = msg(
        "1434139104.000002", "everyone should see this", user="U2",
        subtype="thread_broadcast", thread_ts="1434139102.000002",
        root={"text": "thread message", "user": "U1", "ts": "1434139102.000002"},
    )  # fmt: skip
    again = {key: value for key, value in broadcast.items() if key != "root"}
    edit = msg(
        "1434139200.000001", "", subtype="message_changed",
        message={**again, "text": "everyone should see this now"},
    )  # fmt: skip
    messages = assemble(("2015-06-12", [parent, broadcast, again, edit])).finish()
    # both copies are kept here, identical, so that the converter base drops the repeat
    reply = '[reply to Alice: "thread message"] everyone should see this now'
    assert contents(messages) == ["thread message", reply, reply]
    assert messages[1] == messages[2]


def test_replies_to_deleted_or_unknown_parents() -> None:
    assembler = assemble(
        ("2023-05-10", [
            msg("1683720000.000100", "This message was deleted.", user="USLACKBOT",
                subtype="tombstone", hidden=True, thread_ts="1683720000.000100"),
            msg("1683720001.000000", "<@U3> has joined the channel", user="U3",
                subtype="channel_join", thread_ts="1683720001.000000"),
        ]),
        ("2023-05-12", [
            msg("1683878400.000300", "about the launch", thread_ts="1683720000.000100"),
            msg("1683878401.000000", "welcome!", user="U2", thread_ts="1683720001.000000",
                parent_user_id="U3"),
            msg("1683878402.000000", "what?", user="U2", thread_ts="1600000000.000000"),
        ]),
    )  # fmt: skip
    messages = assembler.finish()
    assert contents(messages) == [
        "[reply to a deleted message] about the launch",
        "[reply to Carol] welcome!",
        "[reply in a thread] what?",
    ]
    assert all(m.reply_to is None for m in messages)
    assert assembler.skipped == 2


# -- skipping -----------------------------------------------------------------------------------


SYSTEM_DAY = [
    msg("1600000000.000001", "<@U1> has joined the channel", subtype="channel_join"),
    msg("1600000001.000001", "added an integration", subtype="bot_add", bot_id="B1"),
    msg("1600000002.000001", "<@U1> set the channel topic: x", subtype="channel_topic"),
    msg("1600000003.000001", "<@U1> has left the channel", subtype="channel_leave"),
    msg("1600000004.000001", "hello"),
    msg("1600000005.000001", "This message was deleted.", subtype="tombstone"),
    msg("1600000006.000001", "ghost", hidden=True),
    msg("1600000007.000001", ""),
]


def test_system_events_and_deleted_messages_are_skipped_and_counted() -> None:
    assembler = assemble(("2020-09-13", SYSTEM_DAY))
    assert contents(assembler.finish()) == ["hello"]
    assert assembler.skipped == 7
    assert assembler.empty == 1


def test_system_events_included_on_request() -> None:
    assembler = assemble(("2020-09-13", SYSTEM_DAY), system=True)
    assert contents(assembler.finish()) == [
        "@Alice has joined the channel",
        "added an integration",
        "@Alice set the channel topic: x",
        "@Alice has left the channel",
        "hello",
    ]
    assert assembler.skipped == 3  # tombstone, hidden, empty: never imported


def test_edit_and_delete_events_apply_to_their_message() -> None:
    assembler = assemble(
        ("2020-09-13", [
            msg("1600000000.000001", "frist"),
            msg("1600000001.000001", "oops"),
            {"type": "message", "subtype": "message_changed", "ts": "1600000002.000001",
             "message": msg("1600000000.000001", "first", edited={"user": "U1"})},
            {"type": "message", "subtype": "message_deleted", "ts": "1600000003.000001",
             "deleted_ts": "1600000001.000001"},
        ]),
    )  # fmt: skip
    assert contents(assembler.finish()) == ["first"]
    assert assembler.skipped == 3


# -- ids and bad records --------------------------------------------------------------------


def test_message_without_ts_gets_a_stable_place_and_id_with_a_warning() -> None:
    assembler = assemble(
        ("2020-09-13", [
            msg("1600000000.000001", "a"),
            {"type": "message", "user": "U1", "text": "b", "client_msg_id": "c-1"},
            {"type": "message", "user": "U1", "text": "c", "ts": "soon"},
        ]),
        ("2020-09-14", [{"type": "message", "user": "U1", "text": "d"}]),
    )  # fmt: skip
    messages = assembler.finish()
    assert [(m.message_id, m.timestamp, m.content) for m in messages] == [
        ("1600000000.000001", 1600000000000, "a"),
        ("c-1", 1600000000000, "b"),
        ("2020-09-13#2", 1600000000000, "c"),
        ("2020-09-14#0", 1600041600000, "d"),
    ]
    assert [p.severity for p in assembler.problems] == ["warning"] * 3
    assert assembler.problems[1].where == "message 2"
    assert "'soon'" in assembler.problems[1].message


def test_records_that_are_not_messages_are_errors() -> None:
    assembler = assemble(
        ("2020-09-13", [msg("1600000000.000001", "a"), "junk", 7]),
        ("2020-09-14", {"not": "a list"}),  # type: ignore[arg-type]
    )
    assert contents(assembler.finish()) == ["a"]
    assert [(p.severity, p.path, p.where, p.message) for p in assembler.problems] == [
        ("error", "export/general/2020-09-13.json", "message 1", "not a JSON object"),
        ("error", "export/general/2020-09-13.json", "message 2", "not a JSON object"),
        (
            "error",
            "export/general/2020-09-14.json",
            None,
            "expected a list of messages, found dict",
        ),
    ]


def test_senders_are_collected_for_participants() -> None:
    assembler = assemble(
        ("2020-09-13", [
            msg("1600000000.000001", "a"),
            {"type": "message", "subtype": "bot_message", "bot_id": "B9", "username": "ci",
             "text": "build ok", "ts": "1600000001.000001"},
        ]),
    )  # fmt: skip
    messages = assembler.finish()
    assert [(m.sender_id, m.sender_name, m.role) for m in messages] == [
        ("U1", "Alice", "user"), ("B9", "ci", "user")
    ]  # fmt: skip
    assert assembler.senders == {"U1": "Alice", "B9": "ci"}
