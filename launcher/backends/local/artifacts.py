"""model.tar.gz and output.tar.gz at `<output>/<job-name>/output/`, as SageMaker uploads them:
each archive holds the *contents* of /opt/ml/model and /opt/ml/output/data; several hosts' trees
merge (on a name clash the first host's copy wins)."""

from __future__ import annotations

import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from launcher.backends.s3_transfer import upload_file
from launcher.config.spec import is_s3_uri


def pack_contents(dirs: list[Path], archive: Path) -> int:
    """Tar the merged contents of `dirs` into a gzip archive; returns the number of files."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    with tarfile.open(archive, "w:gz") as tar:
        for root in dirs:
            if not root.is_dir():
                continue
            for path in sorted(root.rglob("*")):
                rel = path.relative_to(root).as_posix()
                if path.is_file() and rel not in seen:
                    seen.add(rel)
                    tar.add(path, arcname=rel, recursive=False)
    return len(seen)


def publish_artifacts(
    model_dirs: list[Path],
    output_dirs: list[Path],
    output: str,
    job_name: str,
    staging: Path,
    s3_factory: Callable[[], Any],
) -> dict[str, str]:
    """Pack both archives and put them at `<output>/<job>/output/`; returns name → location."""
    locations: dict[str, str] = {}
    for name, dirs in (("model", model_dirs), ("output", output_dirs)):
        filename = f"{name}.tar.gz"
        if is_s3_uri(output):
            local = staging / filename
            pack_contents(dirs, local)
            uri = f"{output.rstrip('/')}/{job_name}/output/{filename}"
            upload_file(s3_factory(), local, uri)
            locations[name] = uri
        else:
            target = Path(output) / job_name / "output" / filename
            pack_contents(dirs, target)
            locations[name] = str(target)
    return locations
