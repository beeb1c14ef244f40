"""Watching and living with a device: `audit follow` (step by step, Ctrl-C, a device that goes
away), `audit archive`'s progress, `audit forward --syslog` into a real rsyslogd, `status`'s audit
lines, and `device start`'s stable port, pid check and per-directory serial."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from click.testing import CliRunner, Result

from host_tools.archive import Archive, Follower
from host_tools.audit_drain import PAGE, fetch_public_key
from host_tools.cli import EXIT_FILE, EXIT_INTERRUPTED, EXIT_NO_DEVICE, EXIT_USAGE, main
from host_tools.device import Device
from host_tools.device_process import DeviceProcess, running_device

FAST = ["--pbkdf2-iterations", "1000"]
CO_PW, ALICE_PW, AUDREY_PW = "s3cret-pass-1", "alice-pass-12", "audrey-pass-1"
EXE = [sys.executable, "-m", "host_tools.cli"]
WAIT = 60.0  # the most any one step below may take on a loaded machine (a bound, never a pause)


def _until(condition: Callable[[], bool], what: str, alive: subprocess.Popen[Any]) -> None:
    """Poll a condition a bounded number of times (rsyslogd and a file on disk give no signal to
    wait on), failing if ``alive`` ends first; each look waits on that process's exit, not a sleep."""
    for _ in range(int(WAIT / 0.05)):
        if condition():
            return
        try:
            alive.wait(0.05)
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"{what}: the process ended ({alive.returncode})")
    raise AssertionError(f"{what}: not within {WAIT} s")


def cli(port: str | None, *args: str, password: str | None = None, env: dict[str, str] | None = None) -> Result:
    full = {"CMSIM_PORT": port, "CMSIM_PASSWORD": password, "CMSIM_OPERATOR": None, **(env or {})}
    return CliRunner().invoke(main, list(args), env=full, catch_exceptions=False)


def _set_up(port: str) -> None:
    assert cli(port, "init", "--operator", "co", password=CO_PW).exit_code == 0
    for name, role, pw in (("alice", "user", ALICE_PW), ("audrey", "auditor", AUDREY_PW)):
        r = cli(port, "--operator", "co", "operator", "add", name, "--role", role, "--password-env", "PW",
                password=CO_PW, env={"PW": pw})
        assert r.exit_code == 0, r.output


@pytest.fixture
def device(seal_file: Path, tmp_path: Path) -> Iterator[DeviceProcess]:
    """A device of the test's own (some tests stop it), set up with a CO, a User and an Auditor; on
    a Unix socket, which serves several hosts at once (a pty is one host's line)."""
    args = [*FAST, "--seal", str(seal_file), "--unix", str(tmp_path / "device.sock")]
    with running_device(tmp_path / "state", args=args) as proc:
        _set_up(proc.port)
        yield proc


def _archived(db: Path) -> list[tuple[int, str]]:
    """(seq, hash) of every archived record, read with sqlite3 itself (not through the code under test)."""
    con = sqlite3.connect(db)
    try:
        return [(int(seq), bytes(h).hex()) for seq, h in con.execute("SELECT seq, hash FROM records ORDER BY seq")]
    finally:
        con.close()


def _lines(stream: IO[str], until: re.Pattern[str]) -> list[str]:
    """Lines read from a child's pipe until one matches (each read bounded by WAIT; EOF fails)."""
    seen: list[str] = []
    while True:
        ready, _, _ = select.select([stream], [], [], WAIT)
        assert ready, f"nothing within {WAIT} s; so far: {seen}"
        line = stream.readline()
        assert line, f"the command ended; so far: {seen}"
        seen.append(line)
        if until.search(line):
            return seen




def _follow(port: str, db: Path, *extra: str, timeout: str = "5") -> subprocess.Popen[str]:
    env = {**os.environ, "CMSIM_PORT": port, "CMSIM_PASSWORD": AUDREY_PW}
    return subprocess.Popen([*EXE, "--operator", "audrey", "--timeout", timeout, "audit", "follow", "--db", str(db),
                             "--interval", "0.05", *extra], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, bufsize=1)


