"""A self-hosted NDIF 0.1.2 on 127.0.0.1 for the ``ndif`` test tier (see docs/remote.md, "Testing").

Follows the measured study in shared/reference/ndif-local: redis-server (Debian), ``moto[server]`` as the S3
store, a Ray head with a *declared* GPU (ndif's controller manages only nodes that report one), a CPU model
actor, gunicorn bound to loopback, and a pre-deployed tiny model (auto-deploy fails with nnsight 0.8.1).

The server runs in its own virtual environment under the test cache (reused once built), never in the
project's: ndif pins its own stack and declares Python >= 3.12, although its code runs on 3.11.
Every process is started in its own session; ``NdifStack.stop`` ends them by process group, then any Ray
worker that left its group by PID (found through this stack's private temp dir). Nothing is stopped by name.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ACTOR_MODULE = HERE / "server_files" / "ndif_cpu_actor.py"
SERVER_PINS = ("ndif==0.1.2",)
TORCH_PIN = "torch==2.13.0"
# The study's dependency list, by hand: ndif is installed with --no-deps (its metadata asks for Python 3.12).
SERVER_DEPS = (
    "nnsight==0.8.1",
    "pydantic",
    "redis",
    "click",
    "python-dotenv",
    "pyyaml",
    "boto3",
    "fastapi",
    "uvicorn[standard]",
    "gunicorn",
    "python-multipart",
    "ray[default]",
    "accelerate",
    "numpy",
    "zstandard",
    "peft",
    "moto[server]",
)


class HarnessError(RuntimeError):
    """The stack could not start; the message is the one-line skip reason."""


def cache_root() -> Path:
    """The test cache (not REASONSCOPE_HOME: a user's data folder must never hold a server venv)."""
    root = os.environ.get("REASONSCOPE_TEST_CACHE") or str(Path.home() / ".cache" / "reasonscope-test")
    return Path(root) / "ndif"


def _server_transformers_pin() -> str:
    # Same transformers as the client: remote must equal local to 1e-5, so both sides run the same kernels.
    try:
        return f"transformers=={metadata.version('transformers')}"
    except metadata.PackageNotFoundError:
        return "transformers>=5.15"


def _run(cmd: list[str], log: Path, *, timeout: float, env: dict[str, str] | None = None) -> None:
    with log.open("ab") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, env=env)
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        raise HarnessError(f"{' '.join(cmd[:4])} failed ({proc.returncode}): {tail[0][:200]}")


