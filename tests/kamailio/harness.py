"""Real Kamailio and SIPp on loopback for the end-to-end tests and the benchmark.

* :func:`tools` finds ``kamailio`` and ``sipp`` (a missing one skips, or fails when
  ``CI=true``).
* :func:`embedded_pythonpath` makes Tandem importable by app_python3's interpreter:
  Debian's libpython that ``app_python3.so`` links against. When its version is the one
  running the tests, the checkout and this interpreter's site-packages (same ABI) are
  enough; otherwise ``TANDEM_KAMAILIO_SITE`` must name a site-packages built for it
  (``scripts/test`` makes one with ``/usr/bin/python3 -m venv``).
* :class:`Kamailio` runs ``kamailio -DD -E`` with an example config on a free UDP port,
  waits until it answers OPTIONS, and stops it.
* :func:`run_sipp` sends INVITEs from ``invite.xml`` and returns the responses per number.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import site
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "kamailio"
SCENARIO = Path(__file__).resolve().parent / "invite.xml"
IN_CI = os.environ.get("CI", "").lower() == "true"
#: PATH for Kamailio and the probe: the embedded interpreter finds its standard library
#: from the first python3 on PATH, which must be the system's.
SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
MODULE_DIRS = (
    "/usr/lib/x86_64-linux-gnu/kamailio/modules",
    "/usr/lib/aarch64-linux-gnu/kamailio/modules",
    "/usr/lib/kamailio/modules",
    "/usr/local/lib64/kamailio/modules",
)


def _missing(what: str) -> None:
    text = f"{what} (apt-get install kamailio kamailio-python3-modules sip-tester)"
    if IN_CI:
        pytest.fail(text)
    pytest.skip(text)


def _binary(name: str) -> str | None:
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )


def module_dir() -> str | None:
    """Where Kamailio's modules are (the one holding app_python3.so)."""
    return next((d for d in MODULE_DIRS if os.path.exists(f"{d}/app_python3.so")), None)


def tools() -> tuple[str, str, str]:
    """``(kamailio, sipp, module directory)``."""
    kamailio, sipp, modules = _binary("kamailio"), _binary("sipp"), module_dir()
    if kamailio is None:
        _missing("kamailio is not installed")
    if modules is None:
        _missing("Kamailio's app_python3 module is not installed")
    if sipp is None:
        _missing("sipp is not installed")
    return kamailio, sipp, modules  # type: ignore[return-value]


def embedded_python(modules: str) -> str:
    """``3.X``: the Python version app_python3.so links against."""
    out = subprocess.run(
        ["ldd", f"{modules}/app_python3.so"], capture_output=True, text=True, check=False
    ).stdout
    found = re.search(r"libpython(3\.\d+)", out)
    if not found:
        pytest.fail(f"cannot tell which libpython {modules}/app_python3.so uses:\n{out}")
    return found.group(1)


def embedded_pythonpath(modules: str) -> str:
    """PYTHONPATH for Kamailio: the checkout first, then site-packages with Tandem's
    dependencies for app_python3's Python: ``TANDEM_KAMAILIO_SITE``, else the virtualenv
    ``.venv-kamailio`` that scripts/test builds with the system's python3, else this
    interpreter's own site-packages when it is the same Python version. The choice is
    proven by importing Tandem's Kamailio module with the system's interpreter."""
    version = embedded_python(modules)
    given = os.environ.get("TANDEM_KAMAILIO_SITE")
    venv = ROOT / ".venv-kamailio" / "lib" / f"python{version}" / "site-packages"
    if given:
        dirs = [str(ROOT), given]
    elif venv.is_dir():
        dirs = [str(ROOT), str(venv)]
    else:
        dirs = [str(ROOT), *site.getsitepackages()]
    path = os.pathsep.join(dirs)
    system = f"/usr/bin/python{version}"
    if os.access(system, os.X_OK):
        probe = subprocess.run(
            [system, "-c", "import tandem.serve.kamailio, redis"],
            env={"PATH": SYSTEM_PATH, "PYTHONPATH": path}, capture_output=True, text=True,
            check=False,
        )  # fmt: skip
        if probe.returncode != 0:
            _missing(
                f"Tandem does not import in app_python3's Python {version} with "
                f"PYTHONPATH={path}: {probe.stderr.strip().splitlines()[-1:]}; run "
                "scripts/test (it builds .venv-kamailio) or set TANDEM_KAMAILIO_SITE"
            )
    return path


def _port_range() -> tuple[int, int] | None:
    """``TANDEM_PORTS=LOW-HIGH``: the loopback ports the tests and benchmarks may take
    (on a machine shared by several runs, each its own range); unset: any free one."""
    text = os.environ.get("TANDEM_PORTS", "").strip()
    if not text:
        return None
    low, _, high = text.partition("-")
    return int(low), int(high or low)


