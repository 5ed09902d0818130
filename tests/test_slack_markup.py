"""Slack markup, blocks, attachments, files and senders rendered as readable text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from converters.slack_markup import SlackRenderer, person_name

EXPORT = Path(__file__).parent / "data" / "slack" / "export"


@pytest.fixture
def renderer() -> SlackRenderer:
    return SlackRenderer(
        users={"U1": "Alice Smith", "U2": "Bob"},
        channels={"C1": "general"},
        bots={"B1": "GitHub"},
    )


def fixture_message(folder: str, ts: str) -> dict[str, Any]:
    """One message of the test export (zulip's real-shaped message objects), found by ts."""
    for day in sorted((EXPORT / folder).glob("*.json")):
        for message in json.loads(day.read_text(encoding="utf-8")):
            if message["ts"] == ts:
                return dict(message)
    raise LookupError(ts)


# -- text markup ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<@U1> hi", "@Alice Smith hi"),
        ("<@U1|alice> hi", "@Alice Smith hi"),  # users.json beats the label
        ("<@U9|carol>", "@carol"),
        ("<@U9>", "@U9"),
        ("see <#C1>", "see #general"),
        ("see <#C2|random>", "see #random"),
        ("see <#C2&#124;random>", "see #random"),
        ("<!here> <!channel> <!everyone>", "@here @channel @everyone"),
        ("<!here|here> <!channel|@channel>", "@here @channel"),
        ("<!subteam^S1|@design> ping", "@design ping"),
        ("<!subteam^S1>", "@S1"),
        ("<!date^1456876800^{date_short}|Mar 2, 2016>", "Mar 2, 2016"),
        ("<!date^1456876800^{date_short}>", "2016-03-02 00:00 UTC"),
        ("<https://example.com|the docs>", "the docs (https://example.com)"),
        ("<https://example.com>", "https://example.com"),
        ("<https://example.com/|example.com>", "https://example.com/"),
        ("<mailto:a@example.com|a@example.com>", "a@example.com"),
        ("<https://x.io/?a=1&amp;b=2|x>", "x (https://x.io/?a=1&b=2)"),
        ("a &amp; b &lt;c&gt; &quot;d&quot;", 'a & b <c> "d"'),
        ("Fix &amp;lt;b&amp;gt; &amp;amp; more", "Fix <b> & more"),  # escaped twice by a bot
        ("?a=1&copy=2", "?a=1&copy=2"),  # no ';': not an entity
        ("plain text", "plain text"),
        ("*bold* _it_ :tada:", "*bold* _it_ :tada:"),
    ],
)
def test_text_markup(renderer: SlackRenderer, markup: str, text: str) -> None:
    assert renderer.text(markup) == text


def test_mentions_of_users_learned_from_profiles(renderer: SlackRenderer) -> None:
    renderer.sender({"user": "U7", "user_profile": {"real_name": "", "display_name": "Gina"}})
    assert renderer.text("<@U7> hi") == "@Gina hi"


# -- senders ----------------------------------------------------------------------------------


def test_person_name_prefers_real_name_then_display_name_then_user_name() -> None:
    assert person_name({"real_name": "Josef K.", "profile": {"display_name": "k._"}}) == "Josef K."
    assert person_name({"profile": {"real_name": "Former Dev"}, "name": "fd"}) == "Former Dev"
    assert person_name({"real_name": " ", "profile": {"display_name": "Gina"}}) == "Gina"
    assert person_name({"name": "steve"}) == "steve"
    assert person_name(None) == ""


def test_senders(renderer: SlackRenderer) -> None:
    assert renderer.sender({"user": "U1"}) == ("U1", "Alice Smith")
    profile = {"user": "U8", "user_profile": {"real_name": "Peter", "name": "pieter"}}
    assert renderer.sender(profile) == ("U8", "Peter")
    assert renderer.sender({"user": "U8"}) == ("U8", "Peter")  # remembered
    assert renderer.sender({"user": "U404"}) == ("U404", "U404")
    assert renderer.sender({"user": "USLACKBOT"}) == ("USLACKBOT", "Slackbot")
    bot = {"subtype": "bot_message", "bot_id": "B1", "username": "github"}
    assert renderer.sender(bot) == ("B1", "github")
    assert renderer.sender({"subtype": "bot_message", "bot_id": "B1"}) == ("B1", "GitHub")
    modern = {"bot_id": "B2", "bot_profile": {"name": "Deploy Bot"}}
    assert renderer.sender(modern) == ("B2", "Deploy Bot")
    assert renderer.sender({"bot_id": "B3"}) == ("B3", "bot B3")
    assert renderer.sender({"text": "orphan"}) == ("unknown", "Unknown")


