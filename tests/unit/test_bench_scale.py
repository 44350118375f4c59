"""The scale benchmark's input and its table: what a user types, what the README shows."""

from __future__ import annotations

import pytest

from benchmarks.scale import growth, parse_nodes, table


def test_node_counts_are_parsed_and_bad_ones_named() -> None:
    assert parse_nodes("3,6,10,16") == [3, 6, 10, 16]
    for bad in ("3,x", "0,3", "3,17", "3,3", ""):
        with pytest.raises(ValueError, match="--nodes"):
            parse_nodes(bad)


def test_growth_is_each_figure_over_the_first_and_missing_figures_stay_missing() -> None:
    rows = [
        {"nodes": 3, "pairs": 6, "matrix_s": 10.0, "run_s": 100.0, "stages_s": {"up": 5.0}},
        {"nodes": 10, "pairs": 90, "matrix_s": 20.0, "run_s": 250.0, "stages_s": {"up": 12.0}},
    ]
    assert growth(rows)[1]["over_first"] == {"matrix_s": 2.0, "run_s": 2.5, "default_suites_s": None}
    text = table(rows)
    assert text.splitlines()[0].startswith("| N | pairs | up |")
    assert "| 10 | 90 | 12.0 | - |" in text and text.splitlines()[-1].endswith("| 2.0 |")
