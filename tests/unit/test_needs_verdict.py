"""The plugin's expected-failure rule, run through pytest itself (pytester).

A ``needs`` check may only be an expected failure when its failure is what the
missing capability causes, on the nodes lacking it; everything else is FAILED.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

pytest_plugins = ["pytester"]

CONFTEST = """
import pytest
from harness.doctor.capabilities import Capability
from harness.doctor.report import DoctorReport
from harness.pytest_plugin import _DOCTOR_KEY

NODES = ("node1", "node2", "node3")
# capability -> {node: "present" | "absent" | "unknown"}, set per test module
STATES = {}

def _cap(name, state):
    if state == "present":
        return Capability(name, True, "measured present")
    if state == "unknown":
        return Capability(name, False, "could not measure: unshare refused", unknown=True)
    return Capability(name, False, f"kernel lacks {name}")

@pytest.fixture
def harness_doctor(request):
    states = request.module.STATES
    caps = {
        n: {c: _cap(c, states.get(c, {}).get(n, "present")) for c in ("esp", "ipvs", "vxlan", "tcpdump", "iptables")}
        for n in NODES
    }
    report = DoctorReport(capabilities=caps)
    request.config.stash[_DOCTOR_KEY] = report
    return report
"""

HEADER = """
import pytest
from harness.verdict import CheckFailure, Symptom

ALL_ABSENT = {"node1": "absent", "node2": "absent", "node3": "absent"}
"""


def _run(pytester: pytest.Pytester, states: str, body: str, *args: str) -> pytest.RunResult:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_case=HEADER + f"\nSTATES = {states}\n" + body)
    return pytester.runpytest("-p", "no:cacheprovider", "-rxXf", *args)


ESP_TIMEOUTS = """
@pytest.mark.needs("esp")
def test_it():
    raise CheckFailure("2 of 6 pairs failed", [
        Symptom("timeout", ("node1", "node2"), "icmp: no reply"),
        Symptom("timeout", ("node2", "node1"), "tcp: timeout"),
    ])