# -- message content --------------------------------------------------------------------------


def test_blocks_used_when_text_is_empty() -> None:
    message = fixture_message("general1", "1772029239.785859")  # zulip: bullet list
    message["text"] = ""
    assert SlackRenderer().message(message) == (
        "Basic bullet list with rich elements\n"
        "• item 1: \U0001f3c0\n"
        "• item 2: this is a list item\n"
        "• item 3: with a link (https://example.com/)\n"
        "• item 4: we are near the end\n"
        "• item 5: this is the end (https://chat.zulip.org/)"
    )


def test_nested_lists_quotes_and_code_blocks() -> None:
    render = SlackRenderer(users={"U074VRHQ11T": "Test User"}).blocks
    ordered = fixture_message("general1", "1772029460.121289")["blocks"]
    assert render(ordered) == (
        "ordered list with subitems:\n1. main item 1\n    • nested item 1\n    • nested item 2\n"
        "    • nested item 3\n2. main item 2\n    1. nested item 1"
    )
    quote = fixture_message("general1", "1772029790.709499")["blocks"]
    assert render(quote).splitlines() == ["> Hello there, I am a rich text section block!"] * 3
    code = fixture_message("general1", "1772029642.852459")["blocks"]
    assert render(code) == (
        "```\n# I'm a code block!\n\ndef convert_slack_formatting(text: str) -> str:\n"
        "    return text\n```"
    )
    mentions = fixture_message("general1", "1772112449.216879")["blocks"]
    assert render(mentions) == "@channel @here test mention"
    files = fixture_message("general1", "1772636065.551219")["blocks"]
    assert render(files) == "message with files  @Test User"


def test_layout_blocks_section_header_table() -> None:
    blocks = fixture_message("general1", "1776874317.427959")["blocks"]
    assert SlackRenderer().blocks(blocks).splitlines() == [
        "Hello there, I am a basic rich text block!",
        "Hello there, I am a bold rich text block!",
        (
            "This is a mrkdwn section block :ghost: *this is bold*, and ~this is crossed out~,"
            " and this is a link (https://google.com)"
        ),
        "This is a header block",
        "Header 1 | Header 2",
        "Datum 1 | Datum 2",
    ]


def test_layout_blocks_add_what_the_text_lacks() -> None:
    # zulip's real message: its text covers the rich text, section and header but not the table
    message = fixture_message("general1", "1776874317.427959")
    text = SlackRenderer().text(message["text"])
    assert SlackRenderer().message(message) == f"{text}\nHeader 1 | Header 2\nDatum 1 | Datum 2"


def test_rich_text_blocks_never_repeat_a_persons_text() -> None:
    message = fixture_message("general1", "1772112449.216879")  # zulip: @channel @here mentions
    message["text"] = "<!subteam^S0ONCALL|@oncall> test mention"  # words the blocks lack
    assert SlackRenderer().message(message) == "@oncall test mention"


def test_placeholder_text_without_blocks_is_not_content() -> None:
    placeholder = {"bot_id": "B1", "text": "This content can\u2019t be displayed.", "ts": "1.0"}
    assert SlackRenderer().message(placeholder) == ""
    with_file = {**placeholder, "files": [{"name": "report.csv", "title": "report.csv"}]}
    assert SlackRenderer().message(with_file) == "[file: report.csv]"


def test_unknown_block_elements_are_ignored() -> None:
    blocks = fixture_message("sharedchannel", "1772029070.889249")["blocks"]
    assert SlackRenderer().blocks(blocks) == "Hello there, I am a basic rich text block!"


