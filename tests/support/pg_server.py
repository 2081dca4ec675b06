#!/usr/bin/python3
"""A throwaway PostgreSQL server for digestd's tests (stdlib only).

Each server lives in a fresh temporary directory (data, Unix socket, log) and listens on a
free port of 127.0.0.1; its one role, digestd_test, is a superuser trusted without password.
PostgreSQL refuses to run as root: as root, initdb and postgres run as the `postgres` system
user (Debian's postgresql package creates it), and the temporary directory is handed to it.
Every wait is bounded; a server that does not come up fails with the tail of its log.

As a module:
    with PgServer() as pg:             # start() ... stop()
        url = pg.create_database("t1") # postgresql://digestd_test@127.0.0.1:PORT/t1
        pg.restart()                   # fast shutdown, then up again: same port, same data
        pg.kill()                      # SIGKILL, as a crash would; start() brings it back

From the command line:
    pg_server.py start DIR      start a detached server, write DIR/url and DIR/server.json
    pg_server.py stop DIR       stop the server DIR names and remove its data
    pg_server.py run -- CMD...  run CMD with DIGESTD_TEST_PG_URL set, then stop the server;
                                exits with CMD's status
The binaries are found in $DIGESTD_PG_BINDIR, `pg_config --bindir`, the newest
/usr/lib/postgresql/*/bin, then $PATH.
"""

import argparse
import atexit
import glob
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

USER = "digestd_test"      # the superuser initdb creates; trusted, no password
DATABASE = "digestd_test"  # made at the first start; `url` names it
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
COMMAND_TIMEOUT = 30.0
PORT_ATTEMPTS = 5
LOG_TAIL_LINES = 40
NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PgServerError(RuntimeError):
    """The server could not be set up, started, stopped or asked something."""


def find_bindir():
    """The folder holding initdb, postgres, pg_isready and psql."""
    candidates = []
    if os.environ.get("DIGESTD_PG_BINDIR"):
        candidates.append(os.environ["DIGESTD_PG_BINDIR"])
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True,
                                 timeout=COMMAND_TIMEOUT, check=True).stdout.strip()
            candidates.append(out)
        except (OSError, subprocess.SubprocessError):
            pass
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    versions.sort(key=lambda p: [int(x) for x in re.findall(r"\d+", p)] or [0], reverse=True)
    candidates += versions
    for bindir in candidates:
        if all(os.access(os.path.join(bindir, b), os.X_OK) for b in ("initdb", "postgres")):
            return bindir
    initdb = shutil.which("initdb")
    if initdb and shutil.which("postgres"):
        return os.path.dirname(initdb)
    raise PgServerError("no PostgreSQL server binaries (initdb, postgres) found; install "
                        "postgresql-15 (scripts/install-deps.sh) or set DIGESTD_PG_BINDIR")


def free_port():
    """A port of 127.0.0.1 nobody listened on a moment ago (the server may still lose it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stat(pid):
    """(state, parent pid, start time) of `pid` from /proc, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1]), int(fields[19])


def process_alive(pid):
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"  # a zombie is as good as gone


def wait_until(done, timeout):
    """Polls `done()` every 50 ms until it is true (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def wait_gone(pid, timeout):
    return wait_until(lambda: not process_alive(pid), timeout)


def client_env():
    """The environment of a client of a test server: PGPASSWORD, PGSERVICE and friends of
    whoever runs the tests must not leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "10"
    return env


