"""Issue 10, points 5, 8 and 9: what `cmake --install` lays down and the bundled examples.
The units name the binary where the install put it (system prefix /usr via DESTDIR, and a
~/.local prefix whose user unit goes where `systemctl --user` looks); the system unit passes
`systemd-analyze verify` and scores at most 2.0 in `security --offline=true` (when
systemd-analyze is installed); each example config passes `digestd check`."""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from digestd_harness import DIGESTD

BUILD = os.environ.get("DIGESTD_BUILD_DIR")
EXAMPLES = os.environ.get("DIGESTD_EXAMPLES")
ANALYZE = shutil.which("systemd-analyze")


def unit_key(path, key):
    with open(path, encoding="utf-8") as f:
        return [line.split("=", 1)[1].strip() for line in f if line.startswith(key + "=")]


@unittest.skipUnless(BUILD, "DIGESTD_BUILD_DIR names the build to install")
class Install(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="digestd-install-")
        self.addCleanup(self._tmp.cleanup)
        self.dir = self._tmp.name

    def install(self, prefix, destdir=None):
        env = dict(os.environ)
        env.pop("DESTDIR", None)
        if destdir:
            env["DESTDIR"] = destdir
        proc = subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix],
                              capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)

    def test_system_prefix_through_destdir(self):
        root = os.path.join(self.dir, "root")
        self.install("/usr", destdir=root)
        for path in ["usr/bin/digestd", "usr/lib/systemd/system/digestd.service",
                     "usr/lib/systemd/user/digestd.service", "usr/lib/sysusers.d/digestd.conf",
                     "usr/lib/tmpfiles.d/digestd.conf", "usr/share/man/man1/digestd.1",
                     "usr/share/doc/digestd/examples/personal-email.toml",
                     "usr/share/doc/digestd/examples/team-chat.toml",
                     "usr/share/doc/digestd/examples/system-service.toml",
                     "usr/share/doc/digestd/examples/demo/digestd.toml"]:
            self.assertTrue(os.path.exists(os.path.join(root, path)), path)
        # The units start /usr/bin/digestd, which is where the binary went; not the staging dir.
        system = os.path.join(root, "usr/lib/systemd/system/digestd.service")
        user = os.path.join(root, "usr/lib/systemd/user/digestd.service")
        self.assertEqual(unit_key(system, "ExecStart"),
                         ["/usr/bin/digestd run --config /etc/digestd/digestd.toml"])
        self.assertEqual(unit_key(user, "ExecStart"),
                         ["/usr/bin/digestd run --config %E/digestd/digestd.toml"])
        self.assertEqual(unit_key(system, "WatchdogSec"), ["60s"])
        with open(system, encoding="utf-8") as f:
            self.assertNotIn("@DIGESTD", f.read())
        # The unit's user is the one sysusers.d creates.
        with open(os.path.join(root, "usr/lib/sysusers.d/digestd.conf"), encoding="utf-8") as f:
            self.assertRegex(f.read(), r"(?m)^u digestd ")
        self.assertEqual(unit_key(system, "User"), ["digestd"])

    def test_man_page_renders_with_its_sections(self):
        root = os.path.join(self.dir, "root")
        self.install("/usr", destdir=root)
        if not shutil.which("man"):
            self.skipTest("man is not installed")
        page = subprocess.run(["man", "--warnings", "-l", os.path.join(root, "usr/share/man/man1/digestd.1")],
                              capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, MANWIDTH="80"))
        self.assertEqual(page.returncode, 0, page.stderr)
        self.assertEqual(page.stderr.strip(), "")
        text = re.sub(r".\x08", "", page.stdout)  # the terminal's overstrike bold/underline
        for section in ["SYNOPSIS", "COMMANDS", "FILES", "SIGNALS", "EXIT STATUS", "EXAMPLES"]:
            self.assertRegex(text, rf"(?m)^{section}$")
        for word in ["SIGHUP", "SIGUSR1", "SIGTERM", "78", "/etc/digestd/digestd.toml",
                     "--log-format", "metrics_listen"]:
            self.assertIn(word, text)

    def test_home_prefix_puts_the_user_unit_where_systemctl_user_looks(self):
        prefix = os.path.join(self.dir, "home", ".local")
        self.install(prefix)
        binary = os.path.join(prefix, "bin", "digestd")
        user = os.path.join(prefix, "share/systemd/user/digestd.service")
        self.assertTrue(os.access(binary, os.X_OK))
        self.assertEqual(unit_key(user, "ExecStart"),
                         [binary + " run --config %E/digestd/digestd.toml"])
        if ANALYZE:
            runtime = os.path.join(self.dir, "runtime")
            os.mkdir(runtime, 0o700)
            verify = subprocess.run([ANALYZE, "verify", "--user", user], capture_output=True,
                                    text=True, timeout=60,
                                    env=dict(os.environ, XDG_RUNTIME_DIR=runtime))
            self.assertEqual(verify.returncode, 0, verify.stderr)

    @unittest.skipUnless(ANALYZE, "systemd-analyze is not installed")
    def test_system_unit_verifies_and_scores_at_most_2(self):
        # Under a prefix of its own, so that ExecStart names a binary that exists.
        prefix = os.path.join(self.dir, "opt")
        self.install(prefix)
        unit = os.path.join(prefix, "lib/systemd/system/digestd.service")
        verify = subprocess.run([ANALYZE, "verify", unit], capture_output=True, text=True,
                                timeout=60, cwd=self.dir)
        self.assertEqual(verify.returncode, 0, verify.stderr)
        self.assertEqual(verify.stderr.strip(), "")
        security = subprocess.run([ANALYZE, "security", "--offline=true", unit],
                                  capture_output=True, text=True, timeout=60, cwd=self.dir)
        m = re.search(r"Overall exposure level for digestd\.service: (\d+\.\d)", security.stdout)
        self.assertIsNotNone(m, security.stdout + security.stderr)
        self.assertLessEqual(float(m.group(1)), 2.0, security.stdout)


