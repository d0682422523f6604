"""SageMaker: a notebook instance and its lifecycle configuration (the optional notebook of the `full` preset).

Calls: CreateNotebookInstance, DescribeNotebookInstance, StopNotebookInstance, UpdateNotebookInstance,
StartNotebookInstance, DeleteNotebookInstance; CreateNotebookInstanceLifecycleConfig,
DescribeNotebookInstanceLifecycleConfig, UpdateNotebookInstanceLifecycleConfig,
DeleteNotebookInstanceLifecycleConfig; ListTags, AddTags.

Both are tagged in their create call and found by their name, which is their id. SageMaker answers an unknown
or a taken name with a ValidationException whose message says which, so ``missing`` and ``duplicate`` read the
message. SageMaker writes names lower-cased in ARNs; mfprov's names here must be lower case, so the ARN's last
segment is the name again (see ``id_from_arn``).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from botocore.exceptions import ClientError
from pydantic import field_validator, model_validator

from provisioner.core.retry import WaitFailed
from resources.base import (
    Observed,
    Props,
    Resource,
    default_id_from_arn,
    error_code,
    error_message,
    is_not_found,
    register,
    tag_dict,
    tag_list,
)
from resources.pricing import CostLine, Where, hourly

if TYPE_CHECKING:  # pragma: no cover
    from provisioner.core.context import NodeContext

#: a role made moments ago that SageMaker cannot assume yet (IAM is eventually consistent)
_ROLE_NOT_YET = ("ValidationException:could not assume role",)
#: a start/stop/delete asked while the notebook is still moving between states
_MOVING = ("ValidationException:unable to transition",)
#: statuses a notebook passes through on its own; a change must wait them out
_TRANSIENT = frozenset({"Pending", "Stopping", "Updating"})
#: SageMaker's name pattern, lower case only (see the module docstring)
_NAME = re.compile(r"^[a-z0-9](-*[a-z0-9])*$")
#: the largest lifecycle script SageMaker takes, base64-encoded
_MAX_SCRIPT = 16384


def _lower_case_name(v: str) -> str:
    if len(v) > 63 or not _NAME.match(v):
        raise ValueError(
            f"name {v!r}: 1 to 63 lower-case letters, digits and hyphens, starting and ending with a letter or "
            "digit (SageMaker lower-cases names in ARNs; mfprov keeps them equal)"
        )
    return v


class _SageMaker(Resource[Any]):
    """Shared: not-found and duplicate read from the ValidationException's message, tags, ids from ARNs."""

    service = "sagemaker"
    #: lower-cased text of the message SageMaker sends when the name is unknown
    missing_text: ClassVar[str]

    def missing(self, err: BaseException) -> bool:
        if error_code(err) == "ValidationException":
            return self.missing_text in error_message(err).lower()
        return is_not_found(err, self.not_found_codes)

    def duplicate(self, err: BaseException) -> bool:
        text = error_message(err).lower()
        return error_code(err) == "ValidationException" and ("duplicate" in text or "already exists" in text)

    def id_from_arn(self, arn: str) -> str:
        # ...:notebook-instance/<name>: SageMaker writes the name lower-cased there, which is the name itself
        # only because mfprov's names are lower case (validated in Props).
        return default_id_from_arn(arn)

    @staticmethod
    def _tags(ctx: NodeContext, arn: str) -> dict[str, str]:
        pages = ctx.client("sagemaker").get_paginator("list_tags").paginate(ResourceArn=arn)
        return tag_dict([t for page in pages for t in page.get("Tags", [])])

    @staticmethod
    def _retag(ctx: NodeContext, arn: str) -> None:
        """Put all of this node's tags on; other keys stay."""
        ctx.client("sagemaker").add_tags(ResourceArn=arn, Tags=tag_list(ctx.tags))


# ----------------------------------------------------------- lifecycle configuration


def _hook(script: str | None) -> list[dict[str, str]]:
    """A script as SageMaker takes it: one hook with the text base64-encoded; none for None."""
    return [{"Content": base64.b64encode(script.encode()).decode()}] if script is not None else []


def _script(hooks: list[Mapping[str, str]] | None) -> str | None:
    """The script text of a hook list, decoded; None when there is none."""
    return base64.b64decode(hooks[0]["Content"]).decode() if hooks else None


