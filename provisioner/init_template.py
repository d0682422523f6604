"""The commented starter ``mfprov.toml`` that ``mfprov init`` writes."""

from __future__ import annotations

from provisioner.init_template_mlflow import TEMPLATE as MLFLOW_TEMPLATE

TEMPLATE = """\
# mfprov configuration: `mfprov plan` shows what it would do, `mfprov up` does it.
# Every key below is optional except `name`; the values shown are the defaults.

name = "{name}"            # the stack's name; tags every resource (mfprov:stack) - do not change after `up`
stack = "{stack}"           # what to build: "metaflow"
preset = "{preset}"         # "personal": spot Batch, public subnets, no NAT, nothing billed while idle;
                            # "standard": personal + the metadata service ([metadata] below)
# region = "us-east-1"      # unset: AWS_REGION or your profile's region
prefix = "metaflow"         # names are <prefix>-<what>-<suffix>, as terraform-aws-metaflow names them
suffix = "{suffix}"         # random, so two stacks in one account never collide
parallelism = 8             # resources worked on at once

[tags]                      # added to every resource that takes tags
# team = "ml-platform"

[network]
create = true               # a VPC with one public subnet per AZ and an internet gateway (no NAT)
vpc_cidr = "10.20.0.0/16"
az_count = 2
# subnet_cidrs = ["10.20.0.0/20", "10.20.16.0/20"]   # one per AZ; default consecutive /20s
# To use an existing VPC instead:
# create = false
# vpc_id = "vpc-0123456789abcdef0"
# subnet_ids = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]

[datastore]
# bucket_name = "my-metaflow-bucket"   # default <prefix>-s3-<suffix>
kms_key_rotation = false    # the bucket has its own KMS key; rotate it yearly?
versioning = false
force_destroy = false       # true: `down` empties the bucket (every version); false: it refuses a bucket with data

[batch]
compute_type = "spot"       # "spot" (SPOT_CAPACITY_OPTIMIZED) or "ec2" (on-demand)
# allocation_strategy = "SPOT_CAPACITY_OPTIMIZED"   # or BEST_FIT_PROGRESSIVE / BEST_FIT
instance_types = ["optimal"]
min_vcpus = 0               # 0: no instance runs (or is billed) while no job does
desired_vcpus = 0
max_vcpus = 64
# bid_percentage = 100      # spot only: the most to pay, as % of on-demand
root_volume_size = 100      # GiB, encrypted
egress_cidr_blocks = ["0.0.0.0/0"]

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

[metadata]                  # preset "standard" only: the metadata service on ECS Fargate behind an internal NLB
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
aurora_instance_class = "db.serverless"
serverless_min_capacity = 0.5
serverless_max_capacity = 4.0

[timeouts]                  # seconds a resource kind may take to become ready
# "batch.compute_environment" = 900
"""


#: per stack, the starter file ``mfprov init --stack`` writes
TEMPLATES = {"metaflow": TEMPLATE, "mlflow": MLFLOW_TEMPLATE}