def _free(port: int) -> bool:
    """Whether ``port`` is free on 127.0.0.1 for both UDP and TCP now."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port() -> int:
    """A UDP port free on 127.0.0.1 now (and TCP too, within ``TANDEM_PORTS``)."""
    bounds = _port_range()
    if bounds is None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    low, high = bounds
    ports = list(range(low, high + 1))
    start = random.randrange(len(ports))
    for port in ports[start:] + ports[:start]:
        if _free(port):
            return port
    raise OSError(f"no free port in TANDEM_PORTS={low}-{high}")


def options(port: int, timeout: float = 0.5) -> str | None:
    """Send one OPTIONS to 127.0.0.1:port; the status line of the answer, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(timeout)
        me = s.getsockname()[1]
        cid = uuid.uuid4().hex
        msg = (
            f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bK{cid[:12]}\r\n"
            f"From: <sip:probe@127.0.0.1>;tag={cid[:8]}\r\nTo: <sip:127.0.0.1:{port}>\r\n"
            f"Call-ID: {cid}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        s.sendto(msg.encode(), ("127.0.0.1", port))
        try:
            data = s.recv(65535)
        except OSError:
            return None
        return data.split(b"\r\n", 1)[0].decode()


class Kamailio:
    """``kamailio -DD -E -f CONFIG`` on 127.0.0.1:``port`` with one worker (or
    ``workers``), the TANDEM_* settings in ``env``; ``start()`` waits for OPTIONS."""

    def __init__(
        self,
        config: Path,
        workdir: Path,
        env: dict[str, str],
        *,
        workers: int = 1,
        cpu: int | None = None,
        defines: tuple[str, ...] = (),
        script: Path = EXAMPLES / "tandem_kemi.py",
    ) -> None:
        self.kamailio, self.sipp, self.modules = tools()
        self.config = config
        self.workdir = workdir
        self.port = free_port()
        self.env = {
            **os.environ,
            "PYTHONPATH": embedded_pythonpath(self.modules),
            "PYTHONDONTWRITEBYTECODE": "1",
            # The embedded interpreter finds its standard library from the first python3
            # on PATH: it must be the system's (a pyenv/venv python3 first on PATH would
            # give Debian's libpython another version's stdlib).
            "PATH": SYSTEM_PATH,
            **env,
        }
        self.log = workdir / f"kamailio-{self.port}.log"
        self.args = [
            self.kamailio, "-f", str(config), "-DD", "-E", "-Y", str(workdir),
            "-A", f"LISTEN=udp:127.0.0.1:{self.port}", "-A", f"WORKERS={workers}",
            "-A", f'TANDEM_SCRIPT="{script}"',
            "-A", f'MODULES="{self.modules}/"',
            *(a for d in defines for a in ("-A", d)),
        ]  # fmt: skip
        if cpu is not None and shutil.which("taskset"):
            self.args = ["taskset", "-c", str(cpu), *self.args]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> Kamailio:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                self.args, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"kamailio exited at start:\n{self.log.read_text()[-4000:]}")
            if options(self.port) == "SIP/2.0 200 OK":
                return self
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"kamailio did not answer OPTIONS:\n{self.log.read_text()[-4000:]}")

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def __enter__(self) -> Kamailio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def write_injection(path: Path, rows: list[tuple[str, str]]) -> Path:
    """SIPp injection file: per call the number and one extra header line."""
    lines = ["SEQUENTIAL"] + [f"{number};{header or 'X-Tandem-Test: 1'}" for number, header in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


class SippRun:
    """What one SIPp run saw: ``responses`` (per final response: status code, the To
    number, the header lines), the successful and failed call counts."""

    def __init__(self, responses: list[dict], counts: dict[str, float], out: str) -> None:
        self.responses = responses
        self.successful = int(counts.get("SuccessfulCall(C)", 0))
        self.failed = int(counts.get("FailedCall(C)", 0))
        #: calls per second SIPp achieved (its cumulative CallRate)
        self.rate = counts.get("CallRate(C)", 0.0)
        self.retransmissions = int(counts.get("Retransmissions(C)", 0))
        self.out = out


def run_sipp(
    sipp: str,
    port: int,
    workdir: Path,
    rows: list[tuple[str, str]],
    *,
    calls: int | None = None,
    rate: float = 50,
    timeout: float = 30,
    trace: bool = True,
    cpu: int | None = None,
    scenario: Path = SCENARIO,
    buffer: int | None = None,
    local_port: int | None = None,
) -> SippRun:
    """Send ``calls`` INVITEs (default: one per row, rows reused in turn) at ``rate``
    per second to 127.0.0.1:``port``; ``buffer``: SIPp's socket buffer size in bytes
    (``-buff_size``; SIPp's default is 64 KiB); ``local_port``: SIPp's own (default: a
    free one)."""
    inf = write_injection(workdir / f"numbers-{uuid.uuid4().hex[:6]}.csv", rows)
    tag = uuid.uuid4().hex[:8]
    msgs = workdir / f"sipp-{tag}-messages.log"
    stat = workdir / f"sipp-{tag}-stat.csv"
    total = calls if calls is not None else len(rows)
    args = [
        sipp, f"127.0.0.1:{port}", "-sf", str(scenario), "-inf", str(inf),
        "-m", str(total), "-r", str(rate), "-i", "127.0.0.1", "-p", str(local_port or free_port()),
        "-nostdin", "-timeout", f"{int(timeout)}s", "-timeout_error",
        "-max_recv_loops", "1000", "-l", str(max(total, 1)),
        "-trace_stat", "-stf", str(stat), "-fd", "1",
    ]  # fmt: skip
    if trace:
        args += ["-trace_msg", "-message_file", str(msgs)]
    if buffer:
        args += ["-buff_size", str(buffer)]
    if cpu is not None and shutil.which("taskset"):
        args = ["taskset", "-c", str(cpu), *args]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout + 15, cwd=workdir)
    responses = _responses(msgs) if trace else []
    return SippRun(responses, _stats(stat), proc.stdout[-3000:] + proc.stderr[-3000:])


