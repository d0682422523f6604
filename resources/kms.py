"""kms resources (being written)."""
