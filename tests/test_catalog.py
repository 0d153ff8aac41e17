"""The instance catalogue against the installed botocore model, and images with support dates."""

from __future__ import annotations

from datetime import date

import pytest

from launcher.backends.sagemaker.images import resolve_image, support_warning
from launcher.config import catalog
from launcher.errors import SpecError


def test_the_snapshot_and_the_gpu_table_match_the_installed_model() -> None:
    live = catalog.botocore_training_types()
    assert live, "the installed botocore has no TrainingInstanceType enum"
    assert live >= catalog.INSTANCE_TYPES, sorted(catalog.INSTANCE_TYPES - live)
    live_families = {t.removeprefix("ml.").rsplit(".", 1)[0] for t in live}
    assert set(catalog._GPU_FAMILIES) <= live_families


def test_every_gpu_family_is_planned_with_gpus_and_a_gpu_image() -> None:
    for name in sorted(catalog.botocore_training_types()):
        family = name.removeprefix("ml.").rsplit(".", 1)[0]
        if family.startswith(("trn", "inf")) or family == "p2":  # Neuron; K80 (no PyTorch 2 image)
            continue
        info = catalog.lookup(name)
        image = resolve_image(region="us-east-1", instance_type=name, today=date(2026, 12, 3))
        assert (info.gpus > 0) == (image.processor == "gpu"), name


def test_a_type_newer_than_the_tables_is_accepted_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalog, "botocore_training_types",
                        lambda: frozenset({*catalog.INSTANCE_TYPES, "ml.p9.48xlarge"}))
    info = catalog.lookup("ml.p9.48xlarge")
    assert (info.gpus, info.gpus_known, info.in_snapshot) == (1, False, False)
    warnings = " ".join(catalog.warnings_for(info))
    assert "newer than the launcher's instance table" in warnings and "--processes-per-host" in warnings
    with pytest.raises(SpecError, match="unknown instance type"):
        catalog.lookup("ml.p9.49xlarge")


@pytest.mark.parametrize(("instance", "today", "expected"), [
    ("ml.g5.xlarge", date(2026, 12, 3), None),
    ("ml.g5.xlarge", date(2027, 2, 1), "past its end of patch support (2027-01-21)"),
    ("ml.p3.2xlarge", date(2026, 12, 3), "no supported PyTorch training image drives the V100"),
])
def test_default_images_and_their_support_dates(instance: str, today: date, expected: str | None) -> None:
    image = resolve_image(region="us-east-1", instance_type=instance, today=today)
    assert image.reason
    if expected is None:
        assert image.warnings == ()
    else:
        assert len(image.warnings) == 1 and expected in image.warnings[0]


def test_a_chosen_old_image_is_warned_about_with_the_fix() -> None:
    warning = support_warning("2.6.0", "ml.g5.xlarge", today=date(2026, 12, 3))
    assert warning is not None and "--framework-version 2.10.0" in warning
