"""Throw-away servers for the PostgreSQL and Ray test tiers: started on demand by session/module fixtures,
reachable only from this machine, and stopped by the PIDs recorded at start (never by process name, so a
developer's own PostgreSQL or Ray and other test harnesses on the same machine are left alone).

- ``PostgresCluster.start()``: ``initdb`` into a private temp folder, a postmaster listening on a Unix
  socket in that folder only (``listen_addresses = ''``: no TCP port at all), one database, trust auth
  (the folder is mode 0700, so only its owner -- and root -- can reach the socket).
- ``RayHead.start()``: ``ray start --head --block`` in its own process group on 127.0.0.1 with free ports.

Both raise ``ServiceUnavailable`` with a one-line reason when the machine cannot run them; the fixtures turn
it into a skip through ``tier_skip`` (and tests/conftest.py folds those skips into one summary line per
tier). Nothing happens at import time.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

PG_DB = "reasonscope_test"
PG_ROLE = "reasonscope"
PG_PORT = 5432  # names the socket file only (no TCP listener), so it cannot clash with another server
RAY_START_TIMEOUT_S = 120.0
TIER_SKIP_MARK = "tier not started:"  # tests/conftest.py folds skips whose reason carries it


class ServiceUnavailable(RuntimeError):
    """This machine cannot run the service; the message is the one-line reason shown in the skip."""


def tier_skip(tier: str, exc: ServiceUnavailable) -> NoReturn:
    """Skip the requesting test because ``tier``'s server could not be started (one line, with the why)."""
    pytest.skip(f"{tier} {TIER_SKIP_MARK} {exc}")


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "(no output)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it has exited, it only waits for its parent to reap it.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    """The PIDs still alive after waiting up to ``timeout`` s."""
    end = time.monotonic() + timeout
    left = [p for p in pids if _alive(p)]
    while left and time.monotonic() < end:
        time.sleep(0.1)
        left = [p for p in left if _alive(p)]
    return left


def _free_ports(n: int) -> list[int]:
    """``n`` distinct free loopback ports (all held open while choosing, so none is handed out twice)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]


# ---------------------------------------------------------------------------------------------- PostgreSQL


def find_pg_bindir() -> Path | None:
    """The folder holding ``initdb``/``pg_ctl``: PATH first, then Debian's versioned folders (Debian keeps
    the server binaries out of PATH, in /usr/lib/postgresql/<major>/bin), newest major first."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0,
        reverse=True,
    )
    return found[0] if found else None


def _server_user() -> pwd.struct_passwd | None:
    """Who runs the server: ourselves, or -- as root, which initdb and postgres refuse -- the ``postgres``
    account Debian's package creates (``nobody`` when there is none)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ServiceUnavailable(
        "running as root and there is neither a 'postgres' nor a 'nobody' user to run it"
    )


