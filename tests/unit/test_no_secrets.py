"""No credentials in the repository (docs/ARCHITECTURE.md §9: secrets come from the environment).

Every git-tracked file is scanned for:

- AWS access key ids (``AKIA``/``ASIA``/… + 16 characters) and literal ``aws_secret_access_key`` values;
- private key blocks (``-----BEGIN … PRIVATE KEY-----``);
- literal ``password`` / ``secret`` / ``token`` / ``api_key`` values in YAML (``env_var(...)``
  lookups, empty values, booleans and ``${…}`` placeholders are fine);
- URLs with ``user:password@`` (an empty password, as in ``postgres:@``, or a placeholder is fine);
- GitHub (``ghp_…``, ``github_pat_…``) and Slack (``xox?-…``, webhook URLs) tokens;
- high-entropy string literals assigned to names like secret / token / password / api_key.

Allow-list (the only literal values accepted where a secret could go), and why:

- ``testing``: the dummy AWS credentials moto needs (tests/conftest.py, bench) — moto accepts any.
- ``not-a-secret``: the password of the ``redshift_ci`` dbt profile in profiles.yml, used only for
  offline ``dbt parse/compile`` against ``redshift-ci.invalid`` (documented in profiles.yml).

The scanner itself is tested on planted strings (built at run time, so this file never contains a
credential-shaped literal) and on a temp copy of a tracked file with a fake AWS key added.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ALLOWED_VALUES = frozenset({"testing", "not-a-secret"})
MAX_BYTES = 5_000_000


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str
    value: str

    def __str__(self) -> str:  # never print a whole secret
        return f"{self.path}:{self.line}: {self.rule}: {self.value[:4]}…({len(self.value)} chars)"


def entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _placeholder(value: str) -> bool:
    value = value.strip().strip("'\"")
    return (
        not value
        or value in ALLOWED_VALUES
        or value.lower() in ("null", "none", "~", "true", "false", "changeme", "***", "xxx")
        or "env_var(" in value
        or value.startswith(("${", "{{", "{", "<", "$", "%", "os.environ", "env:"))
        or bool(re.fullmatch(r"[A-Z][A-Z0-9_]*", value))  # the name of an environment variable
    )


_AWS_KEY_ID = re.compile(r"(?<![A-Z0-9])((?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|ABIA|ACCA)[A-Z0-9]{16})(?![A-Z0-9])")
_AWS_SECRET = re.compile(
    r"(?i)aws_?secret_?access_?key['\"\]]*\s*(?:=|:|,|=>)\s*[rbuf]?['\"]?([^'\"\s,)]*)"
)
_PRIVATE_KEY = re.compile(r"-----BEGIN ((?:RSA|EC|DSA|OPENSSH|PGP|ENCRYPTED) )?PRIVATE KEY( BLOCK)?-----")
_YAML_SECRET = re.compile(
    r"(?i)^\s*-?\s*['\"]?((?:[\w-]*[_-])?(?:password|passwd|secret|token|api[_-]?key))['\"]?\s*:\s*(.*?)\s*(?:#.*)?$"
)
_URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]*://([^/\s:@'\"]+):([^/\s@'\"]+)@")
_GITHUB = re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b")
_SLACK = re.compile(r"\b(xox[abposr]-[A-Za-z0-9-]{10,}|https://hooks\.slack\.com/services/[A-Za-z0-9/]{20,})")
_ASSIGNED = re.compile(
    r"(?i)([A-Za-z0-9_.-]*(?:secret|token|passw(?:or)?d|pwd|api_?key|apikey|private_?key|access_?key|credential)"
    r"[A-Za-z0-9_.-]*)['\"\]]*\s*(?:=|:|=>)\s*[rbuf]?['\"]([^'\"\s]{12,})['\"]"
)


def scan_text(text: str, path: str) -> list[Finding]:
    findings = []
    yaml = path.endswith((".yml", ".yaml"))
    for number, line in enumerate(text.splitlines(), start=1):
        for m in _AWS_KEY_ID.finditer(line):
            findings.append(Finding(path, number, "aws-access-key-id", m.group(1)))
        for m in _AWS_SECRET.finditer(line):
            if not _placeholder(m.group(1)):
                findings.append(Finding(path, number, "aws-secret-access-key", m.group(1)))
        if _PRIVATE_KEY.search(line):
            findings.append(Finding(path, number, "private-key-block", line.strip()))
        if yaml and (m := _YAML_SECRET.match(line)) and not _placeholder(m.group(2)):
            findings.append(Finding(path, number, f"yaml-literal-{m.group(1).lower()}", m.group(2)))
        for m in _URL_PASSWORD.finditer(line):
            if not _placeholder(m.group(2)):
                findings.append(Finding(path, number, "url-with-password", m.group(2)))
        for m in _GITHUB.finditer(line):
            findings.append(Finding(path, number, "github-token", m.group(1)))
        for m in _SLACK.finditer(line):
            findings.append(Finding(path, number, "slack-token", m.group(1)))
        for m in _ASSIGNED.finditer(line):
            value = m.group(2)
            if not _placeholder(value) and len(value) >= 16 and entropy(value) >= 3.5:
                findings.append(Finding(path, number, "high-entropy-secret", value))
    return findings


def scan_file(path: Path, name: str) -> list[Finding]:
    data = path.read_bytes()[:MAX_BYTES]
    if b"\x00" in data[:8192]:
        return []  # binary
    return scan_text(data.decode("utf-8", "replace"), name)


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    return [p for p in out.decode().split("\0") if p]


def test_no_credentials_in_tracked_files():
    files = tracked_files()
    assert "pyproject.toml" in files and len(files) > 20
    findings = []
    for name in files:
        path = REPO / name
        if path.is_file() and not path.is_symlink():
            findings += scan_file(path, name)
    assert not findings, "credential-like strings in tracked files:\n" + "\n".join(map(str, findings))


# Built at run time so this file holds nothing credential-shaped.
FAKE_KEY_ID = "AKIA" + "Q7XW3TJZ5N2KD4MB"
FAKE_SECRET = "wJalrXUtnFEMI" + "/K7MDENG/bPxRfiCY" + "ZQ8sT4vW1nL"
FAKE_GITHUB = "ghp" + "_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
FAKE_SLACK = "xox" + "b-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
PEM = "-----BEGIN " + "RSA PRIVATE KEY-----"

PLANTED = [
    ("aws-access-key-id", f"AWS_ACCESS_KEY_ID={FAKE_KEY_ID}", "x.env"),
    ("aws-access-key-id", f'    "key": "{FAKE_KEY_ID.replace("AKIA", "ASIA")}",', "x.json"),
    ("aws-secret-access-key", f"aws_secret_access_key = {FAKE_SECRET}", "credentials"),
    ("aws-secret-access-key", f'os.environ["AWS_SECRET_ACCESS_KEY"] = "{FAKE_SECRET}"', "x.py"),
    ("private-key-block", PEM, "id_rsa"),
    ("yaml-literal-password", "      password: hunter2-but-longer", "profiles.yml"),
    ("yaml-literal-api_key", "api_key: 'abc123def456'", "values.yaml"),
    ("url-with-password", "uri = 'postgresql://admin:" + "s3cr3t-pw" + "@db.example.com:5432/prod'", "x.py"),
    ("github-token", f"token = {FAKE_GITHUB}", "x.sh"),
    ("slack-token", f"SLACK={FAKE_SLACK}", "x.sh"),
    ("slack-token", "url: https://hooks.slack.com/" + "services/T0123ABCD/B0123ABCD/abcdefghijklmnopqrstuvwx", "x.yml"),
    ("high-entropy-secret", f'client_secret = "{FAKE_SECRET[:30]}"', "x.py"),
    ("high-entropy-secret", 'MLFLOW_TRACKING_TOKEN: "' + "dGhpcyBpcyBhIHRva2Vu" + 'Qm9ndXM9PQ"', "x.toml"),
]


@pytest.mark.parametrize(("rule", "line", "name"), PLANTED, ids=[f"{r}-{i}" for i, (r, _l, _n) in enumerate(PLANTED)])
def test_scanner_finds_planted_credentials(rule, line, name):
    assert rule in {f.rule for f in scan_text(line + "\n", name)}


ALLOWED = [
    ("password: \"{{ env_var('PGPASSWORD', '') }}\"", "profiles.yml"),
    ("      password: not-a-secret", "profiles.yml"),
    ('os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")', "conftest.py"),
    ('for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):', "bench.py"),
    ("password=os.environ.get(\"REDSHIFT_PASSWORD\"),", "settings.py"),
    ("generatePostgresqlPasswordSecret: false", "values.yaml"),
    ("`postgresql://postgres:@/postgres?host=<dir>`", "NOTES.md"),
    ("postgresql://${PGUSER}:${PGPASSWORD}@host/db", "README.md"),
    ('"aws_access_key_id=AKIA;x"', "test.py"),
    ("token_count = len(tokens)", "x.py"),
]


@pytest.mark.parametrize(("line", "name"), ALLOWED, ids=[str(i) for i in range(len(ALLOWED))])
def test_scanner_allows_lookups_placeholders_and_documented_dummies(line, name):
    assert scan_text(line + "\n", name) == []


def test_planted_fake_aws_key_in_a_copy_of_a_tracked_file_fails_the_scan(tmp_path):
    original = REPO / "core" / "settings.py"
    copy = tmp_path / "settings.py"
    shutil.copy(original, copy)
    assert scan_file(copy, "core/settings.py") == []
    with open(copy, "a") as handle:
        handle.write(f'\nDEFAULT_AWS_KEY = "{FAKE_KEY_ID}"\n')
    findings = scan_file(copy, "core/settings.py")
    assert [(f.rule, f.value) for f in findings] == [("aws-access-key-id", FAKE_KEY_ID)]
    assert FAKE_KEY_ID not in str(findings[0])  # the report redacts
