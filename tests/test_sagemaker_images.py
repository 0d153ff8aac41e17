"""The bundled DLC table agrees with the SDK's own image resolution (sagemaker.core.image_uris)."""

from __future__ import annotations

import pytest

from launcher.backends.sagemaker import images

image_uris = pytest.importorskip("sagemaker.core.image_uris")

INSTANCES = ("ml.p3.2xlarge", "ml.g5.xlarge", "ml.m5.xlarge")


@pytest.fixture(autouse=True)
def _cached_endpoint_resolver(monkeypatch):
    """The SDK re-reads botocore's endpoints.json on every call (0.1 s); cache it for this file."""
    import functools

    utils = image_uris.utils
    monkeypatch.setattr(utils, "_botocore_resolver", functools.lru_cache(maxsize=1)(utils._botocore_resolver))


def _sdk(version: str, py: str, instance: str, region: str) -> str | None:
    try:
        return image_uris.retrieve(framework="pytorch", region=region, version=version, py_version=py,
                                   instance_type=instance, image_scope="training")
    except (ValueError, KeyError):
        return None


def test_every_table_entry_matches_the_sdk():
    checked = 0
    for version, (pys, _cuda) in images.VERSIONS.items():
        for region in images.REGISTRIES:
            for instance in INSTANCES:
                for requested in (version, version.rsplit(".", 1)[0]):  # full version and alias
                    try:
                        ours = images.resolve_image(region=region, instance_type=instance,
                                                    framework_version=requested, py_version=pys[0]).uri
                    except Exception:
                        ours = None  # refused (CUDA 13 on Volta, region not served)
                    expected = _sdk(requested, pys[0], instance, region)
                    if ours is None:
                        continue
                    if expected is None:  # the SDK's botocore cannot resolve the ECR endpoint there
                        continue
                    assert ours == expected, (version, region, instance)
                    checked += 1
    assert checked > 500


def test_defaults_match_the_sdk_for_volta_and_newer_gpus():
    assert images.resolve_image(region="us-west-2", instance_type="ml.p3.8xlarge").uri == _sdk(
        images.DEFAULT_CUDA12_VERSION, "py312", "ml.p3.8xlarge", "us-west-2")
    assert images.resolve_image(region="us-west-2", instance_type="ml.g6.xlarge").uri == _sdk(
        images.DEFAULT_VERSION, "py313", "ml.g6.xlarge", "us-west-2")


def test_table_covers_the_sdk_versions_we_offer():
    import json
    from pathlib import Path

    config = json.loads((Path(image_uris.__file__).parent / "image_uri_config" / "pytorch.json").read_text())
    training = config["training"]["versions"]
    for version, (pys, _cuda) in images.VERSIONS.items():
        assert training[version]["py_versions"] == list(pys)
    newest = max(training, key=lambda v: tuple(int(p) for p in v.split(".")))
    assert newest in images.VERSIONS, f"the SDK knows PyTorch {newest}: add it to the table"
