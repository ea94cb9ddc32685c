"""The base of every config section (`Section`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Section"]


class Section(BaseModel):
    """Base of every config section: unknown keys rejected, values immutable,
    no silent type coercion (``"4"`` is not an integer)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
