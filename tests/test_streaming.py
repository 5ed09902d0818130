"""Conversations read as streams: kept in the spool as they are read, never whole in memory.

A converter may yield a ``ConversationStream`` (a header and an iterator of messages); the engine
checks each message as it passes, appends them to the spool in batches, and settles order and
repeated ids there. These tests drive that engine with a converter whose streams are generated,
crossing batch boundaries, and check what the spool holds afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from converters.base import ConversationStream, Converter
from importer.errors import InputError
from importer.merge import Spool
from importer.models import Conversation, Message

T0 = 1_700_000_000_000


def msg(i: int, *, ts: int | None = None, content: str | None = None, mid: str | None = None,
        sender: str = "alice") -> Message:
    return Message(message_id=mid or f"m{i}", timestamp=T0 + i if ts is None else ts,
                   sender_id=sender, content=f"text {i}" if content is None else content)


def header(name: str) -> Conversation:
    return Conversation(kind="group", conversation_id=name, source="gen", origin=f"{name}.gen")


class Generated(Converter):
    """Yields the streams it is given; ``fail_after`` makes the input unreadable part-way."""

    name = "generated"

    def __init__(self, streams: list[ConversationStream], fail_after: int | None = None) -> None:
        super().__init__()
        self.streams = streams
        self.fail_after = fail_after

    @classmethod
    def detect(cls, path: Path) -> bool:
        return False

    def conversations(self, path: Path) -> Iterator[ConversationStream]:
        for stream in self.streams:
            if self.fail_after is None:
                yield stream
                continue
            yield ConversationStream(stream.header, self._cut(stream.messages, self.fail_after))

    @staticmethod
    def _cut(messages: object, after: int) -> Iterator[Message]:
        assert isinstance(messages, Iterator)
        for count, message in enumerate(messages):
            if count == after:
                raise InputError("input.gen", "truncated", where=f"message {count + 1}")
            yield message


def spooled(converter: Converter, spool: Spool) -> dict[str, list[Message]]:
    pieces = list(converter.read_into(Path("input.gen"), spool))
    assert all(p.conversation.key for p in pieces)
    return {
        s.key: [m for page in spool.messages(s) for m in page] for s in spool.conversations()
    }


def test_a_long_stream_is_kept_in_order_across_batches(tmp_path: Path) -> None:
    stream = ConversationStream(header("big"), (msg(i) for i in range(5_500)))
    with Spool(tmp_path) as spool:
        held = spooled(Generated([stream]), spool)
    assert [m.message_id for m in held["group:big"]] == [f"m{i}" for i in range(5_500)]


def test_an_out_of_order_stream_is_sorted_with_a_warning(tmp_path: Path) -> None:
    # the newest message comes first, the rest in order; equal times keep their order
    messages = [msg(9_999, ts=T0 + 10_000)] + [msg(i, ts=T0 + i // 2) for i in range(2_500)]
    converter = Generated([ConversationStream(header("late"), iter(messages))])
    with Spool(tmp_path) as spool:
        held = spooled(converter, spool)["group:late"]
    assert [m.message_id for m in held] == [f"m{i}" for i in range(2_500)] + ["m9999"]
    assert any("out of order" in str(d) for d in converter.diagnostics)


def test_repeats_inside_a_stream_are_settled_like_a_whole_conversation(tmp_path: Path) -> None:
    messages = [msg(i) for i in range(3_000)]
    messages.append(msg(5, ts=T0 + 5))  # an exact repeat, batches after the original
    messages.append(msg(7, ts=T0 + 7, content="something else"))  # same id, other text
    converter = Generated([ConversationStream(header("rep"), iter(messages))])
    with Spool(tmp_path) as spool:
        held = spooled(converter, spool)["group:rep"]
    ids = [m.message_id for m in held]
    assert len(ids) == 3_001 and ids.count("m5") == 1
    assert ids[7:9] == ["m7", "m7~2"] and held[8].content == "something else"
    warnings = [str(d) for d in converter.diagnostics]
    assert any("1 exact repeat" in w and "m5" in w for w in warnings)
    assert any("kept, this one as m7~2" in w for w in warnings)


def test_an_error_late_in_a_stream_rejects_that_conversation_only(tmp_path: Path) -> None:
    bad = (msg(i, content="" if i == 4_321 else None) for i in range(5_000))
    good = (msg(i) for i in range(1_200))
    converter = Generated([ConversationStream(header("bad"), bad),
                           ConversationStream(header("good"), good)])
    with Spool(tmp_path) as spool:
        held = spooled(converter, spool)
        rows = spool._db.execute("SELECT count(*) FROM msgs").fetchone()[0]
    assert list(held) == ["group:good"] and rows == 1_200
    (rejected,) = converter.rejected
    assert "group:bad not imported" in str(rejected) and rejected.where == "message id m4321"


def test_an_input_cut_short_mid_stream_keeps_nothing_of_that_conversation(tmp_path: Path) -> None:
    first = ConversationStream(header("a"), (msg(i) for i in range(100)))
    second = ConversationStream(header("b"), (msg(i) for i in range(5_000)))
    converter = Generated([first, second], fail_after=3_500)
    with Spool(tmp_path) as spool:
        with pytest.raises(InputError, match="truncated"):
            spooled(converter, spool)
        rows = spool._db.execute("SELECT count(*) FROM msgs").fetchone()[0]
        keys = [s.key for s in spool.conversations()]
    assert keys == ["group:a"] and rows == 100


def test_the_completed_header_gives_what_is_known_only_at_the_end(tmp_path: Path) -> None:
    names: dict[str, str] = {}

    def messages() -> Iterator[Message]:
        for i in range(1_500):
            names[f"u{i % 3}"] = f"User {i % 3}"
            yield msg(i, sender=f"u{i % 3}")

    stream = ConversationStream(
        header("late-names"), messages(),
        complete=lambda: header("late-names").model_copy(update={"participants": names}),
    )
    converter = Generated([stream])
    (conversation,) = converter.read(Path("input.gen"))
    assert conversation.participants == {"u0": "User 0", "u1": "User 1", "u2": "User 2"}
    assert len(conversation.messages) == 1_500


def test_a_subclass_transform_rewrites_or_leaves_out_each_message(tmp_path: Path) -> None:
    """``transform`` is the hook for custom sources: called on every message of a stream."""

    class Redacting(Generated):
        def transform(self, message: Message, conversation: Conversation) -> Message | None:
            if "secret" in message.content:
                return None
            return message.model_copy(update={"content": message.content.upper()})

    texts = ["hello", "the secret plan", "bye"]
    stream = ConversationStream(
        header("t"), (msg(i, content=text) for i, text in enumerate(texts))
    )
    with Spool(tmp_path) as spool:
        held = spooled(Redacting([stream]), spool)
    assert [m.content for m in held["group:t"]] == ["HELLO", "BYE"]
