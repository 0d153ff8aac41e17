"""CLI latency: cold `launch --help` and `launch plan ...` processes vs `python -c "import boto3"`.

Each measurement is one fresh process, from spawn to exit, run the way a user runs it (the ``launch``
console script of this interpreter's environment). "Cold" means a new interpreter every time; the OS
page cache and the .pyc files are warm (one discarded run of each command first), as on any
second use of the tool. Rows: ``python -c pass`` (the interpreter's own floor, for reference),
``import boto3`` (the baseline of the ratio: what any AWS tool pays), ``launch --help`` and
``launch plan --samples 60000 --epochs 10 --instance ml.g5.xlarge`` (no AWS call: --samples
replaces reading the data). Goal: ``launch --help`` <= 0.25 s on this kind of machine,
i.e. it imports neither the SDK nor torch. The heavy modules each command leaves in sys.modules
are listed below the table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import _common as c

HELP_GOAL_S = 0.25
HEAVY = ("torch", "sagemaker", "boto3", "botocore", "pydantic", "numpy", "rich", "pandas")

PROBE = """
import sys
from launcher.cli.main import main
try:
    main({argv!r})
except SystemExit:
    pass
print('HEAVY=' + ','.join(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    c.common_arguments(p, repeats=10)
    return p.parse_args(argv)


def heavy_modules(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    out = subprocess.run([c.python(), "-c", PROBE.format(argv=argv, heavy=HEAVY)], env=env, cwd=cwd,
                         capture_output=True, text=True, timeout=120)
    lines = [x for x in out.stdout.splitlines() if x.startswith("HEAVY=")]
    return (lines[-1].removeprefix("HEAVY=") or "none") if lines else "?"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    plan_args = ["plan", "--samples", "60000", "--epochs", "10", "--instance", "ml.g5.xlarge"]
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        home = Path(tmp)
        # No AWS settings at all: a command that tried to call AWS would fail, not wait.
        env = c.launcher_env(home, AWS_REGION="us-east-1")
        launch = c.launch_command()
        commands = {
            "python -c pass": [c.python(), "-c", "pass"],
            "python -c 'import boto3'": [c.python(), "-c", "import boto3"],
            "launch --help": [*launch, "--help"],
            "launch plan --samples ...": [*launch, *plan_args],
        }
        for argv_ in commands.values():  # discarded: compiles .pyc, fills the page cache
            c.timed(argv_, env=env, cwd=home)
        times: dict[str, list[float]] = {k: [] for k in commands}
        for r in range(args.repeats):
            names = list(commands) if r % 2 == 0 else list(reversed(commands))  # spread drift evenly
            for name in names:
                c.say(f"{name} ({r + 1}/{args.repeats})")
                seconds, _ = c.timed(commands[name], env=env, cwd=home)
                times[name].append(seconds)
        heavy = {"launch --help": heavy_modules(["--help"], env, home),
                 "launch plan --samples ...": heavy_modules(plan_args, env, home)}
    table = c.Table("CLI latency: fresh processes, wall time from spawn to exit",
                    "ratio = median / median of `python -c 'import boto3'`")
    group = "cold process"
    table.add(group, "python -c 'import boto3'", times["python -c 'import boto3'"], "s", baseline=True)
    table.add(group, "python -c pass", times["python -c pass"], "s")
    help_median = c.Row(group, "", times["launch --help"], "s").median
    table.add(group, "launch --help", times["launch --help"], "s",
              goal=c.goal_text(help_median <= HELP_GOAL_S, f"<= {HELP_GOAL_S} s"))
    table.add(group, "launch plan --samples ...", times["launch plan --samples ..."], "s")
    table.notes.append(f"plan command: launch {' '.join(plan_args)}")
    for name, mods in heavy.items():
        table.notes.append(f"`{name}` leaves imported: {mods}")
    table.print()
    settings = {"repeats": args.repeats, "plan_args": plan_args, "launch": launch, "heavy_modules": heavy}
    c.write_json(args.json, c.result("cli_latency", __doc__, settings, [table]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
