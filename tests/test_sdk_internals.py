"""The SageMaker SDK's private API the backend relies on, pinned (`sagemaker-train~=1.27.0`) and
guarded: a release that changes any of it fails here, loudly, before a submit could."""

from __future__ import annotations

import inspect
from importlib.metadata import version

import pytest

pytest.importorskip("sagemaker.train")


def test_the_installed_sdk_is_the_tested_minor_release() -> None:
    major, minor, *_ = version("sagemaker-train").split(".")
    assert (major, minor) == ("1", "27"), "re-test launcher/backends/sagemaker/trainer.py, then move the pin"


def test_model_trainer_still_builds_the_request_privately() -> None:
    from sagemaker.train import ModelTrainer

    build = ModelTrainer._create_training_job_args  # the request without sending it
    params = inspect.signature(build).parameters
    assert "input_data_config" in params and "boto3" in params


def test_the_session_keeps_its_bucket_in_default_bucket() -> None:
    from sagemaker.core.helper.session_helper import Session

    source = inspect.getsource(Session.default_bucket)
    assert "self._default_bucket" in source  # set directly to skip ListBuckets/CreateBucket


def test_model_trainer_still_stages_the_code_in_temp_code_dir() -> None:
    from sagemaker.train import model_trainer

    assert "_temp_code_dir" in inspect.getsource(model_trainer)  # cleaned up after each request