def test_bot_post_with_attachments_only() -> None:
    message = {
        "subtype": "bot_message",
        "text": "",
        "attachments": [
            {
                "fallback": "[acme/widgets] Pull request submitted by k._",
                "pretext": "[acme/widgets] Pull request submitted by <https://github.com/k|k._>",
                "title": "#42 Fix &lt;frob&gt;",
                "title_link": "https://github.com/acme/widgets/pull/42",
                "text": "Handles empty input &amp; more.",
                "fields": [{"title": "Status", "value": "open"}, {"title": "", "value": "x"}],
            },
            {"fallback": "2 new commits pushed by <@U2>"},
        ],
    }
    assert SlackRenderer({"U2": "Bob"}).message(message) == (
        "[acme/widgets] Pull request submitted by k._ (https://github.com/k)\n"
        "#42 Fix <frob> (https://github.com/acme/widgets/pull/42)\n"
        "Handles empty input & more.\n"
        "Status: open\n"
        "x\n"
        "2 new commits pushed by @Bob"
    )


def test_link_previews_only_when_the_message_says_nothing_else() -> None:
    message = fixture_message("general1", "1772029188.953659")  # links + a link unfurl
    content = SlackRenderer().message(message)
    assert "Browse the publicly" not in content
    assert content.startswith("Text with a link (https://chat.zulip.org/)")
    message["text"] = ""
    message["blocks"] = []
    assert SlackRenderer().message(message) == (
        "Public view of Zulip Community | Zulip team chat (https://chat.zulip.org/)\n"
        "Browse the publicly accessible channels in Zulip Community without logging in."
    )


def test_shared_message_attachment() -> None:
    message = {
        "text": "look",
        "attachments": [
            {"is_share": True, "from_url": "https://x.slack.com/archives/C1/p1",
             "author_id": "U1", "text": "the original &amp; only"},
        ],
    }  # fmt: skip
    assert (
        renderer_message(message) == "look\n[shared message from Alice Smith: the original & only]"
    )


def renderer_message(message: dict[str, Any]) -> str:
    return SlackRenderer(users={"U1": "Alice Smith"}).message(message)


def test_files_described_once() -> None:
    new_style = fixture_message("general1", "1772636065.551219")
    content = SlackRenderer().message(new_style)
    assert content.endswith("[file: Weekly Sync (Untitled)] [file: channels.json]")
    assert "xoxe" not in content  # file URLs (with their tokens) are never copied
    old_style = fixture_message("random", "1516457078.000065")
    content = SlackRenderer({"U6006P1CN": "Josef K."}).message(old_style)
    assert content.count("dirac72.md") == 2  # label and URL in the text; no extra [file: …]
    assert "[file" not in content
    only_files = {
        "text": "",
        "files": [{"name": "a.pdf", "title": "a.pdf"}, {"mode": "hidden_by_limit"},
                  {"mode": "tombstone", "name": "gone.txt"}],
    }  # fmt: skip
    assert SlackRenderer().message(only_files) == "[file: a.pdf] [file] [deleted file]"
    titled = {
        "subtype": "file_share",
        "text": "<@U1|al> uploaded a file: <https://x.slack.com/files/al/F1/shot.png|Shot 1>",
        "file": {"name": "shot.png", "title": "Shot 1"},
    }
    assert renderer_message(titled) == (
        "@Alice Smith uploaded a file: Shot 1 (https://x.slack.com/files/al/F1/shot.png)"
    )


def test_message_with_nothing_to_read_is_empty() -> None:
    assert SlackRenderer().message({"text": "", "attachments": [{"color": "ff0000"}]}) == ""
    assert SlackRenderer().message({"text": "   "}) == ""


def test_emoji_elements() -> None:
    blocks = fixture_message("general1", "1772029104.463999")["blocks"]
    assert SlackRenderer().blocks(blocks) == "Hello there! Here are some emojis 🏀 🏂 🏁"
    odd = [{"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [
        {"type": "emoji", "name": "party_parrot"}, {"type": "emoji", "name": "x", "unicode": "zz"},
    ]}]}]  # fmt: skip
    assert SlackRenderer().blocks(odd) == ":party_parrot::x:"
