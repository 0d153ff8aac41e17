"""Compare two model directories bit for bit; run as `python -m launcher.drill.compare A B`.

Runs in the job's Python (which has torch) so the launcher process never imports torch. Prints
{"match": bool, "detail": str} as JSON; exit 0 on a match, 1 otherwise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TENSOR_SUFFIXES = (".pt", ".pth")


def _first_tensor_difference(a: Path, b: Path) -> str | None:
    import torch

    sa = torch.load(a, map_location="cpu", weights_only=True)
    sb = torch.load(b, map_location="cpu", weights_only=True)
    if not isinstance(sa, dict) or not isinstance(sb, dict):
        return None if a.read_bytes() == b.read_bytes() else f"{a.name}: contents differ"
    if list(sa) != list(sb):
        return f"{a.name}: different keys ({sorted(set(sa) ^ set(sb))[:3]})"
    for key in sa:
        ta, tb = sa[key], sb[key]
        if not (isinstance(ta, torch.Tensor) and isinstance(tb, torch.Tensor)):
            if ta != tb:
                return f"{a.name}: {key} differs"
            continue
        if ta.shape != tb.shape or ta.dtype != tb.dtype:
            return (f"{a.name}: {key} is {tuple(ta.shape)}/{ta.dtype} "
                    f"vs {tuple(tb.shape)}/{tb.dtype}")
        # Bitwise: compare the raw bytes (NaNs and -0.0 included), not numerical closeness.
        if not torch.equal(ta.reshape(-1).view(torch.uint8), tb.reshape(-1).view(torch.uint8)):
            diff = (ta.double() - tb.double()).abs().max().item() if ta.is_floating_point() else "n/a"
            return f"{a.name}: tensor {key!r} differs (max abs difference {diff})"
    return None


def compare_dirs(a: Path, b: Path) -> tuple[bool, str]:
    files_a = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    tensors = [f for f in files_a if f.endswith(TENSOR_SUFFIXES)]
    if tensors:
        for rel in tensors:
            if rel not in files_b:
                return False, f"{rel} is missing from the second model"
            if (problem := _first_tensor_difference(a / rel, b / rel)) is not None:
                return False, problem
        return True, f"{len(tensors)} tensor file(s) bitwise identical"
    if files_a != files_b:
        return False, f"different files: {sorted(set(files_a) ^ set(files_b))[:5]}"
    for rel in files_a:
        if (a / rel).read_bytes() != (b / rel).read_bytes():
            return False, f"{rel} differs"
    return True, f"{len(files_a)} file(s) byte-identical"


if __name__ == "__main__":
    match, detail = compare_dirs(Path(sys.argv[1]), Path(sys.argv[2]))
    print(json.dumps({"match": match, "detail": detail}))
    sys.exit(0 if match else 1)
