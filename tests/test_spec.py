"""Spec validation: every bad input fails with one clear line before anything is staged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from launcher.config import wire as hyperparams
from launcher.config.spec import JOB_NAME_RE, build_spec
from launcher.errors import SpecError
from launcher.job.naming import generate_job_name


def ok(**values):
    return build_spec(values)


@pytest.mark.parametrize(("values", "message"), [
    ({"compute": {"instance_type": "ml.p3.2xlarg"}}, "did you mean ml.p3.2xlarge?"),
    ({"compute": {"instance_type": "p3.2xlarge"}}, "did you mean ml.p3.2xlarge?"),
    ({"compute": {"instance_count": 0}}, "instance_count"),
    ({"spot": {"max_wait": 100, "max_run": 200}}, "must be ≥ max_run"),
    ({"spot": {"enabled": False, "max_wait": 7200}}, "applies only to spot"),
    ({"spot": {"max_run": 30 * 24 * 3600}}, "max_run"),
    ({"spot": {"checkpoint_s3_uri": "s3://bucket/run-1"}}, "must end with '/'"),
    ({"hyperparameters": {"epochs": 0}}, "epochs"),
    ({"hyperparameters": {"batch_size": 0}}, "batch_size"),
    ({"hyperparameters": {"lr_schedule": "cosinus"}}, "lr_schedule"),
    ({"hyperparameters": {"warmup_steps": 5, "warmup_epochs": 1}}, "warmup"),
    ({"hyperparameters": {"epoch": 3}}, "did you mean 'epochs'?"),
    ({"data": {"train": "s3://"}}, "malformed S3 URI"),
    ({"data": {"train": "s3://Bad_Bucket/x"}}, "malformed S3 URI"),
    ({"data": {"code": "/tmp"}}, "reserved"),
    ({"data": {"bad name": "/tmp"}}, "channel name"),
    ({"data": {f"c{i}": "/tmp" for i in range(19)}}, "at most 18"),
    ({"job_name": "bad_name"}, "not a valid SageMaker job name"),
    ({"job_name": "x" * 64}, "not a valid SageMaker job name"),
    ({"extra_hyperparameters": {"name": "it's"}}, "single quote"),
    ({"extra_hyperparameters": {"blob": "x" * 2501}}, "at most 2500"),
    ({"extra_hyperparameters": {f"k{i}": i for i in range(101)}}, "at most 100"),
    ({"entrypoint": "train.ipynb"}, ".py or .sh"),
    ({"environment": {"1BAD": "x"}}, "environment variable"),
    ({"metric_definitions": [{"name": "loss", "regex": "loss=[0-9.]+"}]}, "capture group"),
    ({"tags": {"team": "ml!"}}, "tag"),
    ({"compute": {"instance_typ": "ml.p3.2xlarge"}}, "did you mean 'instance_type'?"),
    ({"spott": {}}, "did you mean 'spot'?"),
])
def test_bad_specs_are_refused_with_one_line(values, message):
    with pytest.raises(SpecError) as e:
        build_spec(values)
    assert message in str(e.value)
    assert "\n" not in e.value.message


def test_a_valid_cloud_spec():
    spec = ok(compute={"instance_type": "ml.p3.2xlarge"}, hyperparameters={"batch-size": 32},
              data={"train": "s3://my-bucket/data/train/"},
              spot={"checkpoint_s3_uri": "s3://my-bucket/ckpt/"})
    assert spec.hyperparameters == {"batch_size": 32}
    assert spec.spot_enabled(cloud=True) and not spec.spot_enabled(cloud=False)
    assert spec.spot.effective_max_wait() == 2 * spec.spot.max_run


def test_encoding_matches_sdk_v3():
    assert hyperparams.encode({"a": 10, "b": 0.1, "c": 1e-5, "d": True, "e": [64, 128], "f": {"eps": 1e-8},
                               "g": None, "h": "resnet 50", "i": "10"}) == {
        "a": "10", "b": "0.1", "c": "1e-05", "d": "true", "e": "[64, 128]", "f": '{"eps": 1e-08}',
        "g": "null", "h": "resnet 50", "i": "10"}
    # The driver's side: JSON-looking strings change type; others stay strings.
    assert hyperparams.decode({"i": "10", "s": "007", "q": '"x"', "n": "NaN"})["i"] == 10
    assert hyperparams.decode({"s": "007"}) == {"s": "007"}
    assert hyperparams.env_name("lr-rate") == "SM_HP_LR_RATE"


def test_generated_job_names_are_unique_valid_and_keep_the_timestamp():
    now = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
    a, b = generate_job_name("train", now), generate_job_name("train", now)
    assert a != b and a.startswith("train-20261123-120000-")
    long = generate_job_name("a_very_long_entrypoint_name_" * 4, now)
    assert len(long) <= 63 and JOB_NAME_RE.match(long) and "-20261123-120000-" in long
