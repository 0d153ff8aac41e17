"""Settings layers: defaults < user config < job file < env < flags, with provenance."""

from __future__ import annotations

import json

from launcher.cli.main import main
from launcher.config.layers import resolve_spec
from launcher.config.userconfig import update_user_config


def test_precedence_and_sources(tmp_path):
    config = tmp_path / "config.toml"
    update_user_config(config, "aws", {"region": "eu-west-1", "bucket": "from-config", "role": "arn:r"})
    update_user_config(config, "compute", {"instance_type": "ml.g5.xlarge"})
    job = tmp_path / "jobs" / "job.toml"
    job.parent.mkdir()
    job.write_text('source_dir = "src"\nentrypoint = "t.py"\n[hyperparameters]\nepochs = 3\nlr = 0.1\n'
                   '[data]\ntrain = "data/train"\n[compute]\ninstance_type = "ml.p3.2xlarge"\n')
    r = resolve_spec(config_path=config, environ={"LAUNCHER_BUCKET": "from-env"}, job_file=job,
                     flags={"hyperparameters": {"epochs": 5}})
    s = r.spec
    assert s.hyperparameters == {"epochs": 5, "lr": 0.1}  # maps merge key by key
    assert s.compute.instance_type == "ml.p3.2xlarge" and s.aws.bucket == "from-env"
    assert s.aws.region == "eu-west-1" and s.aws.role == "arn:r"
    assert s.source_dir == str(job.parent / "src")  # relative to the job file
    assert s.data["train"] == str(job.parent / "data/train")
    assert r.sources["hyperparameters.epochs"] == "flag"
    assert r.sources["hyperparameters.lr"] == "job file job.toml"
    assert r.sources["aws.bucket"] == "env LAUNCHER_BUCKET"
    assert r.sources["aws.region"] == "user config"


def test_demo_defaults_only_for_the_reference_entrypoint(tmp_path):
    config = tmp_path / "none.toml"
    demo = resolve_spec(config_path=config, environ={})
    assert demo.spec.uses_reference_entrypoint and set(demo.spec.data) == {"train", "validation"}
    assert demo.spec.hyperparameters["lr_schedule"] == "cosine"
    own = resolve_spec(config_path=config, environ={}, flags={"source_dir": str(tmp_path)})
    assert own.spec.hyperparameters == {} and own.spec.data == {}


def test_unknown_key_in_job_file_is_named_with_a_hint(cli_env, tmp_path):
    job = tmp_path / "job.yaml"
    job.write_text("compute:\n  instance_typ: ml.p3.2xlarge\n")
    assert main(["config", "-c", str(job)], cli_env) == 2
    assert "unknown setting 'compute.instance_typ'" in cli_env.err
    assert "did you mean 'instance_type'?" in cli_env.err


def test_launch_config_shows_where_values_come_from(cli_env):
    update_user_config(cli_env.config_path, "aws", {"bucket": "b1"})
    assert main(["config", "--json", "--epochs", "7"], cli_env) == 0
    values = json.loads(cli_env.out)["values"]
    assert values["hyperparameters.epochs"] == {"value": 7, "source": "flag"}
    assert values["aws.bucket"] == {"value": "b1", "source": "user config"}
    assert values["hyperparameters.lr_schedule"] == {"value": "constant",
                                                     "source": "default (reference entrypoint)"}


def test_user_config_carries_a_format_version_and_old_files_still_read(tmp_path):
    from launcher.config.userconfig import FORMAT_VERSION, load_user_config, update_user_config

    path = tmp_path / "config.toml"
    path.write_text('[aws]\nbucket = "old-bucket"\n')  # written before format_version existed
    assert load_user_config(path) == {"aws": {"bucket": "old-bucket"}}
    update_user_config(path, "aws", {"role": "arn:aws:iam::123456789012:role/r"})
    assert path.read_text().startswith(f"format_version = {FORMAT_VERSION}\n")
    assert load_user_config(path) == {"aws": {"bucket": "old-bucket",
                                              "role": "arn:aws:iam::123456789012:role/r"}}
    spec = resolve_spec(config_path=path, environ={}).spec  # the version is no setting of a job
    assert spec.aws.bucket == "old-bucket"
