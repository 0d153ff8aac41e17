"""One job, one truth: the resolved job that plan, both dry runs, local and cloud runs share.

Each test pins a disagreement that the resolved job removed: a warmup nobody asked for, a cloud job
uploaded and billed for a plan its script refuses, two world sizes for one job, raw values on the
wire, and the reference schema captured a user script's own hyperparameters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest

from launcher.cli.main import main
from launcher.cli.session import cli_runner
from launcher.cli.spec_args import resolve_from_args
from launcher.errors import SpecError
from launcher.job.resolve import Target
from tests.conftest import CapturedEnv
from tests.sagemaker_helpers import BUCKET, REGION, make_channel, moto_jobs, s3_objects


def _args(*argv: str) -> Any:
    from launcher.cli.main import build_parser

    return build_parser().parse_args(["train", *argv])


def _resolve(env: CapturedEnv, *argv: str, target: Target = Target.LOCAL, gpus: int = 0) -> Any:
    spec = resolve_from_args(_args(*argv), env).spec
    runner, _ = cli_runner(env)
    runner.gpu_probe = lambda: gpus
    return runner, runner.resolve(spec, target)


def _user_script(root: Path) -> Path:
    src = root / "user"
    src.mkdir()
    (src / "train.py").write_text("import sys\nprint(sys.argv[1:])\n")
    return src


# --- defaults are one thing -----------------------------------------------------------------------


def test_no_phantom_warmup_in_plan(cli_env: CapturedEnv) -> None:
    rc = main(["plan", "--local", "--samples", "1000", "--batch-size", "64", "--epochs", "1",
               "--hp", "drop_last=true", "--json"], cli_env)
    assert rc == 0, cli_env.err
    data = json.loads(cli_env.out)
    assert data["warmup_steps"] == 0 and data["lr_schedule"] == "constant"
    assert data["total_optimizer_steps"] == 15  # floor(1000 / 64): the bundled validation channel


def test_one_epoch_local_run_is_not_refused_for_the_demo_warmup(cli_env: CapturedEnv) -> None:
    assert main(["train", "--local", "--dry-run", "--epochs", "1"], cli_env) == 0, cli_env.err
    hosts = json.loads(cli_env.out)["hosts"]
    sm_hps = json.loads(hosts["algo-1"]["environment"]["SM_HPS"])
    assert sm_hps == {"epochs": 1}  # nothing of the demo's settings


def test_demo_settings_only_for_the_bare_demo(cli_env: CapturedEnv) -> None:
    assert main(["config", "--json"], cli_env) == 0
    demo = json.loads(cli_env.out)["values"]
    assert demo["hyperparameters.warmup_epochs"] == {"value": 1, "source": "demo"}
    cli_env.stdout.truncate(0)
    cli_env.stdout.seek(0)
    assert main(["config", "--json", "--epochs", "3"], cli_env) == 0
    values = json.loads(cli_env.out)["values"]
    assert values["hyperparameters.epochs"] == {"value": 3, "source": "flag"}
    assert values["hyperparameters.warmup_epochs"] == {"value": 0.0,
                                                       "source": "default (reference entrypoint)"}
    assert values["hyperparameters.lr_schedule"]["source"] == "default (reference entrypoint)"
    assert values["data.train"]["source"] == "default (bundled digits)"


# --- the plan is checked before anything is uploaded ----------------------------------------------


def test_cloud_job_whose_plan_cannot_run_creates_nothing(cli_env: CapturedEnv, aws: str,
                                                         tmp_path: Path) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    data = make_channel(tmp_path, "train", samples=64)
    before = (len(s3_objects(s3, BUCKET)), len(moto_jobs()))
    argv = ["--instance", "ml.g5.xlarge", "--role", "arn:aws:iam::123456789012:role/r", "--bucket", BUCKET,
            "--region", REGION, "--data", f"train={data}", "--epochs", "2", "--batch-size", "16",
            "--warmup-epochs", "5"]
    with pytest.raises(SpecError, match="warmup .* is not shorter than the run"):
        args = _args(*argv)
        args.handler(args, cli_env)
    assert (len(s3_objects(s3, BUCKET)), len(moto_jobs())) == before == (0, 0)
    assert main(["train", *argv], cli_env) == 2  # the CLI: one line, exit 2


# --- one world size ------------------------------------------------------------------------------


def test_world_size_is_one_rule_for_plan_and_processes(cli_env: CapturedEnv) -> None:
    runner, job = _resolve(cli_env, "--local", "--hosts", "2", "--epochs", "2", gpus=4)
    assert (job.instance_count, job.gpus_per_host, job.processes_per_host, job.world_size) == (2, 2, 2, 4)
    assert job.plan is not None and job.plan.steps.world_size == 4
    hosts = runner.dryrun(job).request["hosts"]
    for rank, (host, run) in enumerate(sorted(hosts.items())):
        assert "--nproc_per_node=2" in run["argv"] and "--nnodes=2" in run["argv"]
        assert run["environment"]["SM_NUM_GPUS"] == "2"
        assert f"--node_rank={rank}" in run["argv"], host


def test_cloud_world_size_comes_from_the_catalogue(cli_env: CapturedEnv) -> None:
    _, job = _resolve(cli_env, "--instance", "ml.g5.12xlarge", "--instance-count", "2", "--epochs", "2",
                      target=Target.SAGEMAKER, gpus=0)
    assert (job.gpus_per_host, job.processes_per_host, job.world_size, job.torchrun) == (4, 4, 8, True)
    assert job.plan is not None and job.plan.steps.world_size == 8


# --- hyperparameters on the wire ------------------------------------------------------------------


def test_reference_values_are_sent_canonical(cli_env: CapturedEnv) -> None:
    runner, job = _resolve(cli_env, "--local", "--epochs", "2", "--amp", "BF16", "--hp", "batch_size=32.0",
                           "--hp", "hidden_sizes=64,128", "--hp", "drop-last=True")
    assert job.hyperparameters == {"epochs": "2", "amp": "bf16", "batch_size": "32",
                                   "hidden_sizes": "[64, 128]", "drop_last": "true"}
    env = runner.dryrun(job).request["hosts"]["algo-1"]["environment"]
    assert json.loads(env["SM_HPS"]) == {"epochs": 2, "amp": "bf16", "batch_size": 32,
                                         "hidden_sizes": [64, 128], "drop_last": True}


def test_user_script_hyperparameters_arrive_as_typed(cli_env: CapturedEnv, tmp_path: Path) -> None:
    src = _user_script(tmp_path)
    runner, job = _resolve(cli_env, "--local", "--source-dir", str(src), "--entrypoint", "train.py",
                           "--hp", "batch-size=64", "--hp", "optimizer=adadelta", "--hp", "model=resnet18",
                           "--epochs", "3")
    assert job.hyperparameters == {"epochs": "3", "batch-size": "64", "optimizer": "adadelta",
                                   "model": "resnet18"}
    run = runner.dryrun(job).request["hosts"]["algo-1"]
    argv = run["argv"]
    assert argv[argv.index("--batch-size") + 1] == "64" and "--batch_size" not in argv
    assert argv[argv.index("--epochs") + 1] == "3"
    assert json.loads(run["environment"]["SM_HPS"]) == {"epochs": 3, "batch-size": 64,
                                                        "optimizer": "adadelta", "model": "resnet18"}


def test_user_script_typed_flags_are_plain_hyperparameters(cli_env: CapturedEnv, tmp_path: Path) -> None:
    src = _user_script(tmp_path)
    _, job = _resolve(cli_env, "--local", "--source-dir", str(src), "--batch-size", "64",
                      "--lr-schedule", "onecycle", "--warmup-epochs", "99")
    assert job.hyperparameters == {"batch_size": "64", "lr_schedule": "onecycle", "warmup_epochs": "99.0"}
    assert job.plan is None and "epochs" in (job.plan_note or "")  # nothing refused, no step plan


def test_plan_of_a_user_script_only_when_known(cli_env: CapturedEnv, tmp_path: Path) -> None:
    src = _user_script(tmp_path)
    train = tmp_path / "train"
    train.mkdir()
    np.savez(train / "d.npz", x=np.zeros((100, 4), "float32"), y=np.zeros(100, "int64"))
    base = ["plan", "--local", "--source-dir", str(src), "--data", f"train={train}"]
    assert main([*base, "--batch-size", "32"], cli_env) == 0, cli_env.err
    assert "No step plan: no step plan for your own script: no whole-number epochs" in cli_env.out
    cli_env.stdout.truncate(0)
    cli_env.stdout.seek(0)
    assert main([*base, "--batch-size", "32", "--epochs", "2", "--json"], cli_env) == 0, cli_env.err
    data = json.loads(cli_env.out)
    assert (data["iterations_per_epoch"], data["total_optimizer_steps"], data["holdout_samples"]) == (4, 8, 0)


def test_backend_capabilities_refuse_what_it_cannot_run(cli_env: CapturedEnv) -> None:
    rc = main(["train", "--local", "--dry-run", "--input-mode", "Pipe"], cli_env)
    assert rc == 2 and "Pipe input mode is not available on the local backend" in cli_env.err
    assert "--input-mode File or FastFile" in cli_env.err
