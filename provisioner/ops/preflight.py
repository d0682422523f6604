"""Before `up` or `down` changes anything: may the credentials in use make every call the run needs?

The plan says which resources will be created, updated, replaced or deleted; :data:`permissions.KIND_GRANTS`
(what ``mfprov permissions`` writes its policy from) says which IAM actions on which ARNs each kind's calls need.
Those pairs are put to IAM's ``SimulatePrincipalPolicy`` for the caller's own user or role
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html). One that is not allowed
stops the run in one line, "the credentials in use lack <action> on <resource>" (the wording of
:func:`permissions.explain_denied` for AWS's own refusals), before the first change.

What the simulation covers: the identity policies of the user (and its groups) or role, its permissions boundary
and, in an AWS Organizations member account, the SCPs (AWS reports them in ``OrganizationsDecisionDetail``). What
it does not: the session policies of an assumed-role session, and resource policies (bucket or key policies).
AWS warns its results can differ from the live answer: the refusal of a call during the run still applies.

The preflight is skipped, with one notice, when it cannot ask: the root user or a federated user (the simulator
takes users and roles only), or credentials that may not call ``iam:SimulatePrincipalPolicy`` on themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from provisioner.engine.graph import Node
from provisioner.engine.plan import CREATE, DELETE, REPLACE, UPDATE, Plan
from provisioner.engine.reconcile import Event
from provisioner.ops import permissions

if TYPE_CHECKING:
    from provisioner.engine.reconcile import Unmanaged
    from provisioner.ops.workspace import Session

#: operations only a delete makes; an `up` that deletes nothing does not need them
DELETE_ONLY = ("Delete", "Release", "Deregister", "Terminate", "ScheduleKeyDeletion", "DELETE")
#: operations only a create or an update makes; a `down` does not need them
CREATE_ONLY = (
    "Create", "Allocate", "Run", "Register", "Put", "Tag", "Attach", "Associate", "Authorize", "Import", "Add",
    "Request", "PassRole", "POST", "PUT",
)  # fmt: skip
#: ...but for these: a delete that keeps a final snapshot makes it as the caller
CREATED_BY_DELETE = ("rds:CreateDBSnapshot", "rds:CreateDBClusterSnapshot")
#: global services: a call to them is not made "in" the stack's region
_GLOBAL = ("iam", "route53", "cloudfront", "sts")
#: how many actions and resources one SimulatePrincipalPolicy call is given
_BATCH = 50


class SkipPreflight(Exception):
    """The preflight cannot ask IAM; the message says why."""


@dataclass(frozen=True)
class Need:
    """Actions the run needs on resources (each action on each resource), under one request context."""

    actions: tuple[str, ...]
    resources: tuple[str, ...]
    context: tuple[tuple[str, tuple[str, ...]], ...] = ()


def _wanted(action: str, verbs: set[str]) -> bool:
    op = action.split(":", 1)[1]
    if REPLACE in verbs or action in CREATED_BY_DELETE and DELETE in verbs:
        return True
    if op.startswith(DELETE_ONLY) and DELETE not in verbs:
        return False
    return not (op.startswith(CREATE_ONLY) and not verbs & {CREATE, UPDATE})


def needs(s: Session, verbs_by_address: dict[str, set[str]]) -> list[Need]:
    """The (actions, resources, context) the changes to these addresses need, grouped by resources and context
    (SimulatePrincipalPolicy evaluates every action it is given on every resource it is given)."""
    facts = s.facts
    grouped: dict[tuple[tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]], set[str]] = {}
    for address, verbs in sorted(verbs_by_address.items()):
        node: Node | None = s.blueprint.nodes.get(address)
        if node is None:  # no longer in the config: its names are not known here (the run's own check applies)
            continue
        for st in permissions.node_grants(s.blueprint, node, facts.region, facts.account_id, facts.partition):
            actions = [a for a in st.actions if _wanted(a, verbs)]
            if not actions:
                continue
            context = {key: (str(value),) for op in (st.condition or {}).values() for key, value in op.items()}
            for action in actions:
                ctx = dict(context)
                if action.split(":", 1)[0] not in _GLOBAL:
                    ctx["aws:RequestedRegion"] = (facts.region,)
                key = (tuple(st.resources), tuple(sorted(ctx.items())))
                grouped.setdefault(key, set()).add(action)
    return [Need(tuple(sorted(a)), r, c) for (r, c), a in sorted(grouped.items())]


def _chunks(items: tuple[str, ...]) -> Iterator[list[str]]:
    for i in range(0, len(items), _BATCH):
        yield list(items[i : i + _BATCH])


def principal_arn(caller: str) -> str:
    """The IAM user or role whose policies apply to the caller (``GetCallerIdentity``'s ARN)."""
    parts = caller.split(":", 5)
    if len(parts) != 6:
        raise SkipPreflight(f"the caller {caller} is no ARN")
    _, partition, service, _, account, resource = parts
    if service == "iam" and resource.startswith("user/"):
        return caller
    if service == "sts" and resource.startswith("assumed-role/"):
        # arn:aws:sts::ACCT:assumed-role/NAME/SESSION: the role's ARN may hold a path the session's does not
        name = resource.split("/")[1]
        return f"arn:{partition}:iam::{account}:role/{name}"
    if service == "iam" and resource == "root":
        raise SkipPreflight("the root user's credentials are in use (IAM simulates users and roles only)")
    raise SkipPreflight(f"the caller {caller} is neither an IAM user nor a role session")


def _role_with_path(arn: str, iam: Any) -> str:
    """The ARN of the role, path included (``iam:GetRole`` on it)."""
    try:
        return str(iam.get_role(RoleName=arn.rsplit("/", 1)[1])["Role"]["Arn"])
    except ClientError as e:
        raise SkipPreflight(f"{arn} is not found and {_reason(e)}") from None


def _reason(e: ClientError) -> str:
    message = permissions.explain_denied(str(e.response.get("Error", {}).get("Message", "")))
    return message if "the credentials in use lack" in message else f"{e.response['Error'].get('Code')}: {message}"


def denied(
    iam: Any, source: str, wanted: Iterable[Need], undecided: list[tuple[str, str]] | None = None
) -> list[tuple[str, str]]:
    """The (action, resource) pairs of ``wanted`` IAM does not allow ``source``.

    A pair the simulation denies only for want of a condition key the real call carries (``MissingContextValues``:
    ``ec2:CreateAction``, ``aws:RequestTag/...`` in a well-scoped policy) is no refusal: AWS decides it at the
    call. Such pairs go to ``undecided``."""
    out: list[tuple[str, str]] = []
    paginator = iam.get_paginator("simulate_principal_policy")
    for need in wanted:
        entries = [
            {"ContextKeyName": k, "ContextKeyValues": list(v), "ContextKeyType": "string"} for k, v in need.context
        ]
        for actions in _chunks(need.actions):
            for resources in _chunks(need.resources):
                pages = paginator.paginate(
                    PolicySourceArn=source, ActionNames=actions, ResourceArns=resources, ContextEntries=entries
                )
                for page in pages:
                    for result in page.get("EvaluationResults", []):
                        action = result["EvalActionName"]
                        per_resource = result.get("ResourceSpecificResults") or [
                            {"EvalResourceName": result.get("EvalResourceName", "*"),
                             "EvalResourceDecision": result["EvalDecision"]}
                        ]  # fmt: skip
                        for r in per_resource:
                            if r["EvalResourceDecision"] == "allowed":
                                continue
                            pair = (action, r["EvalResourceName"])
                            if r.get("MissingContextValues") or result.get("MissingContextValues"):
                                if undecided is not None:
                                    undecided.append(pair)
                            else:
                                out.append(pair)
    return sorted(set(out))


def check(s: Session, verbs_by_address: dict[str, set[str]]) -> None:
    """Refuse the run, before any change, when the caller may not make a call it needs."""
    wanted = needs(s, verbs_by_address)
    if not wanted:
        return
    iam = s.clients.client("iam")
    try:
        caller = str(s.clients.client("sts").get_caller_identity()["Arn"])
        source = principal_arn(caller)
        undecided: list[tuple[str, str]] = []
        try:
            missing = denied(iam, source, wanted, undecided)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") != "NoSuchEntity" or ":role/" not in source:
                raise
            undecided.clear()
            missing = denied(iam, _role_with_path(source, iam), wanted, undecided)
    except SkipPreflight as e:
        s.runner.listener(Event("progress", "preflight", message=f"permission check skipped: {e}"))
        return
    except ClientError as e:
        s.runner.listener(Event("progress", "preflight", message=f"permission check skipped: {_reason(e)}"))
        return
    except BotoCoreError as e:
        s.runner.listener(Event("progress", "preflight", message=f"permission check skipped: {e}"))
        return
    if undecided:
        action, resource = undecided[0]
        more = f" and {len(undecided) - 1} more" if len(undecided) > 1 else ""
        s.runner.listener(
            Event(
                "progress",
                "preflight",
                message=f"cannot tell ahead whether {action} on {resource}{more} is allowed: the policy's conditions "
                "use keys only the call itself carries; AWS decides at the call",
            )
        )
    if missing:
        from provisioner.ops.workspace import AwsAccessError

        action, resource = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise AwsAccessError(
            f"the credentials in use lack {action} on {resource}{more}: nothing was changed; "
            "`mfprov permissions` prints the policy this config needs"
        )


def before_apply(s: Session, plan: Plan) -> None:
    """`up`: what the plan's changes need."""
    verbs: dict[str, set[str]] = {}
    for a in plan.changes:
        verbs.setdefault(a.address, set()).add(a.action)
    for line in plan.unmanaged:  # "<address> <id>": apply deletes them
        verbs.setdefault(line.split(" ", 1)[0], set()).add(DELETE)
    check(s, verbs)


def before_destroy(s: Session, doomed: Iterable[str], deletable: Iterable[Unmanaged]) -> None:
    """`down`: what deleting these needs."""
    verbs = {a: {DELETE} for a in doomed}
    for u in deletable:
        verbs.setdefault(u.address, set()).add(DELETE)
    check(s, verbs)
