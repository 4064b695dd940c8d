"""deploy_keys (to be implemented)."""
