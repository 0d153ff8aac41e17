"""Metric definitions (name + regex, first group = value) and applying them to log lines, as
SageMaker does with MetricDefinitions: `re.search` on every line, group 1 parsed as a float."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from launcher.config.spec import JobSpec, MetricDefinition
from launcher.errors import SpecError

DEFINITIONS_FILE = "metric_definitions.json"


def load_source_definitions(source_dir: Path) -> list[MetricDefinition]:
    """The source dir's own `metric_definitions.json` (SageMaker's Name/Regex shape), or []."""
    path = source_dir / DEFINITIONS_FILE
    if not path.is_file():
        return []
    try:
        items = json.loads(path.read_text())
        return [MetricDefinition(name=i["Name"], regex=i["Regex"]) for i in items]
    except (ValueError, KeyError, TypeError) as e:
        raise SpecError(f"{path} is not a list of {{'Name', 'Regex'}} objects: {e}") from e


def effective_definitions(spec: JobSpec, source_dir: Path) -> list[MetricDefinition]:
    if spec.metric_definitions is not None:
        return list(spec.metric_definitions)
    return load_source_definitions(source_dir)


class MetricParser:
    def __init__(self, definitions: list[MetricDefinition]) -> None:
        self._compiled = [(d.name, re.compile(d.regex)) for d in definitions]
        self.last: dict[str, float] = {}

    def feed(self, line: str) -> dict[str, float]:
        """Values found in this line (also kept in `last`)."""
        found: dict[str, float] = {}
        for name, pattern in self._compiled:
            m = pattern.search(line)
            if not m:
                continue
            try:
                value = float(m.group(1))
            except (TypeError, ValueError):
                continue
            if not math.isnan(value):
                found[name] = value
        self.last.update(found)
        return found
