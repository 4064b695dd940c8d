"""workflows (to be implemented)."""
