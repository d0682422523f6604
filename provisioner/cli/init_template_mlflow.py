"""The commented starter ``mfprov.toml`` that ``mfprov init --stack mlflow`` writes.

Every key of ``[mlflow]`` is here with its default and a comment (``str.format`` fills in ``{name}``, ``{stack}``,
``{preset}`` and ``{suffix}``; literal braces are doubled).
"""

from __future__ import annotations

TEMPLATE = """\
# mfprov configuration: `mfprov plan` shows what it would do, `mfprov up` does it.
# Every key below is optional except `name`; the values shown are the defaults.

name = "{name}"            # the stack's name; tags every resource (mfprov:stack) - do not change after `up`
stack = "{stack}"             # an MLflow tracking server on Fargate, PostgreSQL, S3 artifacts, a load balancer
preset = "{preset}"         # the mlflow stack has one preset
# region = "us-east-1"      # unset: AWS_REGION or your profile's region
prefix = "mlflow"           # names are <prefix>-<what>-<suffix>
suffix = "{suffix}"         # random, so two stacks in one account never collide
parallelism = 8             # resources worked on at once

[tags]                      # added to every resource that takes tags
# team = "ml-platform"

[network]
create = true               # a VPC with one public subnet per AZ and an internet gateway, no NAT
vpc_cidr = "10.20.0.0/16"   # with create = false: your VPC's CIDR (the load balancer and server rules use it)
az_count = 2                # at least 2: the load balancer and the database need two zones
# subnet_cidrs = ["10.20.0.0/20", "10.20.16.0/20"]   # one per AZ; default consecutive /20s
# private = true            # the server and the database in private subnets behind NAT (billed by the hour);
                            # default false: public subnets, the tasks get a public IP to pull the image
nat = "single"              # private only: "single" NAT gateway, or "per_az"
# private_subnet_cidrs = ["10.20.32.0/20", "10.20.48.0/20"]   # one per AZ; default the /20s after the public ones
# s3_endpoint = true        # with private: an S3 gateway endpoint, artifact traffic stays off the NAT
# To use an existing VPC instead:
# create = false
# vpc_id = "vpc-0123456789abcdef0"
# subnet_ids = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]           # public (or the only ones)
# private_subnet_ids = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]  # behind your NAT
# assign_public_ip = true    # with your public subnet_ids only: the Fargate tasks get a public IP (needed
                            # to pull images through an internet gateway; Terraform's with_public_ip)
# interface_endpoints = ["ecr.api", "ecr.dkr", "logs", "secretsmanager", "sts"]   # for private subnets without
                            # NAT (`mfprov check` says what a workload still lacks; Batch on EC2: "ecs", ...)

[mlflow.server]             # the tracking server on ECS Fargate
image = "ghcr.io/mlflow/mlflow:v{{version}}-full"   # the MLflow project's image with psycopg2 and boto3
                            # (3.9.0+); another image needs both, and `sh` with no ENTRYPOINT of its own
version = "3.10.0"          # replaces {{version}} in image
port = 5000                 # the container port the load balancer forwards to
cpu = "1024"                # Fargate CPU units: 256, 512, 1024, 2048, 4096, 8192, 16384
memory = "2048"             # MiB; must suit cpu (1024: 2048-8192)
cpu_architecture = "X86_64" # or "ARM64" (Graviton, cheaper; the official image has both)
workers = 2                 # server processes per task; each has its own database connections
desired_count = 1           # tasks; 0 stops the server (nothing billed for compute)
health_check_path = "/health"
health_check_grace_period = 120   # seconds; the first start migrates the database schema
log_retention_days = 30
allowed_hosts = []          # other DNS names you point at the load balancer (the server refuses unknown Host
                            # headers); its own name and dns.record_name are always allowed; 3 names in all

[mlflow.server.extra_env]   # more environment variables of the server (stored in plain text: no secrets)
# MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD = "true"

[mlflow.artifacts]
# bucket_name = "my-mlflow-artifacts"   # default <prefix>-artifacts-<suffix>
# existing_bucket = "my-bucket"         # use a bucket you have instead (the task role gets access to it)
# existing_bucket_kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/..."   # its SSE-KMS key, if any
prefix = "mlflow"           # everything goes under s3://<bucket>/<prefix>/
versioning = true           # keep what is overwritten or deleted, for noncurrent_version_days
noncurrent_version_days = 30   # an old version is deleted this many days after it was replaced
abort_multipart_days = 7    # an upload left unfinished is aborted after this many days (its parts bill until then)
force_destroy = false       # true: `down --delete-protected` empties the bucket (every version) first;
                            # false: it refuses a bucket that holds artifacts
proxy = true                # the server reads and writes artifacts for its clients (they need no AWS
                            # credentials); false: clients write to S3 themselves

[mlflow.database]           # the password is generated into Secrets Manager, never shown or stored
engine = "postgres"         # RDS PostgreSQL; or "aurora-postgresql" (Serverless v2, may pause at 0 ACUs)
engine_version = "16"       # the major version; AWS applies minor versions
instance_class = "db.t4g.micro"
allocated_storage = 20      # GiB
max_allocated_storage = 100 # storage autoscaling up to this
backup_retention_days = 7
multi_az = false
deletion_protection = true
skip_final_snapshot = false # false: deleting the database takes a final snapshot <prefix>-db-<suffix>-final
allow_major_version_upgrade = false  # true: a newer major engine_version upgrades in place (an outage)
apply_immediately = true    # false: RDS makes changes in the next maintenance window
# snapshot_identifier = "NAME"  # create from this snapshot (`down --delete-protected` prints it); create-only
aurora_instance_class = "db.serverless"   # aurora only; a provisioned class (db.r7g.large) turns Serverless off
serverless_min_capacity = 0 # aurora only, ACUs; 0: it pauses when idle (AWS allows 0 from PostgreSQL 13.15,
                            # 14.12, 15.7 and 16.3 on); the first request after a pause waits ~15 s
serverless_max_capacity = 2
pool = "auto"               # SQLAlchemy's pool: "null" keeps no connection (a pausing database can pause, and
                            # never hands out a dead connection); "queue" keeps pool_size + max_overflow per
                            # worker, recycled; "auto": "null" when Aurora may pause, else "queue"
pool_size = 5
max_overflow = 10
pool_recycle = 300          # seconds a pooled connection lives

[mlflow.load_balancer]
internal = true             # reachable only from the VPC (and what is peered or connected to it)
allow_cidrs = []            # who may connect; empty: the VPC's CIDR (required when internal = false)
certificate_arn = ""        # an ACM certificate ARN: HTTPS on 443, and port 80 redirects to it
# ssl_policy = "ELBSecurityPolicy-TLS13-1-2-2021-06"
idle_timeout = 60           # seconds; raise it for large artifact uploads through the server

[mlflow.auth]               # sign-in on the load balancer (needs certificate_arn; an internal one needs
                            # network.private = true: it reaches the identity provider through the NAT)
type = "none"               # "cognito": a user pool mfprov makes (you invite the users); "oidc": your provider
# cognito_domain = "my-mlflow-login"   # cognito: the sign-in page's prefix; default <prefix>-auth-<suffix>
# issuer = "https://idp.example.com"   # oidc: the provider and the client registered for the load balancer
# authorization_endpoint = "https://idp.example.com/authorize"
# token_endpoint = "https://idp.example.com/token"
# user_info_endpoint = "https://idp.example.com/userinfo"
# client_id = "..."
# client_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:mlflow-oidc"   # read, never kept
# client_secret_key = "client_secret"  # its JSON key; unset: the whole secret string
scope = "openid"
session_timeout = 604800    # seconds a sign-in lasts (at most 7 days)
api_bypass_cidrs = []       # clients in these CIDRs (at most 3) reach the REST API (/api/*) without signing in:
                            # training jobs cannot do a browser sign-in
basic_auth = false          # MLflow's own users: scripts pass MLFLOW_TRACKING_USERNAME/PASSWORD, also past the
                            # sign-in; the admin's password is in a secret (see mfprov outputs, docs/mlflow-auth.md)
# admin_username = "admin"  # basic_auth: the admin MLflow creates
# default_permission = "READ"   # basic_auth: READ, EDIT, MANAGE or NO_PERMISSIONS on what others made

[mlflow.dns]                # an optional Route 53 alias record for the load balancer
zone_id = ""                # the hosted zone, e.g. "Z0123456789ABCDEFGHIJ"
record_name = ""            # e.g. "mlflow.example.com"; the tracking URI then uses it

[mlflow.autoscaling]        # the service's scalable target (Application Auto Scaling)
min_tasks = 1               # 0 allows scaling to zero
max_tasks = 2
# cpu_target = 60           # a target-tracking policy on average CPU %; then it owns the task count
scale_in_cooldown = 300
scale_out_cooldown = 60

[timeouts]                  # seconds a resource kind may take to become ready
# "rds.db_instance" = 3600
"""
