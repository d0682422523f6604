"""s3 resources (being written)."""
