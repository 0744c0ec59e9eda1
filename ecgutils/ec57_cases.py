"""Hand-made EC57 cases whose answers are worked out on paper, beside each case.

They document the scoring rules of :mod:`ecgutils.ec57` by example; the tests check the scorer
against every answer (and WFDB's ``epicmp`` against the same files), and notebook 06 shows them
with what the scorer computes. Each record is 1800 s long and compared from 300 s unless the
options say otherwise, in the default variant (EC57, no exclusions: reference flutter is
non-AF) unless the options say ``exclude_reference_afl=True`` (epicmp ``-x``, EC38:1998).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ecgutils import ec57
from ecgutils.rhythm import AF, AFL, Interval

END_S = 1800.0  # hand-made record length: 648000 samples at 360 Hz
ANSWER_FIELDS = ("ref_episodes", "ref_episodes_detected", "test_episodes", "test_episodes_true",
                 "ref_af_s", "test_af_s", "overlap_s")


def af(start_s: float, end_s: float) -> Interval:
    return Interval(AF, start_s, end_s)


def afl(start_s: float, end_s: float) -> Interval:
    return Interval(AFL, start_s, end_s)


def normal(start_s: float, end_s: float) -> Interval:
    return Interval("N", start_s, end_s)


# name -> (reference, test, options, paper answer, epicmp's answer where it differs).
# Answers: (ref episodes, detected, test episodes, true, ref AF s, test AF s, overlap s).
# Cases without reference flutter score the same in both variants.
_AFL_EXCLUDED = {"exclude_reference_afl": True}
HAND_CASES = {
    # Ref AF 600-700, test AF 800-850: nothing shared. 1 ref missed, 1 FP; 100 s, 50 s, 0 s.
    "no_overlap": ([af(600, 700)], [af(800, 850)], {}, (1, 0, 1, 0, 100, 50, 0), None),
    # Test 650-750 shares 650-700 = 50 s: both episodes hit; DSe = D+P = 50/100.
    "partial_overlap": ([af(600, 700)], [af(650, 750)], {}, (1, 1, 1, 1, 100, 100, 50), None),
    # One ref 400-1000 (600 s); tests 410-420, 500-530, 990-1010 overlap it (10+30+10 = 50 s),
    # 1100-1110 does not: 4 test episodes, 3 true, test AF 10+30+20+10 = 70 s.
    "one_long_reference_many_short_tests": (
        [af(400, 1000)],
        [af(410, 420), af(500, 530), af(990, 1010), af(1100, 1110)],
        {}, (1, 1, 4, 3, 600, 70, 50), None,
    ),
    # -x: ref AF 600-700 | AFL 700-760 | AF 760-800, AFL 1000-1100. Test 650-780 (130 s: AF
    # 50 + AFL 60 + AF 20), 990-1020 (N 10 + AFL 20), 1030-1050 (wholly inside AFL: dropped).
    # 2 ref episodes (140 s) both hit; 2 counted tests, 1 true; test AF (130-60)+(30-20) = 80;
    # overlap 50+20 = 70 -> Se 1, +P 1/2, DSe 1/2, D+P 70/80.
    "afl_inside_af_is_excluded": (
        [normal(0, 600), af(600, 700), afl(700, 760), af(760, 800), normal(800, 1000),
         afl(1000, 1100), normal(1100, END_S)],
        [af(650, 780), af(990, 1020), af(1030, 1050)],
        _AFL_EXCLUDED, (2, 2, 2, 1, 140, 80, 70), None,
    ),
    # Same files without AFL exclusion (the default, said explicitly): all 3 tests count, 1
    # true; test AF 130+30+20 = 180.
    "afl_counts_as_non_af_without_exclusion": (
        [normal(0, 600), af(600, 700), afl(700, 760), af(760, 800), normal(800, 1000),
         afl(1000, 1100), normal(1100, END_S)],
        [af(650, 780), af(990, 1020), af(1030, 1050)],
        {"exclude_reference_afl": False}, (2, 2, 3, 1, 140, 180, 70), None,
    ),
    # -x: ref AFL 1000-1100, AF 1200-1300. Test 1080-1120 starts inside the AFL: 20 s AFL +
    # 20 s N, an FP of 40-20 = 20 s. epicmp adds the 20 s of AFL instead: 40+20 = 60 s.
    # (Without -x: an FP of all 40 s, and epicmp agrees.)
    "test_starting_inside_afl": (
        [afl(1000, 1100), af(1200, 1300)], [af(1080, 1120)],
        _AFL_EXCLUDED, (1, 0, 1, 0, 100, 20, 0), (1, 0, 1, 0, 100, 60, 0),
    ),
    # -x: test 1000-1150 starts with the AFL 1000-1100: 150-100 = 50 s of FP; epicmp's quirk
    # applies from the AFL's first instant on: 150+100 = 250 s. (Without -x: 150 s.)
    "test_starting_with_afl": (
        [afl(1000, 1100), af(1200, 1300)], [af(1000, 1150)],
        _AFL_EXCLUDED, (1, 0, 1, 0, 100, 50, 0), (1, 0, 1, 0, 100, 250, 0),
    ),
    # Ref 100-200 lies before the 300 s start; ref 250-400 is clipped to 300-400 (100 s).
    # Test 150-180 is before the start (its overlap with ref there does not count); test
    # 290-310 is clipped to 300-310 and overlaps: 1/1 hit, 1/1 true, 10 s of 10 s.
    "episodes_before_and_straddling_the_start": (
        [af(100, 200), af(250, 400)], [af(150, 180), af(290, 310)],
        {}, (1, 1, 1, 1, 100, 10, 10), None,
    ),
    # Same from 0 s: 2 ref episodes (100+150 = 250 s), both tests true (30+20 = 50 s).
    "start_at_zero_keeps_early_episodes": (
        [af(100, 200), af(250, 400)], [af(150, 180), af(290, 310)],
        {"start_s": 0.0}, (2, 2, 2, 2, 250, 50, 50), None,
    ),
    # Ref 200-300 ends exactly at the start: not in the window (0 s). epicmp counts it as a
    # zero-length reference episode that nothing can hit: 2 ref episodes, 1 detected.
    "episode_ending_exactly_at_the_start": (
        [af(200, 300), af(600, 700)], [af(600, 700)],
        {}, (1, 1, 1, 1, 100, 100, 100), (2, 1, 1, 1, 100, 100, 100),
    ),
    # No test AF: 1 ref missed; no test episodes, so +P and D+P are undefined.
    "empty_test": ([af(600, 700)], [], {}, (1, 0, 0, 0, 100, 0, 0), None),
    # No ref AF: Se and DSe undefined; the 60 s test episode is an FP.
    "empty_reference": ([normal(0, END_S)], [af(600, 660)], {}, (0, 0, 1, 0, 0, 60, 0), None),
    # Ref 1700-1800 and test 1740-1800 run to the record end: 100 s, 60 s, 60 s shared.
    "episodes_running_to_the_record_end": (
        [af(1700, END_S)], [af(1740, END_S)], {}, (1, 1, 1, 1, 100, 60, 60), None,
    ),
    # The same compared up to 1750 s: ref 1700-1750 = 50 s, test 1740-1750 = 10 s.
    "end_s_clips_episodes": (
        [af(1700, END_S)], [af(1740, END_S)], {"end_s": 1750.0}, (1, 1, 1, 1, 50, 10, 10), None,
    ),
    # Two touching AF intervals (two (AFIB annotations in a row) are one 100 s episode.
    "touching_af_intervals_are_one_episode": (
        [af(600, 650), af(650, 700)], [af(640, 660)], {}, (1, 1, 1, 1, 100, 20, 20), None,
    ),
}


def answer_of(score: ec57.RecordScore) -> tuple[float, ...]:
    """A score as a hand-case answer: (ref episodes, detected, test episodes, true, ref AF s,
    test AF s, overlap s)."""
    return tuple(getattr(score, field) for field in ANSWER_FIELDS)


def table() -> pd.DataFrame:
    """Every hand case: its options and scoring variant, its paper answer, what
    :func:`ecgutils.ec57.compare` computes, and ``epicmp``'s answer where it departs from the
    rules (``epicmp_quirks=True``)."""
    rows: list[dict[str, Any]] = []
    for name, (reference, test, options, answer, epicmp_answer) in HAND_CASES.items():
        computed = answer_of(ec57.compare(reference, test, END_S, record=name, **options))
        rows.append({
            "case": name,
            "options": ", ".join(f"{k}={v}" for k, v in options.items()) or "defaults",
            "variant": ec57.variant(options.get("exclude_reference_afl", False)),
            "paper answer": _short(answer),
            "computed": _short(computed),
            "agrees": all(abs(a - b) < 1e-9 for a, b in zip(answer, computed, strict=True)),
            "epicmp (where it differs)": "" if epicmp_answer is None else _short(epicmp_answer),
        })
    return pd.DataFrame(rows)


def _short(answer: tuple[float, ...]) -> str:
    return " ".join(f"{value:g}" for value in answer)
