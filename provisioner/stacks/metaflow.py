"""The Metaflow stack.

- ``personal``: what terraform-aws-metaflow and personal-metaflow build, minus everything that costs money while
  idle (no NAT, no database, no load balancer, min 0 vCPUs).
- ``standard``: personal + the metadata service (``metadata_service``).
- ``full``: standard + private networking, the on-demand fallback of spot, an ECR repository, a SageMaker
  notebook (``notebook``), the restricted user role, and the UI when a certificate is configured (``ui``).

A preset changes defaults only (``Config._settle_preset_defaults``): the options work in any preset where they
make sense (private networking, Fargate Batch, the fallback, ECR, the notebook, the user role).

Addresses are ``<kind>.<name>``; names follow the Terraform module (``P + x + S``) so a team moving from it finds
the same names.
"""

from __future__ import annotations

from typing import Any

from provisioner.core.context import Facts
from provisioner.engine.graph import Blueprint, Concat
from provisioner.engine.outputs import add_user_command
from provisioner.stacks import budget, metadata_service, network, notebook, sign_in, ui
from provisioner.stacks import metaflow_iam as pol
from provisioner.stacks.config import Config
from provisioner.stacks.network import Network
from resources.base import Ref

#: Batch's name for each compute_type of the config
BATCH_TYPES = {"spot": "SPOT", "ec2": "EC2", "fargate": "FARGATE", "fargate_spot": "FARGATE_SPOT"}


