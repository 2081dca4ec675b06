"""Message templates end to end on the real binary (issue 9 point 5): `digestd check` compiles
every template (a syntax error or an unescaped tag names the template file and line, and the
exit is non-zero), and `digestd preview` shows a template's text with the platform's escaping."""
import os
import signal
import subprocess
import time
import unittest

from digestd_harness import DIGESTD, DeliveryCaseMixin, DigestdCase, notifier, watch

DAY = "2024-01-29"
HOOK = "http://127.0.0.1:9/services/T0/B0/S3CRET"


def digest():
    return (f"## Daily Papers ({DAY})\n\n"
            "### [Sparse <script>alert(1)</script> attention @everyone]"
            "(https://arxiv.org/abs/2401.10001)\n\n"
            "Vote: 12\n\nAuthors: Ada Lovelace, Alan Turing\n\n"
            "- **What's New**: A method that cuts memory.\n\n")


class Templates(DeliveryCaseMixin, DigestdCase):
    def configure(self, template_text):
        self.write("templates/paper.mustache", template_text)
        notifiers = (notifier("to-slack", "slack", url=HOOK,
                              template_file="templates/paper.mustache") +
                     notifier("to-telegram", "telegram", token="1:S3CRET", chat_id=5,
                              api_url="http://127.0.0.1:9",
                              template_file="templates/paper.mustache"))
        self.write_config(watch("everything", ["to-slack", "to-telegram"]), first_run="baseline",
                          notifiers=notifiers)

    def test_check_names_the_template_file_and_line(self):
        for text, line, what in [("PAPER {{title}}\n{{#url}}\n", 2, "Unclosed section"),
                                 ("ok\n\nby {{{authors}}}\n", 3, "unescaped")]:
            with self.subTest(text=text):
                self.configure(text)
                proc = self.run_digestd("check", "--config", self.config_path)
                self.assertNotEqual(proc.returncode, 0, proc.stderr)
                where = os.path.join(self.dir, "templates", "paper.mustache") + f":{line}:"
                lines = [l for l in proc.stderr.splitlines() if l.startswith(where)]
                self.assertEqual(len(lines), 2, proc.stderr)  # one per notifier using it
                self.assertIn(what, proc.stderr)

    def test_preview_shows_the_templates_text_escaped(self):
        self.configure("PAPER {{title}} · {{votes}} votes · {{authors}} · {{notifier}}\n")
        self.run_digestd("check", "--config", self.config_path, expect=0)
        self.write_digest(DAY, digest())
        self.run_digestd("once", "--config", self.config_path, "--date", DAY, expect=0)
        for name in ["to-slack", "to-telegram"]:
            with self.subTest(notifier=name):
                proc = self.run_digestd("preview", name, "--date", DAY, "--config",
                                        self.config_path, expect=0)
                self.assertIn("PAPER Sparse &lt;script&gt;alert(1)&lt;/script&gt; attention",
                              proc.stdout)
                self.assertIn(f"12 votes · Ada Lovelace, Alan Turing · {name}", proc.stdout)
                self.assertNotIn("<script>", proc.stdout)
                self.assertNotIn("@everyone", proc.stdout)

    def test_run_refuses_a_bad_template_and_a_reload_keeps_the_running_one(self):
        self.configure("{{#url}}\n")
        proc = subprocess.run([DIGESTD, "run", "--config", self.config_path],
                              capture_output=True, text=True, timeout=20, cwd=self.dir)
        self.assertEqual(proc.returncode, 78, proc.stderr)
        self.assertIn("paper.mustache:1:1: Unclosed section", proc.stderr)

        self.configure("PAPER {{title}}\n")
        daemon = subprocess.Popen([DIGESTD, "run", "--config", self.config_path],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  cwd=self.dir)
        self.addCleanup(lambda: daemon.poll() is None and daemon.kill())
        time.sleep(0.5)
        self.write("templates/paper.mustache", "by {{{authors}}}\n")
        daemon.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        self.assertIsNone(daemon.poll(), "daemon died on a reload with a bad template")
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=20)
        self.assertEqual(daemon.returncode, 0, err)
        self.assertIn("paper.mustache:1:4: unescaped", err)
        self.assertIn("keeping the running configuration", err)


if __name__ == "__main__":
    unittest.main()
