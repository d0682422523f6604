"""The commented starter ``mfprov.toml`` that ``mfprov init`` writes."""

from __future__ import annotations

import json

from provisioner.cli.init_template_mlflow import TEMPLATE as MLFLOW_TEMPLATE

TEMPLATE = """\
# mfprov configuration: `mfprov plan` shows what it would do, `mfprov up` does it.
# Every key below is optional except `name`; the values shown are the defaults.

name = "{name}"            # the stack's name; tags every resource (mfprov:stack) - do not change after `up`
stack = "{stack}"           # what to build: "metaflow"
preset = "{preset}"         # "personal": spot Batch, public subnets, no NAT, nothing billed while idle;
                            # "standard": personal + the metadata service ([metadata] below) and a
                            #   versioned datastore (old versions kept 30 days);
                            # "full": standard + private subnets behind NAT, an on-demand fallback for spot,
                            #   ECR, a SageMaker notebook, the restricted user role, and the UI ([ui] below)
                            # A preset only changes defaults: the keys marked "by preset" below override it.
# region = "us-east-1"      # unset: AWS_REGION or your profile's region
prefix = "metaflow"         # names are <prefix>-<what>-<suffix>, as terraform-aws-metaflow names them
suffix = "{suffix}"         # random, so two stacks in one account never collide
parallelism = 8             # resources worked on at once

[tags]                      # added to every resource that takes tags
# team = "ml-platform"

[network]
create = true               # a VPC with one public subnet per AZ and an internet gateway
vpc_cidr = "10.20.0.0/16"   # with create = false: your VPC's CIDR (the metadata service admits it)
az_count = 2
# subnet_cidrs = ["10.20.0.0/20", "10.20.16.0/20"]   # one per AZ; default consecutive /20s
# private = true            # by preset (full: true): compute, services and the database in private subnets
                            # behind NAT (a NAT gateway is billed by the hour)
nat = "single"              # private only: "single" NAT gateway, or "per_az" (one per AZ, no cross-AZ dependency)
# private_subnet_cidrs = ["10.20.32.0/20", "10.20.48.0/20"]   # one per AZ; default the /20s after the public ones
# s3_endpoint = true        # by preset (with private): an S3 gateway endpoint, S3 traffic stays off the NAT
# To use an existing VPC instead:
# create = false
# vpc_id = "vpc-0123456789abcdef0"
# subnet_ids = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]           # public (or the only ones)
# private_subnet_ids = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]  # behind your NAT
# assign_public_ip = true    # with your public subnet_ids only: the Fargate tasks get a public IP (needed
                            # to pull images through an internet gateway; Terraform's with_public_ip)
# interface_endpoints = ["ecr.api", "ecr.dkr", "logs", "secretsmanager", "sts"]   # for private subnets without
                            # NAT (`mfprov check` says what a workload still lacks; Batch on EC2: "ecs", ...)

[datastore]
# bucket_name = "my-metaflow-bucket"   # default <prefix>-s3-<suffix>
kms_key_rotation = false    # the bucket has its own KMS key; rotate it yearly?
# versioning = true         # by preset (standard, full: true; personal: false, as a personal stack bills
                            # nothing while idle and old versions would bill unseen): keep what is overwritten
noncurrent_version_days = 30   # an old version is deleted this many days after it was replaced
abort_multipart_days = 7    # an upload left unfinished is aborted after this many days (its parts bill until then)
force_destroy = false       # true: `down` empties the bucket (every version); false: it refuses a bucket with data

[batch]
compute_type = "spot"       # "spot" (SPOT_CAPACITY_OPTIMIZED), "ec2" (on-demand), "fargate" or "fargate_spot"
# on_demand_fallback = true # by preset (full: true): spot only; an on-demand environment after the spot one
# allocation_strategy = "SPOT_CAPACITY_OPTIMIZED"   # or BEST_FIT_PROGRESSIVE / BEST_FIT
instance_types = ["optimal"]
min_vcpus = 0               # 0: no instance runs (or is billed) while no job does
desired_vcpus = 0
max_vcpus = 64
# bid_percentage = 100      # spot only: the most to pay, as % of on-demand
root_volume_size = 100      # GiB, encrypted
egress_cidr_blocks = ["0.0.0.0/0"]
additional_security_group_ids = []   # your own security groups the compute environments get as well
job_policy_arns = []        # managed policies your jobs' role gets as well (e.g. to read another bucket)
sagemaker_role_arns = []    # roles your steps may hand to SageMaker (training jobs, models); empty: no SageMaker
custom_service_role = false # false: Batch's own service-linked role (AWSServiceRoleForBatch); true: a role of the stack

[batch.imds]
http_endpoint = "enabled"
http_tokens = "required"    # IMDSv2 only
hop_limit = 2               # 2 lets containers on the host reach IMDS

[batch.gpu]
enabled = false             # a second compute environment with GPU instances, behind the same queue
instance_types = ["g4dn.xlarge", "g4dn.2xlarge", "g5.xlarge"]
max_vcpus = 32

[step_functions]
enabled = true              # the DynamoDB table and roles `python flow.py step-functions create` needs

[metadata]                  # presets "standard" and "full": the metadata service on ECS Fargate behind an internal NLB
image = "netflixoss/metaflow_metadata_service:v2.4.12"   # v2.4.4+ speaks SSL to PostgreSQL 15+
cpu = "512"
memory = "1024"
desired_count = 1
ssl_mode = "require"
log_retention_days = 30
api_gateway = true          # the public entry, with an API key; false: only the internal NLB URL
api_allow_cidrs = []        # CIDRs allowed to call the API; empty: any source with the key
throttle_burst_limit = 100
throttle_rate_limit = 50.0
migrate_on_image_change = true  # `up` migrates the schema (`mfprov migrate`) after a new image

[metadata.database]         # PostgreSQL; the password is generated into Secrets Manager, never shown or stored
engine = "postgres"         # or "aurora-postgresql" (Serverless v2 by default)
engine_version = "16"       # the major version; AWS applies minor versions
instance_class = "db.t4g.small"
allocated_storage = 20
max_allocated_storage = 100
backup_retention_days = 7
multi_az = false
deletion_protection = true
skip_final_snapshot = false # false: deleting the database takes a final snapshot <prefix>-metaflow-<suffix>-final
allow_major_version_upgrade = false  # true: a newer major engine_version upgrades in place (an outage)
apply_immediately = true    # false: RDS makes changes in the next maintenance window
# snapshot_identifier = "NAME"  # create from this snapshot (`down --delete-protected` prints it); create-only
aurora_instance_class = "db.serverless"
serverless_min_capacity = 0.5
serverless_max_capacity = 4.0

[ecr]                       # a repository for a custom Batch image (METAFLOW_BATCH_CONTAINER_IMAGE)
# enabled = true            # by preset (full: true)
image_tag_mutability = "MUTABLE"   # the profile names no tag, so jobs pull "latest"; IMMUTABLE: tag every build
scan_on_push = true
keep_images = 50            # the newest N images are kept, older ones expire; 0: keep all
force_delete = false        # true: `down --delete-protected` deletes it with its images

[notebook]                  # a SageMaker notebook instance with the Metaflow settings
# enabled = true            # by preset (full: true)
instance_type = "ml.t3.medium"
volume_size_gb = 20         # grows in place; never shrinks
root_access = true
platform_identifier = "notebook-al2023-v1"

[user_role]                 # a role for people and tools: this stack's bucket, queue, state machines, notebook
# enabled = true            # by preset (full: true)
trusted_principals = []     # account ids or IAM ARNs that may assume it; empty: this account (its IAM decides)

[ui]                        # presets standard and full: the Metaflow UI behind an HTTPS load balancer
certificate_arn = ""        # an ACM certificate ARN for your UI's domain; empty: no UI
allow_cidrs = []            # who may reach it (443, and 80 which redirects); required with a certificate
internal = false            # true: an internal load balancer, reachable from the VPC only
public_domain = ""          # the DNS name you point at the load balancer (e.g. metaflow.example.com)
# ssl_policy = "ELBSecurityPolicy-TLS13-1-2-2021-06"
# backend_image = "..."     # default: the metadata service's image
static_image = "public.ecr.aws/outerbounds/metaflow_ui:v1.2.4"
backend_cpu = "2048"
backend_memory = "16384"
static_cpu = "512"
static_memory = "1024"
desired_count = 1

[ui.extra_backend_env]      # extra environment of the UI backend

[ui.extra_static_env]       # extra environment of the static UI

[ui.auth]                   # sign-in before anything reaches the UI (docs/ui-sign-in.md)
type = "cognito"            # "cognito": a user pool mfprov makes (you invite the users); "oidc": your own
                            # identity provider (Okta, Entra ID, Google...); "none": no sign-in
# cognito_domain = "my-metaflow-ui"   # cognito: the sign-in page's prefix; default <prefix>-ui-<suffix>
# issuer = "https://idp.example.com"  # oidc: the provider and the client registered for the load balancer
# authorization_endpoint = "https://idp.example.com/authorize"
# token_endpoint = "https://idp.example.com/token"
# user_info_endpoint = "https://idp.example.com/userinfo"
# client_id = "..."
# client_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:metaflow-ui-oidc"   # read, never kept
# client_secret_key = "client_secret"  # its JSON key; unset: the whole secret string
scope = "openid"
session_timeout = 604800    # seconds a sign-in lasts (at most 7 days)

[ui.dns]                    # an optional Route 53 alias record for the UI's load balancer
zone_id = ""                # the hosted zone, e.g. "Z0123456789ABCDEFGHIJ"
record_name = ""            # e.g. "metaflow.example.com"; the UI's URL then uses it

[timeouts]                  # seconds a resource kind may take to become ready
# "batch.compute_environment" = 900
"""


#: per stack, the starter file ``mfprov init --stack`` writes
TEMPLATES = {"metaflow": TEMPLATE, "mlflow": MLFLOW_TEMPLATE}


def toml_basic(value: str) -> str:
    """``value`` escaped for the inside of a TOML basic string ("..."): read back, it is exactly ``value``.

    JSON's string escapes are TOML's (backslash, quote, control characters as short or 4-digit escapes), but for
    DEL, which TOML wants escaped too."""
    return json.dumps(value, ensure_ascii=False)[1:-1].replace("\x7f", "\\u007f")


def render_template(stack: str, **values: str) -> str:
    """The starter file of ``stack`` with ``values`` (name, preset, suffix) written in as TOML strings."""
    return TEMPLATES[stack].format(stack=toml_basic(stack), **{k: toml_basic(v) for k, v in values.items()})
