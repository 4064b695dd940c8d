"""runners (to be implemented)."""
