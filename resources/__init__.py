"""One module per AWS service; importing the package registers every resource type."""

from resources import base, batch, dynamodb, ec2, iam, kms, s3  # noqa: F401
