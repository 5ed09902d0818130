"""Protocol adapters, one per memory-service HTTP API."""

from __future__ import annotations

from importer.targets.base import Receipt, Target, TaskState
from importer.targets.everos import EverOSTarget

__all__ = ["EverOSTarget", "Receipt", "Target", "TaskState"]