def psql(url, sql, timeout=COMMAND_TIMEOUT):
    """Runs `sql` through psql on `url`; returns its unaligned, tuples-only output. Raises
    PgServerError with psql's message when it fails or the server cannot be reached."""
    cmd = [os.path.join(find_bindir(), "psql"), "-X", "-q", "-A", "-t",
           "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=client_env())
    except subprocess.TimeoutExpired:
        raise PgServerError(f"psql on {url} timed out after {timeout:.0f} s: {sql}")
    if proc.returncode != 0:
        raise PgServerError(f"psql on {url} failed ({proc.returncode}) on {sql!r}: "
                            f"{proc.stderr.strip()}")
    return proc.stdout


def server_processes(postmaster):
    """The postmaster and every process it forked (backends, checkpointer, walwriter...) as
    (pid, start time) pairs. They are its children, not its process group: each one calls
    setsid() when it starts."""
    stat = _stat(postmaster)
    if stat is None or stat[0] == "Z":
        return []
    procs = [(postmaster, stat[2])]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            child = _stat(int(entry))
            if child and child[1] == postmaster and child[0] != "Z":
                procs.append((int(entry), child[2]))
    return procs


def alive(procs):
    """Those of `procs` (from server_processes) still running, a reused pid not counted."""
    out = []
    for pid, started in procs:
        stat = _stat(pid)
        if stat and stat[0] != "Z" and stat[2] == started:
            out.append((pid, started))
    return out


def wait_all_gone(procs, timeout):
    return wait_until(lambda: not alive(procs), timeout)


def kill_server(postmaster, postmaster_only=False):
    """SIGKILLs the postmaster and, unless `postmaster_only`, every process it forked.
    Returns them all, as server_processes() does, so the caller can wait for them."""
    try:
        os.kill(postmaster, signal.SIGSTOP)  # stopped, it forks nothing while we look
    except ProcessLookupError:
        return []
    procs = server_processes(postmaster)
    for pid, _ in alive(procs[:1] if postmaster_only else procs):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return procs


class PgServer:
    """One throwaway server. Not thread-safe; use it from the thread that made it."""

    def __init__(self, base_dir=None):
        """`base_dir`: where the temporary directory goes (default: $TMPDIR or /tmp). As
        root, the `postgres` user must be able to enter it."""
        self.base_dir = base_dir
        self.bindir = find_bindir()
        self.root = None       # the temporary directory: data/, sock/, server.log
        self.port = None
        self.pid = None        # the postmaster
        self._proc = None
        self._initialized = False
        self._atexit = False
        self._run_as = None    # pwd entry of the user initdb and postgres run as, or None
        self._orphans = None   # backends a postmaster-only kill() left running

    # -- public API ---------------------------------------------------------------------

    @property
    def url(self):
        """The test database: postgresql://digestd_test@127.0.0.1:PORT/digestd_test."""
        return self.database_url(DATABASE)

    @property
    def admin_url(self):
        """The maintenance database `postgres`, for CREATE and DROP DATABASE."""
        return self.database_url("postgres")

    @property
    def data_dir(self):
        return os.path.join(self.root, "data") if self.root else None

    @property
    def log_path(self):
        return os.path.join(self.root, "server.log") if self.root else None

    def database_url(self, name):
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{name}"

    def start(self):
        """Initialises the data folder on the first call, starts the postmaster and returns
        once it accepts connections (at most START_TIMEOUT s). Raises PgServerError."""
        if self.running():
            return self
        if not self._atexit:
            atexit.register(self.stop)
            self._atexit = True
        if not self._initialized:
            self._make_root()
            self._initdb()
        self._bury_orphans(START_TIMEOUT)
        fixed_port = self.port is not None
        for attempt in range(1 if fixed_port else PORT_ATTEMPTS):
            if not fixed_port:
                self.port = free_port()
            if self._launch():
                break
            if fixed_port or attempt == PORT_ATTEMPTS - 1 or not self._lost_port():
                raise PgServerError(self._start_failure())
        if not self._initialized:
            self._initialized = True
            self.psql(f'CREATE DATABASE "{DATABASE}"', database="postgres")
        return self

    def stop(self):
        """Fast shutdown (SIGINT: running transactions roll back), then removes the temporary
        directory. Anything still alive after STOP_TIMEOUT s is killed. Idempotent."""
        self._shutdown()
        self._bury_orphans(0)
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)
        self.root = None
        self._initialized = False
        self.port = None
        if self._atexit:
            atexit.unregister(self.stop)
            self._atexit = False

    def restart(self):
        """Fast shutdown, then up again on the same port with the same data."""
        if not self._initialized:
            raise PgServerError("restart() before start()")
        self._shutdown()
        return self.start()

    def kill(self, postmaster_only=False):
        """SIGKILLs the server without warning, as a crash would: the postmaster and every
        backend, so clients see their connections drop at once. With `postmaster_only`, the
        backends live on until they notice (as when the OOM killer picks the postmaster).
        The data stays: start() runs crash recovery and brings the server back."""
        if self.pid is None:
            return
        pid = self.pid
        procs = kill_server(pid, postmaster_only)
        self._reap(pid, STOP_TIMEOUT)
        if postmaster_only:
            self._orphans = procs[1:]
        elif not wait_all_gone(procs, STOP_TIMEOUT):
            raise PgServerError(f"PostgreSQL processes survived SIGKILL: {alive(procs)}")
        self.pid = None
        self._proc = None

    def running(self):
        return self.pid is not None and process_alive(self.pid)

    def psql(self, sql, database=DATABASE):
        """Runs `sql` through psql on `database`; returns its unaligned, tuples-only output.
        Raises PgServerError with psql's message when it fails."""
        return psql(self.database_url(database), sql)

    def create_database(self, name):
        """Creates the empty database `name` ([a-z_][a-z0-9_]*) and returns its URL."""
        self._check_name(name)
        self.psql(f'CREATE DATABASE "{name}"', database="postgres")
        return self.database_url(name)

    def drop_database(self, name):
        """Drops `name`, closing its connections first; no error when it does not exist."""
        self._check_name(name)
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', database="postgres")

    def detach(self):
        """Leaves the server running after this object and this process are gone; returns
        what stop_detached() needs to stop it later."""
        if not self.running():
            raise PgServerError("detach() of a server that is not running")
        if self._atexit:
            atexit.unregister(self.stop)
            self._atexit = False
        state = {"pid": self.pid, "port": self.port, "root": self.root,
                 "data_dir": self.data_dir, "log": self.log_path, "bindir": self.bindir,
                 "url": self.url, "admin_url": self.admin_url}
        self._proc = None  # its Popen would otherwise warn that the child is still running
        return state

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- internals ----------------------------------------------------------------------

    def _bin(self, name):
        path = os.path.join(self.bindir, name)
        return path if os.access(path, os.X_OK) else (shutil.which(name) or path)

    def _check_name(self, name):
        if not NAME_RE.match(name):
            raise PgServerError(f"bad database name {name!r}: want [a-z_][a-z0-9_]*, "
                                "at most 63 characters")

    def _make_root(self):
        if os.geteuid() == 0:
            try:
                self._run_as = pwd.getpwnam("postgres")
            except KeyError:
                raise PgServerError("running as root, and there is no `postgres` user to run "
                                    "the server as (PostgreSQL refuses root); install "
                                    "postgresql-15 or run the tests as another user")
        # mkdtemp makes it 0700; as root it then belongs to the postgres user alone.
        self.root = tempfile.mkdtemp(prefix="digestd-pg-", dir=self.base_dir)
        os.mkdir(os.path.join(self.root, "sock"), 0o700)
        if self._run_as:
            for path in (self.root, os.path.join(self.root, "sock")):
                os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)
            # The server user must be able to reach it: every parent must be searchable.
            probe = subprocess.run(["test", "-w", self.root], cwd="/", timeout=COMMAND_TIMEOUT,
                                   **self._server_user())
            if probe.returncode != 0:
                raise PgServerError(f"the postgres user cannot enter {self.root}; pass a "
                                    "base_dir it can reach (or set TMPDIR)")
        # The Unix socket path is limited to 107 bytes.
        if len(os.path.join(self.root, "sock", ".s.PGSQL.65535")) > 107:
            raise PgServerError(f"{self.root} is too long a path for the server's socket; "
                                "use a shorter TMPDIR")

    def _server_user(self):
        """Popen arguments that run a child as the server user (and nothing when not root)."""
        if not self._run_as:
            return {}
        return {"user": self._run_as.pw_uid, "group": self._run_as.pw_gid, "extra_groups": []}

    def _server_env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C", HOME=self.root, TZ="UTC")
        if self._run_as:
            env.update(USER="postgres", LOGNAME="postgres")
        return env

    def _initdb(self):
        cmd = [self._bin("initdb"), "-D", self.data_dir, "-U", USER, "--auth=trust",
               "--encoding=UTF8", "--locale=C",  # C locale: text sorts by bytes
               "--no-sync", "--no-instructions"]
        try:
            proc = subprocess.run(cmd, cwd=self.root, env=self._server_env(),
                                  capture_output=True, text=True, timeout=120,
                                  **self._server_user())
        except subprocess.TimeoutExpired:
            raise PgServerError("initdb timed out after 120 s")
        if proc.returncode != 0:
            raise PgServerError(f"initdb failed ({proc.returncode}): "
                                f"{(proc.stderr or proc.stdout).strip()}")

    def _launch(self):
        """Starts the postmaster on self.port; True once it accepts connections, False when
        it exited (the log says why). Raises PgServerError when it hangs."""
        cmd = [self._bin("postgres"), "-D", self.data_dir,
               "-k", os.path.join(self.root, "sock"),
               "-p", str(self.port),
               "-c", "listen_addresses=127.0.0.1",
               # Tests kill processes, not machines: the page cache survives every fault
               # they inject, so skipping the flushes loses nothing and saves much time.
               "-c", "fsync=off", "-c", "full_page_writes=off",
               # synchronous_commit stays on: off, a commit is acknowledged while its WAL
               # is still in shared memory, and kill() loses it (about 250 of 1,000 quick
               # commits here), which a failover test would blame on digestd. With fsync
               # off, on costs one write() to the page cache per commit.
               # Several digestd instances, each with a pool, plus the tests' own sessions.
               "-c", "max_connections=200"]
        self._log_offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        with open(self.log_path, "ab") as log:
            # Its own session: a Ctrl-C meant for the tests does not reach it.
            self._proc = subprocess.Popen(cmd, cwd=self.root, env=self._server_env(),
                                          stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                          start_new_session=True, **self._server_user())
        self.pid = self._proc.pid
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self.pid = None
                self._proc = None
                return False
            if self._ready():
                return True
            time.sleep(0.1)
        self.kill()
        raise PgServerError(f"PostgreSQL did not accept connections within "
                            f"{START_TIMEOUT:.0f} s\n{self._log_tail()}")

    def _ready(self):
        cmd = [self._bin("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port),
               "-U", USER, "-d", "postgres", "-t", "2"]
        try:
            return subprocess.run(cmd, env=client_env(), timeout=10).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def _new_log(self):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _lost_port(self):
        log = self._new_log()
        return "could not bind" in log or "Address already in use" in log

    def _log_tail(self):
        lines = self._new_log().splitlines()[-LOG_TAIL_LINES:]
        return f"last lines of {self.log_path}:\n" + "\n".join("  " + l for l in lines)

    def _start_failure(self):
        return f"PostgreSQL exited while starting on port {self.port}\n{self._log_tail()}"

    def _reap(self, pid, timeout):
        if self._proc is not None:
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        wait_gone(pid, timeout)

    def _bury_orphans(self, timeout):
        """Backends outlive a postmaster-only kill() until they notice it died; a new
        postmaster refuses to start while they hold the old shared memory."""
        if not self._orphans:
            return
        if not wait_all_gone(self._orphans, timeout):
            for pid, _ in alive(self._orphans):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            wait_all_gone(self._orphans, STOP_TIMEOUT)
        self._orphans = None

    def _shutdown(self):
        if self.pid is None:
            return
        pid = self.pid
        stop_server(pid, self._proc)
        self.pid = None
        self._proc = None


def stop_server(pid, proc=None):
    """Fast shutdown of the postmaster `pid` (SIGINT: running transactions roll back); what
    is still running after STOP_TIMEOUT s is killed. Returns once all of it is gone."""
    procs = server_processes(pid)
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        pass
    if proc is not None:
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
    if not wait_gone(pid, STOP_TIMEOUT if proc is None else 0):
        print(f"pg_server: postmaster {pid} ignored a fast shutdown; killing it",
              file=sys.stderr)
        procs = kill_server(pid)
        if proc is not None:
            proc.wait(STOP_TIMEOUT)
    # A postmaster waits for its children before it exits; this only catches strays.
    for stray, _ in alive(procs):
        try:
            os.kill(stray, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if not wait_all_gone(procs, STOP_TIMEOUT):
        raise PgServerError(f"PostgreSQL processes survived SIGKILL: {alive(procs)}")


# -- command line -------------------------------------------------------------------------

def _postmaster_of(state):
    """The pid of `state` when it is still that server's postmaster (not a reused pid)."""
    pid = state.get("pid")
    if not isinstance(pid, int):
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
    except OSError:
        return None
    return pid if state.get("data_dir", "").encode() in args else None


def stop_detached(state):
    """Stops the server `state` (from detach()) describes and removes its data."""
    pid = _postmaster_of(state)
    if pid is not None:
        stop_server(pid)
    root = state.get("root")
    if root and os.path.basename(root).startswith("digestd-pg-"):
        shutil.rmtree(root, ignore_errors=True)


def _write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def cli_start(directory):
    os.makedirs(directory, exist_ok=True)
    url_path = os.path.join(directory, "url")
    state_path = os.path.join(directory, "server.json")
    # A server left behind by an interrupted run would otherwise live on unseen.
    cli_stop(directory, quiet=True)
    server = PgServer()
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    state = server.detach()
    _write_atomically(state_path, json.dumps(state, indent=2) + "\n")
    _write_atomically(url_path, state["url"] + "\n")
    print(f"pg_server: PostgreSQL ready at {state['url']} (pid {state['pid']}, data in "
          f"{state['data_dir']})")
    return 0


def cli_stop(directory, quiet=False):
    state_path = os.path.join(directory, "server.json")
    try:
        with open(state_path, encoding="utf-8") as f:
            state = json.load(f)
    except FileNotFoundError:
        if not quiet:
            print(f"pg_server: no server recorded in {directory}")
        return 0
    except (OSError, ValueError) as e:
        raise PgServerError(f"cannot read {state_path}: {e}")
    # The url goes first, so nothing reads it while the server stops.
    for name in ("url", "server.json"):
        try:
            os.remove(os.path.join(directory, name))
        except FileNotFoundError:
            pass
    stop_detached(state)
    print(f"pg_server: stopped the server of {directory}"
          + (" (left over from an earlier run)" if quiet else ""))
    return 0


def cli_run(command):
    # SIGTERM (ctest's timeout, a CI cancel) must still stop the server: turn it into an exit.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    with PgServer() as server:
        env = dict(os.environ, DIGESTD_TEST_PG_URL=server.url)
        try:
            return subprocess.run(command, env=env).returncode
        except FileNotFoundError:
            print(f"pg_server: {command[0]}: command not found", file=sys.stderr)
            return 127


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    start = sub.add_parser("start", help="start a detached server, described in DIR")
    start.add_argument("dir")
    stop = sub.add_parser("stop", help="stop the server DIR describes and remove its data")
    stop.add_argument("dir")
    run = sub.add_parser("run", help="run a command with DIGESTD_TEST_PG_URL set")
    run.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        if args.action == "start":
            return cli_start(args.dir)
        if args.action == "stop":
            return cli_stop(args.dir)
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not command:
            parser.error("run needs a command: run -- CMD [ARG...]")
        return cli_run(command)
    except PgServerError as e:
        print(f"pg_server: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
