"""The Metaflow stack, preset ``personal``: what terraform-aws-metaflow and personal-metaflow build,
minus everything that costs money while idle (no NAT, no database, no load balancer, min 0 vCPUs).

Addresses are ``<kind>.<name>``; names follow the Terraform module (``P + x + S``) so a team moving
from it finds the same names.
"""

from __future__ import annotations

from typing import Any

from provisioner.config import Config
from provisioner.context import Facts
from provisioner.graph import Blueprint
from provisioner.stacks import metaflow_iam as pol
from provisioner.stacks import network
from resources.base import Ref


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
        versioning=cfg.datastore.versioning,
        block_public_access=True,
        force_destroy=cfg.datastore.force_destroy,
    )

    # --- network: a VPC with one public subnet per AZ and no NAT, or the user's own
    net = network.add(bp, cfg.network, facts)
    vpc, subnets, subnet_after = net.vpc, net.workload_subnets, net.workload_ready

    sg = bp.add(
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
    bp.add(
        "iam.role.batch_service",
        "iam.role",
        name=n("batch-execution-role"),
        description="Passed to AWS Batch as the compute environment's service role",
        assume_role_policy=pol.trust("batch.amazonaws.com"),
        inline_policies=pol.batch_service_policies(facts),
    )
    bp.add(
        "iam.role.ecs_instance",
        "iam.role",
        name=n("ecs-iam-role"),
        description="Passed to AWS Batch as the instance role of its EC2 hosts",
        assume_role_policy=pol.trust("ec2.amazonaws.com"),
        managed_policy_arns=[f"arn:{part}:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"],
    )
    bp.add(
        "iam.instance_profile.ecs_instance",
        "iam.instance_profile",
        name=n("ecs-iam-role"),
        role_name=Ref(address="iam.role.ecs_instance", attr="name"),
    )
    bp.add(
        "iam.role.batch_task",
        "iam.role",
        name=n("batch_s3_task_role"),
        description="The role Metaflow's Batch jobs run as (METAFLOW_ECS_S3_ACCESS_IAM_ROLE)",
        assume_role_policy=pol.trust("ecs-tasks.amazonaws.com"),
        inline_policies=pol.batch_task_policies(facts, bucket_arn, key_arn, table_arn if sfn else None),
    )

    # --- Batch: launch template (IMDS settings, encrypted root volume), compute environments, queue
    imds = cfg.batch.imds
    lt = bp.add(
        "ec2.launch_template.cpu",
        "ec2.launch_template",
        name=n("batch-launch-tmpl-cpu-100gb"),
        instance_profile_arn=None,  # Batch sets the instance role itself from the CE
        http_endpoint=imds.http_endpoint,
        http_tokens=imds.http_tokens,
        http_put_response_hop_limit=imds.hop_limit,
        root_volume_size=cfg.batch.root_volume_size,
    )
    compute_type = "SPOT" if cfg.batch.compute_type == "spot" else "EC2"
    common: dict[str, Any] = dict(
        compute_type=compute_type,
        allocation_strategy=cfg.batch.strategy,
        subnets=subnets,
        security_group_ids=[sg],
        instance_role=Ref(address="iam.instance_profile.ecs_instance", attr="arn"),
        service_role=Ref(address="iam.role.batch_service", attr="arn"),
        launch_template_id=lt,
        launch_template_version="$Default",
        bid_percentage=cfg.batch.bid_percentage,
    )
    ces = [
        bp.add(
            "batch.compute_environment.cpu",
            "batch.compute_environment",
            after=subnet_after,
            name=n("cpu"),
            instance_types=cfg.batch.instance_types,
            min_vcpus=cfg.batch.min_vcpus,
            desired_vcpus=cfg.batch.desired_vcpus,
            max_vcpus=cfg.batch.max_vcpus,
            **common,
        )
    ]
    if cfg.batch.gpu.enabled:
        ces.append(
            bp.add(
                "batch.compute_environment.gpu",
                "batch.compute_environment",
                after=subnet_after,
                name=n("gpu"),
                instance_types=cfg.batch.gpu.instance_types,
                min_vcpus=0,
                desired_vcpus=0,
                max_vcpus=cfg.batch.gpu.max_vcpus,
                **common,
            )
        )
    bp.add(
        "batch.job_queue.main",
        "batch.job_queue",
        name=cfg.queue_name,
        priority=1,
        compute_environments=[Ref(address=c.address, attr="arn") for c in ces],
    )
    queue_arn = Ref(address="batch.job_queue.main", attr="arn")

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
            assume_role_policy=pol.trust("states.amazonaws.com"),
            inline_policies=pol.step_functions_policies(facts, queue_arn, bucket_arn, key_arn, table_arn),
            after=("dynamodb.table.step_functions",),
        )
        bp.add(
            "iam.role.eventbridge",
            "iam.role",
            name=n("eventbridge_role"),
            description="Lets Amazon EventBridge start Metaflow's Step Functions state machines",
            assume_role_policy=pol.trust("events.amazonaws.com"),
            inline_policies=pol.eventbridge_policies(facts),
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
    if cfg.preset == "standard":
        from provisioner.stacks import metadata_service

        profile.update(metadata_service.add(bp, cfg, facts, net, bucket_arn, key_arn))
    bp.outputs = profile
    return bp


def has_secret_outputs(cfg: Config) -> bool:
    """Whether the profile holds a secret fetched when asked for (the API key), known from the config alone."""
    return cfg.preset != "personal" and cfg.metadata.api_gateway
