"""``python -m importer``."""

from __future__ import annotations

import sys

from importer.cli import entry

sys.exit(entry())
