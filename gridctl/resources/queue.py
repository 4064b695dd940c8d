"""Kinds of module queue (to be implemented)."""

KINDS: list = []
