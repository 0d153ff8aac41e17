"""The "bare script" of submit_latency.py: what a user writes with the SageMaker SDK v3 alone to submit
the same training job as `launch train --instance ... --no-wait` (a measured program, not a benchmark).

    python bench/bare_submit.py JOB.json

JOB.json (written by submit_latency.py from the launcher's dry-run request) holds the region, role,
bucket, image, instance, spot and stopping settings, checkpoint prefix, output path,
hyperparameters, metric definitions, environment, the data channels' S3 URIs and a local source
directory. The session gets what SDK v3 needs to run against moto (anchor figures): an explicit default
bucket (else it asks STS for the account) and telemetry opted out; credentials and the endpoint
come from the environment (AWS_ENDPOINT_URL). The SDK packages and uploads the source directory and
its driver files itself, on every submit, as it does for any user.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    cfg = json.loads(Path(argv[0]).read_text())

    import boto3
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.train import ModelTrainer
    from sagemaker.train.configs import (
        CheckpointConfig,
        Compute,
        InputData,
        MetricDefinition,
        OutputDataConfig,
        SourceCode,
        StoppingCondition,
    )

    session = Session(
        boto_session=boto3.Session(region_name=cfg["region"]),
        default_bucket=cfg["bucket"],
        sagemaker_config={"SchemaVersion": "1.0",
                          "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}},
    )
    trainer = ModelTrainer(
        sagemaker_session=session,
        role=cfg["role"],
        base_job_name=cfg["base_job_name"],
        training_image=cfg["image"],
        source_code=SourceCode(source_dir=cfg["source_dir"], entry_script=cfg["entry_script"]),
        compute=Compute(instance_type=cfg["instance_type"], instance_count=cfg["instance_count"],
                        volume_size_in_gb=cfg["volume_size_gb"],
                        enable_managed_spot_training=cfg["spot"]),
        stopping_condition=StoppingCondition(max_runtime_in_seconds=cfg["max_run"],
                                             max_wait_time_in_seconds=cfg["max_wait"]),
        output_data_config=OutputDataConfig(s3_output_path=cfg["output_path"]),
        checkpoint_config=(CheckpointConfig(s3_uri=cfg["checkpoint_uri"], local_path="/opt/ml/checkpoints")
                           if cfg.get("checkpoint_uri") else None),
        hyperparameters=cfg["hyperparameters"],
        environment=cfg.get("environment") or {},
    )
    if cfg.get("metric_definitions"):
        trainer = trainer.with_metric_definitions(
            [MetricDefinition(name=m["Name"], regex=m["Regex"]) for m in cfg["metric_definitions"]])
    trainer.train(input_data_config=[InputData(channel_name=name, data_source=uri)
                                     for name, uri in cfg["channels"].items()],
                  wait=False, logs=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