class NotebookLifecycleConfigProps(Props):
    name: str
    #: the shell script run as root at every start of the notebook, as text
    on_start: str
    #: the shell script run as root once, when the notebook is created
    on_create: str | None = None

    _name = field_validator("name")(classmethod(lambda cls, v: _lower_case_name(v)))

    @field_validator("on_start", "on_create")
    @classmethod
    def _fits(cls, v: str | None) -> str | None:
        if v is not None and len(_hook(v)[0]["Content"]) > _MAX_SCRIPT:
            raise ValueError(f"a lifecycle script may be at most {_MAX_SCRIPT} characters once base64-encoded")
        return v


@register
class NotebookLifecycleConfig(_SageMaker):
    """CreateNotebookInstanceLifecycleConfig, DescribeNotebookInstanceLifecycleConfig,
    UpdateNotebookInstanceLifecycleConfig, DeleteNotebookInstanceLifecycleConfig. Scripts are sent
    base64-encoded and compared as decoded text. A changed script takes effect at the notebook's next start.

    Untagged: its name is unique in the account and region, which is all ``find`` needs, and the sandbox's moto
    server cannot list a lifecycle configuration's tags (it answers 500)."""

    kind = "sagemaker.notebook_lifecycle_config"
    Props = NotebookLifecycleConfigProps
    replace_on: ClassVar = frozenset({"name"})
    taggable = False
    missing_text = "lifecycle config does not exist"

    def _describe(self, ctx: NodeContext, name: str) -> dict[str, Any] | None:
        try:
            return dict(
                ctx.client("sagemaker").describe_notebook_instance_lifecycle_config(
                    NotebookInstanceLifecycleConfigName=name
                )
            )
        except ClientError as err:
            if self.missing(err):
                return None
            raise

    def find(self, ctx: NodeContext, props: NotebookLifecycleConfigProps) -> str | None:
        return props.name if self._describe(ctx, props.name) else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        lc = self._describe(ctx, id)
        if lc is None:
            return None
        arn = str(lc["NotebookInstanceLifecycleConfigArn"])
        props = {
            "name": lc["NotebookInstanceLifecycleConfigName"],
            "on_start": _script(lc.get("OnStart")),
            "on_create": _script(lc.get("OnCreate")),
        }
        return Observed(id=id, props=props, attrs={"id": id, "name": id, "arn": arn})

    def create(self, ctx: NodeContext, props: NotebookLifecycleConfigProps) -> str:
        kw = {"OnCreate": _hook(props.on_create)} if props.on_create is not None else {}
        ctx.client("sagemaker").create_notebook_instance_lifecycle_config(
            NotebookInstanceLifecycleConfigName=props.name,
            OnStart=_hook(props.on_start),
            **kw,
        )
        ctx.created(props.name)
        return props.name

    def update(
        self, ctx: NodeContext, id: str, props: NotebookLifecycleConfigProps, observed: Observed, changes: set[str]
    ) -> None:
        if changes & {"on_start", "on_create"}:
            # Both scripts every time; an empty list takes a script away.
            ctx.client("sagemaker").update_notebook_instance_lifecycle_config(
                NotebookInstanceLifecycleConfigName=id, OnStart=_hook(props.on_start), OnCreate=_hook(props.on_create)
            )

    def delete(
        self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: NotebookLifecycleConfigProps | None
    ) -> None:
        ctx.client("sagemaker").delete_notebook_instance_lifecycle_config(NotebookInstanceLifecycleConfigName=id)


# ------------------------------------------------------------------- notebook instance


class NotebookInstanceProps(Props):
    name: str
    instance_type: str = "ml.t3.medium"
    #: the execution role; its trust policy must allow sagemaker.amazonaws.com
    role_arn: str
    #: None: SageMaker's own network (then direct internet access must stay Enabled)
    subnet_id: str | None = None
    security_group_ids: list[str] = []
    #: the key for the notebook's storage volume; None: an AWS managed key
    kms_key_id: str | None = None
    #: Disabled: the notebook reaches the internet only through the VPC (a NAT gateway), as a private preset wants
    direct_internet_access: Literal["Enabled", "Disabled"] = "Enabled"
    root_access: Literal["Enabled", "Disabled"] = "Enabled"
    #: GiB; it can only grow in place (a larger volume is no drift)
    volume_size_gb: int = 5
    #: a ``sagemaker.notebook_lifecycle_config`` name
    lifecycle_config_name: str | None = None
    #: always sent, so it compares: AWS's documented default when the field is left out
    platform_identifier: str = "notebook-al2023-v1"

    _name = field_validator("name")(classmethod(lambda cls, v: _lower_case_name(v)))

    @model_validator(mode="after")
    def _network(self) -> NotebookInstanceProps:
        if self.subnet_id is None and (self.security_group_ids or self.direct_internet_access == "Disabled"):
            raise ValueError("security_group_ids and direct_internet_access Disabled need a subnet_id")
        if not 5 <= self.volume_size_gb <= 16384:
            raise ValueError("volume_size_gb: 5 to 16384 GiB")
        return self


