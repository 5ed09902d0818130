"""Import a source of your own: a plain-text log with one ``time | speaker | text`` line each.

Run it from the repository root: ``python examples/custom_converter.py``. With no server
configured it imports into the local sandbox; pass ``api_url=`` to ``BatchImporter`` for a real one.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import converters
from converters import Converter
from importer import BatchImporter, Conversation, InputError, Message


@converters.register
class PlainLogConverter(Converter):
    name = "plain-log"
    description = "time | speaker | text, one message per line"

    @classmethod
    def detect(cls, path: Path) -> bool:
        return path.is_file() and path.suffix == ".log"

    def conversations(self, path: Path) -> Iterator[Conversation]:
        messages = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = [part.strip() for part in line.split("|", 2)]
            if len(parts) != 3:
                self.error(path, f"line {number}", "expected 'time | speaker | text'")
                continue
            when, speaker, text = parts
            try:
                timestamp = int(datetime.fromisoformat(when).timestamp() * 1000)
            except ValueError:
                self.error(path, f"line {number}", f"cannot parse time {when!r}")
                continue
            # no ids in this format: derive one from the content, so a rerun finds the same ids
            digest = hashlib.sha256(f"{number}|{line}".encode()).hexdigest()[:16]
            messages.append(
                Message(
                    message_id=f"log-{digest}",
                    timestamp=timestamp,
                    sender_id=speaker.lower(),
                    sender_name=speaker,
                    content=text,
                )
            )
        if not messages:
            raise InputError(str(path), "no messages found")
        yield Conversation(
            kind="group",
            conversation_id=f"log-{path.stem}",
            name=path.stem.replace("_", " ").title(),
            source=self.name,
            origin=str(path),
            messages=messages,
        )


async def main() -> None:
    importer = BatchImporter(checkpoint_dir="checkpoints")
    report = await importer.import_file(Path(__file__).parent / "custom" / "standup.log")
    print(f"exit code {report.exit_code}: {importer.get_stats()}")


if __name__ == "__main__":
    asyncio.run(main())
