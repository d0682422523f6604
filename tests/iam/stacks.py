"""The stacks the IAM tests look at: preset full (the UI on) and the mlflow stack, built without AWS."""

from __future__ import annotations

import json
import tomllib
from typing import Any

from provisioner.cli.init_template import TEMPLATE
from provisioner.cli.init_template_mlflow import TEMPLATE as MLFLOW_TEMPLATE
from provisioner.core.context import Facts
from provisioner.stacks.config import Config, parse_config
from tests.iam.roles import Role, stack_roles

FACTS = Facts(account_id="123456789012", region="us-east-1", availability_zones=("us-east-1a", "us-east-1b"))
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0f7e9a52-1c3b-4d7e-9a1f-5e2b8c4d6a10"


def full_config(**batch: Any) -> Config:
    text = TEMPLATE.format(name="t1", stack="metaflow", preset="full", suffix="abc12345")
    text = text.replace('certificate_arn = ""', f'certificate_arn = "{CERT}"', 1)
    text = text.replace("\nallow_cidrs = []", '\nallow_cidrs = ["203.0.113.0/24"]', 1)
    data = tomllib.loads(text)
    data["batch"].update(batch)
    return parse_config(data)


def mlflow_config() -> Config:
    return parse_config(tomllib.loads(MLFLOW_TEMPLATE.format(name="t1", stack="mlflow", preset="standard",
                                                             suffix="abc12345")))  # fmt: skip


def roles(cfg: Config) -> dict[str, Role]:
    return stack_roles(cfg, FACTS)


def managed_policy(arn: str) -> dict[str, Any]:
    """An AWS managed policy's document, from the copy moto ships (AWS's own text)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    name = arn.rsplit("/", 1)[1]
    return dict(json.loads(aws_managed_policies_data)[name]["Document"])


def policies_of(role: Role) -> dict[str, Any]:
    """Every identity policy of the role: its inline ones and the managed ones attached."""
    return {**role.inline, **{arn: managed_policy(arn) for arn in role.managed}}
