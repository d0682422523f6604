"""The SageMaker notebook of the Metaflow CloudFormation template (A.3.10): a notebook instance in the stack's VPC
with its execution role, its security group and a lifecycle configuration that gives Jupyter the Metaflow
settings.

Fixed from the template: the security group admits nothing (the template opened 8080 to the world; the notebook
is reached through SageMaker's presigned URL, not its network interface); with private networking the notebook
has no direct internet access (it goes out through the NAT); the settings are written at every start (the
template wrote them once, into a file a restart loses); the role may pass only itself and reads the datastore's
KMS key.
"""

from __future__ import annotations

from typing import Any

from provisioner.core.context import Facts
from provisioner.engine.graph import Blueprint, Concat
from provisioner.stacks import metaflow_iam as pol
from provisioner.stacks.config import Config
from provisioner.stacks.network import Network
from resources.base import Ref

#: the Metaflow settings a notebook gets, in this order (A.3.10, plus the datatools root's key name)
NOTEBOOK_KEYS = (
    "METAFLOW_DATASTORE_SYSROOT_S3",
    "METAFLOW_DATATOOLS_S3ROOT",
    "METAFLOW_SERVICE_URL",
    "METAFLOW_DEFAULT_DATASTORE",
    "METAFLOW_DEFAULT_METADATA",
)


def on_start(region: str, settings: dict[str, Any]) -> Concat:
    """The start script: the settings as exports for every shell and for Jupyter, then Jupyter restarted to read
    them. It runs as root at each start (only the notebook's volume is kept across a stop, not ``/etc``)."""
    parts: list[Any] = [
        "#!/bin/bash\nset -e\n",
        "cat > /etc/profile.d/jupyter-env.sh <<'EOF'\n",
        f"export AWS_DEFAULT_REGION={region}\n",
    ]
    for key, value in settings.items():
        parts += [f"export {key}=", value, "\n"]
    parts += [
        "EOF\n",
        # the jupyter-server service reads that file when it starts (AWS's set-env-variable sample)
        "systemctl --no-block restart jupyter-server.service\n",
    ]
    return Concat(*parts)


def add(
    bp: Blueprint,
    cfg: Config,
    facts: Facts,
    net: Network,
    bucket_arn: str,
    key_arn: Ref,
    profile: dict[str, Any],
) -> list[str]:
    """Add the notebook; returns the ARNs the user role may manage (the notebook and its lifecycle config)."""
    n = cfg.named
    nb = cfg.notebook
    part, region, account = facts.partition, facts.region, facts.account_id
    name, lc_name, role_name = n("notebook"), n("notebook-lifecycle"), n("sm-execution-role")
    sm = f"arn:{part}:sagemaker:{region}:{account}"
    notebook_arn = f"{sm}:notebook-instance/{name}"
    lifecycle_arn = f"{sm}:notebook-instance-lifecycle-config/{lc_name}"
    role_arn = f"arn:{part}:iam::{account}:role/{role_name}"

    bp.add(
        "iam.role.notebook",
        "iam.role",
        name=role_name,
        description="The SageMaker notebook's execution role: the datastore, its own notebook, logs",
        assume_role_policy=pol.trust(pol.principal(facts, "sagemaker")),
        inline_policies=pol.notebook_policies(facts, role_arn, notebook_arn, lifecycle_arn, bucket_arn, key_arn),
    )
    sg = bp.add(
        "ec2.security_group.notebook",
        "ec2.security_group",
        name=n("sagemaker-security-group"),
        description="Metaflow SageMaker notebook (no ingress)",
        vpc_id=net.vpc,
        ingress=[],
        egress=[{"protocol": "-1", "cidr": "0.0.0.0/0"}],
    )
    # inside the VPC the notebook uses the internal URL: no API key needed, traffic stays in the VPC
    url = profile.get("METAFLOW_SERVICE_INTERNAL_URL", "")
    settings = {k: profile.get(k, "") for k in NOTEBOOK_KEYS}
    settings["METAFLOW_SERVICE_URL"] = url
    settings = {k: v for k, v in settings.items() if v != ""}
    bp.add(
        "sagemaker.notebook_lifecycle_config.notebook",
        "sagemaker.notebook_lifecycle_config",
        name=lc_name,
        on_start=on_start(region, settings),
    )
    private = bool(net.private_subnets)
    bp.add(
        "sagemaker.notebook_instance.notebook",
        "sagemaker.notebook_instance",
        name=name,
        instance_type=nb.instance_type,
        role_arn=Ref(address="iam.role.notebook", attr="arn"),
        subnet_id=net.workload_subnets[0],
        security_group_ids=[sg],
        # private networking: out through the NAT only; otherwise SageMaker's own internet access
        direct_internet_access="Disabled" if private else "Enabled",
        root_access="Enabled" if nb.root_access else "Disabled",
        volume_size_gb=nb.volume_size_gb,
        lifecycle_config_name=Ref(address="sagemaker.notebook_lifecycle_config.notebook", attr="name"),
        platform_identifier=nb.platform_identifier,
        after=net.workload_ready,
    )
    return [notebook_arn, lifecycle_arn]