def build(cfg: Config, facts: Facts) -> Blueprint:
    bp = Blueprint()
    part = facts.partition
    n = cfg.named

    # --- datastore: KMS key (+ an alias for humans) and the bucket
    key = bp.add(
        "kms.key.s3",
        "kms.key",
        description=f"Encrypts the Metaflow datastore of stack {cfg.name}",
        enable_key_rotation=cfg.datastore.kms_key_rotation,
    )
    bp.add("kms.alias.s3", "kms.alias", name=f"alias/{n('s3')}", target_key_id=key)
    key_arn = Ref(address="kms.key.s3", attr="arn")
    bucket_arn = f"arn:{part}:s3:::{cfg.bucket_name}"
    bp.add(
        "s3.bucket.datastore",
        "s3.bucket",
        name=cfg.bucket_name,
        kms_key_arn=key_arn,
        versioning=bool(cfg.datastore.versioning),
        # also without versioning: the versions a suspended bucket still holds go too
        noncurrent_version_days=cfg.datastore.noncurrent_version_days,
        abort_multipart_days=cfg.datastore.abort_multipart_days,
        block_public_access=True,
        force_destroy=cfg.datastore.force_destroy,
    )

    # --- network: public subnets without NAT by default; private subnets behind NAT; or the user's own
    net = network.add(bp, cfg.network, facts, cfg.named("vpc-endpoints"))
    vpc = net.vpc

    bp.add(
        "ec2.security_group.batch",
        "ec2.security_group",
        name=n("batch-compute-environment-security-group"),
        description="Metaflow Batch compute environment (no ingress)",
        vpc_id=vpc,
        ingress=[],
        egress=[{"protocol": "-1", "cidr": c} for c in cfg.batch.egress_cidr_blocks],
    )

    # --- IAM: the roles Metaflow needs (terraform-aws-metaflow §3)
    sfn = cfg.step_functions.enabled
    table_name = n("step_functions_state")
    table_arn = f"arn:{part}:dynamodb:{facts.region}:{facts.account_id}:table/{table_name}"
    if cfg.batch.custom_service_role:
        # Otherwise Batch acts through its service-linked role AWSServiceRoleForBatch (serviceRole left out)
        batch_arn = f"arn:{part}:batch:{facts.region}:{facts.account_id}"
        bp.add(
            "iam.role.batch_service",
            "iam.role",
            name=n("batch-execution-role"),
            description="Passed to AWS Batch as the compute environment's service role",
            assume_role_policy=pol.trust(
                pol.principal(facts, "batch"),
                source_account=facts.account_id,
                source_arns=[
                    *(f"{batch_arn}:compute-environment/{n(ce)}" for ce in ("cpu", "cpu-on-demand", "gpu")),
                    f"{batch_arn}:job/*",
                ],
            ),
            inline_policies=pol.batch_service_policies(facts),
        )
    if cfg.batch.ec2_based:
        bp.add(
            "iam.role.ecs_instance",
            "iam.role",
            name=n("ecs-iam-role"),
            description="Passed to AWS Batch as the instance role of its EC2 hosts",
            assume_role_policy=pol.trust(pol.principal(facts, "ec2")),
            managed_policy_arns=[f"arn:{part}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"],
        )
        bp.add(
            "iam.instance_profile.ecs_instance",
            "iam.instance_profile",
            name=n("ecs-iam-role"),
            role_name=Ref(address="iam.role.ecs_instance", attr="name"),
        )
    extra: dict[str, Any] = {}
    if cfg.batch.job_policy_arns:
        extra["managed_policy_arns"] = list(cfg.batch.job_policy_arns)
    bp.add(
        "iam.role.batch_task",
        "iam.role",
        name=n("batch_s3_task_role"),
        description="The role Metaflow's Batch jobs run as (METAFLOW_ECS_S3_ACCESS_IAM_ROLE)",
        assume_role_policy=pol.trust(pol.principal(facts, "ecs-tasks")),
        inline_policies=pol.batch_task_policies(
            facts, bucket_arn, key_arn, table_arn if sfn else None, list(cfg.batch.sagemaker_role_arns)
        ),
        **extra,
    )

    queues = _batch(bp, cfg, net)
    queue_arn = queues[0]

    # --- Step Functions: the state table and the roles `step-functions create` uses
    if sfn:
        bp.add(
            "dynamodb.table.step_functions",
            "dynamodb.table",
            name=table_name,
            hash_key="pathspec",
            ttl_attribute="ttl",
        )
        bp.add(
            "iam.role.step_functions",
            "iam.role",
            name=n("step_functions_role"),
            description="Lets AWS Step Functions run Metaflow flows on Batch and record state in DynamoDB",
            assume_role_policy=pol.trust(
                pol.principal(facts, "states"),
                source_account=facts.account_id,
                source_arns=[f"arn:{part}:states:{facts.region}:{facts.account_id}:stateMachine:{cfg.queue_name}_*"],
            ),
            inline_policies=pol.step_functions_policies(facts, cfg.queue_name, queues, bucket_arn, key_arn, table_arn),
            after=("dynamodb.table.step_functions",),
        )
        bp.add(
            "iam.role.eventbridge",
            "iam.role",
            name=n("eventbridge_role"),
            description="Lets Amazon EventBridge start Metaflow's Step Functions state machines",
            assume_role_policy=pol.trust(
                pol.principal(facts, "events"),
                source_account=facts.account_id,
                source_arns=[f"arn:{part}:events:{facts.region}:{facts.account_id}:rule/{cfg.queue_name}*"],
            ),
            inline_policies=pol.eventbridge_policies(facts, cfg.queue_name),
        )

    # --- outputs: the Metaflow profile (terraform-aws-metaflow §4.4 keys this stack has)
    profile: dict[str, Any] = {
        "METAFLOW_DATASTORE_SYSROOT_S3": f"s3://{cfg.bucket_name}/metaflow",
        "METAFLOW_DATATOOLS_S3ROOT": f"s3://{cfg.bucket_name}/data",
        "METAFLOW_DEFAULT_DATASTORE": "s3",
        # No metadata service in the personal preset: runs record metadata locally.
        "METAFLOW_DEFAULT_METADATA": "local",
        "METAFLOW_BATCH_JOB_QUEUE": queue_arn,
        "METAFLOW_ECS_S3_ACCESS_IAM_ROLE": Ref(address="iam.role.batch_task", attr="arn"),
        "METAFLOW_SFN_IAM_ROLE": Ref(address="iam.role.step_functions", attr="arn") if sfn else "",
        "METAFLOW_SFN_STATE_MACHINE_PREFIX": cfg.queue_name,
        "METAFLOW_EVENTS_SFN_ACCESS_IAM_ROLE": Ref(address="iam.role.eventbridge", attr="arn") if sfn else "",
        "METAFLOW_SFN_DYNAMO_DB_TABLE": table_name if sfn else "",
    }
    if cfg.has_metadata_service:
        readers = (ui.UI_SECURITY_GROUP,) if cfg.ui.enabled else ()  # the UI backend reads the same database
        profile.update(metadata_service.add(bp, cfg, facts, net, bucket_arn, key_arn, readers))

    job_roles: list[Any] = [Ref(address="iam.role.batch_task", attr="arn")]
    if cfg.batch.fargate:
        # Its own execution role: the metadata service's may read the database secret, and whoever may submit a
        # job could hand that secret to the job through the job's `secrets`.
        bp.add(
            "iam.role.batch_fargate_execution",
            "iam.role",
            name=n("batch-fargate-execution-role"),
            description="The execution role of Metaflow's Fargate Batch jobs: pull images, write logs",
            assume_role_policy=pol.trust(pol.principal(facts, "ecs-tasks")),
            inline_policies=pol.ecs_execution_policies(facts, [pol.BATCH_LOG_GROUP]),
        )
        fargate_role = Ref(address="iam.role.batch_fargate_execution", attr="arn")
        profile["METAFLOW_ECS_FARGATE_EXECUTION_ROLE"] = fargate_role
        job_roles.append(fargate_role)

    if cfg.ecr.enabled:
        profile.update(_ecr(bp, cfg, facts))

    notebook_arns: list[str] = []
    if cfg.notebook.enabled:
        notebook_arns = notebook.add(bp, cfg, facts, net, bucket_arn, key_arn, profile)

    if cfg.user_role.enabled:
        trusted = cfg.user_role.trusted_principals or [f"arn:{part}:iam::{facts.account_id}:root"]
        bp.add(
            "iam.role.metaflow_user",
            "iam.role",
            name=n("metaflow_user"),
            description=f"For people and tools running Metaflow on stack {cfg.name}: its bucket, queue and notebook",
            assume_role_policy={
                "Version": pol.VERSION,
                "Statement": [{"Effect": "Allow", "Principal": {"AWS": trusted}, "Action": "sts:AssumeRole"}],
            },
            inline_policies=pol.user_policies(
                facts,
                prefix=cfg.queue_name,
                bucket_arn=bucket_arn,
                kms_arn=key_arn,
                queue_arns=queues,
                job_roles=job_roles,
                sfn_role=Ref(address="iam.role.step_functions", attr="arn") if sfn else None,
                events_role=Ref(address="iam.role.eventbridge", attr="arn") if sfn else None,
                sagemaker_roles=list(cfg.batch.sagemaker_role_arns),
                notebook_arns=notebook_arns,
            ),
        )

    if cfg.ui.enabled:
        ui.add(bp, cfg, facts, net, bucket_arn, key_arn)
        profile["METAFLOW_UI_URL"] = ui.url(cfg)

    budget.add(bp, cfg.budget, n("budget"))
    bp.outputs = {**profile, **_for_people(cfg, facts, profile)}
    return bp


