"""What the launcher treats as a secret, in one maintained place.

Two uses:

- **values** (:func:`check_spec_secrets`, called by the spec's own validation): a hyperparameter or
  environment variable whose *name* says it holds a secret (password, secret, api_key, an access
  token …) or whose *value* is in a known credential format (an AWS access key id, a private key,
  a GitHub/Hugging Face/Slack/… token, `password=…`, a password in a URL) is refused. Hyperparameters
  and environment variables travel in the CreateTrainingJob request, are shown by
  DescribeTrainingJob and the console, and sit in the local job record; a secret belongs in a
  secret manager that the script reads at run time. `allow_secrets` (`--allow-secret KEY`) lets one
  named key through on purpose.
- **files** (:func:`secret_file_reason`, :func:`private_key_in`, used by the code packaging): file
  and directory names that hold credentials, and private-key content in files of any name.

Values are never echoed in a message, only the key and the kind of secret.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from typing import Any

from launcher.errors import SpecError

# -- values -----------------------------------------------------------------------------------------

# (what it is, pattern): credential formats recognised in any string value (nested ones included).
VALUE_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (what, re.compile(pattern)) for what, pattern in (
        ("an AWS access key id", r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"),
        ("a private key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY"),
        ("a GitHub token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"),
        ("a GitLab token", r"\bglpat-[A-Za-z0-9_\-]{20,}"),
        ("a Hugging Face token", r"\bhf_[A-Za-z0-9]{30,}"),
        ("a Slack token", r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"),
        ("a Slack webhook", r"hooks\.slack\.com/services/"),
        ("an API secret key (sk-…)", r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{32,}"),
        ("a Stripe key", r"\b[rs]k_live_[A-Za-z0-9]{16,}"),
        ("a Google API key", r"\bAIza[0-9A-Za-z_\-]{35}"),
        ("a Google OAuth token", r"\bya29\.[0-9A-Za-z_\-]{20,}"),
        ("an npm token", r"\bnpm_[A-Za-z0-9]{36}"),
        ("a PyPI token", r"\bpypi-AgE[A-Za-z0-9_\-]{20,}"),
        ("a JSON web token", r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
        ("a password in a URL", r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@]+:[^/\s@]+@"),
        ("an inline password or key (password=…)",
         r"(?i)\b(?:password|passwd|pwd|secret|token|api[_\-]?key|access[_\-]?key)\s*[=:]\s*\S"),
    )
)

# Words that make a key name a secret wherever they appear (the name lower-cased, separators dropped).
SECRET_NAME_WORDS = ("password", "passwd", "passphrase", "secret", "apikey", "accesskey", "privatekey",
                     "credential", "authtoken", "accesstoken", "refreshtoken", "bearertoken",
                     "sessiontoken", "securitytoken")
# A name ending in `<owner>token` (HF_TOKEN, GITHUB_TOKEN, api_token), or exactly one of these.
TOKEN_OWNERS = ("hf", "hub", "huggingface", "github", "gh", "gitlab", "slack", "wandb", "api", "auth",
                "oauth", "bearer", "personal", "pat", "npm", "pypi", "openai", "anthropic", "comet",
                "neptune", "mlflow", "databricks", "discord", "telegram", "client")
SECRET_EXACT_NAMES = frozenset({"token", "pwd"})
# A name whose last word says it only *refers* to a secret (db_password_secret_id, hf_token_path).
REFERENCE_SUFFIXES = frozenset({"id", "ids", "name", "names", "arn", "path", "file", "uri", "ref", "env",
                                "var", "dir", "location", "length", "len"})

SAFE_WAY = ("keep it in AWS Secrets Manager or SSM Parameter Store and have the script read it at run "
            "time, passing only its name (e.g. --hp db_password_secret_id=NAME)")
WHY = ("hyperparameters and environment variables are sent in the CreateTrainingJob request, shown by "
       "DescribeTrainingJob and the console, and stored in the local job record")


def _words(key: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key)  # camelCase → camel_Case
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def secret_name(key: str) -> bool:
    """Whether a key's name says it holds a secret (and not merely the name or path of one)."""
    words = _words(key)
    if not words or words[-1] in REFERENCE_SUFFIXES:
        return False
    collapsed = "".join(words)
    if collapsed in SECRET_EXACT_NAMES:
        return True
    if any(w in collapsed for w in SECRET_NAME_WORDS):
        return True
    return words[-1] == "token" and (len(words) == 1 or words[-2] in TOKEN_OWNERS) or any(
        collapsed.endswith(owner + "token") for owner in TOKEN_OWNERS)


def secret_value(value: Any) -> str | None:
    """What kind of credential a value (or any string nested in it) looks like, or None."""
    for text in _strings(value):
        for what, pattern in VALUE_PATTERNS:
            if pattern.search(text):
                return what
    return None


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def _nested_secret_key(value: Any) -> str | None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            if secret_name(str(k)):
                return str(k)
            if (found := _nested_secret_key(v)) is not None:
                return found
    elif isinstance(value, list | tuple):
        for v in value:
            if (found := _nested_secret_key(v)) is not None:
                return found
    return None


