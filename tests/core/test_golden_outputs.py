"""Refactorings keep what users see: ``--help`` of every command and the text, markdown and JSON
plans of every example are byte-identical to the recorded ones (``tests/golden/recorded``,
regenerated with ``python -m tests.golden.outputs write`` only when an output is meant to change)."""

from __future__ import annotations

from tests.golden import outputs


def test_every_help_and_example_plan_matches_the_recorded_output():
    current = outputs.collect()
    assert len(current) >= 40
    assert any(n.startswith("help-state") for n in current)
    differences = outputs.diff(current)
    assert not differences, "\n".join(differences[:200])
