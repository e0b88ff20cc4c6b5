"""The reliability suite's figures: faults injected, runs recovered, bad inputs tried, files lost, corrupted outputs.

Printed as a table at the end of any pytest run that includes tests/reliability; written as JSON where
GENLCA_RELIABILITY_JSON names a file (benchmarks/reliability.py does that)."""

import json
import os

import pytest

from tests.reliability.harness import Figures

FIGURES = Figures()
_BAD_INPUTS = {"tried": 0, "handled": 0}


@pytest.fixture(scope="session")
def figures() -> Figures:
    return FIGURES


def pytest_runtest_logreport(report):
    if report.when == "call" and "test_hostile_input" in report.nodeid:
        _BAD_INPUTS["tried"] += 1
        _BAD_INPUTS["handled"] += int(report.passed)


def summary() -> dict:
    return {"faults_injected": FIGURES.faults_injected, "runs_recovered": FIGURES.runs_recovered,
            "bad_inputs_tried": _BAD_INPUTS["tried"], "bad_inputs_handled": _BAD_INPUTS["handled"],
            "files_lost": FIGURES.files_lost, "corrupted_outputs": FIGURES.corrupted_outputs,
            "stages": FIGURES.stages}


def pytest_terminal_summary(terminalreporter):
    s = summary()
    if not s["faults_injected"] and not s["bad_inputs_tried"]:
        return
    tr = terminalreporter
    tr.section("reliability figures")
    for key in ("faults_injected", "runs_recovered", "bad_inputs_tried", "bad_inputs_handled", "files_lost",
                "corrupted_outputs"):
        tr.write_line(f"{key.replace('_', ' '):<22}{s[key]:>6}")
    if s["stages"]:
        tr.write_line(f"{'stage':<12}{'faults':>8}{'recovered':>11}{'lost':>6}{'corrupted':>11}")
        for stage, v in s["stages"].items():
            tr.write_line(f"{stage:<12}{v['faults']:>8}{v['recovered']:>11}{v['lost']:>6}{v['corrupted']:>11}")
    if os.environ.get("GENLCA_RELIABILITY_JSON"):
        with open(os.environ["GENLCA_RELIABILITY_JSON"], "w") as f:
            json.dump(s, f, indent=1)
