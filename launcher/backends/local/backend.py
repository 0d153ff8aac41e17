"""LocalBackend: runs a Script Mode entrypoint here, without Docker, in an emulated SageMaker
training container (SDK v3 ModelTrainer drivers' contract).

Capabilities:
- channels from local paths (hard-linked read-only) or s3:// URIs (downloaded, File mode);
- code packaged by the same function as the SageMaker backend, extracted into input/data/code;
- SM_* environment, config JSON files, argv conversion, requirements install, exit-code propagation,
  the failure file (a script-written one wins), model.tar.gz/output.tar.gz at <output>/<job>/output/;
- checkpoint sync with a local directory or S3 standing in for the checkpoint S3 URI;
- torchrun with N processes per host and M emulated hosts rendezvousing on 127.0.0.1;
- spot-interruption drills: SIGKILL the process tree, restart under the same name.
- /opt/ml is each host's own tree in a private mount namespace where the machine allows it; elsewhere
  (or with --relocate-opt-ml) paths are relocated under the job directory and the run says so;
- the script's environment is built (an allowlist of host variables, host_env.py), not inherited;
- one line about the container at the start; the differences go into the record (`describe`), and
  warnings (an empty model directory, a touched host /opt/ml) at the end.
Not emulated: Pipe mode (refused), FastFile streaming (staged as File), EFA.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from launcher.backends.base import (
    Capabilities,
    DryRun,
    JobDescription,
    JobStatus,
    Submission,
    Transition,
    now_iso,
)
from launcher.backends.local import container as ct
from launcher.backends.local.artifacts import publish_artifacts
from launcher.backends.local.checkpoint_sync import CheckpointMirror
from launcher.backends.local.checks import Snapshot, empty_model_warning, host_opt_ml_warning, snapshot
from launcher.backends.local.commands import LAUNCHER_EXITED, LocalJobs, settle
from launcher.backends.local.credentials import apply_policy, assume_role, describe_policy
from launcher.backends.local.deviations import deviations, mode_line, planned_image
from launcher.backends.local.failures import failure_reason, last_traceback
from launcher.backends.local.host_env import host_environment
from launcher.backends.local.isolation import Isolation, isolation, runner_token
from launcher.backends.local.job_requirements import JobRequirements
from launcher.backends.local.opt_ml import OPT_ML, OptMlMount
from launcher.backends.local.options import Interrupter, LocalOptions, free_port
from launcher.backends.local.process import HostCommand, ProcessGroup
from launcher.backends.local.store import JobDir, JobStore, record_details
from launcher.backends.s3_transfer import download_prefix
from launcher.config.spec import JobSpec, is_s3_uri
from launcher.errors import SpecError
from launcher.job import classic_contract
from launcher.job.metrics import MetricParser
from launcher.job.packaging import package_source, safe_extract
from launcher.job.resolve import ResolvedJob

log = logging.getLogger(__name__)

DEFAULT_REGION = "us-east-1"
NOMINAL_INSTANCE_TYPE = "ml.m5.xlarge"
RECORD_EVERY_S = 2.0


CAPABILITIES = Capabilities(foreground=True, input_modes=("File", "FastFile"), managed_spot=False,
                            interruption_drill=True, follow_logs=True)


class LocalBackend:
    name = "local"
    capabilities = CAPABILITIES

    def __init__(
        self,
        jobs_root: Path,
        *,
        environ: dict[str, str] | None = None,
        echo: Callable[[str], None] | None = None,
        notify: Callable[[str], None] | None = None,
        s3_factory: Callable[[], Any] | None = None,
        sts_factory: Callable[[], Any] | None = None,
        options: LocalOptions | None = None,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self.store = JobStore(jobs_root)
        self.environ = dict(os.environ if environ is None else environ)
        self.echo = echo or (lambda line: None)
        self.notify = notify or (lambda msg: log.info("%s", msg))
        self._s3_factory = s3_factory
        self._sts_factory = sts_factory
        self._role_env: dict[str, str] | None = None  # the execution role's credentials, per run
        self._s3: Any = None
        self.options = options or LocalOptions()
        self.progress = progress  # (label, bytes done, bytes total) of S3 channel downloads
        self.jobs = LocalJobs(self.store, self.s3)
        self._iso: Isolation | None = None  # decided once, on first use
        self._host_opt_ml: Snapshot | None = None  # the machine's /opt/ml before a relocated run
        self.requirements = JobRequirements(self.environ, self.store.root, self.options.python, self.notify)

    # -- the job verbs (they work from the job directories alone, in any process) -----------------

    def wait(self, job_name: str) -> JobDescription:
        return self.jobs.describe(job_name)  # local jobs run in the foreground

    def describe(self, job_name: str) -> JobDescription:
        return self.jobs.describe(job_name)

    def list_jobs(self, status: JobStatus | None = None, limit: int = 20) -> list[JobDescription]:
        return self.jobs.list_jobs(status, limit)

    def logs(self, job_name: str, follow: bool = False) -> Iterator[str]:
        return self.jobs.logs(job_name, follow)

    def stop(self, job_name: str) -> JobDescription:
        return self.jobs.stop(job_name)

    def download(self, job_name: str, to: Path, extract: bool = False) -> list[Path]:
        return self.jobs.download(job_name, to, extract)

    # -- helpers ----------------------------------------------------------------------------------

    def s3(self) -> Any:
        if self._s3 is None:
            if self._s3_factory is None:
                from launcher.aws import client, make_session

                session = make_session(self.environ.get("AWS_REGION") or DEFAULT_REGION)
                self._s3 = client(session, "s3")
            else:
                self._s3 = self._s3_factory()
        return self._s3

    def isolation(self) -> Isolation:
        """Namespaces for this backend's runs: its options, then the environment's switches
        (LAUNCHER_PID_NAMESPACE=0: sessions only; LAUNCHER_MOUNT_NAMESPACE=0: relocated paths)."""
        if self._iso is None:
            pid = False if self.environ.get("LAUNCHER_PID_NAMESPACE") == "0" else self.options.pid_namespace
            mount = (False if self.environ.get("LAUNCHER_MOUNT_NAMESPACE") == "0"
                     else self.options.mount_namespace)
            self._iso = isolation(pid, mount, self.store.root)
        return self._iso

    def _view(self, layout: ct.HostLayout) -> ct.HostLayout:
        """The host's tree as its script sees it: /opt/ml in a mount namespace, else where it is."""
        return ct.HostLayout(OPT_ML, layout.host) if self.isolation().opt_ml else layout

    def _transition(self, job: JobDir, desc: JobDescription, status: str, message: str = "") -> None:
        desc.transitions.append(Transition(status, now_iso(), message))
        desc.secondary_status = status
        job.save(desc)
        self.notify(f"{status}{': ' + message if message else ''}")

    # -- submit -----------------------------------------------------------------------------------

    def _containers(self, job: ResolvedJob) -> dict[str, ct.ContainerConfig]:
        """Each emulated host's container config."""
        spec = job.spec
        region = spec.aws.region or self.environ.get("AWS_REGION") or DEFAULT_REGION
        hosts = list(job.hosts)
        instance_type = job.instance_type or NOMINAL_INSTANCE_TYPE
        hyperparameters = job.hyperparameters
        if job.contract == "classic":  # + the SDK v2's reserved ones; the code named as its local mode does
            reserved = classic_contract.framework_hyperparameters(
                program=job.entrypoint, submit_directory=f"file://{job.source_dir}", region=region,
                job_name=job.name, torch_distributed=job.torchrun, instance_type=instance_type)
            hyperparameters = {**hyperparameters, **classic_contract.encode({}, reserved)}
        return {
            host: ct.ContainerConfig(
                job_name=job.name, region=region,
                instance_type=instance_type,
                hosts=hosts, current_host=host, channels=[c.name for c in job.channels],
                hyperparameters=hyperparameters, entry_script=job.entrypoint,
                environment=spec.environment, checkpointing=job.checkpointing,
                num_gpus=job.gpus_per_host, distributed=job.torchrun,
                processes_per_host=job.processes_per_host if job.torchrun else None,
                input_mode=spec.compute.input_mode, contract=job.contract,
            )
            for host in hosts
        }

    def dryrun(self, job: ResolvedJob) -> DryRun:
        """What `schedule` would run, per host (argv, cwd, the SM_* environment); writes nothing."""
        spec = job.spec
        if spec.output and not is_s3_uri(spec.output) and Path(spec.output).exists() \
                and not Path(spec.output).is_dir():
            raise SpecError(f"--output {spec.output} is a file", "name a directory or an s3:// URI")
        configs = self._containers(job)
        jobdir = JobDir(self.store.root / job.name)
        requirements = self.requirements.dryrun_lines(job)
        commands = self._commands(job, jobdir, configs, port=0)
        iso = self.isolation()
        first = configs[commands[0].host]
        request = {
            "job_name": job.name,
            "job_dir": str(jobdir.path),
            "opt_ml": ("each host's tree (mount namespace)" if iso.opt_ml else f"relocated "
                       f"({iso.relocated_because}): {jobdir.path / 'hosts' / '<host>' / 'opt' / 'ml'}"),
            "hosts": {
                c.host: {"argv": c.argv, "cwd": str(c.cwd),
                         "environment": {k: v for k, v in c.env.items()
                                         if k.startswith(("SM_", "TRAINING_JOB_")) or
                                         k in spec.environment or
                                         k in ("OMP_NUM_THREADS", "SAGEMAKER_BASE_DIR")}}
                for c in commands
            },
            "deviations": [d.__dict__ for d in deviations(
                first, iso, jobdir.host_layout(first.current_host).root, python=self.options.python,
                image=planned_image(spec.compute, first.region, job.instance_type))],
        }
        actions = [f"create the job directory {jobdir.path}",
                   f"package {job.source_dir} and extract it into each host's "
                   f"{'/opt/ml/code' if job.contract == 'classic' else '/opt/ml/input/data/code'}"]
        actions += [f"stage channel {c.name!r} from {c.location}" for c in job.channels]
        actions += requirements
        actions.append(f"run {len(commands)} host{'s' if len(commands) > 1 else ''} "
                       f"× {job.processes_per_host} process{'es' if job.processes_per_host > 1 else ''}")
        return DryRun(job=job, backend=self.name, request=request, actions=actions, payload=configs,
                      warnings=list(job.warnings))

    def schedule(self, dryrun: DryRun) -> Submission:
        """Run the job in the foreground; returns its final description."""
        return Submission(self.run(dryrun.job, dryrun.payload or self._containers(dryrun.job)))

    def _sts(self) -> Any:
        if self._sts_factory is not None:
            return self._sts_factory()
        from launcher.aws import client, make_session

        return client(make_session(self.environ.get("AWS_REGION") or DEFAULT_REGION), "sts")

    def run(self, resolved: ResolvedJob, configs: dict[str, ct.ContainerConfig]) -> JobDescription:
        spec, job_name = resolved.spec, resolved.name
        policy = spec.aws.local_credentials
        self._role_env = (assume_role(self._sts(), spec.aws.role, f"launcher-{job_name}",
                                      spec.spot.max_run) if policy == "role" else None)
        hosts = list(configs)
        if self.store.exists(job_name) and settle(self.store.get(job_name)).failure_reason == LAUNCHER_EXITED:
            job = self.store.reclaim(job_name)  # its launcher died: run again, resuming
            self.notify(f"{job_name}: its last launcher died; running it again from its checkpoints")
        else:
            job = self.store.create(job_name)
        fd = os.open(job.spec_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # private record
        with os.fdopen(fd, "w") as f:
            f.write(spec.model_dump_json(indent=2))
        job.runner_pid_path.write_text(runner_token())  # `stop` and `status` check the runner lives
        desc = JobDescription(
            name=job_name, backend=self.name, status=JobStatus.IN_PROGRESS, created=now_iso(),
            instance_type=configs[hosts[0]].instance_type,
            instance_count=len(hosts),  # spot pricing does not apply here: no savings to report
        )
        desc.details.update({"job_dir": str(job.path), "processes_per_host": resolved.processes_per_host,
                             "source_dir": str(resolved.source_dir),
                             "checkpointing": resolved.checkpointing,
                             "hyperparameters": dict(resolved.hyperparameters),
                             "credentials": describe_policy(policy, spec.aws.role),
                             "environment_left_out": self._left_out(spec),
                             **record_details(resolved, job, self.options.python)})
        self._transition(job, desc, "Starting")
        iso = self.isolation()
        desc.details["processes"] = "a PID namespace per host" if iso.pid_namespace else "a session per host"
        first = job.host_layout(hosts[0])
        desc.details["opt_ml"] = ("each host's own tree (a mount namespace per host)" if iso.opt_ml
                                  else f"relocated to the job directory ({iso.relocated_because})")
        desc.deviations = deviations(
            configs[hosts[0]], iso, first.root, python=self.options.python,
            image=planned_image(spec.compute, configs[hosts[0]].region, resolved.instance_type))
        self.notify(mode_line(iso, first.root, job_name))
        # A relocated script can still write the machine's own /opt/ml: compare it after the run.
        self._host_opt_ml = None if iso.opt_ml else snapshot()
        job.save(desc)
        try:
            self._stage(resolved, job, configs, desc)
            return self._train_and_finish(resolved, job, configs, desc)
        except KeyboardInterrupt:
            staged = job.host_layout(hosts[0]).model_dir.is_dir()
            self._finish(job, desc, JobStatus.STOPPED, "Stopped", "interrupted from the keyboard",
                         spec=spec if staged else None, hosts=hosts if staged else None)
            raise
        except BaseException as e:
            self._finish(job, desc, JobStatus.FAILED, "Failed", f"launcher error: {e}")
            raise

    def _left_out(self, spec: JobSpec) -> list[str]:
        """Names of the caller's variables the script does not get (never their values)."""
        base, left_out = host_environment(self.environ, spec.environment)
        _, by_policy = apply_policy(base, spec.aws.local_credentials, spec.environment)
        return sorted({*left_out, *by_policy})

    def _stage(self, resolved: ResolvedJob, job: JobDir, configs: dict[str, ct.ContainerConfig],
               desc: JobDescription) -> None:
        self._transition(job, desc, "Downloading", "staging code and data")
        package = package_source(resolved.source_dir, job.path / "staging", resolved.spec.include_files,
                                 dependencies=resolved.dependencies)
        if line := package.exclusions_line():
            self.notify(line)
        desc.details["code_sha256"] = package.sha256
        for host in configs:
            layout = job.host_layout(host)
            layout.create(classic=configs[host].classic)
            code_dir = ct.code_dir(layout, configs[host])
            safe_extract(package.path, code_dir)
            if configs[host].classic and not resolved.entrypoint.endswith(".py"):
                (code_dir / resolved.entrypoint).chmod(0o777)  # the toolkit's install step does so
            ct.write_config_files(layout, configs[host], view=self._view(layout))
            for channel in resolved.channels:
                dest = layout.channel_dir(channel.name)
                if channel.local_path is None:
                    files, size = download_prefix(self.s3(), channel.location, dest, self.progress,
                                                  f"{channel.name} ({host})")
                    if files == 0:
                        raise SpecError(f"data channel {channel.name!r}: nothing under {channel.location}")
                else:
                    size = ct.stage_local_channel(channel.local_path, dest)
                log.info("channel %s on %s: %d bytes", channel.name, host, size)
        if resolved.requirements:
            first = next(iter(configs))
            self.requirements.install(resolved, job, ct.code_dir(job.host_layout(first), configs[first]),
                                      desc)

    # -- training ---------------------------------------------------------------------------------

    def _commands(self, resolved: ResolvedJob, job: JobDir, configs: dict[str, ct.ContainerConfig],
                  port: int | None = None) -> list[HostCommand]:
        port = free_port() if port is None else port
        hosts, nproc = list(configs), resolved.processes_per_host
        base, _ = host_environment(self.environ, resolved.spec.environment)
        commands = []
        for rank, host in enumerate(ct.sorted_hosts(hosts)):
            layout = job.host_layout(host)
            view = self._view(layout)  # the paths the script sees; staging writes through `layout`
            cfg = configs[host]
            env = ct.container_environment(view, cfg, base)
            env, _ = apply_policy(env, resolved.spec.aws.local_credentials, resolved.spec.environment,
                                  self._role_env)
            if view is layout:  # relocated: the training toolkit finds the tree by this variable
                env["SAGEMAKER_BASE_DIR"] = str(layout.root)
            # The job's interpreter first on PATH: `.sh` entrypoints and what the script spawns run
            # `python` of the job's environment (its requirements', else the launcher's), activated or not.
            python = self.requirements.interpreter(job.name)
            bin_dir = str(Path(python).parent)
            env["PATH"] = os.pathsep.join([bin_dir, *(p for p in env.get("PATH", "").split(os.pathsep)
                                                      if p and p != bin_dir)])
            argv = ct.entry_command(python, cfg)
            if cfg.distributed:
                env.update({"NCCL_SOCKET_IFNAME": "lo", "NCCL_PROTO": "simple"})
                if "OMP_NUM_THREADS" not in env:  # the user's, from the shell or --env, wins
                    # Emulated hosts share this machine's cores: give each process its share, or
                    # the processes oversubscribe the CPU and collectives crawl.
                    share = (os.cpu_count() or 1) // (len(hosts) * nproc)
                    env["OMP_NUM_THREADS"] = str(max(1, share))
                # Local rendezvous on loopback (real multi-host: algo-1:7777; single host: torchrun's
                # default 127.0.0.1:29500, replaced by a free port so parallel jobs do not collide).
                argv = [python, "-m", "torch.distributed.run",
                        f"--nnodes={len(hosts)}", f"--nproc_per_node={nproc}",
                        "--master_addr=127.0.0.1", f"--master_port={port}",
                        f"--node_rank={rank}", *argv[1:]]
            if len(hosts) > 1 and "CUDA_VISIBLE_DEVICES" not in env and cfg.num_gpus:
                share = cfg.num_gpus  # this host's slice of the machine's GPUs ("" hides them all)
                env["CUDA_VISIBLE_DEVICES"] = ",".join(str(rank * share + i) for i in range(share))
            mount = (OptMlMount(layout.root, job.path / "hosts" / host / "opt-stash", tuple(hosts))
                     if view is not layout else None)
            commands.append(HostCommand(host, argv, ct.code_dir(view, cfg), env, job.log_path(host), mount))
        return commands

    def _train_and_finish(self, resolved: ResolvedJob, job: JobDir,
                          configs: dict[str, ct.ContainerConfig], desc: JobDescription) -> JobDescription:
        spec, hosts = resolved.spec, list(configs)
        parser = MetricParser(list(resolved.metric_definitions))
        mirrors = self._mirrors(spec, job, hosts) if resolved.checkpointing else []
        interrupter = self.options.interrupter
        attempt = 0
        started = time.monotonic()
        deadline = started + spec.spot.max_run  # MaxRuntimeInSeconds counts across restarts
        desc.started = now_iso()
        while True:
            for m in mirrors:
                m.restore()
                m.start()
            self._transition(job, desc, "Training", "" if attempt == 0 else f"restart {attempt}")
            try:
                codes, ended_by = self._run_attempt(resolved, job, configs, parser, desc, interrupter,
                                                    attempt, deadline)
            finally:
                for m in mirrors:  # the last pass also runs on Ctrl-C: nothing written is lost
                    m.stop()
            if ended_by in ("stop", "max runtime"):
                desc.metrics = dict(parser.last)
                secondary, reason = (("Stopped", "stop requested") if ended_by == "stop" else
                                     ("MaxRuntimeExceeded", f"training ran past max_run "
                                      f"({spec.spot.max_run} s); raise --max-run"))
                return self._finish(job, desc, JobStatus.STOPPED, secondary, reason,
                                    spec=spec, hosts=hosts, started=started)
            if ended_by == "interruption":
                attempt += 1
                self._transition(job, desc, "Interrupted", f"interruption {attempt}: process tree killed")
                self._transition(job, desc, "Restarting")
                self._transition(job, desc, "Starting")
                continue
            break
        desc.metrics = dict(parser.last)
        failed = [c for c in codes if c != 0]
        if failed:
            reason = failure_reason(job, hosts, configs, failed[0])
            desc.exit_code = failed[0]
            if traceback := last_traceback(job, hosts):
                desc.details["last_traceback"] = traceback
            return self._finish(job, desc, JobStatus.FAILED, "Failed", reason, spec=spec,
                                hosts=hosts, started=started)
        desc.exit_code = 0
        if resolved.contract == "classic":  # the training toolkit reports success so
            for host in hosts:
                (job.host_layout(host).output_dir / "success").touch()
        return self._finish(job, desc, JobStatus.COMPLETED, "Completed", spec=spec, hosts=hosts,
                            started=started)

    def _mirrors(self, spec: JobSpec, job: JobDir, hosts: list[str]) -> list[CheckpointMirror]:
        remote = spec.spot.checkpoint_s3_uri or str(job.default_checkpoint_remote)
        s3 = self.s3() if is_s3_uri(remote) else None
        return [CheckpointMirror(job.host_layout(h).checkpoint_dir, remote, s3) for h in hosts]

    def _run_attempt(self, resolved: ResolvedJob, job: JobDir, configs: dict[str, ct.ContainerConfig],
                     parser: MetricParser, desc: JobDescription, interrupter: Interrupter | None,
                     attempt: int, deadline: float) -> tuple[list[int], str]:
        hosts = list(configs)
        multi = len(hosts) > 1
        kill_now = threading.Event()
        budget = attempt < self.options.max_interruptions
        if interrupter is not None:
            interrupter.arm(attempt)

        def on_line(host: str, line: str) -> None:
            parser.feed(line)
            self.echo(f"[{host}] {line}" if multi else line)
            if interrupter is not None:
                interrupter.observe(line)
            if interrupter is not None and budget and interrupter.should_kill(
                    time.monotonic() - t0, line):
                kill_now.set()

        for layout in (job.host_layout(h) for h in hosts):
            layout.failure_file.unlink(missing_ok=True)
        if job.stop_request.exists():  # stopped while staging or between attempts
            return [], "stop"
        group = ProcessGroup(on_line, pid_namespace=self.isolation().pid_namespace)
        t0 = time.monotonic()
        group.start(self._commands(resolved, job, configs))
        job.pid_path.write_text("\n".join(str(p) for p in group.pids))
        last_save = t0
        ended_by = "exit"
        try:
            while not group.poll():
                if kill_now.is_set() or (interrupter is not None and budget and
                                         interrupter.should_kill(time.monotonic() - t0, None)):
                    ended_by = "interruption"
                elif job.stop_request.exists():
                    ended_by = "stop"
                elif time.monotonic() > deadline:
                    ended_by = "max runtime"
                elif group.any_failed():
                    ended_by = "host failure"  # one host died: the job is over for every host
                if ended_by != "exit":
                    group.kill()
                    if ended_by == "interruption" and interrupter is not None:
                        interrupter.killed()
                    break
                if time.monotonic() - last_save > RECORD_EVERY_S:
                    desc.metrics = dict(parser.last)
                    job.save(desc)
                    last_save = time.monotonic()
                time.sleep(0.05)
        except KeyboardInterrupt:
            group.kill()
            group.wait()
            job.pid_path.unlink(missing_ok=True)
            raise
        codes = group.wait()
        job.pid_path.unlink(missing_ok=True)
        if ended_by == "exit" and job.stop_request.exists():
            ended_by = "stop"  # `launch stop` killed the processes itself
        # The host that failed first, not one we killed because of it, names the exit code.
        order = sorted(range(len(codes)), key=lambda i: group.hosts[i].killed)
        return [codes[i] for i in order], ended_by

    def _finish(self, job: JobDir, desc: JobDescription, status: JobStatus, secondary: str,
                reason: str | None = None, *, spec: JobSpec | None = None,
                hosts: list[str] | None = None, started: float | None = None) -> JobDescription:
        if started is not None:
            desc.training_seconds = int(round(time.monotonic() - started))  # nothing is billed here
        warnings = self._warnings(job, status, hosts) if spec is not None and hosts is not None else []
        if warnings:  # recorded for `describe`, said last
            desc.details["warnings"] = warnings
        if spec is not None and hosts is not None:
            self._transition(job, desc, "Uploading", "model.tar.gz and output.tar.gz")
            output = spec.output or str(self.store.root)
            desc.artifacts = publish_artifacts(
                [job.host_layout(h).model_dir for h in hosts],
                [job.host_layout(h).output_data_dir for h in hosts],
                output, job.name, job.path / "staging", self.s3,
            )
        desc.status = status
        if status is not JobStatus.COMPLETED and reason:
            desc.failure_reason = reason
        desc.ended = now_iso()
        job.runner_pid_path.unlink(missing_ok=True)
        self._transition(job, desc, secondary, reason or "")
        for w in warnings:
            self.notify(f"warning: {w}")
        return desc

    def _warnings(self, job: JobDir, status: JobStatus, hosts: list[str]) -> list[str]:
        """What a finished run must not pass over in silence (checks.py)."""
        found = []
        if status is JobStatus.COMPLETED and (
                empty := empty_model_warning([job.host_layout(h).model_dir for h in hosts])):
            found.append(empty)
        if self._host_opt_ml is not None and (
                touched := host_opt_ml_warning(self._host_opt_ml, snapshot())):
            found.append(touched)
        return found

