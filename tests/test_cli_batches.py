"""How the grader drives nbgrader over a batch in which some notebooks are rejected (quick: nbgrader is faked)."""
import subprocess

from autograder import nbgrader_steps as steps

STUDENTS = [f"s{i:02d}" for i in range(20)]
STOPS_THE_BATCH = "s03"   # like a forged schema version: nbgrader raises and processes no one after it
FAILS_ALONE = "s11"       # like an unreadable notebook: nbgrader removes its output and goes on


class FakeNbgrader:
    """nbgrader's batch semantics: students in sorted order, ``--student`` and ``student_id_exclude`` filters."""

    def __init__(self):
        self.done, self.calls = set(), []

    def step(self, topic, course_dir, only=None, exclude=()):
        self.calls.append((only, tuple(exclude)))
        errors = []
        for student in sorted(STUDENTS):
            if (only and student != only) or student in exclude:
                continue
            if student == STOPS_THE_BATCH:
                return subprocess.CompletedProcess([], 1, "", "SchemaTooNewError: Schema version is too new: 99")
            if student == FAILS_ALONE:
                errors.append("NotJSONError: Notebook does not appear to be JSON")
            else:
                self.done.add(student)
        return subprocess.CompletedProcess([], 1 if errors else 0, "", "\n".join(errors))


def test_rejected_notebooks_are_recorded_and_everyone_else_is_processed():
    fake = FakeNbgrader()
    rejected = steps.batch_despite_rejects(fake.step, "attention", None, STUDENTS, fake.done.__contains__)
    assert fake.done == set(STUDENTS) - {STOPS_THE_BATCH, FAILS_ALONE}
    assert set(rejected) == {STOPS_THE_BATCH, FAILS_ALONE}
    assert "SchemaTooNewError" in rejected[STOPS_THE_BATCH]
    assert "NotJSONError" in rejected[FAILS_ALONE]


def test_a_rejected_notebook_costs_two_more_nbgrader_runs_not_one_per_student_after_it():
    fake = FakeNbgrader()
    steps.batch_despite_rejects(fake.step, "attention", None, STUDENTS, fake.done.__contains__)
    assert len(fake.calls) <= 1 + 2 * 2, fake.calls


def test_a_clean_batch_is_one_nbgrader_run():
    fake = FakeNbgrader()
    good = [s for s in STUDENTS if s < STOPS_THE_BATCH]
    assert steps.batch_despite_rejects(fake.step, "attention", None, good, fake.done.__contains__) == {}
    assert len(fake.calls) == 1


NBGRADER_SCHEMA_LOG = (  # as nbgrader writes it, trailing spaces included
    "[AutogradeApp | INFO] Converting notebook /c/submitted/a/attention/attention.ipynb\n"
    "[AutogradeApp | WARNING] Removing failed assignment: /c/sanitized/a/attention\n"
    "[AutogradeApp | ERROR] One or more notebooks in the assignment use an newer version \n"
    "    of the nbgrader metadata format. Please update your version of \n"
    "    nbgrader to the latest version to be able to use this notebook.\n"
    "    \n"
)


def test_the_reason_for_a_rejected_notebook_is_nbgraders_whole_error_message_with_a_hint():
    reason = steps.last_error_line(NBGRADER_SCHEMA_LOG)
    assert "metadata of a cell was edited" in reason
    assert "use an newer version of the nbgrader metadata format" in reason


def test_the_reason_for_a_crash_is_the_last_exception():
    log = ("[AutogradeApp | INFO] x\nTraceback (most recent call last):\n"
           "nbclient.exceptions.DeadKernelError: Kernel died\n")
    assert steps.last_error_line(log).startswith("the kernel died")
