"""Plain role/content messages, for the generic form: no tools, no schema."""

from __future__ import annotations

from . import Wire

WIRE = Wire
