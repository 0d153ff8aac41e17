"""CloudWatch logs of a training job: one pass, a bounded follow loop, and the last traceback.

SageMaker writes each host's container output to `/aws/sagemaker/TrainingJobs`, stream
`<job>/algo-<N>-<epoch>`. Lines arrive stripped (the driver `.strip()`s them, so tracebacks lose
their indentation; container-contract.md §5.2).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from launcher.aws import error_code

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
DEFAULT_POLL_SECONDS = 5.0
TAIL_EVENTS = 500  # events per stream read for the failure summary

_TRACEBACK_START = re.compile(r"^(?:\[rank\d+\]:\s*)?Traceback \(most recent call last\):")
_RANK_PREFIX = re.compile(r"^\[rank\d+\]:\s?")
_CARETS = re.compile(r"^[\s^~]+$")
# Tracebacks of the launcher processes around the script, not of the script itself.
_WRAPPER_ERRORS = ("CalledProcessError", "ChildFailedError")
MAX_TRACEBACK_LINES = 60
# torchrun's failure table (torch.distributed.elastic errors): the worker that failed first.
_ROOT_CAUSE = "Root Cause (first observed failure):"
_ROOT_FIELDS = re.compile(r"^(rank|exitcode|traceback)\s*:\s*(.*)$")


@dataclass
class _Stream:
    name: str
    token: str | None = None


@dataclass
class LogReader:
    """Reads new events of every stream of one job; each call returns only what is new."""

    client: Any
    job_name: str
    streams: dict[str, _Stream] = field(default_factory=dict)

    def _discover(self) -> None:
        kwargs: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamNamePrefix": f"{self.job_name}/"}
        while True:
            page = self.client.describe_log_streams(**kwargs)
            for s in page.get("logStreams", []):
                self.streams.setdefault(s["logStreamName"], _Stream(s["logStreamName"]))
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]

    def read_new(self) -> list[tuple[int, str, str]]:
        """(timestamp ms, stream, message) of events not returned before, oldest first."""
        try:
            self._discover()
        except Exception as e:
            if error_code(e) == "ResourceNotFoundException":  # no container has started yet
                return []
            raise
        events: list[tuple[int, str, str]] = []
        for stream in self.streams.values():
            while True:
                kwargs: dict[str, Any] = {"logGroupName": LOG_GROUP, "logStreamName": stream.name,
                                          "startFromHead": True}
                if stream.token:
                    kwargs["nextToken"] = stream.token
                page = self.client.get_log_events(**kwargs)
                batch = page.get("events", [])
                events += [(e["timestamp"], stream.name, e["message"]) for e in batch]
                token = page.get("nextForwardToken")
                done = not batch or token == stream.token
                stream.token = token or stream.token
                if done:
                    break
        events.sort(key=lambda e: e[0])
        return events

    def format(self, stream: str, message: str) -> str:
        """One line; prefixed with the host (`[algo-2]`) when the job has several streams."""
        message = message.rstrip("\n")
        if len(self.streams) > 1:
            host = stream.split("/", 1)[-1].rsplit("-", 1)[0]
            return f"[{host}] {message}"
        return message


def follow(
    client: Any,
    job_name: str,
    *,
    follow: bool,
    is_done: Callable[[], bool] = lambda: True,
    poll: float = DEFAULT_POLL_SECONDS,
    timeout: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[str]:
    """Lines of a job's logs. With `follow`, keeps polling until `is_done()` (then one last read)
    or `timeout` seconds; the caller may stop early by closing the generator (or Ctrl-C)."""
    reader = LogReader(client, job_name)
    deadline = None if timeout is None else clock() + timeout
    while True:
        done = is_done() if follow else True
        for _ts, stream, message in reader.read_new():
            yield reader.format(stream, message)
        if done or (deadline is not None and clock() >= deadline):
            return
        sleep(poll)


def tail_lines(client: Any, job_name: str, limit: int = TAIL_EVENTS) -> list[str]:
    """The last `limit` lines of each stream, oldest first (bounded: one call per stream)."""
    reader = LogReader(client, job_name)
    try:
        reader._discover()
    except Exception as e:
        if error_code(e) == "ResourceNotFoundException":
            return []
        raise
    events: list[tuple[int, str]] = []
    for name in reader.streams:
        page = client.get_log_events(logGroupName=LOG_GROUP, logStreamName=name,
                                     startFromHead=False, limit=limit)
        events += [(e["timestamp"], e["message"]) for e in page.get("events", [])]
    events.sort(key=lambda e: e[0])
    return [m for _t, m in events]


def _collect(lines: list[str], start: int) -> list[str]:
    """The traceback starting at `start`: header, frames (File line + source + carets), exception."""
    out = [_RANK_PREFIX.sub("", lines[start]).strip()]
    state = "frame"
    for raw in lines[start + 1 : start + MAX_TRACEBACK_LINES]:
        line = _RANK_PREFIX.sub("", raw).strip()
        if line.startswith('File "'):
            out.append(line)
            state = "source"
        elif _CARETS.match(line) and line:
            out.append(line)
        elif state == "source":
            out.append(line)
            state = "frame"
        else:
            out.append(line)  # the exception line ends it
            break
    return out


def last_traceback(lines: list[str]) -> str | None:
    """The script's last traceback in the log, rather than the driver's that wraps it."""
    found: list[list[str]] = [_collect(lines, i) for i, line in enumerate(lines)
                              if _TRACEBACK_START.match(line.strip())]
    if not found:
        return None
    own = [tb for tb in found if not any(w in tb[-1] for w in _WRAPPER_ERRORS)]
    if own:
        return "\n".join(own[-1])
    # Only the driver's traceback (torchrun's, the toolkit's): a worker died without one (a
    # signal, an abort in native code). torchrun's table says which worker and how.
    cause = torchrun_root_cause(lines)
    return "\n".join(found[-1] + ([cause] if cause else []))


def torchrun_root_cause(lines: list[str]) -> str | None:
    """One line from torchrun's "Root Cause" table: the rank, its exit code or signal, and the
    worker's message (for a signal: "Signal 6 (SIGABRT) received by PID ...")."""
    starts = [i for i, line in enumerate(lines) if line.strip() == _ROOT_CAUSE]
    if not starts:
        return None
    fields: dict[str, str] = {}
    for raw in lines[starts[-1] + 1 : starts[-1] + 12]:
        if match := _ROOT_FIELDS.match(raw.strip()):
            fields.setdefault(match.group(1), " ".join(match.group(2).split()))
    if "exitcode" not in fields:
        return None
    parts = [f"rank {fields.get('rank', '?')}", f"exitcode {fields['exitcode']}"]
    if message := fields.get("traceback"):
        parts.append(message)
    return "Root cause: " + "; ".join(parts)