@dataclass
class PostgresCluster:
    """A running throw-away cluster; ``url`` is a SQLAlchemy URL for its database."""

    base: Path
    bindir: Path
    user: pwd.struct_passwd | None
    pid: int = 0
    url: str = ""

    @property
    def data(self) -> Path:
        return self.base / "data"

    def _run(self, args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        kw: dict[str, Any] = {}
        if self.user is not None:
            kw = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        env = dict(os.environ, LC_ALL="C", HOME=str(self.base))
        return subprocess.run(
            args, cwd=self.base, env=env, capture_output=True, text=True, timeout=timeout, check=False, **kw
        )

    @classmethod
    def start(cls) -> PostgresCluster:
        if importlib.util.find_spec("psycopg") is None:
            raise ServiceUnavailable(
                "psycopg is not installed (pip install -e '.[postgres]'; make test does)"
            )
        bindir = find_pg_bindir()
        if bindir is None:
            raise ServiceUnavailable(
                "no PostgreSQL server (initdb) on PATH or in /usr/lib/postgresql/*/bin: run `make pg-deps` "
                "(Debian's postgresql) or set REASONSCOPE_TEST_PG to a server's URL"
            )
        user = _server_user()
        # Not under pytest's basetemp: that is mode 0700 and owned by us, so the server's user could not
        # enter it when we are root; and a short path keeps the socket under the 107-byte sun_path limit.
        base = Path(tempfile.mkdtemp(prefix="rspg-", dir="/tmp" if os.path.isdir("/tmp") else None))
        if user is not None:
            os.chown(base, user.pw_uid, user.pw_gid)
        cluster = cls(base=base, bindir=bindir, user=user)
        try:
            cluster._init_and_start()
        except (OSError, subprocess.SubprocessError) as exc:
            cluster.stop()
            raise ServiceUnavailable(f"the PostgreSQL harness failed: {type(exc).__name__}: {exc}") from exc
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _init_and_start(self) -> None:
        init = self._run(
            [str(self.bindir / "initdb"), "-D", str(self.data), "-U", PG_ROLE, "-A", "trust", "-E", "UTF8"]
            + ["--locale=C", "--no-sync"],
            timeout=120,
        )
        if init.returncode != 0:
            raise ServiceUnavailable(f"initdb failed: {_last_line(init.stderr or init.stdout)}")
        # Appended (not passed with -o) so no shell quoting is involved; the last setting of a name wins.
        # Durability is off: the cluster is deleted at the end of the session anyway.
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# reasonscope test harness\n"
                "listen_addresses = ''\n"
                f"unix_socket_directories = '{self.base}'\n"
                f"port = {PG_PORT}\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "shared_buffers = 32MB\n"
            )
        log = self.base / "postgres.log"
        started = self._run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-w", "-t", "60", "start"],
            timeout=90,
        )
        pidfile = self.data / "postmaster.pid"
        if pidfile.exists():
            with contextlib.suppress(ValueError, IndexError):
                self.pid = int(pidfile.read_text().split()[0])
        if started.returncode != 0:
            detail = log.read_text(errors="replace") if log.exists() else started.stderr or started.stdout
            raise ServiceUnavailable(f"the PostgreSQL server did not start: {_last_line(detail)}")
        import psycopg  # the optional `postgres` extra; its presence was checked in start()

        try:
            with psycopg.connect(
                host=str(self.base), port=PG_PORT, user=PG_ROLE, dbname="postgres", autocommit=True
            ) as conn:
                conn.execute(f'CREATE DATABASE "{PG_DB}"')
        except psycopg.Error as exc:
            raise ServiceUnavailable(f"could not create the test database: {_last_line(str(exc))}") from exc
        self.url = f"postgresql+psycopg://{PG_ROLE}@/{PG_DB}?host={self.base}&port={PG_PORT}"

    def stop(self) -> None:
        """Fast shutdown through pg_ctl, then SIGKILL of the recorded postmaster if it is still there (its
        backends exit on their own once it is gone), then the folder is removed."""
        pidfile = self.data / "postmaster.pid"
        if not self.pid and pidfile.exists():  # pg_ctl gave up waiting, but the server may have come up
            with contextlib.suppress(ValueError, IndexError, OSError):
                self.pid = int(pidfile.read_text().split()[0])
        if self.pid and _alive(self.pid):
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                stop = ["-m", "fast", "-w", "-t", "30", "stop"]
                self._run(
                    [str(self.bindir / "pg_ctl"), "-D", str(self.data), *stop],
                    timeout=45,
                )
            if _wait_gone([self.pid], 5):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                _wait_gone([self.pid], 5)
        shutil.rmtree(self.base, ignore_errors=True)


# --------------------------------------------------------------------------------------------------- Ray

RAY_MARK_ENV = "REASONSCOPE_TEST_RAY_HEAD"  # inherited by every process of the head: how stop() finds them


def _pids_with_env(name: str, value: str) -> list[int]:
    """Processes whose environment holds ``name=value`` (Linux /proc; empty elsewhere)."""
    needle = f"{name}={value}".encode()
    out = []
    for env_file in glob.glob("/proc/[0-9]*/environ"):
        pid = int(env_file.split("/")[2])
        if pid == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if needle in Path(env_file).read_bytes().split(b"\0"):
                out.append(pid)
    return out


