"""The fleet controller (`gridctl serve`): declarations, the pure decision, the store, the loop."""
