"""One module per AWS service; :func:`load_all` imports them, which registers every resource type."""

from __future__ import annotations

import importlib

SERVICES = (
    "ec2",
    "iam",
    "kms",
    "s3",
    "dynamodb",
    "batch",
    "apigateway",
    "awslambda",
    "logs",
    "secretsmanager",
    "rds",
    "elbv2",
    "ecs",
    "ecr",
    "sagemaker",
    "cognito",
    "appscaling",
    "route53",
    "budgets",
)


def load_all() -> None:
    for name in SERVICES:
        importlib.import_module(f"resources.{name}")
