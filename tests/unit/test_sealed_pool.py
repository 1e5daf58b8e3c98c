"""The hub's opening processes (``Opener(processes=…)``): a group opened in them gives what was sealed,
and the same refusals as opening here; a process killed costs one group opened here and a new pool; a hub
killed outright leaves no opening process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid

import psutil
import pytest

from protocol.cases import CaseSubmission, SealedCase
from protocol.sealed import POOL_FROM, Opener, SealError, generate_keypair, private_key, public_key, seal
from tests.support import submission, wait_for


@pytest.fixture(scope="module")
def keys():
    secret, public = generate_keypair()
    return private_key(secret), public_key(public)


def _group(keys, n: int = POOL_FROM + 6) -> tuple[list[CaseSubmission | None], list[SealedCase]]:
    """``n`` sealed cases, the last three spoiled: damaged, sealed to another key, and under another id."""
    _, public = keys
    cases = [submission(i) for i in range(n)]
    boxes = [seal(public, c) for c in cases]
    damaged = boxes[-3].sealed
    boxes[-3] = boxes[-3].model_copy(
        update={"sealed": damaged[:60] + ("A" if damaged[60] != "A" else "B") + damaged[61:]}
    )
    boxes[-2] = seal(public_key(generate_keypair()[1]), cases[-2])
    boxes[-1] = boxes[-1].model_copy(update={"case_id": uuid.uuid4()})
    return [*cases[:-3], None, None, None], boxes


def _openers() -> list[psutil.Process]:
    """This process's opening processes (not multiprocessing's resource tracker)."""
    return [p for p in psutil.Process().children() if "spawn_main" in " ".join(p.cmdline())]


def test_a_group_opened_in_processes_gives_what_was_sealed_and_the_same_refusals(keys):
    secret, _ = keys
    expected, boxes = _group(keys)
    pooled, here = Opener(secret, processes=2), Opener(secret)
    try:
        pooled.start()
        got = pooled.open_many(boxes)
        assert pooled._pool is not None, "the group was opened in the processes"
    finally:
        pooled.close()
    assert got[:-3] == expected[:-3]
    assert [str(e) for e in got[-3:]] == [str(e) for e in here.open_many(boxes)[-3:]]
    assert all(isinstance(e, SealError) for e in got[-3:])
    assert "another id" in str(got[-1]) and "not openable" in str(got[-2]) and "not openable" in str(got[-3])


def test_a_killed_opening_process_costs_one_group_opened_here_then_a_new_pool(keys):
    secret, _ = keys
    expected, boxes = _group(keys)
    opener = Opener(secret, processes=1)
    try:
        opener.start()
        (child,) = wait_for(_openers, what="the opening process")
        child.kill()
        child.wait(10)
        assert opener.open_many(boxes)[:-3] == expected[:-3]  # opened here, the broken pool dropped
        assert opener.open_many(boxes)[:-3] == expected[:-3]  # a new pool
        assert [p.pid for p in _openers()] not in ([], [child.pid])
    finally:
        opener.close()


def test_a_hub_killed_outright_leaves_no_opening_process_behind(keys):
    program = textwrap.dedent(
        """
        import os, sys, time
        from protocol.sealed import Opener, private_key, generate_keypair
        if __name__ == "__main__":
            opener = Opener(private_key(generate_keypair()[0]), processes=1)
            opener.start()
            import psutil
            def openers():
                return [p for p in psutil.Process().children() if "spawn_main" in " ".join(p.cmdline())]
            while not openers():
                time.sleep(0.05)
            print(openers()[0].pid, flush=True)
            time.sleep(60)
        """
    )
    hub = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    child = int(hub.stdout.readline())
    hub.send_signal(signal.SIGKILL)
    hub.wait(10)
    wait_for(
        lambda: not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE,
        timeout=15,
        what="the opening process to end with the hub",
    )


def test_a_closed_opener_opens_here_and_starts_no_processes_again(keys):
    secret, _ = keys
    expected, boxes = _group(keys)
    opener = Opener(secret, processes=1)
    opener.start()
    opener.close()
    assert opener.open_many(boxes)[:-3] == expected[:-3]
    assert opener._pool is None and not _openers()
