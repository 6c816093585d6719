"""Capture-quality analysis of tapes (and of the notebook's CSVs): issue 5.

``report`` is what ``booktape analyze`` prints; ``verify`` checks integrity;
``heatmap`` draws resting volume by price over time; ``score_truth`` scores a
tape against the simulated market's true timeline (issue 13); ``concate_files`` and
``calculate_diff_components`` are the notebook's helpers, made correct and fast.
"""

from __future__ import annotations

from .notebook import calculate_diff_components, concate_files, scan_csv_folder
from .report import Problem, Report, report
from .truth import TruthReport, TruthScore, score_truth
from .verify import VerifyResult, verify

concat_files = concate_files

__all__ = [
    "Problem", "Report", "VerifyResult", "calculate_diff_components", "concat_files",
    "concate_files", "report", "scan_csv_folder", "score_truth", "TruthReport", "TruthScore",
    "verify",
]
