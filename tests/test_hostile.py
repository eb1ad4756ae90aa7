"""The autograder against hostile submissions (tests/hostile_corpus.py), every topic's graded in one real run.

For every selected topic (COURSE_TOPICS): each cheat scores no more than that topic's honest wrong answer; each
disruption gets a score and a reason; the honest right answer in the same batch still gets full marks; nothing
secret (hidden tests, the reference solution) appears in any output, feedback or the CSV; nothing outside a
submission's folder changes; no submission reaches the network (a port the test listens on, other kernels); the
global RNG a graded function seeds never takes over the grader's random inputs; and no process of the batch (a
sandboxed kernel, bubblewrap, anything running as a sandbox uid) is left once the batch is over.
"""
from __future__ import annotations

import csv
import ctypes
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import nbformat
import pytest

from autograder import kernel_zygote, sandbox
from autograder.config import Config
from autograder.pipeline import grade as grade_batch
from autograder.reference import SOLUTIONS_DIR
from autograder.reports import feedback as write_feedback
from tests.conftest import selected_topics
from tests.hostile_corpus import CORPORA, PROBE_PORT, write_corpus

REPO_ROOT = Path(__file__).resolve().parent.parent
TOPICS = [t for t in selected_topics() if t in CORPORA]
pytestmark = [
    pytest.mark.skipif(not TOPICS, reason="no topic with a hostile corpus selected"),
    # the corpus kills processes and forks: only run it where kernels are isolated and unprivileged
    pytest.mark.skipif(not (sandbox.bwrap_available() and sandbox.can_drop_privileges()),
                       reason="needs bubblewrap and root (to give kernels their own uid)"),
]
# Each case that hangs (11 in all) holds a core until this limit: the longest honest cell takes 2.1 s on an idle
# 2-core machine (encoder_decoder's test_overfit: benchmarks/cells.py), ~5 s with the full suite around it
CELL_TIMEOUT_S = 10
CANARIES = [Path("/tmp/pwned"), Path("/tmp/evil.txt"), Path("/etc/evil.txt")]
PROTOCOL_FILES = (".grader-*", ".answer-*", ".callback-*", ".doorbell-*")   # autograder/protocol's messages
MIN_PER_TOPIC = 8
SANDBOX_UIDS = range(Config.from_env().sandbox_uid_base, Config.from_env().sandbox_uid_base + 256)
PR_SET_CHILD_SUBREAPER = 36


def _stray_protocol_files() -> list[Path]:
    """The grader's messages where a link in a kernel's folder could have sent them."""
    return [p for folder in (Path("/tmp"), Path("/etc"), REPO_ROOT, SOLUTIONS_DIR) for pattern in PROTOCOL_FILES
            for p in folder.glob(pattern)]


def _cases(select=lambda hostile: True):
    return [pytest.param(topic, h.name, id=f"{topic}-{h.name}") for topic in TOPICS for h in CORPORA[topic]
            if select(h)]


def _digest(folder: Path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())).hexdigest()


def _solutions_as_edited_by_people() -> bool:
    """A solution file that changed during the batch is what git has (HEAD or the index), or is still a notebook
    owned by no sandbox uid: an engineer's edit in this shared checkout, not a submission writing there (a
    submission's write, like the one in ``writes-outside-its-folder``, is no notebook)."""
    for path in sorted(SOLUTIONS_DIR.rglob("*.ipynb")):
        relative = path.relative_to(REPO_ROOT).as_posix()
        versions = [subprocess.run(["git", "show", f"{ref}:{relative}"], cwd=REPO_ROOT, capture_output=True).stdout
                    for ref in ("HEAD", "")]
        if path.read_bytes() in versions:
            continue
        try:
            nbformat.read(path, as_version=4)
        except Exception:  # noqa: BLE001 -- anything that is no notebook
            return False
        if path.stat().st_uid in SANDBOX_UIDS:
            return False
    return True


# ------------------------------------------------------------------------------------------------ processes
def _process(pid: int) -> dict | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmdline = handle.read().replace(b"\0", b" ").decode(errors="replace")
        uid = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return {"pid": pid, "state": fields[0], "ppid": int(fields[1]), "start": int(fields[19]), "uid": uid,
            "cmdline": cmdline}


