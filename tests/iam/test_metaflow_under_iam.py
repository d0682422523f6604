"""The real Metaflow client, every botocore call it makes checked against one role's policies as AWS evaluates
them (tests/iam: the evaluator, the call table, the guard), against a sandbox stack (moto server).

- as the Batch job role: a foreach flow (what its tasks do with the datastore, run locally: the same S3 calls a
  Batch task makes) and its read-back; Metaflow's own DynamoDB calls (the Step Functions foreach state);
- as the user role: ``step-functions create / trigger / list-runs / delete`` and ``run --with batch`` up to the
  job's submission (moto runs no container, so the run is stopped once the job is submitted).

The policies are read back from the sandbox's IAM (what ``up`` really made). A denied call raises the
AccessDenied AWS would answer; the guard also logs every call, and the tests assert that none was denied, that
no call went unexamined, and that the calls that matter were made (a run that did nothing proves nothing).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.iam.calls import Env
from tests.iam.hook import read_log, write_spec

pytestmark = pytest.mark.e2e

FLOW = textwrap.dedent(
    """
    import os

    from metaflow import FlowSpec, step


    class ForeachFlow(FlowSpec):
        @step
        def start(self):
            self.items = [1, 2, 3]
            self.blob = os.urandom(9 * 1024 * 1024)  # a large artifact that stays large: a multipart upload
            self.next(self.square, foreach="items")

        @step
        def square(self):
            self.sq = self.input * self.input
            self.next(self.join)

        @step
        def join(self, inputs):
            self.total = sum(i.sq for i in inputs)
            self.next(self.end)

        @step
        def end(self):
            pass


    if __name__ == "__main__":
        ForeachFlow()
    """
)

READ_BACK = textwrap.dedent(
    """
    import json
    from metaflow import Flow, namespace
    namespace(None)
    run = Flow("ForeachFlow").latest_run
    print(json.dumps({"successful": run.successful, "total": run.data.total, "blob": len(run["start"].task.data.blob),
                      "squares": sorted(t.data.sq for t in run["square"])}))
    """
)

DYNAMO = textwrap.dedent(
    """
    from metaflow.plugins.aws.step_functions.dynamo_db_client import DynamoDbClient
    c = DynamoDbClient()
    c.save_foreach_cardinality("sfn-1/start/1", 3, 3600)
    c.save_parent_task_id_for_foreach_join("sfn-1/start/1", "sfn-1/square/2")
    print(sorted(c.get_parent_task_ids_for_foreach_join("sfn-1/start/1")))
    """
)


class Sandbox:
    def __init__(self, env: dict[str, str], work: Path, home: Path) -> None:
        self.env, self.work, self.home = env, work, home

    def mfprov(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "provisioner", "--sandbox", *args],
            cwd=self.work, env=self.env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900,
        )  # fmt: skip
        assert proc.returncode == 0, f"mfprov {' '.join(args)}\n{proc.stdout}\n{proc.stderr}"
        return proc

    @property
    def url(self) -> str:
        return subprocess.run(
            [sys.executable, "-m", "provisioner", "sandbox", "status"],
            env=self.env, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="sandbox",
                            aws_secret_access_key="sandbox")  # fmt: skip

    def role(self, name_part: str) -> tuple[str, dict[str, Any]]:
        """(ARN, inline policies) of the stack's role whose name holds ``name_part``, as IAM holds them."""
        iam = self.client("iam")
        (role,) = [r for r in iam.list_roles()["Roles"] if name_part in r["RoleName"]]
        names = iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]
        policies = {n: iam.get_role_policy(RoleName=role["RoleName"], PolicyName=n)["PolicyDocument"] for n in names}
        assert not iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]
        return role["Arn"], policies

    def profile(self) -> dict[str, str]:
        return dict(json.loads((self.home / "metaflowconfig" / "config_iam.json").read_text()))

    def bucket_keys(self) -> dict[str, str]:
        bucket = self.profile()["METAFLOW_DATASTORE_SYSROOT_S3"].split("/")[2]
        rules = self.client("s3").get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
        key = rules[0]["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"]
        if not key.startswith("arn:"):
            key = self.client("kms").describe_key(KeyId=key)["KeyMetadata"]["Arn"]
        return {bucket: key}

    def as_role(self, name_part: str, tag: str) -> tuple[dict[str, str], Path]:
        """The environment of a Metaflow process whose every AWS call is checked against the role's policies."""
        arn, policies = self.role(name_part)
        log = self.home / f"calls-{tag}.jsonl"
        guard = write_spec(self.home / f"guard-{tag}.json", policies, Env(principal_arn=arn), self.bucket_keys(),
                           log, arn)  # fmt: skip
        env = {
            **self.env,
            **guard,
            "METAFLOW_PROFILE": "iam",
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "sandbox",
            "AWS_SECRET_ACCESS_KEY": "sandbox",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "METAFLOW_DEFAULT_METADATA": "local",
        }
        return env, log


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """The personal preset with the user role on (the options work in any preset), up in a private sandbox."""
    from tests.e2e.test_metaflow_e2e import private_env

    home = tmp_path_factory.mktemp("iam")
    env = private_env(home, 4900 + os.getpid() % 90, "iam")
    work = home / "work"
    work.mkdir()
    sb = Sandbox(env, work, home)
    try:
        sb.mfprov("init", "--name", "iam", "--preset", "personal")
        cfg = work / "mfprov.toml"
        text = cfg.read_text()
        head, _, tail = text.partition("[user_role]")
        assert "# enabled = true" in tail
        cfg.write_text(head + "[user_role]" + tail.replace("# enabled = true", "enabled = true", 1))
        sb.mfprov("up", "--yes")
        sb.mfprov("outputs", "--write-profile", "iam")
        (work / "foreach_flow.py").write_text(FLOW)
        yield sb
    finally:
        subprocess.run([sys.executable, "-m", "provisioner", "sandbox", "stop"], env=env, check=False)


