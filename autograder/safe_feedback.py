"""nbgrader's own feedback (``nbgrader generate_feedback``, formgrader's "release feedback") without hidden tests.

nbgrader renders the autograded notebook, whose test cells were restored from the gradebook *with* their hidden
tests.  ``nbgrader_config.py`` puts :class:`HideHiddenTests` into ``GenerateFeedback.preprocessors``: it removes
every ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` region (nbgrader's ``ClearHiddenTests``, as when the
assignment is released) and keeps only the last line of an error's traceback (an IPython traceback quotes the
test's source around the failing line).
"""
from __future__ import annotations

from nbgrader.preprocessors import ClearHiddenTests


class HideHiddenTests(ClearHiddenTests):
    def preprocess_cell(self, cell, resources, cell_index):
        self._remove_hidden_test_region(cell)
        if cell.cell_type == "code":
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources
