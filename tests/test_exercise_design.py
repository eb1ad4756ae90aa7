"""Exercises that measure understanding, proved in this process (no kernel, seconds per topic):

* the reference passes every graded test cell and the student's stub fails every one;
* every planted bug fails a hidden test cell, every alternative correct solution passes them all;
* every mistake the chapter warns about (``WARNED``) fails the visible cell named for it, with a message naming the
  concept, and the chapter has the section that warns;
* at least 40% of each exercise's points come from parts the chapter does not print, one part is a find-and-fix-the-
  bug part, every part states its difficulty and time, and the chapter links each part it does not print;
* the README's tables are the ones these facts give.

The same edits are graded for real, through nbgrader and the sandbox, by ``tests/test_grading.py``.
"""
from __future__ import annotations

import re

import pytest

from autograder import cli, parts
from autograder.reference import REPO_ROOT
from tests import inprocess
from tests.planted_bugs import ALTERNATIVES, PLANTED_BUGS, WARNED, apply_bug

TOPICS = cli.topics()
BUGS = [(t, b) for t in TOPICS for b in PLANTED_BUGS.get(t, [])]
ALTS = [(t, a) for t in TOPICS for a in ALTERNATIVES.get(t, [])]
WARNS = [(t, w) for t in TOPICS for w in WARNED.get(t, [])]


def hidden_cells(topic: str) -> set[str]:
    return {c.metadata.nbgrader["grade_id"] for c in inprocess.solution(topic).cells
            if c.cell_type == "code" and "BEGIN HIDDEN TESTS" in c.source}


@pytest.mark.parametrize("topic", TOPICS)
def test_reference_passes_and_stub_fails_every_graded_cell(topic):
    notebook = inprocess.solution(topic)
    reference = inprocess.run(notebook, f"{topic}-reference")
    assert not reference.errors, reference.errors
    assert reference.passed and all(reference.passed.values()), reference.messages
    stub = inprocess.run(inprocess.stub_of(notebook), f"{topic}-stub")
    assert set(stub.passed) == set(reference.passed)
    assert not any(stub.passed.values()), f"pass on the stub: {[c for c, ok in stub.passed.items() if ok]}"


@pytest.mark.parametrize("topic,bug", BUGS, ids=[f"{t}:{b.name}" for t, b in BUGS])
def test_planted_bug_fails_a_hidden_cell(topic, bug):
    hidden = hidden_cells(topic)
    run = inprocess.run(apply_bug(inprocess.solution(topic), bug), f"{topic}-{bug.name}",
                        until=lambda r: bool(r.failed() & hidden))   # caught: later cells cannot undo it
    assert run.failed() & hidden, f"{bug.name}: no hidden test cell fails ({run.failed()})"


@pytest.mark.parametrize("topic,alternative", ALTS, ids=[f"{t}:{a.name}" for t, a in ALTS])
def test_alternative_solution_passes_every_cell(topic, alternative):
    run = inprocess.run(apply_bug(inprocess.solution(topic), alternative), f"{topic}-{alternative.name}")
    assert all(run.passed.values()), run.messages


@pytest.mark.parametrize("topic", TOPICS)
def test_chapter_warnings_are_listed(topic):
    assert WARNED.get(topic), f"tests/planted/{topic}.py lists no WARNED mistakes"


@pytest.mark.parametrize("topic,warned", WARNS, ids=[f"{t}:{w.name}" for t, w in WARNS])
def test_warned_mistake_is_caught_by_its_visible_cell(topic, warned):
    chapter = (REPO_ROOT / "book" / f"{topic}.md").read_text()
    assert re.search(rf"^#+ .*{re.escape(warned.warning)}", chapter, re.M), \
        f"book/{topic}.md has no section {warned.warning!r} that warns about {warned.name}"
    visible = {c for p in parts.parts(topic) for c in p.visible}
    assert warned.caught_by in visible, f"{warned.caught_by} is not a visible test cell of {topic}"
    run = inprocess.run(apply_bug(inprocess.solution(topic), warned), f"{topic}-{warned.name}",
                        until=lambda r: warned.caught_by in r.passed)
    assert not run.passed[warned.caught_by], f"{warned.caught_by} passes with {warned.name}"
    message = run.messages[warned.caught_by]
    assert warned.says.lower() in message.lower(), \
        f"{warned.caught_by} fails on {warned.name} but its message does not say {warned.says!r}: {message}"


@pytest.mark.parametrize("topic", TOPICS)
def test_most_points_are_not_transcription(topic):
    share = parts.unprinted_share(topic)
    printed = [p.grade_id for p in parts.parts(topic) if p.printed]
    assert share >= parts.MIN_UNPRINTED_SHARE, \
        f"{topic}: only {share:.0%} of the points come from parts the chapter does not print (printed: {printed})"


@pytest.mark.parametrize("topic", TOPICS)
def test_every_part_states_difficulty_and_time(topic):
    for part in parts.parts(topic):
        assert 1 <= part.stars <= 3 and part.minutes > 0, \
            f"{topic}:{part.grade_id}: the task heading needs '(★★, 20 min)'"


@pytest.mark.parametrize("topic", TOPICS)
def test_find_the_bug_part_is_caught_by_its_own_tests(topic):
    """One part gives buggy code to fix: every one of its test cells fails on what the student is given."""
    bug_parts = [p for p in parts.parts(topic) if p.fix_the_bug]
    assert len(bug_parts) >= 1, f"{topic}: no find-and-fix-the-bug part (metadata.course.stub)"
    stub = inprocess.run(inprocess.stub_of(inprocess.solution(topic)), topic)
    for part in bug_parts:
        assert not any(stub.passed[c] for c in part.tests), part.tests


@pytest.mark.parametrize("topic", TOPICS)
def test_chapter_links_every_part_it_does_not_print(topic):
    chapter = (REPO_ROOT / "book" / f"{topic}.md").read_text().splitlines()
    linking = [line for line in chapter if f"exercises/{topic}.ipynb" in line]
    for part in parts.parts(topic):
        if not part.printed:
            assert any(name in line for line in linking for name in part.names), \
                f"book/{topic}.md never links the exercise's part {part.grade_id} ({', '.join(part.names)})"


def test_readme_tables_are_current():
    readme = (REPO_ROOT / "README.md").read_text()
    for row in parts.summary_rows(TOPICS) + warned_rows():
        assert row in readme, f"README.md is missing or has an outdated row:\n{row}"


def warned_rows() -> list[str]:
    rows = ["| topic | mistake the chapter warns about | chapter section | visible cell that catches it |",
            "|---|---|---|---|"]
    for topic, warned in WARNS:
        rows.append(f"| {topic} | {warned.name} | {warned.warning} | `{warned.caught_by}` |")
    return rows


if __name__ == "__main__":  # print the README's tables
    print("\n".join(parts.summary_rows(TOPICS)), "\n\n" + "\n".join(warned_rows()))
