"""One trial, in a process of its own: `python -m launcher.tune.worker TRIAL.json`.

The trial is an ordinary local training job, run by the same runner as `launch train --local`
(resolve, dry run, schedule): its own job directory, logs and artifacts, the script in its own
process tree. A process per trial isolates the trials from each other and from the tuner (a trial's
crash, its signal handlers, its memory), and gives each its share of threads or GPUs through its
environment. It ends with the job: exit status 0 when Completed, else the job's own.

It is tied to the tuner's life: started under `setpriv --pdeathsig KILL` where available, and
watching its parent otherwise, so a killed tuner leaves no trial running. SIGTERM, SIGHUP and
SIGINT stop the job as Ctrl-C stops `launch train --local` (recorded Stopped).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from launcher.config.spec import JobSpec, build_spec
from launcher.errors import ExitStatus, LauncherError

PARENT_POLL_S = 0.5


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _watch_parent(parent: int) -> None:
    """Where the kernel cannot kill us with the tuner (no setpriv): notice it is gone, and stop."""
    while True:
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)
            return
        time.sleep(PARENT_POLL_S)


def run_trial(request: dict[str, Any]) -> int:
    from launcher.job.resolve import Target
    from launcher.runner import exit_status_for, make_runner

    spec: JobSpec = build_spec(request["spec"])
    home, jobs_dir = Path(request["home"]), Path(request["jobs_dir"])

    def note(message: str) -> None:
        sys.stderr.write(f"launch: {message}\n")
        sys.stderr.flush()

    runner = make_runner(home=home, jobs_dir=jobs_dir, environ=dict(os.environ), cwd=Path(request["cwd"]),
                         notify=note)
    gpus = int(request.get("gpus", 0))
    runner = replace(runner, gpu_probe=lambda: gpus)  # this trial's share, not the machine's
    job = runner.resolve(spec, Target.LOCAL)
    desc = runner.submit(runner.dryrun(job)).job
    note(f"{desc.name}: {desc.status}" + (f" ({desc.failure_reason})" if desc.failure_reason else ""))
    return exit_status_for(desc)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        sys.stderr.write("usage: python -m launcher.tune.worker TRIAL.json\n")
        return int(ExitStatus.INVALID)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, _raise_interrupt)
    request = json.loads(Path(args[0]).read_text())
    parent = int(request.get("parent", 0))
    if parent:
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    try:
        return run_trial(request)
    except KeyboardInterrupt:
        sys.stderr.write("launch: trial stopped\n")
        return int(ExitStatus.INTERRUPTED)
    except LauncherError as e:
        sys.stderr.write(f"error: {e.message}\n" + (f"  → {e.remedy}\n" if e.remedy else ""))
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
