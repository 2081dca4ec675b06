"""The PostgreSQL test harness itself (issue 14): fresh databases are distinct, empty and
writable; a missing server skips and an unreachable one fails; a server of one's own
restarts and survives kill() with every acknowledged commit, and leaves nothing behind."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from unittest import mock

import pg_support
import pg_server  # importable once pg_support put tests/support on the path
from pg_support import PgServer, PgServerError

PG_SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support",
                         "pg_server.py")
USER_TABLES = ("SELECT count(*) FROM pg_tables "
               "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")


def server_processes(postmaster):
    """The server's processes; more than the postmaster alone, so a check is not vacuous."""
    procs = pg_server.server_processes(postmaster)
    assert len(procs) > 1, procs
    return procs


class FreshDatabases(unittest.TestCase):
    def test_two_databases_are_distinct_empty_and_writable(self):
        first = pg_support.fresh_postgres_url(self)
        second = pg_support.fresh_postgres_url(self)
        self.assertNotEqual(first, second)
        self.assertEqual(pg_support.psql(first, USER_TABLES).strip(), "0")
        pg_support.psql(first, "CREATE TABLE only_here (v text); "
                        "INSERT INTO only_here VALUES ('x')")
        self.assertEqual(pg_support.psql(first, "SELECT v FROM only_here").strip(), "x")
        self.assertEqual(pg_support.psql(second, "SELECT to_regclass('only_here') IS NULL").strip(),
                         "t")
        self.assertEqual(pg_support.psql(second, USER_TABLES).strip(), "0")

    def test_drop_closes_sessions_and_removes_the_database(self):
        server = pg_support.postgres_server_url()
        url = pg_support.fresh_postgres_url()
        name = url.rsplit("/", 1)[1]
        exists = f"SELECT count(*) FROM pg_database WHERE datname = '{name}'"
        held = subprocess.Popen([os.path.join(pg_support.find_bindir(), "psql"), "-X", "-q",
                                 "-d", url, "-c", "SELECT pg_sleep(60)"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(held.wait, 30)
        self.addCleanup(held.kill)
        self.assertEqual(pg_support.psql(server, exists).strip(), "1")
        pg_support.drop_postgres_database(url, server)
        self.assertEqual(pg_support.psql(server, exists).strip(), "0")

    def test_no_server_configured_skips(self):
        with mock.patch.dict(os.environ):
            os.environ.pop("DIGESTD_TEST_PG_URL", None)
            os.environ.pop("DIGESTD_TEST_PG_DIR", None)
            with self.assertRaises(unittest.SkipTest):
                pg_support.fresh_postgres_url()

    def test_unreachable_server_fails(self):
        with socket.socket() as refusing:  # bound, never listening: connections are refused
            refusing.bind(("127.0.0.1", 0))
            port = refusing.getsockname()[1]
            url = f"postgresql://digestd_test@127.0.0.1:{port}/postgres"
            with mock.patch.dict(os.environ, DIGESTD_TEST_PG_URL=url):
                with self.assertRaises(PgServerError):
                    pg_support.fresh_postgres_url()

    def test_with_database(self):
        w = pg_support.with_database
        self.assertEqual(w("postgresql://u@h:5/postgres", "x"), "postgresql://u@h:5/x")
        self.assertEqual(w("postgresql://u@h:5", "x"), "postgresql://u@h:5/x")
        self.assertEqual(w("postgresql://u@h/db?sslmode=disable", "x"),
                         "postgresql://u@h/x?sslmode=disable")
        self.assertEqual(w("postgres://[::1]:5?a=1", "x"), "postgres://[::1]:5/x?a=1")


class OwnServer(unittest.TestCase):
    def setUp(self):
        self.pg = PgServer()
        self.addCleanup(self.pg.stop)
        self.pg.start()
        self.url = self.pg.create_database("faults")
        self.pg.psql("CREATE TABLE t (i int)", database="faults")

    def count(self):
        return int(self.pg.psql("SELECT count(*) FROM t", database="faults"))

    def test_restart_keeps_port_and_data(self):
        self.pg.psql("INSERT INTO t VALUES (1)", database="faults")
        port = self.pg.port
        self.pg.restart()
        self.assertEqual(self.pg.port, port)
        self.assertEqual(self.count(), 1)

    def test_kill_loses_no_acknowledged_commit(self):
        # Quick single-row commits, then SIGKILL at once: with synchronous_commit=off a
        # quarter of them came back missing.
        expected = 0
        for _ in range(3):
            sql = "".join(f"INSERT INTO t VALUES ({i});\n" for i in range(200))
            subprocess.run([os.path.join(pg_support.find_bindir(), "psql"), "-X", "-q",
                            "-v", "ON_ERROR_STOP=1", "-d", self.url],
                           input=sql, text=True, check=True, timeout=60,
                           stdout=subprocess.DEVNULL)
            expected += 200
            procs = server_processes(self.pg.pid)
            self.pg.kill()
            self.assertEqual(pg_server.alive(procs), [])
            self.pg.start()
            self.assertEqual(self.count(), expected)

    def test_kill_drops_open_sessions(self):
        held = subprocess.Popen([os.path.join(pg_support.find_bindir(), "psql"), "-X", "-q",
                                 "-d", self.url, "-c", "SELECT pg_sleep(60)"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(held.kill)
        self.pg.psql("SELECT 1")  # the server is up; give psql a moment to connect
        self.pg.kill()
        self.assertNotEqual(held.wait(timeout=10), 0)

    def test_postmaster_only_kill_then_start(self):
        procs = server_processes(self.pg.pid)
        self.pg.kill(postmaster_only=True)
        self.pg.start()
        self.assertEqual(pg_server.alive(procs), [])
        self.assertEqual(self.count(), 0)

    def test_stop_leaves_nothing_behind(self):
        procs, root = server_processes(self.pg.pid), self.pg.root
        self.pg.stop()
        self.assertEqual(pg_server.alive(procs), [])
        self.assertFalse(os.path.exists(root))


class CommandLine(unittest.TestCase):
    def run_cli(self, *args):
        return subprocess.run([sys.executable, PG_SERVER, *args], capture_output=True,
                              text=True, timeout=120)

    def test_start_stop_and_a_stale_server(self):
        d = tempfile.mkdtemp(prefix="digestd-pg-cli-")
        self.addCleanup(shutil.rmtree, d, True)
        self.addCleanup(self.run_cli, "stop", d)  # runs first: cleanups are LIFO
        self.assertEqual(self.run_cli("start", d).returncode, 0)
        with open(os.path.join(d, "server.json"), encoding="utf-8") as f:
            first = json.load(f)
        first_procs = server_processes(first["pid"])
        with open(os.path.join(d, "url"), encoding="utf-8") as f:
            self.assertEqual(f.read().strip(), first["url"])
        self.assertEqual(pg_support.psql(first["url"], "SELECT 1").strip(), "1")
        # A second start stops the server the first left behind.
        self.assertEqual(self.run_cli("start", d).returncode, 0)
        self.assertEqual(pg_server.alive(first_procs), [])
        self.assertFalse(os.path.exists(first["root"]))
        with open(os.path.join(d, "server.json"), encoding="utf-8") as f:
            second = json.load(f)
        second_procs = server_processes(second["pid"])
        self.assertEqual(self.run_cli("stop", d).returncode, 0)
        self.assertEqual(pg_server.alive(second_procs), [])
        self.assertFalse(os.path.exists(second["root"]))
        self.assertEqual(sorted(os.listdir(d)), [])

    def test_run_passes_the_url_and_the_status(self):
        proc = self.run_cli("run", "--", sys.executable, "-c",
                            "import os, sys; print(os.environ['DIGESTD_TEST_PG_URL']); sys.exit(7)")
        self.assertEqual(proc.returncode, 7, proc.stderr)
        self.assertRegex(proc.stdout, r"^postgresql://digestd_test@127\.0\.0\.1:\d+/digestd_test$")

    def test_run_stops_the_server_on_sigterm(self):
        proc = subprocess.Popen([sys.executable, PG_SERVER, "run", "--", "sleep", "60"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.addCleanup(proc.stderr.close)
        self.addCleanup(proc.kill)
        def children(name):
            return subprocess.run(["pgrep", "-P", str(proc.pid), "-x", name],
                                  capture_output=True, text=True).stdout.split()
        for _ in range(300):  # the command runs once the server is ready
            if children("sleep"):
                break
            self.assertIsNone(proc.poll(), proc.stderr)
            time.sleep(0.1)
        procs = server_processes(int(children("postgres")[0]))
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        self.assertEqual(pg_server.alive(procs), [])


if __name__ == "__main__":
    unittest.main()