# ------------------------------------------------------------------------------- the follower
def test_a_follower_is_idle_on_its_own_polls_and_drains_what_others_do(device: DeviceProcess, tmp_path: Path) -> None:
    with Device.open(device.port) as dev, Archive(tmp_path / "a.db") as archive, \
            dev.login("audrey", AUDREY_PW) as s:
        archive.bind(fetch_public_key(dev))
        key = archive.trusted_key()
        assert key is not None
        follower = Follower(archive, s, key)
        assert follower.step()  # the set-up's records: the first step catches up
        assert follower.step() == []  # only the follower's own calls since: idle
        with dev.login("alice", ALICE_PW) as alice:
            alice.random(16)
        new = follower.step()
        names = [(r.operator, r.kind.name) for r, _ in new]
        assert ("alice", "SERVICE") in names and all(r.seq > 0 for r, _ in new)
        assert [r.seq for r, _ in new] == list(range(new[0][0].seq, new[-1][0].seq + 1))  # in order, no gap
        assert follower.step() == []
        # Its own polls pile up; they are archived (and the ring freed) once a page of them is there.
        idle = 0
        while not (drained := follower.step()):
            idle += 1
            assert idle <= PAGE
        *polls, checkpoint = [r for r, _ in drained]  # the drain's own checkpoint ends what it archives
        assert idle >= PAGE - 8 and all(r.session_id == s.session_id for r in polls)
        assert checkpoint.kind.name == "CHECKPOINT"
    assert cli(None, "audit", "verify", "--db", str(tmp_path / "a.db")).exit_code == 0


