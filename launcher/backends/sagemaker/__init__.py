"""The SageMaker backend (SDK v3 ModelTrainer, imported lazily). See backend.py and docs/sagemaker.md."""