def find_secret(key: str, value: Any) -> str | None:
    """Why (key, value) looks like a secret, or None. Never includes the value itself."""
    if secret_name(key):
        return "its name"
    if (nested := _nested_secret_key(value)) is not None:
        return f"it holds a key named {nested!r}"
    if (what := secret_value(value)) is not None:
        return f"its value looks like {what}"
    return None


def check_spec_secrets(hyperparameters: Mapping[str, Any], environment: Mapping[str, str],
                       allowed: Iterable[str], include_files: Iterable[str] = ()) -> None:
    """SpecError for the first secret-looking hyperparameter or environment variable not in `allowed`,
    and for an `include_files` entry that is not a plain path relative to the source dir."""
    for item in include_files:
        parts = item.replace("\\", "/").split("/")
        if not item or item.startswith(("/", "~")) or ".." in parts:
            raise SpecError(f"include_files entry {item!r} must be a path relative to the source dir",
                            "name the file as it lies in the source dir, e.g. --include-file conf/key.json")
    allowed = list(allowed)
    for name in allowed:
        if name not in hyperparameters and name not in environment:
            raise SpecError(f"allow_secrets names {name!r}, which is neither a hyperparameter nor an "
                            "environment variable of this job", "check the spelling of --allow-secret")
    for kind, values in (("hyperparameter", hyperparameters), ("environment variable", environment)):
        for key, value in values.items():
            if key in allowed:
                continue
            reason = find_secret(str(key), value)
            if reason is not None:
                raise SpecError(
                    f"{kind} {key!r} looks like a secret ({reason}): {WHY}",
                    f"{SAFE_WAY}; if it must be sent as it is: --allow-secret {key}")


# -- files ------------------------------------------------------------------------------------------

# Directories never packaged because they hold credentials (reported as excluded secrets).
SECRET_DIRS: dict[str, str] = {
    ".aws": "AWS credentials directory",
    ".ssh": "SSH keys directory",
    ".gnupg": "GnuPG keyring",
    ".azure": "Azure credentials directory",
    ".kube": "Kubernetes credentials directory",
    ".docker": "Docker credentials directory",
    ".password-store": "password store",
    "gcloud": "Google Cloud credentials directory",
}

# (pattern on the file's name, reason); case-insensitive shell patterns.
SECRET_FILES: tuple[tuple[str, str], ...] = (
    (".env", "environment file"), (".env.*", "environment file"), ("*.env", "environment file"),
    ("*.pem", "certificate or private key"), ("*.key", "private key"), ("*.p12", "key store"),
    ("*.pfx", "key store"), ("*.jks", "key store"), ("*.keystore", "key store"),
    ("*.ppk", "PuTTY private key"), ("id_rsa*", "SSH key"), ("id_dsa*", "SSH key"),
    ("id_ecdsa*", "SSH key"), ("id_ed25519*", "SSH key"),
    (".netrc", "login file"), ("_netrc", "login file"), (".pypirc", "PyPI credentials"),
    (".npmrc", "npm credentials"), (".git-credentials", "git credentials"),
    (".gitcookies", "git credentials"), (".pgpass", "PostgreSQL passwords"),
    (".my.cnf", "MySQL credentials"), (".htpasswd", "password file"), (".vault-token", "Vault token"),
    (".boto", "cloud credentials"), (".s3cfg", "S3 credentials"), (".passwd-s3fs", "S3 credentials"),
    (".dockercfg", "Docker credentials"), ("kubeconfig", "Kubernetes credentials"),
    ("*.kubeconfig", "Kubernetes credentials"),
    ("credentials", "credentials file"), ("credentials.*", "credentials file"),
    ("*-credentials.*", "credentials file"), ("*_credentials.*", "credentials file"),
    ("*accesskeys*.csv", "AWS access keys export"),
    ("client_secret*.json", "OAuth client secret"), ("service-account*.json", "service account key"),
    ("service_account*.json", "service account key"),
    ("application_default_credentials.json", "Google Cloud credentials"),
    ("secrets.*", "secrets file"), (".secrets", "secrets file"), ("*.secret", "secrets file"),
    ("*.tfstate", "Terraform state"), ("*.tfstate.*", "Terraform state backup"),
    ("*.tfvars", "Terraform variables"),
)

# A PEM/OpenSSH/PGP private key with key material after its header (a bare header in a comment or
# a regular expression is not a key).
PRIVATE_KEY_RE = re.compile(
    rb"-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?)-----\r?\n"
    rb"(?:[A-Za-z0-9\-]+: ?[^\r\n]*\r?\n)*\s*[A-Za-z0-9+/=\r\n]{64,}")


def secret_dir_reason(name: str) -> str | None:
    return SECRET_DIRS.get(name)


def secret_file_reason(name: str) -> str | None:
    """Why a file of this name is a secret (pattern and kind), or None."""
    lowered = name.lower()
    for pattern, reason in SECRET_FILES:
        if fnmatch.fnmatchcase(lowered, pattern):
            return f"{reason} (name matches {pattern})"
    return None


def private_key_in(data: bytes) -> str | None:
    """The kind of private key in `data` ('RSA PRIVATE KEY' …), or None."""
    if b"PRIVATE KEY" not in data:
        return None
    m = PRIVATE_KEY_RE.search(data)
    return m.group(1).decode() if m else None
