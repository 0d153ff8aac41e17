"""launcher: SageMaker-style managed training, with a faithful Docker-free local mode."""

__version__ = "0.1.0"
