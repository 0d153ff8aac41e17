"""The local engine of `launch tune --local`: an Optuna study (ask and tell) whose every trial is a
real local training job, run by a worker process of its own (`launcher.tune.worker`).

The loop: start trials up to the machine's share of `max_parallel`; follow each trial's log as it
is written and report every objective value to the study (the pruner decides; a pruned trial is
stopped as `launch stop` stops a job); when a worker ends, tell the study the trial's final
objective from its job record. The study lives in `study.journal` in the tuning job's directory, so
running the same `--tune-name` again resumes it: finished trials are kept, and each trial that was
running when the tuner died or was stopped is run again once (under a new trial name, with the same
values). Ctrl-C, SIGTERM (as KeyboardInterrupt) and `launch stop` stop every running trial and
record the tuning job Stopped.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from launcher.backends.base import JobStatus, now_iso
from launcher.backends.local.isolation import runner_token
from launcher.backends.local.store import JobDir
from launcher.config.spec import JobSpec, build_spec
from launcher.errors import SpecError
from launcher.job.resolve import ResolvedJob
from launcher.job.tuning import Trial, TuningDescription
from launcher.planning.tune_plan import trial_spec
from launcher.tune import engine
from launcher.tune.record import TuningDir, TuningStore
from launcher.tune.space import check_space
from launcher.tune.trials import RunningTrial, Share, divide, parser_for, start_worker, visible_devices

log = logging.getLogger(__name__)

POLL_S = 0.2
INTERRUPTED = "interrupted"       # user attr: the trial was running when the tuner stopped or died
RERUN_OF = "rerun_of"             # user attr: the number of the interrupted trial this one re-runs
# Settings a resumed tuning job must share with the one that started it (the rest may change:
# max_trials, max_parallel, the AWS settings, …).
IDENTITY_KEYS = ("entrypoint", "source_dir", "hyperparameters", "extra_hyperparameters", "data",
                 "metric_definitions", "environment")
TUNE_IDENTITY_KEYS = ("objective", "direction", "strategy", "ranges", "early_stopping", "seed",
                      "min_resource", "max_resource")


@dataclass
class TuneEvent:
    """What the tuner reports as it goes: a trial started or ended, or a note."""

    kind: str                       # start | end | prune | note
    trial: Trial | None = None
    best: Trial | None = None
    message: str = ""


def trial_name(tuning: str, number: int) -> str:
    return f"{tuning}-{number + 1:03d}"


def identity(spec: JobSpec) -> dict[str, Any]:
    data = spec.model_dump(mode="json")
    tune = data.get("tune") or {}
    return {**{k: data.get(k) for k in IDENTITY_KEYS}, "tune": {k: tune.get(k) for k in TUNE_IDENTITY_KEYS}}


@dataclass
class LocalTuner:
    spec: JobSpec                   # with its [tune] table
    job: ResolvedJob                # the base job, resolved locally (metric definitions, checks)
    name: str
    home: Path
    jobs_dir: Path
    cwd: Path
    environ: Mapping[str, str]
    gpus: int                       # this machine's GPUs (probed)
    cores: int
    on_event: Callable[[TuneEvent], None] = lambda event: None
    running: dict[int, RunningTrial] = field(default_factory=dict)
    _stopping: str | None = None

    def __post_init__(self) -> None:
        tune = check_space(self.spec, self.job)
        self.tune = tune
        self.dir: TuningDir = TuningStore(self.jobs_dir).dir(self.name)
        devices = visible_devices(self.environ, self.gpus)
        self.share: Share = divide(tune.max_parallel, self.cores, len(devices))
        self.free_gpus: list[str] = devices[: self.share.parallel * self.share.gpus_per_trial]
        self.created = now_iso()

    # -- set-up -------------------------------------------------------------------------------------

    def _prepare(self) -> bool:
        """Create the tuning job's directory, or check a resumed one matches; True when resuming."""
        resuming = self.dir.exists()
        if resuming:
            stored = build_spec(json.loads(self.dir.spec_path.read_text()))
            if identity(stored) != identity(self.spec):
                raise SpecError(f"tuning job {self.name!r} was started with other settings (search space, "
                                "objective, script, data or hyperparameters)",
                                "run it with the same settings to resume, or pick another --tune-name")
            previous = self.dir.settle()
            self.created = previous.created or self.created
            if self.dir.tuner_alive():
                raise SpecError(f"tuning job {self.name!r} is running in another `launch tune` process",
                                f"`launch status {self.name}` follows it; `launch stop {self.name}` stops it")
        elif self.dir.path.exists():
            raise SpecError(f"{self.dir.path} exists and is not a tuning job", "pick another --tune-name")
        self.dir.create()
        fd = os.open(self.dir.spec_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.spec.model_dump_json(indent=2))
        self.dir.tuner_pid_path.write_text(runner_token())
        self.dir.stop_request.unlink(missing_ok=True)
        return resuming

    def _recover(self, study: Any) -> int:
        """Trials a dead tuner left running are failed as interrupted; every interrupted trial not
        yet re-run is queued to run again, once. Returns how many were queued."""
        optuna = engine.import_optuna()
        state = optuna.trial.TrialState
        trials = study.get_trials(deepcopy=False)
        for t in trials:
            if t.state == state.RUNNING:
                study._storage.set_trial_user_attr(t._trial_id, INTERRUPTED, True)
                study._storage.set_trial_state_values(t._trial_id, state.FAIL)
        trials = study.get_trials(deepcopy=False)
        rerun = {t.user_attrs.get(RERUN_OF) for t in trials}
        queued = 0
        for t in trials:
            if t.state == state.FAIL and t.user_attrs.get(INTERRUPTED) and t.number not in rerun:
                study.enqueue_trial(t.params, user_attrs={RERUN_OF: t.number})
                queued += 1
        return queued

    # -- the loop -----------------------------------------------------------------------------------

    def run(self) -> TuningDescription:
        resuming = self._prepare()
        self.study = engine.open_study(self.tune, self.dir.journal_path, self.name)
        self._state = engine.import_optuna().trial.TrialState
        if resuming:
            queued = self._recover(self.study)
            self.on_event(TuneEvent("note", message=f"resuming {self.name}: {self._finished()} trial(s) "
                                    f"finished, {queued} interrupted trial(s) to run again"))
        if self.share.limited_by:
            self.on_event(TuneEvent("note", message=f"{self.share.parallel} trial(s) at once (max_parallel "
                                    f"{self.tune.max_parallel}, limited by {self.share.limited_by})"))
        self._save("InProgress")
        try:
            self._loop()
        except KeyboardInterrupt:
            self._stop_all("interrupted")
            self._save("Stopped", "interrupted (Ctrl-C or SIGTERM); run again with the same "
                       f"--tune-name {self.name} to resume")
            raise
        finally:
            self.dir.tuner_pid_path.unlink(missing_ok=True)
        if self._stopping:
            return self._save("Stopped", f"stopped ({self._stopping}); run again with the same "
                              f"--tune-name {self.name} to resume")
        desc = self._describe("Completed")
        if desc.best() is None:
            return self._save("Failed", "no trial completed with a value of the objective "
                              f"{self.tune.objective!r}; see `launch describe {self.name}`")
        return self._save("Completed")

    def _loop(self) -> None:
        while True:
            if self._stopping is None and self.dir.stop_request.exists():
                self._stopping = "launch stop"
                for run in self.running.values():
                    run.request_stop()
            for run in list(self.running.values()):
                self._follow(run)
            if self._stopping is None:
                while len(self.running) < self.share.parallel and self._budget() > 0:
                    self._start()
            if not self.running and (self._stopping or self._budget() <= 0):
                return
            time.sleep(POLL_S)

    def _used(self) -> int:
        """Trials that count against the budget: all but the interrupted ones and the queued."""
        return sum(1 for t in self.study.get_trials(deepcopy=False)
                   if t.state != self._state.WAITING
                   and not (t.state == self._state.FAIL and t.user_attrs.get(INTERRUPTED)))

    def _finished(self) -> int:
        return sum(1 for t in self.study.get_trials(deepcopy=False) if t.state.is_finished()
                   and not t.user_attrs.get(INTERRUPTED))

    def _budget(self) -> int:
        return self.tune.trials - self._used()

    def _start(self) -> None:
        trial = self.study.ask()
        values = engine.suggest(trial, self.tune)
        name = trial_name(self.name, trial.number)
        trial.set_user_attr("job_name", name)
        trial.set_user_attr("hyperparameters", values)
        try:
            spec = trial_spec(self.spec, values, name=name, tuning=self.name)
        except SpecError as e:  # a combination the job refuses: the trial fails, the others run
            trial.set_user_attr("failure_reason", e.message)
            self.study.tell(trial, state=self._state.FAIL)
            self._emit("end", trial.number)
            return
        gpus = tuple(self.free_gpus[: self.share.gpus_per_trial])
        del self.free_gpus[: len(gpus)]
        process = start_worker(trials_dir=self.dir.trials_dir, name=name, spec=spec, home=self.home,
                               jobs_dir=self.jobs_dir, cwd=self.cwd, environ=self.environ,
                               share=self.share, gpus=gpus)
        self.running[trial.number] = RunningTrial(
            number=trial.number, name=name, hyperparameters=values, optuna_trial=trial, process=process,
            job_dir=JobDir(self.jobs_dir / name), parser=parser_for(self.job.metric_definitions),
            objective=self.tune.objective, gpus=gpus)
        self._save("InProgress")
        self._emit("start", trial.number)

    def _follow(self, run: RunningTrial) -> None:
        for step, value in run.objective_reports():
            run.optuna_trial.report(value, step)
            if not run.pruned and not run.stop_requested and run.optuna_trial.should_prune():
                run.pruned = True
                run.request_stop()
                self._emit("prune", run.number, f"{self.tune.objective}={value:.6g} at epoch {step}")
        if run.process.poll() is not None:
            self._finish(run)

    def _finish(self, run: RunningTrial, interrupted: bool = False) -> None:
        trial = run.optuna_trial
        run.objective_reports()  # the last lines written before the worker ended
        job = run.job()
        metrics = {**run.parser.last, **(job.metrics if job else {})}
        value = metrics.get(self.tune.objective)
        trial.set_user_attr("metrics", metrics)
        trial.set_user_attr("artifacts", sorted((job.artifacts if job else {}).values()))
        trial.set_user_attr("seconds", round(run.seconds(), 1))
        if run.pruned:
            self.study.tell(trial, state=self._state.PRUNED)
        elif job is not None and job.status is JobStatus.COMPLETED and engine.finite(value):
            self.study.tell(trial, float(value))  # type: ignore[arg-type]
        elif interrupted:
            trial.set_user_attr(INTERRUPTED, True)
            self.study.tell(trial, state=self._state.FAIL)
        else:
            trial.set_user_attr("failure_reason", self._why_failed(run, job, value))
            self.study.tell(trial, state=self._state.FAIL)
        self.free_gpus.extend(run.gpus)
        del self.running[run.number]
        self._save("InProgress")
        self._emit("end", run.number)

    def _why_failed(self, run: RunningTrial, job: Any, value: float | None) -> str:
        if job is not None and job.status is not JobStatus.COMPLETED:
            return f"job {job.status}: {job.failure_reason or 'no reason recorded'}"
        if job is not None:
            return f"the objective {self.tune.objective!r} never appeared in the job's log"
        worker_log = self.dir.trials_dir / f"{run.name}.log"
        lines = [x for x in worker_log.read_text(errors="replace").splitlines() if x.strip()] \
            if worker_log.is_file() else []
        return f"the trial's worker exited {run.process.returncode}: " + (lines[-1] if lines else "no output")

    def _stop_all(self, why: str) -> None:
        """Stop every running trial and wait for its worker to record the end; a second Ctrl-C
        meanwhile is ignored, so nothing is left running."""
        self._stopping = why
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for run in self.running.values():
                run.request_stop()
            for run in list(self.running.values()):
                run.wait()
                self._finish(run, interrupted=True)
            for t in self.study.get_trials(deepcopy=False):  # asked, not started yet
                if t.state == self._state.RUNNING:
                    self.study._storage.set_trial_user_attr(t._trial_id, INTERRUPTED, True)
                    self.study._storage.set_trial_state_values(t._trial_id, self._state.FAIL)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    # -- the record ---------------------------------------------------------------------------------

    def _emit(self, kind: str, number: int, message: str = "") -> None:
        desc = self._describe("InProgress")
        trial = next((t for t in desc.trials if t.number == number), None)
        self.on_event(TuneEvent(kind, trial, desc.best(), message))

    def _describe(self, status: str, reason: str | None = None) -> TuningDescription:
        trials: list[Trial] = []
        frozen = [t for t in self.study.get_trials(deepcopy=False) if "job_name" in t.user_attrs]
        reruns = {t.user_attrs.get(RERUN_OF): t.user_attrs["job_name"] for t in frozen}
        for t in frozen:
            attrs = t.user_attrs
            run = self.running.get(t.number)
            objective: float | None = None
            if t.state == self._state.COMPLETE:
                objective = t.value
            elif t.intermediate_values:
                objective = t.intermediate_values[max(t.intermediate_values)]
            status_of = {self._state.RUNNING: "InProgress", self._state.COMPLETE: "Completed",
                         self._state.PRUNED: "Pruned"}.get(t.state, "Failed")
            failure = attrs.get("failure_reason")
            if t.state == self._state.FAIL and attrs.get(INTERRUPTED):
                status_of = "Stopped"
                again = reruns.get(t.number)
                failure = "interrupted with the tuning job; " + (f"re-run as {again}" if again else
                                                                   "runs again when the tuning job resumes")
            if t.state == self._state.PRUNED:
                failure = "stopped early by the pruner"
            trials.append(Trial(
                name=attrs["job_name"], number=t.number, status=status_of,
                hyperparameters=dict(attrs.get("hyperparameters") or {}), objective=objective,
                metrics=dict(run.parser.last) if run else dict(attrs.get("metrics") or {}),
                seconds=round(run.seconds(), 1) if run else attrs.get("seconds"),
                artifacts=list(attrs.get("artifacts") or []), failure_reason=failure))
        ended = now_iso() if status != "InProgress" else None
        return TuningDescription(
            name=self.name, backend="local", status=status, objective=self.tune.objective,
            direction=self.tune.direction, strategy=self.tune.strategy, max_trials=self.tune.trials,
            max_parallel=self.tune.max_parallel, trials=trials, created=self.created, ended=ended,
            failure_reason=reason,
            details={"job_dir": str(self.dir.path), "journal": str(self.dir.journal_path),
                     "engine": engine.engine_name(self.tune), "contract": "classic",
                     "ranges": {k: r.describe() for k, r in self.tune.ranges.items()},
                     "parallel": self.share.parallel, "threads_per_trial": self.share.threads,
                     "gpus_per_trial": self.share.gpus_per_trial,
                     "metric_definitions": [{"name": d.name, "regex": d.regex}
                                            for d in self.job.metric_definitions]})

    def _save(self, status: str, reason: str | None = None) -> TuningDescription:
        desc = self._describe(status, reason)
        with contextlib.suppress(OSError):  # the record is for the verbs; the journal is the truth
            self.dir.save(desc)
        return desc
