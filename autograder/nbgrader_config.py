"""nbgrader configuration for the course.

The course directory (``source/``, ``release/``, ``submitted/``, ``autograded/``,
``gradebook.db``) is generated under ``autograder/course/`` by ``python -m
autograder``; ``solutions/`` stays the single source of truth.
"""
import os

c = get_config()  # noqa: F821 -- provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "transformers-from-attention-to-swin"
c.CourseDirectory.root = os.environ.get(
    "COURSE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "course"))
# SQLite in the course folder, or the server that `python -m autograder grade --db URL` names (autograder/gradebook.py)
c.CourseDirectory.db_url = os.environ.get("COURSE_DB_URL") or "sqlite:///" + os.path.join(
    c.CourseDirectory.root, "gradebook.db")

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A generous per-cell limit: the grader's own timeouts are set by ``python -m autograder grade``.
c.Execute.timeout = int(os.environ.get("COURSE_CELL_TIMEOUT", "60"))
c.Execute.interrupt_on_timeout = True
c.Execute.allow_errors = True

# Find-the-bug parts: the student gets the buggy code of ``metadata.course.stub`` (autograder/stubs.py).
import sys  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from nbgrader.converters import GenerateAssignment  # noqa: E402

from autograder.stubs import ClearSolutionsWithGivenCode  # noqa: E402

c.GenerateAssignment.preprocessors = [ClearSolutionsWithGivenCode if p.__name__ == "ClearSolutions" else p
                                      for p in GenerateAssignment.class_traits()["preprocessors"].default()]

# Late work: nbgrader's late-submission plugin with the course's policy and due dates (autograder/late.py, late.toml).
from autograder.late import CoursePenalty  # noqa: E402

c.AssignLatePenalties.plugin_class = CoursePenalty

# nbgrader's own feedback (`nbgrader generate_feedback`, formgrader's "release feedback") without hidden tests.
from nbgrader.converters import GenerateFeedback  # noqa: E402

from autograder.safe_feedback import HideHiddenTests  # noqa: E402

c.GenerateFeedback.preprocessors = [HideHiddenTests, *GenerateFeedback.class_traits()["preprocessors"].default()]
