"""Settings, logging, and the schemas of the files engineers write."""

from config.settings import (
    TASK_QUEUE_IO,
    TASK_QUEUE_OCR,
    TASK_QUEUE_WORKFLOWS,
    Settings,
    get_settings,
)

__all__ = [
    "TASK_QUEUE_IO",
    "TASK_QUEUE_OCR",
    "TASK_QUEUE_WORKFLOWS",
    "Settings",
    "get_settings",
]
