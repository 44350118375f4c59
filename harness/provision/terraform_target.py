"""A Terraform target as a provider: a module under ``terraform/`` applied in the run directory.

The cloud modules (aws, hcloud, libvirt) are used as they are: the harness adds
``run_id`` and ``run_dir`` to the user's variables, applies, and reads the hosts
from the module's ``inventory`` output. The local lab builds on this (local_lab.py).
"""

from __future__ import annotations

import json
from typing import Any

from harness.errors import UserInputError
from harness.inventory import Inventory, parse_inventory
from harness.provision.terraform import TerraformRunner
from harness.rundir import RunDir, RunInfo

READY_TIMEOUT_S = 180.0


class TerraformTarget:
    """A module under ``terraform/``, with the user's ``-var`` values (``TF_VAR_*`` also apply)."""

    hosts_word = "hosts"

    def __init__(self, target: str, user_vars: dict[str, object] | None = None) -> None:
        self.target = target
        self.user_vars = dict(user_vars or {})
        self.run_id_prefix = target
        self.ready_timeout_s = READY_TIMEOUT_S
        self._runner: TerraformRunner | None = None
        self._outputs: dict[str, Any] | None = None

    def runner(self, run_dir: RunDir) -> TerraformRunner:
        """The one runner of this provider's run; the first call checks terraform and the module."""
        if self._runner is None:
            self._runner = TerraformRunner(self.target, run_dir)
        return self._runner

    def check(self, run_dir: RunDir, info: RunInfo | None) -> None:
        self.runner(run_dir)
        if info is not None and info.target != self.target:
            raise UserInputError(
                f"{run_dir} holds a {info.target} run, not {self.target}", "use another --run-dir"
            )

    def variables(self, run_dir: RunDir, info: RunInfo) -> dict[str, Any]:
        return {**self.user_vars, "run_id": info.run_id, "run_dir": str(run_dir.path.resolve())}

    def notes(self) -> dict[str, str]:
        return {}

    def up(self, run_dir: RunDir, variables: dict[str, Any]) -> None:
        runner = self.runner(run_dir)
        runner.prepare(variables)
        self._outputs = runner.apply()

    def inventory(self, run_dir: RunDir) -> Inventory:
        outputs = self._outputs if self._outputs is not None else self.runner(run_dir).output()
        return parse_inventory(outputs, f"{run_dir.terraform_dir} (terraform output)", run_dir.path)

    def down(self, run_dir: RunDir) -> None:
        """A failed destroy raises: the state stays in the run directory for another ``down``."""
        self.runner(run_dir).destroy()


def parse_vars(pairs: list[str]) -> dict[str, object]:
    """``-var NAME=VALUE`` pairs; VALUE is JSON when it parses as JSON, else a string."""
    out: dict[str, object] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UserInputError(f"-var {pair!r} is not NAME=VALUE", "e.g. -var owner=alice")
        name, value = pair.split("=", 1)
        try:
            out[name] = json.loads(value)
        except ValueError:
            out[name] = value
    return out