def ensure_server_venv(cache: Path | None = None) -> Path:
    """Build (once) and return the server's virtual environment; rebuilt when the pins change."""
    cache = cache or cache_root()
    pins = [TORCH_PIN, *SERVER_PINS, *SERVER_DEPS, _server_transformers_pin()]
    key = hashlib.sha256(json.dumps(pins).encode()).hexdigest()[:10]
    venv = cache / f"venv-{key}"
    if (venv / ".complete").is_file():
        return venv
    cache.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(venv, ignore_errors=True)
    log = cache / "install.log"
    base = getattr(sys, "_base_executable", None) or shutil.which("python3") or sys.executable
    _run([base, "-m", "venv", str(venv)], log, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    _run([*pip, TORCH_PIN], log, timeout=900, env=env)  # first: the CPU build, before anything pulls another
    _run([*pip, "--no-deps", "--ignore-requires-python", *SERVER_PINS], log, timeout=300, env=env)
    _run([*pip, *SERVER_DEPS, _server_transformers_pin(), TORCH_PIN], log, timeout=1200, env=env)
    (venv / ".complete").write_text(json.dumps(pins))
    return venv


def ensure_redis() -> str:
    """Path of redis-server, installing Debian's package when it is missing (CI runs as root)."""
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise HarnessError("redis-server is not installed and apt-get is not available to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "redis-server"]):
        proc = subprocess.run(cmd, capture_output=True, env=env, timeout=600)
        if proc.returncode != 0:
            raise HarnessError(f"apt-get could not install redis-server: {proc.stderr.decode()[-200:]}")
    # Debian's package may start a system service on 6379; the harness uses its own instance and port.
    return shutil.which("redis-server") or "/usr/bin/redis-server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass(kw_only=True)
class NdifStack:
    """A running loopback NDIF: ``host`` for nnsight, ``model_dir`` deployed on it."""

    root: Path
    venv: Path
    model_dir: Path
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    @property
    def ray_tmp(self) -> Path:
        return Path("/tmp") / f"rsndif{os.getpid()}"  # Ray's socket paths must stay short

    def env(self) -> dict[str, str]:
        p = self.ports
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("NDIF_", "RAY_", "PYTHON", "VIRTUAL"))
        }
        env.update(
            PATH=f"{self.venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            HOME=str(self.root / "home"),  # gunicorn's control socket and ray's files land here, not in ~
            NDIF_HOME=str(self.root / "ndif-home"),
            NDIF_REDIS_URL=f"redis://127.0.0.1:{p['redis']}",
            NDIF_OBJECT_STORE_URL=f"http://127.0.0.1:{p['s3']}",
            NDIF_OBJECT_STORE_ACCESS_KEY="testing",
            NDIF_OBJECT_STORE_SECRET_KEY="testing",
            NDIF_API_URL=self.host,
            NDIF_API_PORT=str(p["api"]),
            NDIF_RAY_ADDRESS=f"ray://127.0.0.1:{p['ray_client']}",
            NDIF_RAY_HEAD_PORT=str(p["ray"]),
            NDIF_RAY_TEMP_DIR=str(self.ray_tmp),
            NDIF_DEFAULT_DTYPE="float32",
            NDIF_DEFAULT_MODEL_ACTOR_CLASS="ndif_cpu_actor.CPUModelActor",
            NDIF_DEFAULT_PADDING_BIAS="0",
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            PYTHONPATH=str(self.root / "pyext"),
            GRPC_ENABLE_FORK_SUPPORT="0",
            RAY_USAGE_STATS_ENABLED="0",
            RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",  # single node: Ray uses 127.0.0.1 as the node IP
            OMP_NUM_THREADS="1",
        )
        return env

    # ---- start --------------------------------------------------------------------------------------------
    def _spawn(self, name: str, cmd: list[str], **extra_env: str) -> None:
        log = (self.root / "logs" / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**self.env(), **extra_env},
            cwd=self.root,
            start_new_session=True,  # its own process group: stopped as a group
        )

    def _wait_port(self, name: str, port: int, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _port_open(port):
                return
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise HarnessError(
                    f"{name} exited ({proc.returncode}) before opening port {port}: {self.tail(name)}"
                )
            time.sleep(0.3)
        raise HarnessError(f"{name} never opened port {port} in {timeout:.0f} s: {self.tail(name)}")

    def tail(self, name: str) -> str:
        log = self.root / "logs" / f"{name}.log"
        lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
        return (lines[-1] if lines else "(no output)")[:200]

    def _py(self, *args: str, timeout: float, name: str, **extra_env: str) -> None:
        log = self.root / "logs" / f"{name}.log"
        _run(
            [str(self.venv / "bin" / "python"), *args], log, timeout=timeout, env={**self.env(), **extra_env}
        )

    def start(self, redis_server: str) -> None:
        for d in ("logs", "home", "ndif-home", "pyext"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        shutil.copy(ACTOR_MODULE, self.root / "pyext" / ACTOR_MODULE.name)
        shutil.rmtree(self.ray_tmp, ignore_errors=True)
        self.ray_tmp.mkdir(parents=True)
        for name in ("redis", "s3", "api", "ray", "ray_client", "dashboard"):
            self.ports[name] = _free_port()
        p = self.ports
        self._spawn(
            "redis",
            [
                redis_server,
                "--bind",
                "127.0.0.1",
                "--port",
                str(p["redis"]),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
        )
        self._spawn("s3", [str(self.venv / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(p["s3"])])
        self._wait_port("redis", p["redis"])
        self._wait_port("s3", p["s3"])
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        resources = {"head": 10, "cuda_memory_bytes": 8_000_000_000, "cpu_memory_bytes": int(mem)}
        # --num-gpus=1 + cuda_memory_bytes: a declared, fake GPU (ndif's controller only manages GPU nodes).
        self._spawn(
            "ray",
            [
                str(self.venv / "bin" / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
                "--num-cpus=2", "--num-gpus=1", f"--resources={json.dumps(resources)}",
                f"--port={p['ray']}", f"--ray-client-server-port={p['ray_client']}",
                "--object-store-memory=300000000", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
                f"--dashboard-port={p['dashboard']}", "--disable-usage-stats", f"--temp-dir={self.ray_tmp}",
            ],
        )  # fmt: skip
        self._wait_port("ray", p["ray_client"], timeout=120)
        self._wait_port("ray", p["dashboard"], timeout=60)
        self._py(
            "-m", "ndif.services.ray.deployments.controller.controller",
            timeout=180, name="controller", RAY_ADDRESS=f"127.0.0.1:{p['ray']}",
        )  # fmt: skip
        self._spawn(
            "api",
            [
                str(self.venv / "bin" / "gunicorn"), "--config", "python:ndif.services.api.gunicorn_conf",
                "--bind", f"127.0.0.1:{p['api']}", "ndif.services.api.app:app",
            ],
            NDIF_SERVICE="api",
        )  # fmt: skip
        self._wait_port("api", p["api"], timeout=120)
        self._wait_ray_connected()
        self.deploy()

    def _wait_ray_connected(self, timeout: float = 120.0) -> None:
        code = (
            "import os,sys,time,redis\n"
            "r=redis.Redis.from_url(os.environ['NDIF_REDIS_URL'])\n"
            "t=time.time()\n"
            f"while time.time()-t<{timeout}:\n"
            "    if r.get('ray:connected')==b'1': sys.exit(0)\n"
            "    time.sleep(0.5)\n"
            "sys.exit(1)\n"
        )
        try:
            self._py("-c", code, timeout=timeout + 30, name="wait")
        except HarnessError as exc:
            raise HarnessError(f"the NDIF API never connected to Ray: {self.tail('api')}") from exc

    def deploy(self) -> None:
        key = json.dumps({"repo_id": str(self.model_dir), "revision": None, "task": "text-generation"})
        spec = {
            "models": [
                {
                    "checkpoint": str(self.model_dir),
                    "task": "text-generation",
                    "dtype": "float32",
                    "size_bytes": 2_000_000,
                    "gpus": 1,
                    "actor_class": "ndif_cpu_actor.CPUModelActor",
                    # explicit: auto-deploy with nnsight 0.8.1 fails on describe_checkpoint(trust_remote_code)
                    "model_key": f"nnsight.modeling.transformers.TransformersModel:{key}",
                }
            ]
        }
        path = self.root / "models.json"  # JSON is YAML: no yaml writer needed on this side
        path.write_text(json.dumps(spec))
        _run(
            [str(self.venv / "bin" / "ndif"), "deploy", "-f", str(path)],
            self.root / "logs" / "deploy.log",
            timeout=300,
            env=self.env(),
        )

    # ---- checks -------------------------------------------------------------------------------------------
    def pids(self) -> set[int]:
        """Every live process of this stack: the groups it started, and Ray's strays (by private path)."""
        groups = set()
        for proc in self.procs.values():
            try:
                groups.add(os.getpgid(proc.pid))
            except ProcessLookupError:
                pass
        found = set(_pids_with((str(self.ray_tmp), str(self.venv))))
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.getpgid(int(entry.name)) in groups:
                        found.add(int(entry.name))
                except (ProcessLookupError, PermissionError):
                    pass
        return found

    def listeners(self) -> list[str]:
        """Local addresses (``ip:port``) of the TCP sockets this stack's processes listen on."""
        inodes = set()
        for pid in self.pids():
            try:
                for fd in Path(f"/proc/{pid}/fd").iterdir():
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
            except OSError:
                continue
        return [addr for inode, addr in _listening_sockets().items() if inode in inodes]

    # ---- stop ---------------------------------------------------------------------------------------------
    def stop(self) -> None:
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            _stop_group(proc)
        self.procs.clear()
        # Ray workers and actors that left their group: found by this stack's private paths, killed by PID.
        marks = (str(self.ray_tmp), str(self.venv))
        for pid in _pids_with(marks):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.ray_tmp, ignore_errors=True)


def _stop_group(proc: subprocess.Popen, grace: float = 10.0) -> None:
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(pgid, signal.SIGKILL)  # whatever of the group is still there
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _pids_with(marks: tuple[str, ...]) -> list[int]:
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(m in cmd for m in marks):
            found.append(int(entry.name))
    return found


def _listening_sockets() -> dict[str, str]:
    """inode -> "ip:port" of every listening TCP socket (IPv4 and IPv6), from /proc/net."""
    out = {}
    for table, width in (("tcp", 8), ("tcp6", 32)):
        path = Path("/proc/net") / table
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] != "0A":  # LISTEN
                continue
            hex_ip, hex_port = cols[1].split(":")
            raw = bytes.fromhex(hex_ip[:width])
            # /proc stores each 32-bit word in host (little-endian) order
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            ip = socket.inet_ntop(socket.AF_INET if width == 8 else socket.AF_INET6, words)
            out[cols[9]] = f"{ip}:{int(hex_port, 16)}"
    return out


def start_stack(model_dir: Path, root: Path) -> NdifStack:
    """Build what is missing, start the stack and deploy ``model_dir``; stops what it started on failure."""
    redis_server = ensure_redis()
    venv = ensure_server_venv()
    stack = NdifStack(root=root, venv=venv, model_dir=model_dir)
    try:
        stack.start(redis_server)
    except BaseException:
        stack.stop()
        raise
    return stack