def _stats(stat: Path) -> dict[str, float]:
    """The numeric columns of the last line of SIPp's statistics file."""
    if not stat.exists():
        return {}
    lines = [ln for ln in stat.read_text().splitlines() if ln.strip()]
    head, last = lines[0].split(";"), lines[-1].split(";")
    out = {}
    for name, value in zip(head, last, strict=False):
        try:
            out[name] = float(value)
        except ValueError:
            continue
    return out


def _counts(stat: Path) -> tuple[int, int]:
    row = _stats(stat)
    return int(row.get("SuccessfulCall(C)", 0)), int(row.get("FailedCall(C)", 0))


def _responses(msgs: Path) -> list[dict]:
    """Every final response SIPp received, in order."""
    if not msgs.exists():
        return []
    out = []
    for block in re.split(r"\n-{20,}[^\n]*\n", msgs.read_text(errors="replace")):
        lines = [ln.rstrip("\r") for ln in block.strip().splitlines()]
        # the message follows the "UDP message received [N] bytes :" line
        while lines and not lines[0].startswith("SIP/2.0 "):
            lines.pop(0)
        if not lines:
            continue
        code = int(lines[0].split()[1])
        if code < 200:
            continue
        headers = [ln for ln in lines[1:] if ln]
        to = next(h for h in headers if h.lower().startswith("to:"))
        number = re.search(r"sip:([^@>;]+)@", to)
        out.append({"code": code, "number": number.group(1) if number else "", "headers": headers})
    return out


class Carrier:
    """A SIPp UAS on a free loopback port playing a carrier (``scenario``: answer 200 or
    fail with 503); stopped by :meth:`stop`."""

    def __init__(self, sipp: str, scenario: Path, workdir: Path) -> None:
        self.port = free_port()
        self.stat = workdir / f"carrier-{self.port}-stat.csv"
        self.proc = subprocess.Popen(
            [sipp, "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(self.port), "-nostdin",
             "-trace_stat", "-stf", str(self.stat), "-fd", "1"],
            cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip

    def stop(self) -> tuple[int, int]:
        """Stop it; ``(successful, failed)`` calls it saw."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGUSR1)  # SIPp: dump stats and quit
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return _counts(self.stat)


class TandemServer:
    """``tandem serve sip|http --table T --config C`` from this checkout on a free
    loopback port; ``start()`` waits until it answers (OPTIONS or /healthz)."""

    def __init__(
        self, kind: str, table: Path, config: Path, workdir: Path, *, cpu: int | None = None
    ) -> None:
        self.kind = kind
        self.port = free_port()
        self.log = workdir / f"tandem-serve-{kind}-{self.port}.log"
        self.args = [
            sys.executable, "-m", "tandem", "serve", kind, "--table", str(table),
            "--config", str(config), "--listen", f"127.0.0.1:{self.port}",
            *(["--no-tcp"] if kind == "sip" else []),
        ]  # fmt: skip
        if cpu is not None and shutil.which("taskset"):
            self.args = ["taskset", "-c", str(cpu), *self.args]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return (
            f"sip:127.0.0.1:{self.port}" if self.kind == "sip" else f"http://127.0.0.1:{self.port}"
        )

    def ready(self) -> bool:
        if self.kind == "sip":
            return options(self.port) == "SIP/2.0 200 OK"
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=0.5) as r:
                return r.status == 200
        except OSError:
            return False

    def start(self, timeout: float = 30.0) -> TandemServer:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                self.args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"tandem serve exited:\n{self.log.read_text()[-3000:]}")
            if self.ready():
                return self
            time.sleep(0.2)
        self.stop()
        raise AssertionError(f"tandem serve did not answer:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def __enter__(self) -> TandemServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
