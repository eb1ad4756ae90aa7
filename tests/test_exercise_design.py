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

import functools
import re

import pytest

from autograder import cli, parts
from autograder.reference import REPO_ROOT
from tests import inprocess
from tests.planted_bugs import ALTERNATIVES, PLANTED_BUGS, WARNED, apply_bug, edited_source

TOPICS = cli.topics()
BUGS = [(t, b) for t in TOPICS for b in PLANTED_BUGS.get(t, [])]
ALTS = [(t, a) for t in TOPICS for a in ALTERNATIVES.get(t, [])]
WARNS = [(t, w) for t in TOPICS for w in WARNED.get(t, [])]


def _params(pairs):
    """One test per (topic, edit), grouped by topic: with pytest-xdist's ``--dist loadgroup`` (the quick tier) a
    topic's edits run on one worker, which runs that topic's shared pass (:func:`topic_runs`) once."""
    return [pytest.param(t, e, id=f"{t}:{e.name}", marks=pytest.mark.xdist_group(t)) for t, e in pairs]


def hidden_cells(topic: str) -> set[str]:
    return {c.metadata.nbgrader["grade_id"] for c in inprocess.solution(topic).cells
            if c.cell_type == "code" and "BEGIN HIDDEN TESTS" in c.source}


@functools.lru_cache(maxsize=None)
def topic_runs(topic: str) -> tuple[inprocess.Run, dict]:
    """The reference run and, by (kind, name), the run of every planted bug, alternative and warned mistake of
    ``topic``, in one pass (each edit forks at its own cell, :func:`tests.inprocess.run_edits`). A bug's run stops
    at the first hidden cell that fails (later cells cannot undo it), a warned mistake's at its visible cell."""
    notebook, hidden = inprocess.solution(topic), hidden_cells(topic)
    edits = [inprocess.Edit(("bug", b.name), b.cell, edited_source(notebook, b),
                            until=lambda r: bool(r.failed() & hidden)) for b in PLANTED_BUGS.get(topic, [])]
    edits += [inprocess.Edit(("alternative", a.name), a.cell, edited_source(notebook, a))
              for a in ALTERNATIVES.get(topic, [])]
    edits += [inprocess.Edit(("warned", w.name), w.cell, edited_source(notebook, w),
                             until=lambda r, cell=w.caught_by: cell in r.passed) for w in WARNED.get(topic, [])]
    return inprocess.run_edits(notebook, edits, topic)


@pytest.mark.parametrize("topic", TOPICS)
def test_reference_passes_and_stub_fails_every_graded_cell(topic):
    reference, _ = topic_runs(topic)
    assert not reference.errors, reference.errors
    assert reference.passed and all(reference.passed.values()), reference.messages
    stub = inprocess.run(inprocess.stub_of(inprocess.solution(topic)), f"{topic}-stub")
    assert set(stub.passed) == set(reference.passed)
    assert not any(stub.passed.values()), f"pass on the stub: {[c for c, ok in stub.passed.items() if ok]}"


def test_an_edit_runs_as_the_whole_edited_notebook_would():
    """The forked pass gives what running the edited notebook from the top gives: a bug caught, an alternative
    passing, a child that crashes reported as an error, and the reference run untouched by the edits."""
    topic = "masking"
    notebook = inprocess.solution(topic)
    bug, alternative = PLANTED_BUGS[topic][0], ALTERNATIVES[topic][0]
    crash = inprocess.Edit("crash", bug.cell, "import os\nos._exit(3)")
    reference, runs = inprocess.run_edits(notebook, [
        inprocess.Edit("bug", bug.cell, edited_source(notebook, bug)),
        inprocess.Edit("alternative", alternative.cell, edited_source(notebook, alternative)), crash], topic)
    assert runs["bug"].passed == inprocess.run(apply_bug(notebook, bug)).passed
    assert runs["alternative"].passed == inprocess.run(apply_bug(notebook, alternative)).passed
    assert not any(run.errors for run in (runs["bug"], runs["alternative"]))
    assert "died" in runs["crash"].errors["<child>"]
    assert reference.passed == inprocess.run(notebook).passed and all(reference.passed.values())


@pytest.mark.parametrize("topic,bug", _params(BUGS))
def test_planted_bug_fails_a_hidden_cell(topic, bug):
    run = topic_runs(topic)[1][("bug", bug.name)]
    assert "<child>" not in run.errors, run.errors
    assert run.failed() & hidden_cells(topic), f"{bug.name}: no hidden test cell fails ({run.failed()})"


@pytest.mark.parametrize("topic,alternative", _params(ALTS))
def test_alternative_solution_passes_every_cell(topic, alternative):
    run = topic_runs(topic)[1][("alternative", alternative.name)]
    assert "<child>" not in run.errors, run.errors
    assert run.passed.keys() == topic_runs(topic)[0].passed.keys(), "not every graded cell ran"
    assert all(run.passed.values()), run.messages


@pytest.mark.parametrize("topic", TOPICS)
def test_chapter_warnings_are_listed(topic):
    assert WARNED.get(topic), f"tests/planted/{topic}.py lists no WARNED mistakes"


@pytest.mark.parametrize("topic,warned", _params(WARNS))
def test_warned_mistake_is_caught_by_its_visible_cell(topic, warned):
    chapter = (REPO_ROOT / "book" / f"{topic}.md").read_text()
    assert re.search(rf"^#+ .*{re.escape(warned.warning)}", chapter, re.M), \
        f"book/{topic}.md has no section {warned.warning!r} that warns about {warned.name}"
    visible = {c for p in parts.parts(topic) for c in p.visible}
    assert warned.caught_by in visible, f"{warned.caught_by} is not a visible test cell of {topic}"
    run = topic_runs(topic)[1][("warned", warned.name)]
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