@dataclass
class RayHead:
    """A running single-node Ray head; ``address`` is its dashboard / Jobs API URL (for ``RAY_ADDRESS``)."""

    temp_dir: Path
    proc: subprocess.Popen[bytes] | None = None
    address: str = ""
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.temp_dir / "ray-start.log"

    @classmethod
    def start(cls, num_cpus: int = 1) -> RayHead:
        if importlib.util.find_spec("ray") is None:
            raise ServiceUnavailable("ray is not installed (pip install -e '.[ray]'; make test does)")
        ray = Path(sys.executable).with_name("ray")
        if not ray.exists():
            raise ServiceUnavailable(f"the `ray` command is missing next to {sys.executable}")
        # /tmp, not pytest's basetemp: Ray puts Unix sockets in here and their paths must stay short.
        head = cls(
            temp_dir=Path(tempfile.mkdtemp(prefix="rsray-", dir="/tmp" if os.path.isdir("/tmp") else None))
        )
        try:
            head._start(ray, num_cpus)
        except OSError as exc:
            head.stop()
            raise ServiceUnavailable(f"the Ray harness failed: {type(exc).__name__}: {exc}") from exc
        except BaseException:
            head.stop()
            raise
        return head

    def _start(self, ray: Path, num_cpus: int) -> None:
        env = dict(
            os.environ,
            PATH=f"{ray.parent}{os.pathsep}{os.environ.get('PATH', '')}",
            RAY_USAGE_STATS_ENABLED="0",
            # Ray swaps 127.0.0.1 for the machine's external address unless told this is a one-node
            # cluster; with it every listener stays on loopback.
            RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
            # SIGTERM otherwise waits 30 s for a drain that a test head never needs.
            RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S="0",
            **{RAY_MARK_ENV: str(self.temp_dir)},
        )
        # Every port Ray would otherwise take at a fixed default (6379, 10001, 52365, ...) is a free one, so
        # this head never collides with another Ray on the machine (e.g. the NDIF tier's).
        names = [
            "port",
            "ray-client-server-port",
            "dashboard-agent-listen-port",
            "dashboard-agent-grpc-port",
            "metrics-export-port",
            "runtime-env-agent-port",
            "node-manager-port",
            "object-manager-port",
        ]
        dash, *rest = _free_ports(len(names) + 1)
        ports = dict(zip(names, rest, strict=True))
        cmd = [
            str(ray),
            "start",
            "--head",
            "--block",  # stays in the foreground: its PID and process group are ours to stop
            "--node-ip-address=127.0.0.1",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={dash}",
            "--include-dashboard=true",
            f"--num-cpus={num_cpus}",
            "--disable-usage-stats",
            f"--temp-dir={self.temp_dir}",
        ] + [f"--{k}={v}" for k, v in ports.items()]
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                cmd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        address = f"http://127.0.0.1:{dash}"
        end = time.monotonic() + RAY_START_TIMEOUT_S
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise ServiceUnavailable(
                    f"`ray start --head` exited with {self.proc.returncode}: "
                    f"{_last_line(self.log.read_text(errors='replace'))}"
                )
            # The Jobs API (not just the dashboard) must answer before a job can be submitted.
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(f"{address}/api/jobs/", timeout=2) as resp:
                    if resp.status == 200:
                        self.address = address
                        return
            time.sleep(0.5)
        raise ServiceUnavailable(f"the Ray head's Jobs API did not answer within {RAY_START_TIMEOUT_S:g} s")

    def stop(self) -> None:
        """SIGTERM to ``ray start --block`` (it shuts its processes down), SIGKILL to its process group after
        30 s, then SIGKILL to any process still carrying this head's mark (workers and job drivers that
        Ray started in sessions of their own); finally the temp folder is removed."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(30)
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: pgid == pid
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
        for _ in range(3):  # a job driver's watcher may spawn one last kill; look again
            left = _pids_with_env(RAY_MARK_ENV, str(self.temp_dir))
            if not left:
                break
            for pid in left:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            _wait_gone(left, 5)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