def _for_people(cfg: Config, facts: Facts, profile: dict[str, Any]) -> dict[str, Any]:
    """The outputs a person needs beside the profile: where the API, the UI and the notebook are, the role to
    assume, and the sign-in pool with how to add a user to it."""
    people: dict[str, Any] = {}
    if "METAFLOW_SERVICE_URL" in profile:
        people["api_url"] = profile["METAFLOW_SERVICE_URL"]
    if cfg.ui.enabled:
        people["ui_url"] = profile["METAFLOW_UI_URL"]
        if cfg.ui.auth.type == "oidc":
            # to register with the identity provider as the app's redirect URI
            people["ui_oidc_redirect_uri"] = Concat(profile["METAFLOW_UI_URL"], sign_in.CALLBACK_PATH)
        if cfg.ui.auth.type == "cognito":
            pool = Ref(address="cognito.user_pool.ui")
            people["cognito_user_pool_id"] = pool
            people["cognito_add_user"] = add_user_command(pool, facts.region)
    if cfg.notebook.enabled:
        people["notebook_url"] = Ref(address="sagemaker.notebook_instance.notebook", attr="url")
        people["notebook_open"] = (
            "aws sagemaker create-presigned-notebook-instance-url --notebook-instance-name "
            f"{cfg.named('notebook')} --region {facts.region}"
        )
    if cfg.user_role.enabled:
        people["user_role_arn"] = Ref(address="iam.role.metaflow_user", attr="arn")
    return people