def _processes() -> dict[tuple[int, int], dict]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (info := _process(int(entry))):
            found[(info["pid"], info["start"])] = info
    return found


def _is_sandbox(info: dict) -> bool:
    return (any(name in info["cmdline"] for name in ("sandbox_kernel", "kernel_zygote", "bwrap"))
            or info["uid"] in SANDBOX_UIDS)


def _left_over(before: dict, now: dict) -> list[dict]:
    """Processes the batch started that still run: sandbox processes (kernel, bubblewrap, a sandbox uid) and any
    descendant of this test process.  A sandbox process under another live program (someone else's grading run
    on this machine) is not ours; one reparented to init, or to this process (a child subreaper during the batch),
    is."""
    me = os.getpid()
    by_pid = {info["pid"]: info for info in now.values()}
    left = []
    for key, info in now.items():
        if key in before or info["state"] in "ZX" or info["pid"] == me:
            continue
        ours, parent = None, info["ppid"]
        for _ in range(64):
            if parent == me:
                ours = True
                break
            if parent in (0, 1) or parent not in by_pid:
                ours = _is_sandbox(info)   # an orphan: a leak if it is a sandbox process
                break
            if not _is_sandbox(by_pid[parent]):
                ours = False               # under another live program
                break
            parent = by_pid[parent]["ppid"]
        if ours:
            left.append(info)
    return left


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _set_subreaper(on: bool) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0)
    except (OSError, AttributeError):
        pass


# ------------------------------------------------------------------------------------------------ network
class _Listener:
    """A TCP port on 127.0.0.1 that submissions are told about (``PROBE_PORT``): it records every connection."""

    def __init__(self, port: int):
        self.connections: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                conn, address = self.sock.accept()
            except OSError:
                continue
            self.connections.append(f"{address[0]}:{address[1]}")
            conn.close()

    def close(self):
        self.stopped.set()
        self.thread.join(timeout=5)
        self.sock.close()


# ------------------------------------------------------------------------------------------------ batches
_BATCHES: dict[tuple, dict] = {}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """batch(topic): the topic's corpus and its honest answers, graded in one real grading run with every other
    selected topic's (one set of workers, one zygote, one nbgrader server: as a class's run grades every assignment),
    then cached. ``zygote=False``: kernels start through bubblewrap, in a run of ``topic`` alone, of the students in
    ``only``. What the run leaves outside the submissions (canaries, connections, processes) is the whole run's."""

    def grade(topic: str, zygote: bool = True, only: frozenset | None = None) -> dict:
        graded = TOPICS if only is None else [topic]
        key = (tuple(graded), zygote, only)
        if key not in _BATCHES:
            _BATCHES[key] = _grade_run(tmp_path_factory, graded, zygote, only)
        return _topic_view(_BATCHES[key], topic, only)

    return grade


def _grade_run(tmp_path_factory, topics: list[str], zygote: bool, only: frozenset | None) -> dict:
    for canary in CANARIES + _stray_protocol_files():
        canary.unlink(missing_ok=True)
    before_digest = _digest(SOLUTIONS_DIR)
    root = tmp_path_factory.mktemp("hostile")
    for topic in topics:
        write_corpus(root, topic=topic)
    for student in (folder for folder in root.iterdir() if only is not None and folder.name not in only):
        shutil.rmtree(student)
    course_dir = tmp_path_factory.mktemp("hostile-course")
    config = Config.from_env(course_dir=course_dir, cell_timeout_s=CELL_TIMEOUT_S).with_(zygote=zygote)
    listener = _Listener(PROBE_PORT)
    before = _processes()
    _set_subreaper(True)
    try:
        results = grade_batch(root, topics, csv_path=course_dir / "grades.csv", config=config)
    finally:
        listener.close()
    deadline = time.monotonic() + 20     # a kernel that is being shut down gets a moment
    while (left := _left_over(before, _processes())) and time.monotonic() < deadline:
        _reap()
        time.sleep(0.5)
    _set_subreaper(False)
    _reap()
    unchanged = _digest(SOLUTIONS_DIR) == before_digest or _solutions_as_edited_by_people()
    return {"list": results, "course_dir": course_dir, "solutions_unchanged": unchanged,
            "canaries": [str(c) for c in CANARIES + _stray_protocol_files() if c.exists()],
            "connections": list(listener.connections), "left_over": left}


