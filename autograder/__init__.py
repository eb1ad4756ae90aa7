"""Grading tools for the course: a thin layer over nbgrader (see ``python -m autograder --help``)."""
