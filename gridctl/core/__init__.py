"""The engine: planning (read, then a pure diff per scope), applying (the only writer), the
session that wires a manifest to clients and state, the write-ahead journal, rollback plans and
plan-time checks. Core knows kinds only through the contract in :mod:`gridctl.resources.base`."""