def _students(topic: str) -> set[str]:
    return {f"hostile-{h.name}" for h in CORPORA[topic]} | {"honest-wrong-answer", "honest-right-answer"}


def _topic_view(run: dict, topic: str, only: frozenset | None) -> dict:
    """The run's results for ``topic``'s own submissions (a student of another topic only has "no submission"
    here)."""
    students = _students(topic) if only is None else _students(topic) & only
    mine = [r for r in run["list"] if r.topic == topic and r.student in students]
    return {**run, "list": mine, "by_student": {r.student: r for r in mine}, "topic": topic}


def _secret_lines(topic: str) -> set[str]:
    """Lines of hidden tests and of the reference's solution regions (long enough to be unambiguous)."""
    nb = nbformat.read(SOLUTIONS_DIR / f"{topic}.ipynb", as_version=4)
    secret = set()
    for cell in nb.cells:
        text = cell.source
        if "BEGIN HIDDEN TESTS" in text:
            text = text.split("BEGIN HIDDEN TESTS", 1)[1]
        elif "BEGIN SOLUTION" in text:
            text = "\n".join(part.split("END SOLUTION", 1)[0] for part in text.split("BEGIN SOLUTION")[1:])
        else:
            continue
        secret |= {line.strip() for line in text.splitlines()
                   if len(line.strip()) > 25 and not line.strip().startswith(("#", "raise", "return"))}
    return secret


