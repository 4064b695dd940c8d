"""runner_groups (to be implemented)."""
