"""The MTU the engine gives a task on an overlay, and what that asks of the underlay.

The figures mirror the overlay driver's sizing and were checked on live engines:
1450 on a plain overlay, 1424 on an encrypted one (read in a task on the VM lab).
"""

from __future__ import annotations

import pytest

from harness.probe.mtu import OverlayMTU, underlay_problems


@pytest.mark.parametrize(
    ("driver_mtu", "encrypted", "task", "overhead"),
    [
        (None, False, 1450, 50),
        (None, True, 1424, 76),
        (1400, False, 1350, 50),
        (1400, True, 1324, 76),
        (1501, True, 1424, 77),  # ESP's padding: rounded down to a multiple of 4
        (9000, False, 8950, 50),
    ],
)
def test_task_mtu_is_the_underlay_mtu_less_vxlan_and_esp(
    driver_mtu: int | None, encrypted: bool, task: int, overhead: int
) -> None:
    mtu = OverlayMTU("net", driver_mtu, encrypted)
    assert (mtu.task, mtu.overhead) == (task, overhead)
    assert mtu.task + mtu.overhead == mtu.underlay


def test_an_underlay_smaller_than_the_engine_assumes_is_named_with_the_option_that_fits_it() -> None:
    encrypted = OverlayMTU("secure", None, True)
    problems = underlay_problems(encrypted, {"node1": 1500, "node2": 1450, "node3": 9000})
    assert len(problems) == 1
    assert problems[0].startswith("node2: underlay MTU 1450 < overlay MTU 1424 + 76 bytes of VXLAN and ESP")
    assert "recreate secure with --opt com.docker.network.driver.mtu=1450" in problems[0]
    assert underlay_problems(OverlayMTU("plain", 1450, False), {"node2": 1450}) == []
