"""``set_threads(0)`` picks the thread count from how busy the cores are *now* (``/proc/stat``), not from the
1-minute load average, which still reads ~1 for a minute after a heavy process has ended."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from core.align import training as T


def _stat_line(total_user: int, idle: int) -> str:
    # cpu  user nice system idle iowait irq softirq steal guest guest_nice
    return f"cpu  {total_user} 0 0 {idle} 0 0 0 0 0 0\n"


@pytest.mark.parametrize(
    ("busy_ticks", "idle_ticks", "expected"), [(0, 200, 0.0), (200, 0, 1.0), (50, 150, 0.25)]
)
def test_busy_share_from_two_snapshots(
    tmp_path: Path, monkeypatch, busy_ticks: int, idle_ticks: int, expected: float
) -> None:
    """The busy share of the window times the cores: a hand-made /proc/stat that moves by known ticks."""
    stat = tmp_path / "stat"
    stat.write_text(_stat_line(1000, 5000))
    real_sleep = time.sleep

    def sleep(_s: float) -> None:  # the machine "runs" for the window: the counters move
        stat.write_text(_stat_line(1000 + busy_ticks, 5000 + idle_ticks))
        real_sleep(0.05)

    monkeypatch.setattr(T.time, "sleep", sleep)
    monkeypatch.setattr(T.os, "cpu_count", lambda: 2)
    got = T.cores_busy_elsewhere(stat_path=str(stat))
    assert got is not None
    assert got == pytest.approx(2 * expected, abs=0.15)  # minus this process's own (small) CPU time


def test_unreadable_stat_gives_none(tmp_path: Path) -> None:
    assert T.cores_busy_elsewhere(window_s=0.01, stat_path=str(tmp_path / "missing")) is None


@pytest.mark.skipif(not Path("/proc/stat").is_file(), reason="needs Linux /proc/stat")
def test_a_busy_process_is_seen_and_this_one_is_not() -> None:
    """Reference: a child process spinning one core for the whole window."""
    spin = subprocess.Popen([sys.executable, "-c", "import time\nt=time.time()\nwhile time.time()-t<3: pass"])
    try:
        time.sleep(0.3)  # past its start-up
        got = T.cores_busy_elsewhere(window_s=0.6)
    finally:
        spin.kill()
        spin.wait()
    assert got is not None and got >= 0.6


@pytest.mark.skipif(not Path("/proc/stat").is_file(), reason="needs Linux /proc/stat")
def test_this_process_spinning_is_not_elsewhere() -> None:
    """A thread of this process spinning through the window is this process's own CPU time: taken out."""
    import threading

    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            pass

    th = threading.Thread(target=spin, daemon=True)
    th.start()
    try:
        got = T.cores_busy_elsewhere(window_s=0.5)
    finally:
        stop.set()
        th.join()
    assert got is not None and got < 0.6


def test_auto_threads_follow_the_measure(monkeypatch) -> None:
    before = torch.get_num_threads()
    monkeypatch.setattr(T.os, "cpu_count", lambda: 2)
    try:
        monkeypatch.setattr(T, "cores_busy_elsewhere", lambda: 1.6)
        assert T.set_threads(0) == 1
        monkeypatch.setattr(T, "cores_busy_elsewhere", lambda: 0.1)
        assert T.set_threads(0) == 2
        monkeypatch.setattr(T, "cores_busy_elsewhere", lambda: None)  # no /proc/stat: the load average
        monkeypatch.setattr(T.os, "getloadavg", lambda: (1.8, 1.0, 1.0))
        assert T.set_threads(0) == 1
        assert T.set_threads(3) == 3  # an explicit count is kept
    finally:
        torch.set_num_threads(before)
