"""`launch tune`'s flags and [tune] table: the compact range syntax, the checks that need the job
(objective, schema, fixed vs tuned), the tuning plan's figures, and `launch plan` with a [tune] table.
No trial runs here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launcher.cli.main import main
from launcher.config.spec import JobSpec, build_spec
from launcher.errors import ExitStatus, SpecError
from launcher.job.resolve import Target, resolve_job
from launcher.planning.tune_plan import corners, plan_tuning, trial_spec
from launcher.tune.space import check_space, describe_space, parse_range
from launcher.tune.trials import divide
from tests.conftest import CapturedEnv

DIGITS = Path(__file__).resolve().parent.parent / "launcher" / "datasets" / "digits"
DATA = {"train": str(DIGITS / "train"), "validation": str(DIGITS / "validation")}


def spec_with(tune: dict[str, object], **hyperparameters: object) -> JobSpec:
    return build_spec({"data": DATA, "hyperparameters": hyperparameters or {"epochs": 2}, "tune": tune})


def check(spec: JobSpec) -> None:
    check_space(spec, resolve_job(spec, target=Target.LOCAL, cwd=Path.cwd()))


@pytest.mark.parametrize(("text", "table"), [
    ("log:0.001:0.1", {"type": "continuous", "min": 0.001, "max": 0.1, "scaling": "log"}),
    ("float:0:1", {"type": "continuous", "min": 0.0, "max": 1.0, "scaling": "auto"}),
    ("float:0.9:0.999:reverse_log",
     {"type": "continuous", "min": 0.9, "max": 0.999, "scaling": "reverse_log"}),
    ("int:16:128", {"type": "integer", "min": 16, "max": 128, "scaling": "auto"}),
    ("int:16:512:log", {"type": "integer", "min": 16, "max": 512, "scaling": "log"}),
    ("cat:sgd,adam", {"type": "categorical", "values": ["sgd", "adam"]}),
    ("cat:32,64", {"type": "categorical", "values": [32, 64]}),
    ("cat:[[64],[128,64]]", {"type": "categorical", "values": [[64], [128, 64]]}),
])
def test_compact_range_syntax(text: str, table: dict[str, object]) -> None:
    assert parse_range(text) == table


@pytest.mark.parametrize(("text", "says"), [
    ("uniform:0:1", "unknown kind"), ("float:a:1", "not a number"), ("int:1.5:4", "whole-number"),
    ("log:1:2:log", "expected log:MIN:MAX"), ("float:0:1:cubic", "unknown scaling"),
    ("cat:[1,", "not a JSON array"),
])
def test_compact_range_errors_name_the_problem(text: str, says: str) -> None:
    with pytest.raises(SpecError, match=says):
        parse_range(text)


def test_objective_must_be_a_metric_definition() -> None:
    lr = {"type": "continuous", "min": 0.001, "max": 0.1}
    spec = spec_with({"objective": "accuracy", "ranges": {"lr": lr}})
    with pytest.raises(SpecError, match=r"'accuracy' is not one of .*val_accuracy") as e:
        check(spec)
    assert "--metric" in (e.value.remedy or "")


def test_a_tuned_name_may_not_also_be_fixed() -> None:
    spec = spec_with({"objective": "val_accuracy", "ranges": {"lr": {"type": "continuous", "min": 0.001,
                                                                     "max": 0.1}}}, epochs=2, lr=0.05)
    with pytest.raises(SpecError, match="'lr' is both tuned and fixed"):
        check(spec)


@pytest.mark.parametrize(("name", "table", "says"), [
    ("optimizer", {"type": "categorical", "values": ["sgd", "lion"]}, "optimizer='lion'"),
    ("batch_size", {"type": "integer", "min": 0, "max": 64}, "batch_size=0"),
    ("momentum", {"type": "continuous", "min": 0.5, "max": 1.5}, "momentum=1.5"),
    ("layers", {"type": "integer", "min": 1, "max": 3}, "unknown hyperparameter"),
])
def test_reference_schema_checks_every_bound_and_value(name: str, table: dict[str, object],
                                                       says: str) -> None:
    spec = spec_with({"objective": "val_loss", "direction": "minimize", "ranges": {name: table}})
    with pytest.raises(SpecError, match=says):
        check(spec)


def test_a_valid_space_passes_and_states_the_grid_size() -> None:
    spec = spec_with({"objective": "val_accuracy", "strategy": "grid", "max_parallel": 2, "ranges": {
        "batch_size": {"type": "categorical", "values": [32, 64, 128]},
        "optimizer": {"type": "categorical", "values": ["sgd", "adam"]}}})
    check(spec)
    assert describe_space(spec.tune)[-1] == "grid: 3 × 2 = 6 trials (every combination)"  # type: ignore[arg-type]


def test_trial_spec_canonicalises_and_runs_under_the_classic_contract() -> None:
    amp = {"type": "categorical", "values": ["OFF"]}
    spec = spec_with({"objective": "val_accuracy", "ranges": {"amp": amp}})
    trial = trial_spec(spec, {"batch_size": 64.0, "amp": "OFF"}, name="t-001")
    assert trial.hyperparameters == {"epochs": 2, "batch_size": 64, "amp": "off"}
    assert trial.contract == "classic" and trial.tune is None and trial.job_name == "t-001"


def test_plan_figures_trials_steps_cost_and_wall_time() -> None:
    spec = build_spec({"data": DATA, "hyperparameters": {"epochs": 2},
                       "compute": {"instance_type": "ml.g5.xlarge", "instance_count": 2},
                       "spot": {"max_run": 1800},
                       "tune": {"objective": "val_accuracy", "max_trials": 7, "max_parallel": 3, "ranges": {
                           "batch_size": {"type": "integer", "min": 32, "max": 128},
                           "epochs": {"type": "categorical", "values": [1, 3]}}}, })
    spec = build_spec({**spec.model_dump(), "hyperparameters": {}})
    plan = plan_tuning(spec, samples=1437, processes_per_host=1, gpus_per_host=1, local=False,
                       price_per_hour=2.0)
    assert (plan.trials, plan.rounds, plan.wall_bound_seconds) == (7, 3, 3 * 1800)
    assert plan.cost_bound == pytest.approx(7 * 1800 / 3600 * 2.0 * 2)
    # 1,437 examples on 2 hosts: 719 per process. Least steps: batch 128, 1 epoch; most: batch 32, 3 epochs.
    assert plan.steps is not None
    assert (plan.steps.least, plan.steps.most) == (6, 69)
    assert plan.steps.least_at == {"batch_size": 128, "epochs": 1}
    assert plan.steps.most_at == {"batch_size": 32, "epochs": 3}


def test_grid_plan_counts_every_point_and_local_plans_cost_nothing() -> None:
    spec = spec_with({"objective": "val_accuracy", "strategy": "grid", "ranges": {
        "batch_size": {"type": "categorical", "values": [32, 64]},
        "lr": {"type": "categorical", "values": [0.01, 0.1, 0.2]}}})
    plan = plan_tuning(spec, samples=1437, processes_per_host=1, gpus_per_host=0, local=True)
    assert plan.trials == 6 and plan.trials_source == "every point of the grid (2 × 3)"
    assert plan.cost_bound is None
    assert len(corners(spec.tune)) == 6  # type: ignore[arg-type]


def test_a_corner_the_entrypoint_refuses_is_named_before_anything_runs() -> None:
    epochs = {"type": "integer", "min": 1, "max": 4}
    spec = spec_with({"objective": "val_accuracy", "ranges": {"epochs": epochs}},
                     warmup_epochs=2)
    with pytest.raises(SpecError, match="the trial at epochs=1 would be refused"):
        plan_tuning(spec, samples=1437, processes_per_host=1, gpus_per_host=0, local=True)


def test_flags_fill_the_tune_table_and_add_to_the_job_file_ranges(cli_env: CapturedEnv,
                                                                  tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text('[hyperparameters]\nepochs = 2\n[tune]\nobjective = "val_loss"\ndirection = "minimize"\n'
                   '[tune.ranges.lr]\ntype = "continuous"\nmin = 0.001\nmax = 0.1\nscaling = "log"\n')
    code = main(["tune", "--local", "--dry-run", "-c", str(job), "--range", "batch_size=cat:32,64",
                 "--max-trials", "3", "--max-parallel", "2", "--tune-name", "dry", "--tune-seed", "1",
                 "--strategy", "random"], cli_env)
    assert code == 0, cli_env.err
    out = json.loads(cli_env.out)
    assert out["tuning_job"] == "dry"
    assert set(out["space"]) == {"lr", "batch_size"}
    assert out["plan"]["trials"] == 3 and out["plan"]["max_parallel"] == 2
    first = out["first_trial"]
    assert first["name"] == "dry-001"
    values = first["hyperparameters"]
    assert 0.001 <= values["lr"] <= 0.1 and values["batch_size"] in (32, 64)
    argv = first["request"]["hosts"]["algo-1"]["argv"]
    assert "--batch_size" in argv or "--batch_size" in " ".join(argv)
    assert not (cli_env.home / "jobs").exists() or not any((cli_env.home / "jobs").iterdir())  # type: ignore[operator]
    # The same seed draws the same first trial.
    again = CapturedEnv(stdout=type(cli_env.stdout)(), stderr=type(cli_env.stderr)(), environ=cli_env.environ,
                        cwd=cli_env.cwd, stdout_isatty=False, config_path=cli_env.config_path,
                        home=cli_env.home)
    main(["tune", "--local", "--dry-run", "-c", str(job), "--range", "batch_size=cat:32,64",
          "--max-trials", "3",
          "--tune-name", "dry", "--tune-seed", "1", "--strategy", "random"], again)
    assert json.loads(again.out)["first_trial"]["hyperparameters"] == first["hyperparameters"]


def test_demo_hyperparameters_give_way_to_a_range_but_user_values_are_refused(cli_env: CapturedEnv) -> None:
    code = main(["tune", "--local", "--dry-run", "--objective", "val_accuracy", "--range", "lr=log:0.001:0.1",
                 "--tune-seed", "0", "--max-trials", "2"], cli_env)
    assert code == 0, cli_env.err
    assert json.loads(cli_env.out)["first_trial"]["request"]["hosts"]["algo-1"]["argv"].count("--lr") == 1
    code = main(["tune", "--local", "--dry-run", "--objective", "val_accuracy", "--range", "lr=log:0.001:0.1",
                 "--lr", "0.1"], cli_env)
    assert code == ExitStatus.INVALID
    assert "'lr' is both tuned and fixed" in cli_env.err


def test_tune_refuses_name_and_a_spec_without_tuning(cli_env: CapturedEnv) -> None:
    assert main(["tune", "--local", "--name", "x", "--objective", "val_loss", "--range", "lr=float:0.01:0.1"],
                cli_env) == ExitStatus.INVALID
    assert "--tune-name" in cli_env.err
    assert main(["tune", "--local", "--epochs", "1"], cli_env) == ExitStatus.INVALID
    assert "nothing to tune" in cli_env.err


def test_plan_shows_the_tuning_plan(cli_env: CapturedEnv) -> None:
    code = main(["plan", "--json", "--instance", "ml.g5.xlarge", "--epochs", "2",
                 "--objective", "val_accuracy",
                 "--range", "batch_size=cat:32,128", "--max-trials", "5", "--max-parallel", "2",
                 "--max-run", "600"], cli_env)
    assert code == 0, cli_env.err
    tune = json.loads(cli_env.out)["tune"]
    assert (tune["trials"], tune["rounds"], tune["wall_bound_seconds"]) == (5, 3, 1800)
    assert tune["steps_per_trial"]["least"] == 2 * 12 and tune["steps_per_trial"]["most"] == 2 * 45
    assert tune["cost_bound"] == pytest.approx(5 * 600 / 3600 * tune["price_per_hour"], abs=0.01)


def test_the_one_trial_plan_is_drawn_at_the_ranges_first_values(cli_env: CapturedEnv) -> None:
    code = main(["plan", "--json", "--local", "--epochs", "2", "--objective", "val_accuracy",
                 "--range", "lr=log:0.005:0.2", "--range", "batch_size=cat:64,32"], cli_env)
    assert code == 0, cli_env.err
    data = json.loads(cli_env.out)
    assert data["tune"]["trial_planned_at"] == {"lr": 0.005, "batch_size": 64}
    assert data["lr_per_step"][0] == pytest.approx(0.005)  # not the entrypoint's default 0.01
    assert data["batch_size"] == 64 and data["lr"] == pytest.approx(0.005)


def test_machine_share_divides_cores_or_gpus() -> None:
    share = divide(4, cores=2, gpus=0)
    assert (share.parallel, share.threads, share.gpus_per_trial, share.limited_by) == (2, 1, 0, "2 CPU cores")
    share = divide(2, cores=16, gpus=8)
    assert (share.parallel, share.threads, share.gpus_per_trial, share.limited_by) == (2, 8, 4, None)
    share = divide(3, cores=8, gpus=2)
    assert (share.parallel, share.gpus_per_trial, share.limited_by) == (2, 1, "2 GPUs")
