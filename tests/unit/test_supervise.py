"""The demo's watch over its parts, on a hand clock: a stopped part is reported with its exit code and the
end of its log, started again after a pause that doubles, at most a few times in a window; a part that
may not restart, or stops too often, ends the run."""

from __future__ import annotations

import io

from harness.supervise import Part, Supervisor


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_stopped_part_is_reported_and_restarted_with_a_growing_pause_until_it_gives_up(tmp_path):
    log = tmp_path / "broker.log"
    log.write_text("".join(f"line {i}\n" for i in range(30)))
    state = {"code": None, "starts": 0}

    def restart() -> None:
        state["code"], state["starts"] = None, state["starts"] + 1

    out, clock = io.StringIO(), Clock()
    watch = Supervisor(out, max_restarts=2, window_s=60, clock=clock)
    watch.add(Part("broker", lambda: state["code"], log, restart=restart))
    assert watch.check() and out.getvalue() == ""

    state["code"] = -9
    assert watch.check()
    said = out.getvalue()
    assert "demo: broker stopped (exit code -9)" in said
    assert "    line 29" in said and "    line 20" in said and "line 19\n" not in said, "its log's last 10 lines"
    assert "restarting broker in 1 s" in said and state["starts"] == 0
    clock.now += 1
    assert watch.check() and state["starts"] == 1
    assert "demo: broker restarted (1 of at most 2)" in out.getvalue()

    state["code"] = 1
    assert watch.check() and "restarting broker in 2 s" in out.getvalue()
    clock.now += 2
    assert watch.check() and state["starts"] == 2

    state["code"] = 1  # a third stop within the window: bounded
    assert not watch.check()
    assert "giving up" in out.getvalue() and state["starts"] == 2


def test_restarts_outside_the_window_are_forgotten(tmp_path):
    state = {"code": None}
    watch = Supervisor(io.StringIO(), max_restarts=1, window_s=60, clock=(clock := Clock()))

    def restart() -> None:
        state["code"] = None

    watch.add(Part("hub", lambda: state["code"], tmp_path / "none.log", restart=restart))
    for _ in range(3):
        state["code"] = 1
        assert watch.check()
        clock.now += 1
        assert watch.check() and state["code"] is None  # restarted
        clock.now += 60  # a quiet minute: that restart no longer counts


def test_a_part_that_may_not_restart_ends_the_run(tmp_path):
    out = io.StringIO()
    watch = Supervisor(out, clock=Clock())
    watch.add(Part("hub", lambda: 3, tmp_path / "hub.log"))
    assert not watch.check()
    assert "demo: hub stopped (exit code 3)" in out.getvalue() and "not restarted by itself" in out.getvalue()
