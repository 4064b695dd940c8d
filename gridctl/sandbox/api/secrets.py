"""secrets (to be implemented)."""