#: UpdateNotebookInstance parameter for each field it changes in place
_UPDATE = {
    "instance_type": "InstanceType",
    "role_arn": "RoleArn",
    "volume_size_gb": "VolumeSizeInGB",
    "root_access": "RootAccess",
    "platform_identifier": "PlatformIdentifier",
}


@register
class NotebookInstance(_SageMaker):
    """CreateNotebookInstance (tagged; waits InService, Failed ends the wait with the FailureReason),
    DescribeNotebookInstance, ListTags, AddTags, Stop/StartNotebookInstance, UpdateNotebookInstance,
    DeleteNotebookInstance.

    An update of the instance type, role, volume size (it only grows), root access, platform or lifecycle
    configuration RESTARTS the notebook, as AWS requires it stopped for UpdateNotebookInstance: stop, wait
    Stopped, update, wait Stopped, start, wait InService. Running kernels stop; the volume stays. A notebook
    found stopped is updated and left stopped. Its network (subnet, security groups, direct internet access) and
    volume key cannot change: replacement, which deletes the volume with it.
    """

    kind = "sagemaker.notebook_instance"
    Props = NotebookInstanceProps
    replace_on: ClassVar = frozenset(
        {"name", "subnet_id", "security_group_ids", "kms_key_id", "direct_internet_access"}
    )
    unordered: ClassVar = frozenset({"security_group_ids"})
    grow_only: ClassVar = frozenset({"volume_size_gb"})
    missing_text = "recordnotfound"
    #: its volume holds the users' notebooks and data
    stateful = True
    #: creating takes about five minutes, an update a stop and a start
    timeout = 1800.0

    def _describe(self, ctx: NodeContext, name: str) -> dict[str, Any] | None:
        """The notebook in any status (Deleting included), or None when there is none."""
        try:
            return dict(ctx.client("sagemaker").describe_notebook_instance(NotebookInstanceName=name))
        except ClientError as err:
            if self.missing(err):
                return None
            raise

    def find(self, ctx: NodeContext, props: NotebookInstanceProps) -> str | None:
        return props.name if self.read(ctx, props.name) else None

    def read(self, ctx: NodeContext, id: str) -> Observed | None:
        nb = self._describe(ctx, id)
        if nb is None or nb.get("NotebookInstanceStatus") == "Deleting":
            return None
        arn = str(nb["NotebookInstanceArn"])
        props = {
            "name": nb["NotebookInstanceName"],
            "instance_type": nb.get("InstanceType"),
            "role_arn": nb.get("RoleArn"),
            "subnet_id": nb.get("SubnetId"),
            "security_group_ids": sorted(nb.get("SecurityGroups") or []),
            "kms_key_id": nb.get("KmsKeyId"),
            "direct_internet_access": nb.get("DirectInternetAccess"),
            "root_access": nb.get("RootAccess"),
            "volume_size_gb": nb.get("VolumeSizeInGB"),
            "lifecycle_config_name": nb.get("NotebookInstanceLifecycleConfigName"),
            "platform_identifier": nb.get("PlatformIdentifier"),
            "tags": self._tags(ctx, arn),
        }
        url = nb.get("Url")
        attrs = {"id": id, "name": id, "arn": arn, "url": f"https://{url}" if url else None}
        return Observed(id=id, props=props, attrs=attrs)

    # ----------------------------------------------------------------- statuses

    def _reach(self, ctx: NodeContext, id: str, want: str) -> None:
        """Wait until the notebook's status is ``want``; Failed ends the wait with SageMaker's reason."""

        def check() -> bool | str:
            nb = self._describe(ctx, id) or {}
            status = str(nb.get("NotebookInstanceStatus", "absent"))
            if status == "Failed" and want != "Failed":
                raise WaitFailed(f"notebook instance {id} failed: {nb.get('FailureReason') or 'no reason given'}")
            return True if status == want else status

        ctx.wait(f"notebook instance {id} {want}", check)

    def _settled(self, ctx: NodeContext, id: str) -> str:
        """Its status once it is no longer moving on its own ("absent" when there is none)."""
        seen: list[str] = []

        def check() -> bool | str:
            nb = self._describe(ctx, id) or {}
            status = str(nb.get("NotebookInstanceStatus", "absent"))
            seen.append(status)
            return True if status not in _TRANSIENT else status

        ctx.wait(f"notebook instance {id} settled", check)
        return seen[-1]

    def _stop(self, ctx: NodeContext, id: str) -> None:
        ctx.call(ctx.client("sagemaker").stop_notebook_instance, retry_on=_MOVING, NotebookInstanceName=id)
        self._reach(ctx, id, "Stopped")

    # -------------------------------------------------------------------- hooks

    def create(self, ctx: NodeContext, props: NotebookInstanceProps) -> str:
        kw: dict[str, Any] = {}
        if props.subnet_id:
            kw.update(SubnetId=props.subnet_id, SecurityGroupIds=props.security_group_ids)
        if props.kms_key_id:
            kw["KmsKeyId"] = props.kms_key_id
        if props.lifecycle_config_name:
            kw["LifecycleConfigName"] = props.lifecycle_config_name
        ctx.call(
            ctx.client("sagemaker").create_notebook_instance,
            retry_on=_ROLE_NOT_YET,
            NotebookInstanceName=props.name,
            InstanceType=props.instance_type,
            RoleArn=props.role_arn,
            DirectInternetAccess=props.direct_internet_access,
            RootAccess=props.root_access,
            VolumeSizeInGB=props.volume_size_gb,
            PlatformIdentifier=props.platform_identifier,
            Tags=tag_list(ctx.tags),
            **kw,
        )
        ctx.created(props.name)
        self._reach(ctx, props.name, "InService")
        return props.name

    def update(
        self, ctx: NodeContext, id: str, props: NotebookInstanceProps, observed: Observed, changes: set[str]
    ) -> None:
        sm = ctx.client("sagemaker")
        values = props.model_dump()
        kw: dict[str, Any] = {api: values[field] for field, api in _UPDATE.items() if field in changes}
        if "lifecycle_config_name" in changes:
            if props.lifecycle_config_name:
                kw["LifecycleConfigName"] = props.lifecycle_config_name
            else:
                kw["DisassociateLifecycleConfig"] = True
        if kw:
            was = self._settled(ctx, id)
            if was == "InService":
                ctx.on_progress(f"stopping notebook instance {id} to update it (it restarts afterwards)")
                self._stop(ctx, id)
            ctx.call(sm.update_notebook_instance, retry_on=_ROLE_NOT_YET + _MOVING, NotebookInstanceName=id, **kw)
            self._reach(ctx, id, "Stopped")  # Updating, then Stopped again
            if was == "InService":
                # right after the update it may still read Stopped before Updating: a refused start is retried
                ctx.call(sm.start_notebook_instance, retry_on=_MOVING, NotebookInstanceName=id)
                self._reach(ctx, id, "InService")
        if "tags" in changes:
            self._retag(ctx, observed.attrs["arn"])

    def delete(self, ctx: NodeContext, id: str, attrs: Mapping[str, Any], props: NotebookInstanceProps | None) -> None:
        status = self._settled(ctx, id)
        if status == "InService":
            self._stop(ctx, id)  # SageMaker deletes only a Stopped or Failed notebook
        if status != "Deleting":
            # none at all: the call answers SageMaker's not-found, which the engine takes as done
            ctx.call(ctx.client("sagemaker").delete_notebook_instance, retry_on=_MOVING, NotebookInstanceName=id)

        ctx.wait(f"notebook instance {id} deleted", lambda: self._describe(ctx, id) is None)

    def monthly_cost(self, props: NotebookInstanceProps, where: Where) -> list[CostLine]:
        # billed while InService, as mfprov leaves it; a stopped notebook bills only its volume (not counted)
        kind = props.instance_type
        return [hourly("sagemaker_notebook", where.region, f"{kind} notebook instance hours", size=kind)]
