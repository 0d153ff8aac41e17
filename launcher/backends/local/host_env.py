"""The host variables a local job gets: a short allowlist, not the caller's whole shell.

A SageMaker container's environment is the image's ENV lines, the job's `Environment` and what the
platform and drivers set (container-contract.md §3): nothing of the submitter's shell. A local run
needs a little of this machine to work at all, so it passes exactly these and nothing else:

- `PATH` (the job's interpreter directory is put first by the backend), `HOME`, `USER`, `LOGNAME`,
  `TMPDIR`, `TERM`: the process's own footing (caches under HOME, temp files, a terminal's width);
- `LANG`, `LANGUAGE`, `LC_*`, `TZ`: text decoding and time stamps as the user reads them;
- `CUDA_*`, `NVIDIA_*`, `LD_LIBRARY_PATH`: which GPUs this machine lends and where its CUDA
  libraries are (a real image bakes these in; here they are the machine's);
- `OMP_NUM_THREADS`: the user's CPU share (torchrun jobs get one computed otherwise);
- `http(s)_proxy`, `no_proxy`, `all_proxy` (either case), `SSL_CERT_FILE`, `SSL_CERT_DIR`,
  `REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`: how this machine reaches the network;
- `HF_HOME`, `TORCH_HOME`, `XDG_CACHE_HOME`: where this machine keeps downloaded models;
- `AWS_*`: region, endpoint and credential settings; which credentials pass is decided by the
  credential policy (credentials.py), not here.

`NCCL_*` is left out: a real container sets its own only when torchrun runs the script (contract
§8), and the container module drops stale ones anyway. Anything else (tokens, `PYTHONPATH`,
`VIRTUAL_ENV`, `LAUNCHER_*`, stale `SM_*`, …) is left out and its NAME recorded for `describe`; a
job that needs one names it with `--env`, which also sends it to SageMaker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "TERM", "LANG", "LANGUAGE", "TZ",
    "LD_LIBRARY_PATH", "OMP_NUM_THREADS",
    "http_proxy", "https_proxy", "no_proxy", "all_proxy",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
    "HF_HOME", "TORCH_HOME", "XDG_CACHE_HOME",
})
PREFIXES = ("LC_", "CUDA_", "NVIDIA_", "AWS_")
# Never passed, and not worth listing as left out: a shell's own bookkeeping, and what the
# container sets itself whatever the host says.
NOT_LISTED = frozenset({"PWD", "OLDPWD", "SHLVL", "_", "PYTHONUNBUFFERED"})


def allowed(name: str) -> bool:
    return name in NAMES or name.startswith(PREFIXES)


def host_environment(environ: Mapping[str, str], job_names: Iterable[str] = ()
                     ) -> tuple[dict[str, str], list[str]]:
    """(the host variables a job gets, the names left out). `job_names`: the job's own --env names,
    which the container sets itself and so are not 'left out'."""
    given = set(job_names)
    env = {k: v for k, v in environ.items() if allowed(k)}
    left_out = sorted(k for k in environ if not allowed(k) and k not in given and k not in NOT_LISTED)
    return env, left_out