def _batch(bp: Blueprint, cfg: Config, net: Network) -> list[Any]:
    """The launch template (when an environment runs EC2), the compute environments and the job queue(s): the
    main one (spot, on-demand or Fargate), its on-demand fallback, and the GPU one. Returns the queue ARNs, the
    main queue first."""
    n = cfg.named
    b = cfg.batch
    subnets, after = net.workload_subnets, net.workload_ready
    if b.ec2_based:
        imds = b.imds
        bp.add(
            "ec2.launch_template.cpu",
            "ec2.launch_template",
            name=n("batch-launch-tmpl-cpu-100gb"),
            instance_profile_arn=None,  # Batch sets the instance role itself from the CE
            http_endpoint=imds.http_endpoint,
            http_tokens=imds.http_tokens,
            http_put_response_hop_limit=imds.hop_limit,
            root_volume_size=b.root_volume_size,
        )
    shared: dict[str, Any] = dict(
        subnets=subnets,
        security_group_ids=[Ref(address="ec2.security_group.batch"), *b.additional_security_group_ids],
        # None: Batch's service-linked role
        service_role=Ref(address="iam.role.batch_service", attr="arn") if b.custom_service_role else None,
    )
    ec2: dict[str, Any] = dict(
        instance_role=Ref(address="iam.instance_profile.ecs_instance", attr="arn"),
        launch_template_id=Ref(address="ec2.launch_template.cpu"),
        launch_template_version="$Default",
    )

    def ce(name: str, compute_type: str, **props: Any) -> Ref:
        if compute_type.startswith("FARGATE"):
            return bp.add(
                f"batch.compute_environment.{name}",
                "batch.compute_environment",
                after=after,
                name=n(name.replace("_", "-")),
                compute_type=compute_type,
                max_vcpus=props["max_vcpus"],
                **shared,
            )
        return bp.add(
            f"batch.compute_environment.{name}",
            "batch.compute_environment",
            after=after,
            name=n(name.replace("_", "-")),
            compute_type=compute_type,
            **props,
            **shared,
            **ec2,
        )

    main_type = BATCH_TYPES[b.compute_type]
    sizes = dict(min_vcpus=b.min_vcpus, desired_vcpus=b.desired_vcpus, max_vcpus=b.max_vcpus)
    ces = [
        ce(
            "cpu",
            main_type,
            allocation_strategy=b.strategy,
            instance_types=b.instance_types,
            bid_percentage=b.bid_percentage,
            **sizes,
        )
    ]
    if b.on_demand_fallback:
        # Batch places a job in the first environment of the queue's order that can take it: the spot one,
        # then (when it is at max_vcpus) this one at on-demand prices.
        on_demand = "FARGATE" if b.fargate else "EC2"
        ces.append(
            ce(
                "cpu_on_demand",
                on_demand,
                allocation_strategy="BEST_FIT_PROGRESSIVE",
                instance_types=b.instance_types,
                **sizes,
            )
        )
    gpu: Ref | None = None
    if b.gpu.enabled:
        gpu_type = b.gpu_compute_type
        gpu = ce(
            "gpu",
            gpu_type,
            # the GPU CE of a spot/ec2 stack shares the main one's strategy and bid, as it always has
            allocation_strategy=b.strategy
            if not b.fargate
            else ("SPOT_CAPACITY_OPTIMIZED" if gpu_type == "SPOT" else "BEST_FIT_PROGRESSIVE"),
            instance_types=b.gpu.instance_types,
            bid_percentage=b.bid_percentage if not b.fargate else None,
            min_vcpus=0,
            desired_vcpus=0,
            max_vcpus=b.gpu.max_vcpus,
        )
        if not b.gpu_own_queue:
            ces.append(gpu)
    bp.add(
        "batch.job_queue.main",
        "batch.job_queue",
        name=cfg.queue_name,
        priority=1,
        compute_environments=[Ref(address=c.address, attr="arn") for c in ces],
    )
    queues: list[Any] = [Ref(address="batch.job_queue.main", attr="arn")]
    if gpu is not None and b.gpu_own_queue:
        # a queue cannot mix Fargate and EC2 environments: GPU jobs name this one (@batch(queue=...))
        bp.add(
            "batch.job_queue.gpu",
            "batch.job_queue",
            name=f"{cfg.queue_name}-gpu",
            priority=1,
            compute_environments=[Ref(address=gpu.address, attr="arn")],
        )
        queues.append(Ref(address="batch.job_queue.gpu", attr="arn"))
    return queues


def _ecr(bp: Blueprint, cfg: Config, facts: Facts) -> dict[str, Any]:
    """The repository for a custom Batch image (terraform-aws-metaflow's ``metaflow_batch_image``) and the two
    profile keys that point Metaflow at it."""
    name = cfg.named("batch")
    e = cfg.ecr
    lifecycle = None
    if e.keep_images:
        lifecycle = {
            "rules": [
                {
                    "rulePriority": 1,
                    "description": f"keep the newest {e.keep_images} images",
                    "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": e.keep_images},
                    "action": {"type": "expire"},
                }
            ]
        }
    bp.add(
        "ecr.repository.batch",
        "ecr.repository",
        name=name,
        image_tag_mutability=e.image_tag_mutability,
        scan_on_push=e.scan_on_push,
        lifecycle_policy=lifecycle,
        force_delete=e.force_delete,
    )
    return {
        # the part of the repository URI before the first "/", and the repository's name (§4.4 A)
        "METAFLOW_BATCH_CONTAINER_REGISTRY": f"{facts.account_id}.dkr.ecr.{facts.region}.{facts.dns_suffix}",
        "METAFLOW_BATCH_CONTAINER_IMAGE": name,
    }


def has_secret_outputs(cfg: Config) -> bool:
    """Whether the profile holds a secret fetched when asked for (the API key), known from the config alone."""
    return cfg.preset != "personal" and cfg.metadata.api_gateway
