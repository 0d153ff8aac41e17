"""SageMaker tuning jobs: the request derived from a classic CreateTrainingJob request keeps spot,
checkpoints, retries and metric definitions; refusals create nothing (moto over HTTP); trials, the
best one, stop and wait through botocore's Stubber with realistic responses."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from launcher.aws import client
from launcher.backends.sagemaker import tuning
from launcher.backends.sagemaker.tuning_request import TOOLKIT_NAMES
from launcher.config.spec import build_spec
from launcher.config.tune_spec import TUNING_JOB_NAME_RE, TuneSpec
from launcher.errors import AwsError, JobNotFoundError, SpecError
from launcher.job import classic_contract
from tests.sagemaker_helpers import BUCKET, REGION, ROLE, dry_run_request, make_source
from tests.sagemaker_helpers import METRICS as LOSS_METRICS

IMAGE = ("763104351884.dkr.ecr.us-east-1.amazonaws.com/"
         "pytorch-training:2.5.1-gpu-py311-cu124-ubuntu22.04-sagemaker")
TRAINING_NAME = "train-20250101-120000-abcd"
CODE = f"s3://{BUCKET}/launcher/code/0123456789ab/sourcedir.tar.gz"
OUTPUT = f"s3://{BUCKET}/launcher/output/"
METRICS = [{"Name": "val_accuracy", "Regex": r"val_accuracy=([0-9.]+)"},
           {"Name": "loss", "Regex": r"loss=([0-9.]+)"}]


def classic_request(**changes: Any) -> dict[str, Any]:
    """A classic CreateTrainingJob request as `launch train --classic` sends it: the DLC image and
    its toolkit (no ContainerEntrypoint), the code as sagemaker_submit_directory, JSON-encoded
    hyperparameters, spot with MaxWait and checkpoints, retries, VPC and the security switches."""
    hps = classic_contract.encode(
        {"epochs": 3, "lr": 0.01, "optimizer": "adam", "batch_size": 64},
        classic_contract.framework_hyperparameters(program="train.py", submit_directory=CODE,
                                                   region=REGION, job_name=TRAINING_NAME))
    request: dict[str, Any] = {
        "TrainingJobName": TRAINING_NAME,
        "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": IMAGE,
                                   "MetricDefinitions": copy.deepcopy(METRICS)},
        "HyperParameters": hps,
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://data-bucket/train/",
            "S3DataDistributionType": "FullyReplicated"}}}],
        "ResourceConfig": {"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50,
                           "VolumeKmsKeyId": "alias/launcher"},
        "RoleArn": ROLE,
        "Tags": [{"Key": "team", "Value": "vision"}, {"Key": "launcher:version", "Value": "0.1.0"}],
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
        "OutputDataConfig": {"S3OutputPath": OUTPUT, "CompressionType": "GZIP"},
        "VpcConfig": {"SecurityGroupIds": ["sg-0123456789abcdef0"], "Subnets": ["subnet-0123456789abcdef0"]},
        "EnableNetworkIsolation": True,
        "EnableInterContainerTrafficEncryption": True,
        "RetryStrategy": {"MaximumRetryAttempts": 3},
        "CheckpointConfig": {"S3Uri": f"s3://{BUCKET}/launcher/checkpoints/{TRAINING_NAME}/",
                             "LocalPath": "/opt/ml/checkpoints"},
        "Environment": {"NCCL_DEBUG": "WARN"},
        "EnableManagedSpotTraining": True,
    }
    request.update(changes)
    return request


def spec(**kw: Any) -> TuneSpec:
    fields: dict[str, Any] = {
        "objective": "val_accuracy", "strategy": "bayesian", "max_trials": 6, "max_parallel": 2,
        "ranges": {"lr": {"type": "continuous", "min": 1e-4, "max": 0.1, "scaling": "log"},
                   "batch_size": {"type": "integer", "min": 16, "max": 128},
                   "optimizer": {"type": "categorical", "values": ["adam", "sgd"]}}}
    fields.update(kw)
    return TuneSpec.model_validate(fields)


GRID = {"optimizer": {"type": "categorical", "values": ["adam", "sgd"]},
        "batch_size": {"type": "categorical", "values": [32, 64, 128]}}


# --- the request ---------------------------------------------------------------------------------


def test_training_definition_keeps_everything_the_training_request_sends():
    training = classic_request()
    request = tuning.tuning_request(training, spec(), name="train-tune-1")
    definition = request["TrainingJobDefinition"]
    for key, value in training.items():
        if key in ("TrainingJobName", "HyperParameters", "Tags"):
            assert key not in definition
        elif key == "Environment":  # plus the variable that keeps each trial's checkpoints apart
            assert definition[key] == {**value, "LAUNCHER_TUNING_JOB": "train-tune-1"}
        elif key != "CheckpointConfig":
            assert definition[key] == value, key
    assert definition["AlgorithmSpecification"]["MetricDefinitions"] == METRICS
    assert "ContainerEntrypoint" not in definition["AlgorithmSpecification"]
    assert definition["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert definition["EnableManagedSpotTraining"] is True
    assert definition["RetryStrategy"] == {"MaximumRetryAttempts": 3}
    # The launcher's per-job checkpoint prefix becomes the tuning job's own.
    assert definition["CheckpointConfig"] == {"S3Uri": f"s3://{BUCKET}/launcher/checkpoints/train-tune-1/",
                                              "LocalPath": "/opt/ml/checkpoints"}
    assert request["Tags"] == training["Tags"]
    assert training == classic_request()  # the training request is not modified


def test_a_checkpoint_prefix_the_user_chose_stays(tmp_path):
    mine = {"S3Uri": "s3://my-bucket/ckpt/experiment-7/", "LocalPath": "/opt/ml/checkpoints"}
    request = tuning.tuning_request(classic_request(CheckpointConfig=mine), spec(), name="t1")
    assert request["TrainingJobDefinition"]["CheckpointConfig"] == mine


def test_static_hyperparameters_are_the_training_ones_minus_the_tuned_in_the_classic_encoding():
    request = tuning.tuning_request(classic_request(), spec(), name="train-tune-1")
    static = request["TrainingJobDefinition"]["StaticHyperParameters"]
    assert static == {"epochs": "3",
                      "sagemaker_submit_directory": json.dumps(CODE),
                      "sagemaker_program": '"train.py"',
                      "sagemaker_container_log_level": "20",
                      "sagemaker_job_name": '"train-tune-1"',  # every trial's name starts with it
                      "sagemaker_region": '"us-east-1"'}
    assert not set(static) & set(spec().ranges)
    assert not set(static) & TOOLKIT_NAMES  # SageMaker adds _tuning_objective_metric itself


def test_ranges_strategy_objective_and_limits():
    request = tuning.tuning_request(classic_request(), spec(seed=0), name="t1")
    config = request["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Bayesian"
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "val_accuracy"}
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 2}
    assert config["TrainingJobEarlyStoppingType"] == "Off"
    assert config["RandomSeed"] == 0  # kept: the SDK v3 tuner drops a seed of 0
    assert config["ParameterRanges"] == {
        "ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0.0001", "MaxValue": "0.1",
                                       "ScalingType": "Logarithmic"}],
        "IntegerParameterRanges": [{"Name": "batch_size", "MinValue": "16", "MaxValue": "128",
                                    "ScalingType": "Auto"}],
        "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ['"adam"', '"sgd"']}],
    }
    assert "StrategyConfig" not in config


def test_categorical_values_decode_to_their_own_type_in_the_trial():
    values = ["adam", 64, 0.5, True, None]
    tune = spec(ranges={"choice": {"type": "categorical", "values": values}})
    encoded = tuning.parameter_ranges(tune)["CategoricalParameterRanges"][0]["Values"]
    assert encoded == ['"adam"', "64", "0.5", "true", "null"]
    assert [classic_contract.decode_value(v) for v in encoded] == values


@pytest.mark.slow  # imports the SageMaker SDK
def test_string_values_are_encoded_as_the_sdk_json_range_for_framework_estimators():
    """CategoricalParameter.as_json_range (v2 `parameter.py`, kept in sagemaker-core) for strings;
    it str()s numbers first (64 → '"64"', a string in the trial), which we do not."""
    from sagemaker.core.parameter import CategoricalParameter

    strings = ["adam", "sgd", "rmsprop"]
    ours = tuning.parameter_ranges(spec(ranges={"opt": {"type": "categorical", "values": strings}}))
    assert ours["CategoricalParameterRanges"] == [CategoricalParameter(strings).as_json_range("opt")]
    assert CategoricalParameter([64]).as_json_range("b")["Values"] == ['"64"']


def test_grid_omits_the_number_of_training_jobs():
    tune = spec(strategy="grid", max_trials=None, max_parallel=3, ranges=GRID)
    config = tuning.tuning_request(classic_request(), tune, name="grid-1")["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Grid"
    assert config["ResourceLimits"] == {"MaxParallelTrainingJobs": 3}
    request = tuning.tuning_request(classic_request(), tune, name="grid-1")
    request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 6
    with pytest.raises(SpecError, match="takes no MaxNumberOfTrainingJobs"):
        tuning.validate_tuning_request(request)


def test_a_grid_over_750_combinations_is_refused():
    ranges = {f"p{i}": {"type": "categorical", "values": list(range(10))} for i in range(3)}
    with pytest.raises(SpecError, match="1000 combinations"):
        tuning.tuning_request(classic_request(), spec(strategy="grid", max_trials=None, ranges=ranges))


def test_hyperband_has_early_stopping_off_and_its_resources():
    tune = spec(strategy="hyperband", min_resource=1, max_resource=20)
    config = tuning.tuning_request(classic_request(), tune, name="hb-1")["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Hyperband"
    assert config["TrainingJobEarlyStoppingType"] == "Off"
    assert config["StrategyConfig"] == {"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 20}}
    request = tuning.tuning_request(classic_request(), tune, name="hb-1")
    request["HyperParameterTuningJobConfig"]["TrainingJobEarlyStoppingType"] = "Auto"
    with pytest.raises(SpecError, match="must be Off"):
        tuning.validate_tuning_request(request)


def test_hyperband_needs_a_max_resource_or_a_static_epochs():
    tune = spec(strategy="hyperband")
    config = tuning.tuning_request(classic_request(), tune, name="hb-1")["HyperParameterTuningJobConfig"]
    assert config["StrategyConfig"] == {"HyperbandStrategyConfig": {}}  # SageMaker reads "epochs"
    no_epochs = classic_request()
    del no_epochs["HyperParameters"]["epochs"]
    with pytest.raises(SpecError, match="Hyperband needs the most epochs"):
        tuning.tuning_request(no_epochs, tune, name="hb-1")


def test_names_at_most_32_characters():
    with pytest.raises(SpecError, match="1-32 letters"):
        tuning.tuning_request(classic_request(), spec(), name="n" * 33)
    assert tuning.tuning_request(classic_request(), spec(name="my-tuning"))["HyperParameterTuningJobName"] \
        == "my-tuning"
    generated = tuning.tuning_request(classic_request(), spec())["HyperParameterTuningJobName"]
    assert generated.startswith("train-") and len(generated) <= 32 and TUNING_JOB_NAME_RE.match(generated)
    long = tuning.generate_tuning_name("a_very_long_script_name_for_training.py",
                                       now=datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC), suffix="beef")
    assert long == "a-very-long-s-250304-050607-beef" and len(long) == 32


def test_the_objective_must_be_a_metric_definition():
    with pytest.raises(SpecError, match="'accuracy' is not one of the job's metric definitions"):
        tuning.tuning_request(classic_request(), spec(objective="accuracy"))
    no_metrics = classic_request()
    del no_metrics["AlgorithmSpecification"]["MetricDefinitions"]
    with pytest.raises(SpecError, match=r"\(none\)"):
        tuning.tuning_request(no_metrics, spec())


@pytest.mark.parametrize("change, message", [
    ({"AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": IMAGE,
                                 "MetricDefinitions": METRICS, "ContainerEntrypoint": ["/bin/bash"]}},
     "classic-contract"),
    ({"HyperParameters": {"epochs": "3"}}, "classic-contract"),
    ({"TensorBoardOutputConfig": {"S3OutputPath": "s3://b/tb/"}}, "TensorBoardOutputConfig has no place"),
    ({"StoppingCondition": {"MaxRuntimeInSeconds": 3600}}, "needs MaxWaitTimeInSeconds"),
    ({"Environment": {f"V{i}": "x" for i in range(49)}}, "at most 48"),
    ({"AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": IMAGE,
                                 "MetricDefinitions": [*METRICS, *({"Name": f"m{i}", "Regex": "m=(.*)"}
                                                                   for i in range(19))]}},
     "a tuning job accepts at most 20"),
    ({"RetryStrategy": {"MaximumRetryAttempts": 31}}, "at most 30"),
    ({"ResourceConfig": {"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50,
                         "KeepAlivePeriodInSeconds": 99999}}, "at most 21600"),
])
def test_what_sagemaker_would_refuse_is_refused(change, message):
    with pytest.raises(SpecError, match=message):
        tuning.tuning_request(classic_request(**change), spec())


def test_tuned_names_and_the_hyperparameter_count():
    with pytest.raises(SpecError, match="belongs to the training toolkit"):
        tuning.tuning_request(classic_request(), spec(ranges={
            "sagemaker_program": {"type": "categorical", "values": ["a.py", "b.py"]}}))
    many = classic_request()
    many["HyperParameters"].update({f"h{i}": "1" for i in range(90)})  # 99 with the 9 before
    two = spec(ranges={"lr": {"type": "continuous", "min": 0.1, "max": 1},
                       "wd": {"type": "continuous", "min": 0.1, "max": 1}})
    with pytest.raises(SpecError, match="101 hyperparameters"):  # 98 static + 2 tuned + SageMaker's
        tuning.tuning_request(many, two)
    del many["HyperParameters"]["h0"]
    assert len(tuning.tuning_request(many, two)["TrainingJobDefinition"]["StaticHyperParameters"]) == 97


def test_a_negative_seed_is_refused():
    with pytest.raises(SpecError, match="RandomSeed -1"):
        tuning.tuning_request(classic_request(), spec(seed=-1))


# --- on moto ---------------------------------------------------------------------------------------


@pytest.fixture
def sm(aws) -> Any:
    return client(boto3.Session(region_name=REGION), "sagemaker")


def _count(sm: Any) -> int:
    return len(sm.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"])


def test_create_on_moto_and_read_the_job_back(sm):
    request = tuning.tuning_request(classic_request(), spec(), name="train-tune-1")
    arn = tuning.create_tuning(sm, request)
    assert arn.endswith(":hyper-parameter-tuning-job/train-tune-1")
    stored = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="train-tune-1")
    definition = stored["TrainingJobDefinition"]
    assert definition == request["TrainingJobDefinition"]
    assert definition["CheckpointConfig"]["S3Uri"].endswith("/checkpoints/train-tune-1/")
    assert definition["EnableManagedSpotTraining"] is True
    assert definition["StoppingCondition"]["MaxWaitTimeInSeconds"] == 7200
    assert definition["RetryStrategy"] == {"MaximumRetryAttempts": 3}
    assert definition["AlgorithmSpecification"]["MetricDefinitions"] == METRICS
    assert definition["StaticHyperParameters"]["sagemaker_program"] == '"train.py"'
    assert stored["HyperParameterTuningJobConfig"] == request["HyperParameterTuningJobConfig"]

    desc = tuning.describe_tuning(sm, "train-tune-1", region=REGION, trials=False)
    assert (desc.backend, desc.objective, desc.direction, desc.strategy) == \
        ("sagemaker", "val_accuracy", "maximize", "bayesian")
    assert (desc.max_trials, desc.max_parallel) == (6, 2)
    assert desc.details["spot"] is True and desc.details["retry_attempts"] == 3
    assert desc.details["static_hyperparameters"] == {"epochs": 3}
    assert desc.details["console"].endswith("#/hyper-tuning-jobs/train-tune-1")


def test_refused_requests_create_nothing(sm):
    good = tuning.tuning_request(classic_request(), spec(), name="good-1")
    bad_objective = copy.deepcopy(good)
    bad_objective["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"] = "acc"
    long_name = {**copy.deepcopy(good), "HyperParameterTuningJobName": "n" * 33}
    grid_with_max = tuning.tuning_request(
        classic_request(), spec(strategy="grid", max_trials=None, ranges=GRID), name="grid-1")
    grid_with_max["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 6
    hyperband_auto = tuning.tuning_request(classic_request(), spec(strategy="hyperband", max_resource=9),
                                           name="hb-1")
    hyperband_auto["HyperParameterTuningJobConfig"]["TrainingJobEarlyStoppingType"] = "Auto"
    no_spot_wait = copy.deepcopy(good)
    del no_spot_wait["TrainingJobDefinition"]["StoppingCondition"]["MaxWaitTimeInSeconds"]
    before = _count(sm)
    for bad in (bad_objective, long_name, grid_with_max, hyperband_auto, no_spot_wait):
        with pytest.raises(SpecError):
            tuning.create_tuning(sm, bad)
    assert _count(sm) == before == 0
    tuning.create_tuning(sm, good)
    assert _count(sm) == 1


def test_grid_and_hyperband_are_created_as_asked(sm):
    grid = tuning.tuning_request(classic_request(), spec(strategy="grid", max_trials=None, ranges=GRID),
                                 name="grid-1")
    tuning.create_tuning(sm, grid)
    stored = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="grid-1")
    assert "MaxNumberOfTrainingJobs" not in stored["HyperParameterTuningJobConfig"]["ResourceLimits"]
    assert tuning.describe_tuning(sm, "grid-1", trials=False).max_trials == 6  # 2 × 3 combinations


def test_a_name_in_use_and_a_missing_job(sm):
    request = tuning.tuning_request(classic_request(), spec(), name="twice")
    tuning.create_tuning(sm, request)
    with pytest.raises(AwsError, match="already exists"):
        tuning.create_tuning(sm, request)
    with pytest.raises(JobNotFoundError, match="no SageMaker tuning job named 'nope'"):
        tuning.describe_tuning(sm, "nope")


def test_list_tuning_jobs(sm):
    for name in ("tune-a", "tune-b", "tune-c"):
        tuning.create_tuning(sm, tuning.tuning_request(classic_request(), spec(), name=name))
    listed = tuning.list_tuning_jobs(sm)
    assert {d.name for d in listed} == {"tune-a", "tune-b", "tune-c"}
    assert all(d.trials == [] and d.objective == "val_accuracy" for d in listed)
    assert len(tuning.list_tuning_jobs(sm, limit=2)) == 2
    assert tuning.list_tuning_jobs(sm, status="InProgress") == []
    with pytest.raises(SpecError, match="status 'Running'"):
        tuning.list_tuning_jobs(sm, status="Running")
    with pytest.raises(SpecError, match="limit 0"):
        tuning.list_tuning_jobs(sm, limit=0)


# --- Stubber: trials, the best one, stop, wait ---------------------------------------------------


T0 = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


def _stubbed() -> tuple[Any, Stubber]:
    session = boto3.Session(region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    sm = client(session, "sagemaker")
    return sm, Stubber(sm)


def _described(status: str, best: str | None = None) -> dict[str, Any]:
    request = tuning.tuning_request(classic_request(), spec(), name="tj")
    resp: dict[str, Any] = {
        "HyperParameterTuningJobName": "tj",
        "HyperParameterTuningJobArn":
            f"arn:aws:sagemaker:{REGION}:123456789012:hyper-parameter-tuning-job/tj",
        "HyperParameterTuningJobConfig": request["HyperParameterTuningJobConfig"],
        "TrainingJobDefinition": {**request["TrainingJobDefinition"], "StaticHyperParameters": {
            **request["TrainingJobDefinition"]["StaticHyperParameters"],
            "_tuning_objective_metric": "val_accuracy"}},
        "HyperParameterTuningJobStatus": status,
        "CreationTime": T0,
        "TrainingJobStatusCounters": {"Completed": 2, "InProgress": 0, "RetryableError": 0,
                                      "NonRetryableError": 1, "Stopped": 0},
        "ObjectiveStatusCounters": {"Succeeded": 2, "Pending": 0, "Failed": 1},
    }
    if status != "InProgress":
        resp["HyperParameterTuningEndTime"] = T0 + timedelta(hours=1)
    if best:
        resp["BestTrainingJob"] = _summary(best, 1, "Completed", 0.93)
    return resp


def _summary(name: str, minute: int, status: str, value: float | None, **extra: Any) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:123456789012:training-job/{name}",
        "TuningJobName": "tj",
        "CreationTime": T0 + timedelta(minutes=minute),
        "TrainingStartTime": T0 + timedelta(minutes=minute + 2),
        "TrainingJobStatus": status,
        "TunedHyperParameters": {"lr": "0.0031", "batch_size": "64", "optimizer": '"adam"'},
        **extra,
    }
    if status != "InProgress":
        summary["TrainingEndTime"] = T0 + timedelta(minutes=minute + 12)
    if value is not None:
        summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
            "Type": "Maximize", "MetricName": "val_accuracy", "Value": value}
        summary["ObjectiveStatus"] = "Succeeded"
    return summary


def test_describe_with_paginated_trials_and_the_best_artifact():
    sm, stub = _stubbed()
    stub.add_response("describe_hyper_parameter_tuning_job", _described("Completed", best="tj-002-bbbbbbbb"),
                      {"HyperParameterTuningJobName": "tj"})
    listing = {"HyperParameterTuningJobName": "tj", "SortBy": "CreationTime", "SortOrder": "Ascending",
               "MaxResults": 100}
    # Pages in creation order reversed, to show the trials are numbered by creation time.
    stub.add_response("list_training_jobs_for_hyper_parameter_tuning_job", {"TrainingJobSummaries": [
        _summary("tj-003-cccccccc", 2, "Failed", None, FailureReason="AlgorithmError: exit status 1"),
    ], "NextToken": "page-2"}, listing)
    stub.add_response("list_training_jobs_for_hyper_parameter_tuning_job", {"TrainingJobSummaries": [
        _summary("tj-002-bbbbbbbb", 1, "Completed", 0.93),
        {**_summary("tj-001-aaaaaaaa", 0, "Completed", 0.88),
         "TunedHyperParameters": {"lr": "0.05", "batch_size": "16", "optimizer": '"sgd"'}},
    ]}, {**listing, "NextToken": "page-2"})
    model = f"{OUTPUT}tj-002-bbbbbbbb/output/model.tar.gz"
    stub.add_response("describe_training_job", {
        "TrainingJobName": "tj-002-bbbbbbbb",
        "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:123456789012:training-job/tj-002-bbbbbbbb",
        "ModelArtifacts": {"S3ModelArtifacts": model}, "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed", "AlgorithmSpecification": {"TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600}, "CreationTime": T0,
    }, {"TrainingJobName": "tj-002-bbbbbbbb"})
    with stub:
        desc = tuning.describe_tuning(sm, "tj", region=REGION)
    stub.assert_no_pending_responses()
    assert [(t.number, t.name, t.status) for t in desc.trials] == [
        (0, "tj-001-aaaaaaaa", "Completed"), (1, "tj-002-bbbbbbbb", "Completed"),
        (2, "tj-003-cccccccc", "Failed")]
    first, second, failed = desc.trials
    assert first.hyperparameters == {"lr": 0.05, "batch_size": 16, "optimizer": "sgd"}
    assert second.hyperparameters == {"lr": 0.0031, "batch_size": 64, "optimizer": "adam"}
    assert (first.objective, second.objective, failed.objective) == (0.88, 0.93, None)
    assert second.metrics == {"val_accuracy": 0.93} and second.seconds == 600.0
    assert failed.failure_reason == "AlgorithmError: exit status 1" and failed.artifacts == []
    assert first.artifacts == [f"{OUTPUT}tj-001-aaaaaaaa/output/model.tar.gz"]
    best = desc.best()
    assert best is second and best.artifacts == [model]
    assert desc.details["best_training_job"] == "tj-002-bbbbbbbb"
    assert desc.details["training_job_counts"]["NonRetryableError"] == 1
    assert "_tuning_objective_metric" not in desc.details["static_hyperparameters"]
    assert (desc.status, desc.ended) == ("Completed", (T0 + timedelta(hours=1)).isoformat())


def test_stop_a_running_tuning_job():
    sm, stub = _stubbed()
    name = {"HyperParameterTuningJobName": "tj"}
    stub.add_response("describe_hyper_parameter_tuning_job", _described("InProgress"), name)
    stub.add_response("stop_hyper_parameter_tuning_job", {}, name)
    stub.add_response("describe_hyper_parameter_tuning_job", _described("Stopping"), name)
    with stub:
        assert tuning.stop_tuning(sm, "tj").status == "Stopping"
    stub.assert_no_pending_responses()


def test_stop_leaves_an_ended_job_alone_and_reports_a_missing_one():
    sm, stub = _stubbed()
    name = {"HyperParameterTuningJobName": "tj"}
    stub.add_response("describe_hyper_parameter_tuning_job", _described("Completed"), name)
    stub.add_client_error("describe_hyper_parameter_tuning_job", "ResourceNotFound",
                          "Amazon SageMaker can't find a tuning job with name gone",
                          expected_params={"HyperParameterTuningJobName": "gone"})
    with stub:
        assert tuning.stop_tuning(sm, "tj").status == "Completed"  # no StopHyperParameterTuningJob
        with pytest.raises(JobNotFoundError, match="'gone'"):
            tuning.stop_tuning(sm, "gone")
    stub.assert_no_pending_responses()


def test_stop_when_the_job_ends_between_the_calls():
    sm, stub = _stubbed()
    name = {"HyperParameterTuningJobName": "tj"}
    stub.add_response("describe_hyper_parameter_tuning_job", _described("InProgress"), name)
    stub.add_client_error("stop_hyper_parameter_tuning_job", "ValidationException",
                          "The tuning job tj is in status Completed and cannot be stopped",
                          expected_params=name)
    stub.add_response("describe_hyper_parameter_tuning_job", _described("Completed"), name)
    with stub:
        assert tuning.stop_tuning(sm, "tj").status == "Completed"


def test_wait_polls_until_the_job_ends():
    sm, stub = _stubbed()
    name = {"HyperParameterTuningJobName": "tj"}
    listing = {**name, "SortBy": "CreationTime", "SortOrder": "Ascending", "MaxResults": 100}
    stub.add_response("describe_hyper_parameter_tuning_job", _described("InProgress"), name)
    stub.add_response("list_training_jobs_for_hyper_parameter_tuning_job", {"TrainingJobSummaries": [
        _summary("tj-001-aaaaaaaa", 0, "InProgress", None)]}, listing)
    stub.add_response("describe_hyper_parameter_tuning_job", _described("Completed"), name)
    stub.add_response("list_training_jobs_for_hyper_parameter_tuning_job", {"TrainingJobSummaries": [
        _summary("tj-001-aaaaaaaa", 0, "Completed", 0.9)]}, listing)
    slept: list[float] = []
    seen: list[str] = []
    with stub:
        desc = tuning.wait_tuning(sm, "tj", poll_seconds=5, sleep=slept.append,
                                  on_update=lambda d: seen.append(d.status))
    assert (desc.status, seen, slept) == ("Completed", ["InProgress", "Completed"], [5])
    assert desc.trials[0].objective == 0.9


# --- from a resolved classic job through the training request ------------------------------------


def test_from_a_resolved_classic_job_through_the_training_request(tmp_path, aws):
    """`launch tune`'s path: the job's classic CreateTrainingJob request (request.to_request), then
    the tuning request; created on moto, the training definition is the training request's."""
    src = make_source(tmp_path)
    job_spec = build_spec({
        "entrypoint": "train.py", "source_dir": str(src), "contract": "classic",
        "compute": {"instance_type": "ml.g5.xlarge"},
        "aws": {"role": ROLE, "bucket": BUCKET, "region": REGION},
        "data": {"train": "s3://data-bucket/train/"},
        "hyperparameters": {"epochs": 4, "lr": 0.01, "optimizer": "adam"},
        "sagemaker": {"retry_attempts": 2},
        "tune": {"objective": "loss", "direction": "minimize", "strategy": "random", "max_trials": 4,
                 "ranges": {"lr": {"type": "continuous", "min": 0.001, "max": 0.1, "scaling": "log"},
                            "optimizer": {"type": "categorical", "values": ["adam", "sgd"]}}},
    })
    training = dry_run_request(job_spec, "train-20250101-000000-abcd", cwd=tmp_path)
    assert job_spec.tune is not None
    request = tuning.tuning_request(training, job_spec.tune, name="train-tune-7")
    definition = request["TrainingJobDefinition"]
    assert "ContainerEntrypoint" not in definition["AlgorithmSpecification"]
    assert definition["AlgorithmSpecification"]["MetricDefinitions"] == LOSS_METRICS
    assert definition["EnableManagedSpotTraining"] is True  # spot is the cloud default
    assert definition["StoppingCondition"]["MaxWaitTimeInSeconds"] >= \
        definition["StoppingCondition"]["MaxRuntimeInSeconds"]
    assert definition["CheckpointConfig"]["S3Uri"].endswith("/checkpoints/train-tune-7/")
    assert definition["RetryStrategy"] == {"MaximumRetryAttempts": 2}
    static = definition["StaticHyperParameters"]
    assert static["sagemaker_program"] == '"train.py"' and static["epochs"] == "4"
    assert static["sagemaker_submit_directory"] == training["HyperParameters"]["sagemaker_submit_directory"]
    assert "lr" not in static and "optimizer" not in static
    assert {t["Key"]: t["Value"] for t in request["Tags"]}["launcher:contract"] == "classic"
    sm = client(boto3.Session(region_name=REGION), "sagemaker")
    tuning.create_tuning(sm, request)
    stored = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="train-tune-7")
    assert stored["TrainingJobDefinition"] == definition