@unittest.skipUnless(EXAMPLES, "DIGESTD_EXAMPLES names the examples folder")
class Examples(unittest.TestCase):
    """Each example as its reader would use it: copied to a folder of its own, its secrets
    given the way its comments say."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="digestd-examples-")
        self.addCleanup(self._tmp.cleanup)
        self.dir = self._tmp.name

    def check(self, name, env=None):
        path = shutil.copy(os.path.join(EXAMPLES, name), self.dir)
        full = {k: v for k, v in os.environ.items()
                if k not in ("CREDENTIALS_DIRECTORY", "DIGESTD_SMTP_PASSWORD", "SLACK_WEBHOOK_URL")}
        full.update(env or {})
        return subprocess.run([DIGESTD, "check", "--config", path], capture_output=True,
                              text=True, timeout=60, cwd=self.dir, env=full)

    def test_personal_email_alerts(self):
        proc = self.check("personal-email.toml", {"DIGESTD_SMTP_PASSWORD": "not-a-real-one"})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("3 watches", proc.stdout)
        # The password comes from the environment: without it, check says which variable.
        proc = self.check("personal-email.toml")
        self.assertEqual(proc.returncode, 78)
        self.assertIn("DIGESTD_SMTP_PASSWORD", proc.stderr)

    def test_team_chat(self):
        proc = self.check("team-chat.toml",
                          {"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/x"})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertNotIn("hooks.slack.com", proc.stdout + proc.stderr)

    def test_system_service_with_credentials(self):
        creds = os.path.join(self.dir, "credentials")
        os.mkdir(creds, 0o700)
        for name, value in [("smtp-password", "not-a-real-one\n"),
                            ("slack-url", "https://hooks.slack.com/services/T0/B0/x\n")]:
            with open(os.path.join(creds, name), "w", encoding="utf-8") as f:
                f.write(value)
        proc = self.check("system-service.toml", {"CREDENTIALS_DIRECTORY": creds})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("3 notifiers", proc.stdout)
        # Without LoadCredential's folder the secrets are missing, each said with its line.
        proc = self.check("system-service.toml")
        self.assertEqual(proc.returncode, 78)
        self.assertRegex(proc.stderr, r"system-service\.toml:\d+:\d+: cannot read \"password_file\"")
        self.assertRegex(proc.stderr, r"system-service\.toml:\d+:\d+: cannot read \"url_file\"")

    def test_two_instances_on_postgresql(self):
        creds = os.path.join(self.dir, "credentials")
        os.mkdir(creds, 0o700)
        for name, value in [
                ("pg-url", "postgresql://digestd:not-a-real-one@db.example.org/digestd"
                           "?sslmode=verify-full\n"),
                ("smtp-password", "not-a-real-one\n"),
                ("slack-url", "https://hooks.slack.com/services/T0/B0/x\n")]:
            with open(os.path.join(creds, name), "w", encoding="utf-8") as f:
                f.write(value)
        # check reads the URL from the credentials; it does not connect.
        proc = self.check("two-instances.toml", {"CREDENTIALS_DIRECTORY": creds})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("2 notifiers", proc.stdout)
        self.assertNotIn("not-a-real-one", proc.stdout + proc.stderr)
        # leader_lease is for a PostgreSQL state: no warning that it applies to SQLite only.
        self.assertNotIn("leader_lease", proc.stderr)
        proc = self.check("two-instances.toml")
        self.assertEqual(proc.returncode, 78)
        self.assertRegex(proc.stderr, r"two-instances\.toml:\d+:\d+: cannot read \"state_file\"")


if __name__ == "__main__":
    unittest.main()
