"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.instance import HeadlessInstance

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Never pick up a provisioning file installed on the machine running the tests.
os.environ["SOFTPHONE_SYSTEM_CONFIG_DIR"] = tempfile.mkdtemp(prefix="softphone-sysconf-")
os.environ.pop("SOFTPHONE_PROVISIONING", None)


class InstanceFactory:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.instances: list[HeadlessInstance] = []

    def __call__(self, name: str, **kwargs: Any) -> HeadlessInstance:
        """Launch an instance; it is waited for at its first use (see
        :class:`HeadlessInstance`), so a test's softphones load side by side."""
        inst = HeadlessInstance(self.base, name, ready_hook=self.wait_ready, **kwargs)
        self.instances.append(inst)
        return inst.launch()

    def wait_ready(self) -> None:
        """Wait until every instance launched so far is up."""
        for inst in self.instances:
            if inst.proc is not None and inst.proc.poll() is None:
                inst.wait_ready()

    def cleanup(self) -> list[str]:
        problems = []
        running = [inst for inst in self.instances
                   if inst.proc is not None and inst.proc.poll() is None]
        for inst in running:  # all shut down side by side
            inst.request_stop()
        for inst in running:
            try:
                code = inst.stop()
            except RuntimeError as exc:
                problems.append(str(exc))
                continue
            if code != 0:
                problems.append(f"{inst.name} exited with {code}:\n{inst.log_text()[-2000:]}")
        return problems


@pytest.fixture
def softphones(tmp_path: Path) -> Iterator[InstanceFactory]:
    """Start headless softphone processes; each is shut down cleanly afterwards
    and the test fails if one did not exit with status 0."""
    factory = InstanceFactory(tmp_path)
    yield factory
    problems = factory.cleanup()
    if problems:
        pytest.fail("\n".join(problems))
