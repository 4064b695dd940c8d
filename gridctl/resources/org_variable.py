"""Kinds of module org_variable (to be implemented)."""

KINDS: list = []
