"""What the sandbox's moto lacks, filled in so the sandbox behaves as AWS documents (moto 5.2).

The sandbox is moto standing in for AWS; where moto leaves out a call or a field a stack relies on, a shim here
does what AWS does. They are installed into the sandbox's moto server process only (``python -m
provisioner.sandbox_server``) and by the tests that meet the same gaps; mfprov itself never imports them.

- SageMaker: UpdateNotebookInstance (refused unless the notebook is Stopped or Failed, and never shrinking its
  volume) and UpdateNotebookInstanceLifecycleConfig are not implemented; CreateNotebookInstance drops
  PlatformIdentifier.
- ELBv2: an HTTPS listener needs a certificate moto's ACM or IAM holds. The sandbox cannot issue one (ACM never
  validates there), so any well-formed ACM or IAM certificate ARN is accepted.
- Batch: UpdateComputeEnvironment accepts ``computeResources`` and drops them; AWS applies each member given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provisioner.config_common import CERT_ARN

Patch = Callable[[Any, str, Any], None]

_CERTIFICATE = CERT_ARN


def sagemaker(patch: Patch = setattr) -> None:
    from moto.core.responses import EmptyResult
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import FakeSagemakerNotebookInstance
    from moto.sagemaker.responses import SageMakerResponse

    def update_notebook_instance(self: SageMakerResponse) -> EmptyResult:
        nb = self.sagemaker_backend.get_notebook_instance(self._get_param("NotebookInstanceName"))
        if nb.status not in ("Stopped", "Failed"):
            raise ValidationError(
                message=f"Status ({nb.status}) not in ([Stopped, Failed]). Unable to transition to (Updating) "
                f"for Notebook Instance ({nb.arn})"
            )
        size = self._get_param("VolumeSizeInGB")
        if size is not None and size < nb.volume_size_in_gb:
            raise ValidationError(message="The volume size cannot be decreased")
        for param, attr in (
            ("InstanceType", "instance_type"),
            ("RoleArn", "role_arn"),
            ("VolumeSizeInGB", "volume_size_in_gb"),
            ("RootAccess", "root_access"),
            ("PlatformIdentifier", "platform_identifier"),
            ("LifecycleConfigName", "lifecycle_config_name"),
        ):
            if self._get_param(param) is not None:
                setattr(nb, attr, self._get_param(param))
        if self._get_param("DisassociateLifecycleConfig"):
            nb.lifecycle_config_name = None
        return EmptyResult()

    def update_notebook_instance_lifecycle_config(self: SageMakerResponse) -> EmptyResult:
        name = self._get_param("NotebookInstanceLifecycleConfigName")
        lc = self.sagemaker_backend.notebook_instance_lifecycle_configurations.get(name)
        if lc is None:
            raise ValidationError(
                message=f"Unable to update Notebook Instance Lifecycle Config '{name}'. "
                "(Details: Notebook Instance Lifecycle Config does not exist.)"
            )
        for param, attr in (("OnStart", "on_start"), ("OnCreate", "on_create")):
            if self._get_param(param) is not None:
                setattr(lc, attr, self._get_param(param))
        return EmptyResult()

    create = SageMakerResponse.create_notebook_instance
    to_dict = FakeSagemakerNotebookInstance.to_dict

    def create_notebook_instance(self: SageMakerResponse) -> Any:
        answer = create(self)
        nb = self.sagemaker_backend.notebook_instances[self._get_param("NotebookInstanceName")]
        nb.platform_identifier = self._get_param("PlatformIdentifier")  # type: ignore[attr-defined]
        return answer

    def notebook_dict(self: FakeSagemakerNotebookInstance) -> dict[str, Any]:
        return {**to_dict(self), "PlatformIdentifier": getattr(self, "platform_identifier", None)}

    patch(SageMakerResponse, "update_notebook_instance", update_notebook_instance)
    patch(SageMakerResponse, "update_notebook_instance_lifecycle_config", update_notebook_instance_lifecycle_config)
    patch(SageMakerResponse, "create_notebook_instance", create_notebook_instance)
    patch(FakeSagemakerNotebookInstance, "to_dict", notebook_dict)


def elbv2(patch: Patch = setattr) -> None:
    from moto.elb.exceptions import CertificateNotFoundException
    from moto.elbv2 import models

    def certificate_exists(self: models.ELBv2Backend, certificate_arn: str) -> bool:
        return bool(_CERTIFICATE.match(certificate_arn))

    register = models.register_certificate

    def register_certificate(account_id: str, region: str, arn_certificate: str, arn_user: str) -> None:
        try:
            register(account_id=account_id, region=region, arn_certificate=arn_certificate, arn_user=arn_user)
        except CertificateNotFoundException:
            if not _CERTIFICATE.match(arn_certificate):
                raise

    patch(models.ELBv2Backend, "_certificate_exists", certificate_exists)
    patch(models, "register_certificate", register_certificate)


def batch(patch: Patch = setattr) -> None:
    from moto.batch.models import BatchBackend

    update = BatchBackend.update_compute_environment

    def update_compute_environment(
        self: BatchBackend, compute_environment_name: str, state: Any, compute_resources: Any, service_role: Any
    ) -> Any:
        out = update(self, compute_environment_name, state, compute_resources, service_role)
        env = self.get_compute_environment(compute_environment_name)
        if compute_resources and env is not None:
            env.compute_resources.update(compute_resources)
        return out

    patch(BatchBackend, "update_compute_environment", update_compute_environment)


def install(patch: Patch = setattr) -> None:
    for shim in (sagemaker, elbv2, batch):
        shim(patch)
