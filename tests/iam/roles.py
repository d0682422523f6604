"""The roles a blueprint creates, with every reference resolved to the ARN it will have (no AWS needed).

``stack_roles(cfg, facts)`` -> ``{address: Role}``: the role's name, trust policy, inline policies and managed
policy ARNs, ready for the evaluator and for cloudsplaining. A reference to another resource becomes the ARN
AWS gives that resource (``arn:aws:kms:<region>:<account>:key/<address>`` for a key, whose id AWS picks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provisioner.core.context import Facts
from provisioner.engine.graph import Blueprint, Concat
from provisioner.stacks.config import Config
from resources.base import Ref


@dataclass
class Role:
    address: str
    name: str
    trust: dict[str, Any]
    inline: dict[str, dict[str, Any]]
    managed: list[str] = field(default_factory=list)

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::123456789012:role/{self.name}"


def _arn(bp: Blueprint, facts: Facts, ref: Ref) -> str:
    node = bp.nodes[ref.address]
    p, r, a = facts.partition, facts.region, facts.account_id
    name = node.props.get("name", ref.address)
    kind = node.kind
    if ref.attr == "name":
        return str(name)
    if kind == "kms.key":
        return f"arn:{p}:kms:{r}:{a}:key/{ref.address.replace('.', '-')}"
    if kind == "iam.role":
        return f"arn:{p}:iam::{a}:role/{name}"
    if kind == "iam.instance_profile":
        return f"arn:{p}:iam::{a}:instance-profile/{name}"
    if kind == "batch.job_queue":
        return f"arn:{p}:batch:{r}:{a}:job-queue/{name}"
    if kind == "batch.compute_environment":
        return f"arn:{p}:batch:{r}:{a}:compute-environment/{name}"
    if kind == "secretsmanager.secret":
        return f"arn:{p}:secretsmanager:{r}:{a}:secret:{name}-AbCdEf"
    if kind == "dynamodb.table":
        return f"arn:{p}:dynamodb:{r}:{a}:table/{name}"
    if kind == "s3.bucket":
        return f"arn:{p}:s3:::{name}"
    if kind == "logs.log_group":
        return f"arn:{p}:logs:{r}:{a}:log-group:{name}"
    return f"arn:{p}:{kind.split('.')[0]}:{r}:{a}:{ref.address}"


def resolve(bp: Blueprint, facts: Facts, value: Any) -> Any:
    if isinstance(value, Ref):
        return _arn(bp, facts, value)
    if isinstance(value, Concat):
        return "".join(str(resolve(bp, facts, p)) for p in value.parts)
    if isinstance(value, dict):
        return {k: resolve(bp, facts, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(bp, facts, v) for v in value]
    return value


def blueprint_roles(bp: Blueprint, facts: Facts) -> dict[str, Role]:
    out = {}
    for address, node in bp.nodes.items():
        if node.kind != "iam.role":
            continue
        props = resolve(bp, facts, node.props)
        out[address] = Role(
            address=address,
            name=props["name"],
            trust=props["assume_role_policy"],
            inline=props.get("inline_policies") or {},
            managed=list(props.get("managed_policy_arns") or []),
        )
    return out


def stack_roles(cfg: Config, facts: Facts) -> dict[str, Role]:
    if cfg.stack == "mlflow":
        from provisioner.stacks import mlflow as stack
    else:
        from provisioner.stacks import metaflow as stack  # type: ignore[no-redef]
    return blueprint_roles(stack.build(cfg, facts), facts)


def authorization_details(roles: dict[str, Role]) -> dict[str, Any]:
    """The roles as ``aws iam get-account-authorization-details`` lists them (cloudsplaining's input)."""
    role_list = []
    for r in roles.values():
        role_list.append(
            {
                "Path": "/",
                "RoleName": r.name,
                "RoleId": "AROA" + r.name.upper().replace("-", "")[:17],
                "Arn": r.arn,
                "CreateDate": "2026-01-01T00:00:00Z",
                "AssumeRolePolicyDocument": r.trust,
                "InstanceProfileList": [],
                "RolePolicyList": [{"PolicyName": n, "PolicyDocument": d} for n, d in r.inline.items()],
                "AttachedManagedPolicies": [{"PolicyName": a.rsplit("/", 1)[1], "PolicyArn": a} for a in r.managed],
                "Tags": [],
                "RoleLastUsed": {},
            }
        )  # fmt: skip
    return {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": role_list, "Policies": []}
