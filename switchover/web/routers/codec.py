"""The payload codec endpoint: the Temporal UI decodes payloads through it, for signed-in
engineers only."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
