"""The Docker-free local backend: a faithful emulation of the SageMaker training container."""
