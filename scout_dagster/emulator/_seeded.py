"""Seeded randomness and slugs, shared by every part of the synthetic world.

Randomness comes from ``random.Random`` instances seeded with SHA-256 digests
of the inputs, so the same input yields the same draws in every process and on
every machine.
"""

from __future__ import annotations

import hashlib
import random
import re

__all__ = ["seeded_rng", "slugify"]


def seeded_rng(*parts: object) -> random.Random:
    """A ``random.Random`` seeded by the SHA-256 of ``parts`` (stable across processes)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "topic"
