"""Upload of scanned forms by caseworkers: several files at once, size and type checked
before anything is stored."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
