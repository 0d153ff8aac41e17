"""Backends: where a job runs. Both implement `launcher.backends.base.Backend`."""
