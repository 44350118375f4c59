"""Run a Terraform module from ``terraform/`` inside a run directory.

The module is copied into ``RUN/tf`` so its state, plan files and lock live
with the run, and the repository stays clean; the shared local modules it
calls (``source = "../modules/..."``) are copied to ``RUN/modules``, where that
path finds them. Only a short table of known transient Terraform errors is
retried.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_fixed

from harness.errors import MissingToolError, ProvisionError, UserInputError
from harness.interrupts import stop_child
from harness.rundir import RunDir

log = logging.getLogger(__name__)

MODULES_DIR = Path(__file__).resolve().parents[2] / "terraform"

# Errors seen from cloud APIs and registries that go away on retry.
TRANSIENT_TERRAFORM_ERRORS = (
    "RequestLimitExceeded",
    "Throttling",
    "connection reset by peer",
    "TLS handshake timeout",
    "i/o timeout",
    "Error acquiring the state lock",
    "ServiceUnavailable",
    "server_error",
    "rate_limit_exceeded",
)


def _worth_showing(line: str) -> bool:
    keys = ("complete after", "Apply complete", "Destroy complete", "Error", "(local-exec): [")
    return any(k in line for k in keys)


class _Transient(ProvisionError):
    pass


def available_targets() -> list[str]:
    return sorted(p.name for p in MODULES_DIR.iterdir() if (p / "outputs.tf").is_file())


class TerraformRunner:
    def __init__(self, target: str, run_dir: RunDir) -> None:
        if shutil.which("terraform") is None:
            raise MissingToolError(
                "terraform is not installed", "install Terraform >= 1.4 and put it on PATH"
            )
        module = MODULES_DIR / target
        if not (module / "main.tf").is_file():
            raise UserInputError(
                f"unknown target {target!r}",
                f"choose one of: {', '.join(available_targets())}",
            )
        self.target = target
        self.module = module
        self.run_dir = run_dir
        self.workdir = run_dir.terraform_dir

    def _env(self) -> dict[str, str]:
        # The user's CLI config (provider mirrors, plugin cache) wins; otherwise an
        # empty one, so a stale or missing ~/.terraformrc cannot interfere.
        user_config = os.environ.get("TF_CLI_CONFIG_FILE", "")
        if user_config and Path(user_config).is_file():
            cli_config = Path(user_config)
        else:
            cli_config = self.run_dir.terraformrc
            if not cli_config.exists():
                cli_config.write_text("# written by swarm-harness\n")
        return dict(
            os.environ,
            TF_IN_AUTOMATION="1",
            TF_INPUT="0",
            CHECKPOINT_DISABLE="1",
            TF_CLI_CONFIG_FILE=str(cli_config),
        )

    def prepare(self, variables: dict[str, Any]) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        calls_shared = False
        for tf in self.module.glob("*.tf"):
            shutil.copy2(tf, self.workdir / tf.name)
            calls_shared = calls_shared or '"../modules/' in tf.read_text()
        if calls_shared:
            shutil.copytree(MODULES_DIR / "modules", self.run_dir.path / "modules", dirs_exist_ok=True)
        (self.workdir / "terraform.tfvars.json").write_text(json.dumps(variables, indent=2))

    def _run(self, args: list[str], stream: bool = True, timeout_s: float = 1800) -> str:
        cmd = ["terraform", f"-chdir={self.workdir}", *args]
        log.debug("terraform: %s", " ".join(args))
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self._env()
        )
        assert proc.stdout is not None
        lines: list[str] = []
        try:
            for line in proc.stdout:
                line = line.rstrip()
                lines.append(line)
                if stream and _worth_showing(line):
                    log.info("  tf: %s", line.strip())
                else:
                    log.debug("  tf: %s", line)
            rc = proc.wait(timeout=timeout_s)
        except KeyboardInterrupt as exc:
            # Let Terraform finish the provisioners it started, so the teardown
            # that follows sees everything that was created.
            stop_child(proc, exc, "terraform", 300)
            raise
        out = "\n".join(lines)
        if rc != 0:
            errors = [ln.strip("│ ").strip() for ln in lines if "Error" in ln or "error:" in ln]
            unique = [e for i, e in enumerate(errors) if e and e not in errors[:i]]
            detail = " | ".join(unique[-3:]) or " | ".join(lines[-3:])
            cls = _Transient if any(t in out for t in TRANSIENT_TERRAFORM_ERRORS) else ProvisionError
            raise cls(
                f"terraform {args[0]} failed for target {self.target}: {detail}",
                f"see {self.run_dir.up_log}; 'swarm-harness down --run-dir {self.run_dir}' cleans up",
            )
        return out

    def _retrying(self) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(3),
            wait=wait_fixed(5),
            retry=retry_if_exception(lambda e: isinstance(e, _Transient)),
            reraise=True,
        )

    def apply(self) -> dict[str, Any]:
        for attempt in self._retrying():
            with attempt:
                self._run(["init", "-input=false", "-no-color"], stream=False)
        for attempt in self._retrying():
            with attempt:
                self._run(["apply", "-auto-approve", "-input=false", "-no-color"])
        return self.output()

    def output(self) -> dict[str, Any]:
        raw = self._run(["output", "-json", "-no-color"], stream=False)
        data: dict[str, Any] = json.loads(raw)
        return data

    def destroy(self) -> None:
        if not (self.workdir / "terraform.tfstate").exists():
            log.info("no Terraform state in %s: nothing to destroy", self.workdir)
            return
        for attempt in self._retrying():
            with attempt:
                self._run(["init", "-input=false", "-no-color"], stream=False)
        for attempt in self._retrying():
            with attempt:
                self._run(["destroy", "-auto-approve", "-input=false", "-no-color"])
