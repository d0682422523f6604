"""dynamodb resources (being written)."""
