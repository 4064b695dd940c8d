"""Kinds of module file (to be implemented)."""

KINDS: list = []