def calls_of(log: Path) -> list[dict[str, Any]]:
    entries = read_log(log)
    unmapped = [e for e in entries if "unmapped" in e]
    denied = [e for e in entries if e.get("denied")]
    assert not unmapped, f"calls the table does not describe: {unmapped}"
    assert not denied, "denied:\n" + "\n".join(f"{e['call']}: {e['denied']}" for e in denied)
    return entries


def made(entries: list[dict[str, Any]]) -> set[str]:
    return {e["call"] for e in entries}


def run(env: dict[str, str], cwd: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_a_foreach_flow_and_its_read_back_as_the_batch_job_role(sandbox: Sandbox) -> None:
    env, log = sandbox.as_role("batch_s3_task_role", "job")
    flow = run(env, sandbox.work, "foreach_flow.py", "--no-pylint", "run")
    entries = calls_of(log)
    assert flow.returncode == 0, flow.stdout + flow.stderr
    back = run(env, sandbox.work, "-c", READ_BACK)
    entries = calls_of(log)
    assert back.returncode == 0, back.stdout + back.stderr
    assert json.loads(back.stdout.strip().splitlines()[-1]) == {
        "successful": True, "total": 14, "blob": 9 * 1024 * 1024, "squares": [1, 4, 9],
    }  # fmt: skip
    # the datastore was written (a large artifact in parts) and read, each call checked, KMS included
    assert {"s3:PutObject", "s3:GetObject", "s3:CreateMultipartUpload", "s3:UploadPart"} <= made(entries)
    checks = [c for e in entries for c in e.get("checks", [])]
    assert any(c.startswith("kms:GenerateDataKey") for c in checks)
    assert any(c.startswith("kms:Decrypt") for c in checks)
    assert len({e["pid"] for e in entries}) > 3  # the tasks' own processes were guarded too


def test_metaflows_dynamodb_calls_as_the_batch_job_role(sandbox: Sandbox) -> None:
    env, log = sandbox.as_role("batch_s3_task_role", "dynamo")
    env["METAFLOW_SFN_DYNAMO_DB_TABLE"] = sandbox.profile()["METAFLOW_SFN_DYNAMO_DB_TABLE"]
    out = run(env, sandbox.work, "-c", DYNAMO)
    entries = calls_of(log)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().splitlines()[-1] == "['sfn-1/square/2']"
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem"} <= made(entries)


def test_step_functions_create_trigger_list_runs_delete_as_the_user_role(sandbox: Sandbox) -> None:
    env, log = sandbox.as_role("metaflow_user", "sfn")
    for command in (["create"], ["trigger"], ["list-runs"], ["delete"]):
        out = run(env, sandbox.work, "foreach_flow.py", "--no-pylint", "step-functions", *command)
        calls_of(log)
        assert out.returncode == 0, f"step-functions {command[0]}\n{out.stdout}\n{out.stderr}"
    entries = calls_of(log)
    assert {
        "batch:RegisterJobDefinition",
        "stepfunctions:CreateStateMachine",
        "stepfunctions:StartExecution",
        "stepfunctions:ListExecutions",
        "stepfunctions:DeleteStateMachine",
    } <= made(entries)
    passed = [c for e in entries for c in e.get("checks", []) if c.startswith("iam:PassRole")]
    assert passed, "creating the state machine passes the Step Functions role (and the job role to Batch)"


def test_run_with_batch_up_to_the_submit_as_the_user_role(sandbox: Sandbox) -> None:
    env, log = sandbox.as_role("metaflow_user", "batch")
    proc = subprocess.Popen(
        [sys.executable, "foreach_flow.py", "--no-pylint", "run", "--with", "batch"],
        cwd=sandbox.work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if "batch:SubmitJob" in made(read_log(log)):
                break
            time.sleep(1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        output = proc.communicate(timeout=60)[0]
    entries = calls_of(log)
    # the job definition is registered (PassRole of the job role) unless an earlier create left it
    assert "batch:SubmitJob" in made(entries), output
    assert made(entries) & {"batch:RegisterJobDefinition", "batch:DescribeJobDefinitions"}