"""


def test_matching_esp_signature_is_an_expected_failure_with_its_reason(pytester: pytest.Pytester) -> None:
    result = _run(pytester, '{"esp": ALL_ABSENT}', ESP_TIMEOUTS)
    result.assert_outcomes(xfailed=1)
    result.stdout.fnmatch_lines(["*unmet capability esp on node1, node2, node3: kernel lacks esp*"])


def _junit_properties(pytester: pytest.Pytester, states: str, body: str) -> dict[str, str]:
    junit = pytester.path / "junit.xml"
    _run(pytester, states, body, f"--junitxml={junit}")
    case = ET.parse(junit).getroot().find(".//testcase")
    assert case is not None
    return {str(p.get("name")): str(p.get("value")) for p in case.iter("property")}


def test_an_expected_failure_names_its_capability_and_nodes_in_junit(pytester: pytest.Pytester) -> None:
    props = _junit_properties(pytester, '{"esp": {"node1": "absent", "node2": "absent"}}', ESP_TIMEOUTS)
    assert props["capability"] == "esp" and props["capability_nodes"] == "node1,node2"
    assert props["nodes"] == "node1,node2", "the failed observations' nodes"


def test_a_real_failure_names_its_nodes_in_junit(pytester: pytest.Pytester) -> None:
    body = (
        "def test_it():\n"
        '    raise CheckFailure("x", [Symptom("timeout", ("node3", "node1"), "tcp: timeout")])\n'
    )
    props = _junit_properties(pytester, "{}", body)
    assert props == {"nodes": "node1,node3"}


def test_strict_mode_runs_the_check_and_fails_it_naming_the_capability(pytester: pytest.Pytester) -> None:
    result = _run(pytester, '{"esp": ALL_ABSENT}', ESP_TIMEOUTS, "--harness-strict")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*strict mode: unmet capability esp on node1, node2, node3*"])


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            '@pytest.mark.needs("esp")\ndef test_it():\n    assert 1 + 1 == 3\n', id="unrelated-assert"
        ),
        pytest.param('@pytest.mark.needs("esp")\ndef test_it():\n    {}["key"]\n', id="exception"),
        pytest.param(
            '@pytest.mark.needs("esp")\ndef test_it():\n'
            '    raise CheckFailure("x", [Symptom("wrong-answer", ("node1", "node2"), "answered by abc")])\n',
            id="wrong-answer",
        ),
        pytest.param(
            '@pytest.mark.needs("esp")\ndef test_it():\n'
            '    raise CheckFailure("x", [Symptom("plaintext", ("node1", "node2"), "3 plaintext VXLAN packets")])\n',
            id="plaintext-on-encrypted",
        ),
        pytest.param(
            '@pytest.mark.needs("esp")\ndef test_it():\n    raise CheckFailure("x", [])\n',
            id="no-observations",
        ),
    ],
)
def test_failures_the_capability_does_not_cause_are_failed(pytester: pytest.Pytester, body: str) -> None:
    result = _run(pytester, '{"esp": ALL_ABSENT}', body)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*unmet capability esp on node1, node2, node3*real failure*"])


def test_a_failure_between_nodes_that_have_the_capability_is_failed(pytester: pytest.Pytester) -> None:
    body = (
        '@pytest.mark.needs("ipvs")\ndef test_it():\n'
        '    raise CheckFailure("x", [Symptom("timeout", ("node1", "node2"), "VIP: timeout")])\n'
    )
    result = _run(pytester, '{"ipvs": {"node3": "absent"}}', body)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*unmet capability ipvs on node3*1 of 1 observations*node1->node2*"])


def test_only_the_explained_part_is_not_enough(pytester: pytest.Pytester) -> None:
    body = (
        '@pytest.mark.needs("ipvs")\ndef test_it():\n'
        '    raise CheckFailure("x", [Symptom("timeout", ("node3",), "VIP: timeout"),\n'
        '                             Symptom("timeout", ("node1",), "VIP: timeout")])\n'
    )
    result = _run(pytester, '{"ipvs": {"node3": "absent"}}', body)
    result.assert_outcomes(failed=1)


def test_an_unknown_capability_name_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "{}", '@pytest.mark.needs("espp")\ndef test_it():\n    pass\n')
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*needs('espp'): unknown capability (the doctor measures: *esp*ipvs*"])


def test_a_capability_that_could_not_be_measured_never_excuses_a_failure(pytester: pytest.Pytester) -> None:
    result = _run(
        pytester, '{"esp": {"node1": "unknown", "node2": "absent", "node3": "absent"}}', ESP_TIMEOUTS
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*could not be measured never excuses a failure*"])


def test_strict_mode_fails_a_pass_whose_capability_could_not_be_measured(pytester: pytest.Pytester) -> None:
    body = '@pytest.mark.needs("esp")\ndef test_it():\n    pass\n'
    result = _run(pytester, '{"esp": {"node1": "unknown"}}', body, "--harness-strict")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*strict mode: the check passed, but capability esp on node1: could not*"])
    _run(pytester, '{"esp": {"node1": "unknown"}}', body).assert_outcomes(passed=1)


def test_a_pass_stays_a_pass_with_the_doctor_finding_noted(pytester: pytest.Pytester) -> None:
    body = '@pytest.mark.needs("esp")\ndef test_it():\n    pass\n'
    result = _run(pytester, '{"esp": ALL_ABSENT}', body, "-rP")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*passed although the doctor reported: unmet capability esp*"])


def test_opt_in_checks_are_deselected_unless_asked_for(pytester: pytest.Pytester) -> None:
    body = (
        "@pytest.mark.upgrade\ndef test_upgrade():\n    pass\n"
        "@pytest.mark.disruptive\ndef test_fault():\n    pass\n"
        "def test_default():\n    pass\n"
    )
    result = _run(pytester, "{}", body)
    result.assert_outcomes(passed=1, deselected=2)
    _run(pytester, "{}", body, "-m", "upgrade").assert_outcomes(passed=1, deselected=2)
    _run(pytester, "{}", body, "-m", "disruptive or upgrade").assert_outcomes(passed=2, deselected=1)