def test_follow_prints_records_as_they_come_and_stops_on_ctrl_c(device: DeviceProcess, tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    proc = _follow(device.port, db, "-n", "1")
    assert proc.stdout is not None and proc.stderr is not None
    try:
        first = _lines(proc.stdout, re.compile(r"\"seq\""))  # the newest archived record: following now
        assert cli(device.port, "--operator", "alice", "random", "8", password=ALICE_PW).exit_code == 0
        live = _lines(proc.stdout, re.compile(r'"name":"RANDOM".*"operator":"alice"|'
                                              r'"operator":"alice".*"name":"RANDOM"'))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(WAIT) == EXIT_INTERRUPTED
        err = proc.stderr.read().strip().splitlines()
    finally:
        proc.kill()
        proc.wait()
    assert err[-1].startswith("cmsim: stopped; the archive holds everything through seq ") and "Traceback" not in \
        "\n".join(err)
    printed = [json.loads(line) for line in first + live]
    seqs = [d["seq"] for d in printed]
    assert seqs == sorted(set(seqs))  # each once, in order
    archived = dict(_archived(db))
    assert all(archived[d["seq"]] == d["hash"] for d in printed)  # each printed record is archived as shown
    assert list(archived) == list(range(min(archived), max(archived) + 1))
    assert cli(None, "audit", "verify", "--db", str(db)).exit_code == 0  # consistent after the Ctrl-C


def test_follow_ends_with_exit_6_when_the_device_goes_away(device: DeviceProcess, tmp_path: Path) -> None:
    db = tmp_path / "gone.db"
    proc = _follow(device.port, db, "-n", "1", timeout="1")
    assert proc.stdout is not None and proc.stderr is not None
    try:
        _lines(proc.stdout, re.compile(r"\"seq\""))
        device.stop()
        assert proc.wait(WAIT) == EXIT_NO_DEVICE
        err = proc.stderr.read().strip().splitlines()
    finally:
        proc.kill()
        proc.wait()
    assert "the device went away" in err[-1] and "Traceback" not in "\n".join(err)
    assert cli(None, "audit", "verify", "--db", str(db)).exit_code == 0


def test_archive_shows_progress_on_a_terminal(device: DeviceProcess, tmp_path: Path) -> None:
    """stderr on a pty, as a person's terminal: the bar with its rate is drawn there."""
    master, slave = os.openpty()
    env = {**os.environ, "CMSIM_PORT": device.port, "CMSIM_PASSWORD": AUDREY_PW, "COLUMNS": "120"}
    drawn = b""
    try:
        proc = subprocess.Popen([*EXE, "--operator", "audrey", "audit", "archive", "--db", str(tmp_path / "p.db")],
                                env=env, stdout=subprocess.PIPE, stderr=slave, text=True)
        os.close(slave)
        while True:  # read the terminal as it is drawn (a full one would stall the command)
            ready, _, _ = select.select([master], [], [], WAIT)
            assert ready, f"nothing on the terminal within {WAIT} s"
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the command closed its side of the terminal
                break
            if not chunk:
                break
            drawn += chunk
        out, _ = proc.communicate(timeout=WAIT)
    finally:
        os.close(master)
    assert proc.returncode == 0 and "records archived" in out
    assert b"archive" in drawn and b"records/s" in drawn


# ----------------------------------------------------------------------------- syslog (rsyslogd)
RSYSLOGD = Path("/usr/sbin/rsyslogd")


@dataclass(frozen=True)
class Rsyslog:
    port: int
    out: Path  # what it received, one line per message: APP-NAME|MSGID|STRUCTURED-DATA|MSG
    process: subprocess.Popen[bytes]


@pytest.fixture
def rsyslog(tmp_path: Path) -> Iterator[Rsyslog]:
    """A real rsyslogd on loopback (imtcp on a free port, omfile to a file), as this user, with its
    own config, pid file and work directory."""
    assert RSYSLOGD.exists(), "rsyslogd is missing: `make syslog-deps` installs Debian's rsyslog"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    work, out = tmp_path / "rsyslog", tmp_path / "received.log"
    work.mkdir()
    conf = work / "rsyslog.conf"
    conf.write_text(f'''
global(workDirectory="{work}")
module(load="imtcp")
template(name="fields" type="string" string="%app-name%|%msgid%|%structured-data%|%msg%\\n")
ruleset(name="cmsim") {{ action(type="omfile" file="{out}" template="fields") }}
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="cmsim")
''', encoding="utf-8")
    proc = subprocess.Popen([str(RSYSLOGD), "-n", "-f", str(conf), "-i", str(work / "rsyslogd.pid")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return False
        return True

    try:
        _until(listening, "rsyslogd listening", proc)
        yield Rsyslog(port, out, proc)
    finally:
        proc.terminate()
        proc.wait(WAIT)


def _received(server: Rsyslog, count: int) -> list[tuple[int, str, str]]:
    """(seq, hash, app|msgid) of what rsyslogd wrote, once it has written ``count`` messages."""
    out = server.out
    def lines() -> list[str]:
        return out.read_text(encoding="utf-8").splitlines() if out.exists() else []

    _until(lambda: len(lines()) >= count, f"rsyslogd writing {count} messages", server.process)
    found = []
    for line in lines():
        app, msgid, sd, _ = line.split("|", 3)
        m = re.search(r'\[cmsim@32473 seq="(\d+)" hash="([0-9a-f]{64})"', sd)
        assert m, line
        found.append((int(m.group(1)), m.group(2), f"{app}|{msgid}"))
    return found


def test_forward_sends_each_record_once_in_order_with_seq_and_hash(device: DeviceProcess, tmp_path: Path,
                                                                   rsyslog: Rsyslog) -> None:
    port = rsyslog.port
    db, url = tmp_path / "fwd.db", f"tcp://127.0.0.1:{port}"
    assert cli(device.port, "--operator", "audrey", "audit", "archive", "--db", str(db), password=AUDREY_PW).exit_code == 0
    first = cli(None, "--json", "audit", "forward", "--db", str(db), "--syslog", url)
    assert first.exit_code == 0, first.output
    archived = _archived(db)
    assert json.loads(first.output)["sent"] == len(archived)
    got = _received(rsyslog, len(archived))
    assert [(seq, h) for seq, h, _ in got] == archived  # every record once, in order, with its hash
    assert all(tag.startswith("cmsim|") for _, _, tag in got)  # parsed as RFC 5424 (APP-NAME, MSGID)
    # More records, archived again: a second run sends only those; a third sends nothing.
    assert cli(device.port, "--operator", "alice", "random", "8", password=ALICE_PW).exit_code == 0
    assert cli(device.port, "--operator", "audrey", "audit", "archive", "--db", str(db), password=AUDREY_PW).exit_code == 0
    second = cli(None, "--json", "audit", "forward", "--db", str(db), "--syslog", url)
    archived = _archived(db)
    assert json.loads(second.output)["sent"] == len(archived) - len(got) > 0
    assert json.loads(cli(None, "--json", "audit", "forward", "--db", str(db), "--syslog", url).output)["sent"] == 0
    assert [(seq, h) for seq, h, _ in _received(rsyslog, len(archived))] == archived


def test_forward_follow_keeps_sending_and_resumes_without_duplicates(device: DeviceProcess, tmp_path: Path,
                                                                    rsyslog: Rsyslog) -> None:
    port, out = rsyslog.port, rsyslog.out
    db = tmp_path / "live.db"
    env = {**os.environ, "CMSIM_PORT": device.port, "CMSIM_PASSWORD": AUDREY_PW}
    proc = subprocess.Popen([*EXE, "--operator", "audrey", "audit", "forward", "--db", str(db), "--syslog",
                             f"tcp://127.0.0.1:{port}", "--follow", "--interval", "0.05"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert cli(device.port, "--operator", "alice", "random", "8", password=ALICE_PW).exit_code == 0
        _until(lambda: out.exists() and '"alice"' in out.read_text(encoding="utf-8"), "alice's call forwarded", proc)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(WAIT) == EXIT_INTERRUPTED
    finally:
        proc.kill()
        proc.wait()
    con = sqlite3.connect(db)
    try:
        (cursor,), = con.execute("SELECT last_seq FROM forwarded").fetchall()
    finally:
        con.close()
    sent = sum(1 for seq, _ in _archived(db) if seq <= cursor)  # what the follower sent before its Ctrl-C
    assert len(_received(rsyslog, sent)) == sent
    rerun = cli(None, "--json", "audit", "forward", "--db", str(db), "--syslog", f"tcp://127.0.0.1:{port}")
    archived = _archived(db)
    assert json.loads(rerun.output)["sent"] == len(archived) - sent
    assert [(seq, h) for seq, h, _ in _received(rsyslog, len(archived))] == archived


def test_forward_errors_are_one_line(tmp_path: Path, device: DeviceProcess) -> None:
    db = tmp_path / "e.db"
    assert cli(device.port, "--operator", "audrey", "audit", "archive", "--db", str(db), password=AUDREY_PW).exit_code == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # bound, not listening: a connection is refused
        for url, code in ((f"tcp://127.0.0.1:{closed}", EXIT_FILE), ("udp://127.0.0.1:514", EXIT_USAGE),
                          ("tcp://127.0.0.1", EXIT_USAGE)):
            r = cli(None, "audit", "forward", "--db", str(db), "--syslog", url)
            assert r.exit_code == code and "Traceback" not in r.output, (url, r.output)
            assert len(r.output.strip().splitlines()) <= 4, r.output  # a usage error also shows the usage line
    missing = cli(None, "audit", "forward", "--db", str(tmp_path / "none.db"), "--syslog", "tcp://127.0.0.1:9")
    assert missing.exit_code == EXIT_FILE


# ------------------------------------------------------------------------------------ status
def test_status_shows_high_water_acknowledged_through_and_fingerprint(device: DeviceProcess, tmp_path: Path) -> None:
    with Device.open(device.port) as dev:
        fingerprint = dev.identity().fingerprint
    before = cli(device.port, "status").output
    assert re.search(r"audit\.high_water_reached\s+no\b", before)
    assert re.search(r"audit\.acknowledged_through\s+none yet", before)
    assert re.search(rf"identity_fingerprint\s+{fingerprint}", before)
    db = tmp_path / "s.db"
    r = cli(device.port, "--json", "--operator", "audrey", "audit", "archive", "--db", str(db), password=AUDREY_PW)
    through = json.loads(r.output)["last_seq"]
    after = cli(device.port, "status").output
    assert re.search(rf"audit\.acknowledged_through\s+{through}\b", after)
    assert not re.search(r"\b(True|False|None)\b", before + after)


# ------------------------------------------------------------------------------------ device
def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CMSIM_HOME": str(home)}
    env.pop("CMSIM_PORT", None)
    return subprocess.run([*EXE, *args], env=env, capture_output=True, text=True, timeout=WAIT)


def test_device_start_keeps_a_stable_port_and_a_serial_per_state_directory(seal_file: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    args = [f"--arg=--seal={seal_file}", "--arg=--pbkdf2-iterations=1000"]
    serials = {}
    for name in ("one", "two", "one"):
        started = _run(home, "--json", "device", "start", "--state", str(tmp_path / name), *args)
        assert started.returncode == 0, started.stderr
        info = json.loads(started.stdout)
        link = home / "device.tty"
        assert info["port"] == str(link) and os.readlink(link) == info["pty"]
        status = _run(home, "--json", "status")  # through the remembered link
        assert status.returncode == 0, status.stderr
        serial = json.loads(status.stdout)["serial"]
        assert serial == info["serial"] and serials.setdefault(name, serial) == serial  # stable across restarts
        assert _run(home, "device", "stop").returncode == 0
        assert not link.exists()
    assert serials["one"] != serials["two"] and serials["one"] != "CMSIM-0001"
    taken = _run(home, "device", "start", "--state", str(tmp_path / "one"), "--serial", "OTHER-1", *args)
    assert taken.returncode == EXIT_USAGE and "belongs to serial" in taken.stderr
    sock = tmp_path / "d.sock"  # on a socket, which several hosts may use at once: its URL is the port
    started = _run(home, "--json", "device", "start", "--state", str(tmp_path / "two"), f"--arg=--unix={sock}", *args)
    assert started.returncode == 0 and json.loads(started.stdout)["port"] == f"unix://{sock}"
    assert not (home / "device.tty").exists()
    assert json.loads(_run(home, "--json", "status").stdout)["serial"] == serials["two"]
    assert _run(home, "device", "stop").returncode == 0


def test_device_status_is_not_fooled_by_a_dead_or_reused_pid(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    other = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        for pid in (other.pid, dead.pid):  # a live process that is not the device, and a pid no one has
            (home / "device.json").write_text(json.dumps({"pid": pid, "port": "/dev/null", "state": "x"}))
            status = _run(home, "--json", "device", "status")
            assert status.returncode == EXIT_NO_DEVICE and json.loads(status.stdout)["running"] is False
            stop = _run(home, "device", "stop")
            assert stop.returncode == EXIT_NO_DEVICE and "no longer running" in stop.stderr
            assert not (home / "device.json").exists()
        assert other.poll() is None  # never signalled
    finally:
        other.kill()
        other.wait()
