"""Spot-interruption drills on the reference entrypoint end in a bitwise match, and distributed
local runs (1 host × 2 processes, 2 hosts × 1 process) train like one process and resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launcher.backends.base import JobStatus
from launcher.backends.local.backend import LocalBackend
from launcher.backends.local.options import LocalOptions
from launcher.cli.main import main
from launcher.config.layers import resolve_spec
from launcher.drill.run import LineInterrupter, run_drill_job
from launcher.runner import submit_spec

SMALL = {"epochs": 3, "batch_size": 64, "log_every_steps": 2, "checkpoint_every_steps": 5,
         "warmup_epochs": 1, "lr_schedule": "cosine"}


class TornWriteInterrupter(LineInterrupter):
    """After the kill, truncate the newest checkpoint: as if the reclaim hit during its write."""

    def __init__(self, triggers, checkpoint_dir: Path, torn_attempt: int) -> None:
        super().__init__(triggers)
        self.checkpoint_dir = checkpoint_dir
        self.torn_attempt = torn_attempt
        self.torn: str | None = None

    def killed(self) -> None:
        super().killed()
        if len(self.attempts) - 1 == self.torn_attempt:
            newest = sorted(self.checkpoint_dir.glob("ckpt-*.pt"))[-1]
            newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 3])
            self.torn = newest.name


def _spec(tmp_path, **hp):
    return resolve_spec(config_path=tmp_path / "none.toml", environ={},
                        flags={"hyperparameters": {**SMALL, **hp}}).spec


def test_drill_with_kills_in_warmup_mid_epoch_after_and_during_checkpoint_writes_matches(tmp_path):
    jobs = tmp_path / "jobs"
    spec = _spec(tmp_path)
    name = "drill-exact"
    ckpt_dir = jobs / name / "hosts" / "algo-1" / "opt" / "ml" / "checkpoints"
    interrupter = TornWriteInterrupter(
        [(r"\bstep=", 2),                # during warmup (step 4 of 23 warmup steps)
         (r"\bstep=", 9),                # mid-epoch 2
         (r"Checkpoint saved", 1),       # right after a checkpoint
         (r"Checkpoint saved", 2)],      # during a checkpoint write (torn below)
        ckpt_dir, torn_attempt=3)

    def submit(job_name, intr, k):
        backend = LocalBackend(jobs, options=LocalOptions(interrupter=intr, max_interruptions=k))
        return submit_spec(backend, spec.model_copy(update={"job_name": job_name}), job_name)

    report = run_drill_job(submit, name, 4, verify=True, interrupter=interrupter)
    assert report.job.status is JobStatus.COMPLETED
    assert report.interruptions == 4
    statuses = [t.status for t in report.job.transitions]
    assert statuses.count("Interrupted") == 4 and statuses.count("Restarting") == 4
    assert interrupter.torn is not None
    log = (jobs / name / "logs" / "algo-1.log").read_text()
    assert "falling back" in log.lower() or "corrupt" in log.lower() or "skipping" in log.lower()
    assert report.comparison is not None and report.comparison.match, report.comparison
    assert len(report.lost_iterations) == 4 and all(n >= 0 for n in report.lost_iterations)


def test_cli_drill_reports_match(cli_env):
    rc = main(["train", "--local", "--json", "--epochs", "2", "--simulate-interruptions", "1",
               "--interrupt-seed", "3", "--verify"], cli_env)
    report = json.loads(cli_env.out)
    assert report["status"] == "Completed"
    # One random kill: MATCH when it landed after a checkpoint and the run resumed from it, else
    # INCONCLUSIVE with its reason and a non-zero exit, never a MATCH without proof.
    assert report["verdict"] in ("MATCH", "INCONCLUSIVE"), report["verdict_line"]
    assert rc == (0 if report["verdict"] == "MATCH" else 1), cli_env.err
    if report["verdict"] == "MATCH":
        assert report["match"] is True and report["effective_kills"] >= 1


def _accuracy(desc) -> float:
    return desc.metrics["val_accuracy"]


@pytest.mark.parametrize(("hosts", "nproc"), [(1, 2), (2, 1)])
def test_distributed_local_runs_train_like_one_process_and_resume(tmp_path, hosts, nproc):
    jobs = tmp_path / "jobs"
    one = _spec(tmp_path, batch_size=64)
    single = submit_spec(LocalBackend(jobs, options=LocalOptions()), one, "single")
    # Same global batch: 2 processes × 32.
    spec = _spec(tmp_path, batch_size=32).model_copy(
        update={"compute": one.compute.model_copy(update={"instance_count": hosts,
                                                           "processes_per_host": nproc})})
    interrupter = LineInterrupter([(r"Checkpoint saved", 2)])
    backend = LocalBackend(jobs, options=LocalOptions(interrupter=interrupter,
                                                      max_interruptions=1))
    desc = submit_spec(backend, spec, f"ddp-{hosts}x{nproc}")
    assert desc.status is JobStatus.COMPLETED, (desc.failure_reason, desc.details.get("last_traceback"))
    assert desc.interruptions == 1
    assert abs(_accuracy(desc) - _accuracy(single)) < 0.05
    assert _accuracy(desc) > 0.85
    log = "".join(p.read_text() for p in (jobs / desc.name / "logs").glob("*.log"))
    assert "world_size=2" in log and "Resumed from" in log
    if hosts == 2:
        seen = (jobs / desc.name / "hosts" / "algo-2" / "opt" / "ml" / "input" / "config")
        rc = json.loads((seen / "resourceconfig.json").read_text())
        assert rc["current_host"] == "algo-2" and rc["hosts"] == ["algo-1", "algo-2"]


def test_drill_window_without_verify_comes_from_the_remembered_throughput(cli_env, tmp_path):
    from launcher.cli.session import cli_runner
    from launcher.cli.train_cmd import STARTUP_SECONDS, drill_window
    from launcher.job.resolve import Target
    from launcher.planning.throughput import LOCAL_INSTANCE, record_throughput, throughput_key

    spec = _spec(tmp_path, epochs=2)
    runner, _ = cli_runner(cli_env)
    job = runner.resolve(spec, Target.LOCAL)
    assert drill_window(runner, job) is None  # nothing measured yet
    record_throughput(cli_env.home, throughput_key(spec), LOCAL_INSTANCE, 1000.0)
    low, high = drill_window(runner, job)
    seconds = STARTUP_SECONDS + 2 * 1437 / 1000.0  # 2 epochs over the 1,437 digits
    assert low == pytest.approx(0.2 * seconds, rel=0.05) and high == pytest.approx(0.9 * seconds, rel=0.05)
