"""PostgreSQL for the black-box tests: fresh databases on the server of the `postgresql`
ctest fixture, or on the one $DIGESTD_TEST_PG_URL names (stdlib only; psql does the SQL).

    url = fresh_postgres_url(self)   # in a TestCase: skips without a server, drops at cleanup
    write_config(..., state=url)

fresh_postgres_url() shares one server with every test ctest runs at once. A test that
restarts or kills PostgreSQL starts a server of its own: `with PgServer() as pg:` (see
tests/support/pg_server.py), then pg.create_database(...), pg.restart(), pg.kill().
"""
import itertools
import os
import secrets
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import pg_server  # noqa: E402
from pg_server import PgServer, PgServerError, find_bindir  # noqa: E402,F401

PSQL_TIMEOUT = 30
NO_SERVER = ("no PostgreSQL test server: set DIGESTD_TEST_PG_URL, or run through ctest, "
             "whose postgresql fixture sets DIGESTD_TEST_PG_DIR")
_counter = itertools.count()


def postgres_server_url():
    """$DIGESTD_TEST_PG_URL, else the first line of $DIGESTD_TEST_PG_DIR/url; None when
    neither is set. Raises PgServerError when DIGESTD_TEST_PG_DIR holds no url (the
    fixture failed)."""
    url = os.environ.get("DIGESTD_TEST_PG_URL", "").strip()
    if url:
        return url
    directory = os.environ.get("DIGESTD_TEST_PG_DIR", "")
    if not directory:
        return None
    path = os.path.join(directory, "url")
    try:
        with open(path, encoding="utf-8") as f:
            url = f.readline().strip()
    except OSError:
        url = ""
    if not url:
        raise PgServerError(f"DIGESTD_TEST_PG_DIR is set but {path} holds no URL: did the "
                            "postgresql.start fixture fail?")
    return url


def with_database(url, database):
    """`url` (postgresql://[user@]host[:port][/db][?params]) naming `database` instead."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    authority_end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0),
                        default=len(rest))
    query = rest.find("?")
    tail = rest[query:] if query >= 0 else ""
    return f"{scheme}{sep}{rest[:authority_end]}/{database}{tail}"


def psql(url, sql):
    """Runs `sql` on `url`; returns psql's unaligned, tuples-only output. Raises
    PgServerError with psql's message when it fails or the server cannot be reached."""
    return pg_server.psql(url, sql, timeout=PSQL_TIMEOUT)


def drop_postgres_database(url, server_url=None):
    """Drops the database `url` names, closing its sessions first; no error when it is gone.
    The DROP runs on `server_url` (default: `url` with the database `postgres`)."""
    name = url.split("?", 1)[0].rsplit("/", 1)[1]
    admin = server_url or with_database(url, "postgres")
    psql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fresh_postgres_url(test=None):
    """The URL of a new, empty database (digestd_t_<pid>_<counter>_<random>) on the test
    server. No server configured: raises unittest.SkipTest, so the test is skipped. A server
    configured but unreachable: raises PgServerError, so the test fails. With `test` (a
    TestCase) the database is dropped at its cleanup."""
    server = postgres_server_url()
    if server is None:
        raise unittest.SkipTest(NO_SERVER)
    name = f"digestd_t_{os.getpid()}_{next(_counter)}_{secrets.token_hex(4)}"
    psql(server, f'CREATE DATABASE "{name}"')
    url = with_database(server, name)
    if test is not None:
        test.addCleanup(drop_postgres_database, url, server)
    return url