def _output_text(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    return "\n".join(str(o.get("text", "")) + str(o.get("data", "")) + str(o.get("evalue", ""))
                     + "\n".join(o.get("traceback", [])) for o in outputs)


def _executed(b: dict, name: str) -> Path:
    return b["course_dir"] / "executed" / f"hostile-{name}" / b["topic"] / f"{b['topic']}.ipynb"


# ------------------------------------------------------------------------------------------------ tests
def test_corpus_is_large_enough():
    assert len(CORPORA["attention"]) >= 25
    for topic, corpus in CORPORA.items():
        assert len(corpus) >= MIN_PER_TOPIC, topic
        assert len({h.name for h in corpus}) == len(corpus), f"{topic}: names must be unique"


@pytest.mark.parametrize("topic", TOPICS)
def test_every_submission_gets_a_result_and_the_honest_answers_are_graded_normally(batch, topic):
    b = batch(topic)
    assert set(b["by_student"]) == _students(topic)
    right = b["by_student"]["honest-right-answer"]
    assert right.scores == right.max_scores, right.reasons
    wrong = b["by_student"]["honest-wrong-answer"]
    assert wrong.total < wrong.max_total / 4, wrong.scores


@pytest.mark.parametrize("topic, name", _cases())
def test_no_trick_scores_more_than_the_honest_wrong_answer(batch, topic, name):
    b = batch(topic)
    honest = b["by_student"]["honest-wrong-answer"]
    result = b["by_student"][f"hostile-{name}"]
    gained = {q: (s, honest.scores.get(q, 0)) for q, s in result.scores.items() if s > honest.scores.get(q, 0)}
    assert result.total <= honest.total, (gained, {q: result.reasons.get(q) for q in gained})


@pytest.mark.parametrize("topic, name", _cases(lambda h: not h.structural))
def test_every_code_trick_was_really_run_and_tested(batch, topic, name):
    """A low score is no proof if the notebook never ran: nbgrader must have accepted it (even after a notebook
    that stops nbgrader's batch) and the notebook must have been executed."""
    b = batch(topic)
    result = b["by_student"][f"hostile-{name}"]
    assert not result.reasons.get("submission", "").startswith(("nbgrader could not", "not a valid")), result.reasons
    assert _executed(b, name).exists()


@pytest.mark.parametrize("topic, name", _cases(lambda h: h.probe is not None))
def test_probes_ran_and_reached_nothing(batch, topic, name):
    """The network probes found no port and no other kernel to talk to; the RNG probe never saw the grader's
    random inputs follow the seed it set."""
    b = batch(topic)
    probe = next(h.probe for h in CORPORA[topic] if h.name == name)
    text = _output_text(_executed(b, name))
    if probe == "NETWORK-PROBE":
        found = re.search(r"NETWORK-PROBE listening=(\d+) reached=(\[.*?\])", text)
        assert found, f"the probe did not run: {text[-1500:]}"
        assert json.loads(found.group(2)) == [], f"a submission reached {found.group(2)}"
    elif probe == "KERNEL-PROBE":
        found = re.search(r"KERNEL-PROBE readable=(\[.*?\]) reached=(\[.*?\])", text)
        assert found, f"the probe did not run: {text[-1500:]}"
        assert json.loads(found.group(1)) == [], f"a submission read other kernels' connection files {found.group(1)}"
        assert json.loads(found.group(2)) == [], f"a submission reached another kernel: {found.group(2)}"
    elif probe == "WHEEL-PROBE":
        found = re.search(r"WHEEL-PROBE found=(\[.*?\]) imported=(\[.*?\])", text)
        assert found, f"the probe did not run: {text[-1500:]}"
        assert found.group(1) == "[]" and found.group(2) == "[]", f"wheels of hidden packages in view: {found.group(0)}"
    elif probe == "LINK-PROBE":
        found = re.search(r"LINK-PROBE made=(\d+)", text)
        assert found, f"the probe did not run: {text[-1500:]}"
        assert int(found.group(1)) > 0, "the submission could not make its links: nothing was tried"
        seen = re.search(r"LINK-PROBE made=\d+ seen=(\d+)", text)
        assert seen is None or int(seen.group(1)) == 0, "the grader wrote its messages where a link sent them"
    elif probe == "PARENT-PROBE":
        found = re.search(r"PARENT-PROBE read=(\[.*?\]) signalled=(\[.*?\]) reached=(\[.*?\])", text)
        assert found, f"the probe did not run: {text[-1500:]}"
        assert found.group(1) == "[]", f"the kernel read what its parents hold: {found.group(1)}"
        assert found.group(2) == "[]", f"the kernel could signal a process of another user: {found.group(2)}"
        assert found.group(3) == "[]", f"the kernel reached a socket outside its own kernel: {found.group(3)}"
    elif probe == "FILES-PROBE":
        found = re.search(r"FILES-PROBE seen=(\d+) secrets=(\[.*?\])", text)
        assert found, f"the probe did not run: {text[-1500:]}"
        assert int(found.group(1)) >= 100, f"the probe walked only {found.group(1)} files"
        assert found.group(2) == "[]", f"the kernel can read the grader's secrets: {found.group(2)}"
    elif probe == "RNG-PROBE":
        found = re.search(r"RNG-PROBE calls=(\d+) controlled=(\d+)", text)
        assert found, f"the probe did not run: {text[-1500:]}"
        assert int(found.group(1)) > 0, "the graded code was never called before the report"
        assert int(found.group(2)) == 0, "the seed a graded function set became the grader's random inputs"


@pytest.mark.parametrize("topic", TOPICS)
def test_nobody_connected_to_the_test_port(batch, topic):
    assert batch(topic)["connections"] == [], f"connections to 127.0.0.1:{PROBE_PORT}"


@pytest.mark.parametrize("topic", TOPICS)
def test_no_process_is_left_after_the_batch(batch, topic):
    left = batch(topic)["left_over"]
    assert not left, [(p["pid"], p["uid"], p["cmdline"][:200]) for p in left]


@pytest.mark.parametrize("topic, name", _cases(lambda h: h.disrupts))
def test_disruptions_are_explained(batch, topic, name):
    result = batch(topic)["by_student"][f"hostile-{name}"]
    assert result.reasons.get("submission"), result.reasons


@pytest.mark.parametrize("topic", TOPICS)
def test_lost_points_always_come_with_a_reason(batch, topic):
    for result in batch(topic)["list"]:
        for question, points in result.max_scores.items():
            if result.scores.get(question, 0) < points:
                assert result.reasons.get(question) or result.reasons.get("submission"), (result.student, question)


@pytest.mark.parametrize("topic", TOPICS)
def test_nothing_secret_in_any_output_or_feedback(batch, topic, tmp_path):
    b = batch(topic)
    secret = _secret_lines(topic)
    assert len(secret) > 20
    texts = {}
    for path in (b["course_dir"] / "executed").glob(f"*/{topic}/*.ipynb"):
        texts[str(path)] = _output_text(path)
    feedback = write_feedback(b["list"], tmp_path)
    assert len(feedback) == len(b["list"]), "one feedback file per submission"
    for path in feedback:
        texts[str(path)] = path.read_text()
    with open(b["course_dir"] / "grades.csv") as handle:
        texts["grades.csv"] = handle.read()
    assert texts
    for where, text in texts.items():
        leaked = [line for line in secret if line in text]
        assert not leaked, f"{where} shows {leaked[:2]}"


@pytest.mark.parametrize("topic", TOPICS)
def test_nothing_outside_the_submissions_changed(batch, topic):
    b = batch(topic)
    assert b["solutions_unchanged"]
    assert not b["canaries"], f"a submission wrote {b['canaries']}"


@pytest.mark.parametrize("topic", TOPICS)
def test_csv_has_every_submission_once_and_matches_results(batch, topic):
    b = batch(topic)
    with open(b["course_dir"] / "grades.csv") as handle:
        rows = [row for row in csv.DictReader(handle) if row["assignment"] == topic]
    students = [row["student"] for row in rows]
    assert len(students) == len(set(students)), "a student twice"
    assert set(b["by_student"]) <= set(students)
    for row in rows:
        if row["student"] in b["by_student"]:
            assert float(row["total"]) == pytest.approx(b["by_student"][row["student"]].total)
        else:   # a student of another topic's corpus
            assert float(row["total"]) == 0 and "no submission" in row["reasons"], row


@pytest.mark.parametrize("topic,name", _cases(lambda hostile: hostile.blank))
def test_a_blank_notebook_that_reaches_out_scores_nothing(batch, topic, name):
    """No other submission graded at the same time can be copied: a blank stub that tries scores 0."""
    result = batch(topic)["by_student"][f"hostile-{name}"]
    assert result.total == 0, (result.scores, result.reasons)


def _depends_on_the_sandbox(hostile) -> bool:
    """The cases whose outcome the sandbox itself decides: probes, disruptions, and reaching for what lies outside
    the kernel's folder (reading, writing, importing, killing, forking, allocating)."""
    return (hostile.probe is not None or hostile.disrupts
            or hostile.name.split("-")[0] in ("reads", "writes", "imports", "kills", "fork", "allocates"))


@pytest.mark.skipif(not kernel_zygote.supported(), reason="the zygote runs only as root on x86-64 or arm64 Linux")
def test_kernels_started_through_bubblewrap_get_the_same_grades(batch):
    """Where the zygote cannot run, kernels start through bubblewrap in the same view: the cases the sandbox decides
    (and the honest answers), graded both ways, get the same scores and reasons, and the bubblewrap batch is as
    contained."""
    topic = TOPICS[0]
    cases = frozenset({f"hostile-{h.name}" for h in CORPORA[topic] if _depends_on_the_sandbox(h)}
                      | {"honest-right-answer", "honest-wrong-answer"})
    assert len(cases) >= 20
    forked, bwrap = batch(topic), batch(topic, zygote=False, only=cases)
    assert set(bwrap["by_student"]) == cases

    def graded(b: dict, name: str) -> dict:   # each kernel's folder has a random name
        result = b["by_student"][name]
        return {**{f"score {q}": s for q, s in result.scores.items()},
                **{f"reason {q}": re.sub(r"course-sandbox-\w+", "FOLDER", r) for q, r in result.reasons.items()}}

    differ = [(name, part, graded(bwrap, name).get(part), graded(forked, name).get(part))
              for name in sorted(cases) for part in graded(bwrap, name) | graded(forked, name)
              if graded(bwrap, name).get(part) != graded(forked, name).get(part)]
    assert not differ, differ
    assert not bwrap["canaries"] and not bwrap["connections"] and not bwrap["left_over"], bwrap
    assert bwrap["solutions_unchanged"]
