"""ec2 resources (being written)."""
