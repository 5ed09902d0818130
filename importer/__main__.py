"""``python -m importer``."""

from __future__ import annotations

import sys

try:
    from importer.cli import entry
except KeyboardInterrupt:  # Ctrl-C while the program itself is still being loaded
    print("interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(entry())
