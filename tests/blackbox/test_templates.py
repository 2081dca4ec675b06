"""Message templates end to end on the real binary (issue 9 point 5): `digestd check` compiles
every template (a syntax error or an unescaped tag names the template file and line, and the
exit is non-zero), and `digestd preview` shows a template's text with the platform's escaping.
The kinds without a chat platform (console, email, webhook, exec) take a template's heading,
paper and footer sections too: checked, previewed, and sent to a real SMTP server, webhook
sink and command, read back by Python's own parsers."""
import email
import email.policy
import json
import os
import signal
import subprocess
import unittest

from digestd_harness import (DIGESTD, DeliveryCaseMixin, DigestdCase, StderrReader, notifier,
                             watch)
from test_email import SmtpServer
from webhook_sink import WebhookSink

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

    def previews(self, template):
        """The Slack and Telegram previews of the day through `template`, which check passes."""
        self.configure(template)
        self.run_digestd("check", "--config", self.config_path, expect=0)
        self.write_digest(DAY, digest())
        self.run_digestd("once", "--config", self.config_path, "--date", DAY, expect=0)
        return {name: self.run_digestd("preview", name, "--date", DAY, "--config",
                                       self.config_path, expect=0)
                for name in ["to-slack", "to-telegram"]}

    def test_preview_shows_the_templates_text_escaped(self):
        previews = self.previews("PAPER {{title}} · {{votes}} votes · {{authors}} · {{notifier}}\n")
        for name, proc in previews.items():
            with self.subTest(notifier=name):
                self.assertIn("PAPER Sparse &lt;script&gt;alert(1)&lt;/script&gt; attention",
                              proc.stdout)
                self.assertIn(f"12 votes · Ada Lovelace, Alan Turing · {name}", proc.stdout)
                self.assertNotIn("<script>", proc.stdout)
                self.assertNotIn("@everyone", proc.stdout)

    def test_preview_shows_a_templated_heading_and_footer_escaped(self):
        previews = self.previews("{{! heading }}\nDIGEST <i>{{count}}</i> @everyone {{watches}}\n"
                                 "{{! paper }}\nPAPER {{title}}\n")
        for name, proc in previews.items():
            with self.subTest(notifier=name):
                text = json.loads(proc.stdout.split("\n\n", 1)[1].strip())["text"]
                # The heading's own markup is escaped and its mention defused (preview shows
                # the word joiner after '@' as a space).
                self.assertIn("DIGEST &lt;i&gt;1&lt;/i&gt; @ everyone everything", text)
                self.assertIn("PAPER Sparse &lt;script&gt;", proc.stdout)
                self.assertNotIn("@everyone", proc.stdout)
                # Markup is escaped wherever the platform reads it (Slack's header block is
                # plain_text, shown as written).
                self.assertNotIn("<i>", text)

    def test_run_refuses_a_bad_template_and_a_reload_keeps_the_running_one(self):
        self.configure("{{#url}}\n")
        proc = subprocess.run([DIGESTD, "run", "--config", self.config_path],
                              capture_output=True, text=True, timeout=20, cwd=self.dir)
        self.assertEqual(proc.returncode, 78, proc.stderr)
        self.assertIn("paper.mustache:1:1: Unclosed section", proc.stderr)

        self.configure("PAPER {{title}}\n")
        daemon = subprocess.Popen([DIGESTD, "run", "--config", self.config_path],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                  cwd=self.dir)
        self.addCleanup(daemon.stderr.close)
        self.addCleanup(lambda: daemon.poll() is None and daemon.kill())
        err = StderrReader(daemon)
        # The template is changed once the daemon has read it: before, it would start on the
        # bad one and exit 78.
        self.assertTrue(err.wait_for("running with", 20), err.text())
        self.write("templates/paper.mustache", "by {{{authors}}}\n")
        daemon.send_signal(signal.SIGHUP)
        self.assertTrue(err.wait_for("keeping the running configuration", 20), err.text())
        self.assertIn("paper.mustache:1:4: unescaped", err.text())
        self.assertIsNone(daemon.poll(), "daemon died on a reload with a bad template")
        daemon.send_signal(signal.SIGTERM)
        self.assertEqual(daemon.wait(timeout=20), 0, err.text())


# One file for every kind: a heading, a paper entry and a footer.
SECTIONED = ("{{! heading }}\n"
             "DIGEST {{count}} for {{notifier}}\n"
             "{{! paper }}\n"
             "ENTRY {{title}} | {{authors}} | {{votes}} votes\n"
             "<b>kept as text</b>\n"
             "{{! footer }}\n"
             "PLUS {{more}} MORE\n")


def hostile_digest(papers=3):
    out = f"## Daily Papers ({DAY})\n\n"
    for i in range(papers):
        out += (f"### [Sparse <script>alert({i})</script> \u202eevil\u202c attention @everyone]"
                f"(https://arxiv.org/abs/2401.{10001 + i})\n\n"
                f"Vote: {12 + i}\n\nAuthors: Ada Lovelace, Alan Turing @here\n\n"
                "- **What's New**: A method that cuts memory.\n\n")
    return out


class TemplatesOnEveryKind(DeliveryCaseMixin, DigestdCase):
    """console, email, webhook and exec with one sectioned template_file."""

    def configure(self, template_text, smtp_port=9, hook_url="http://127.0.0.1:9/hook"):
        self.write("templates/all.mustache", template_text)
        out = os.path.join(self.dir, "exec-out.json")
        keys = dict(template_file="templates/all.mustache", max_papers=2, group="digest")
        notifiers = (notifier("term", "console", **keys) +
                     notifier("mail", "email", url=f"smtp://127.0.0.1:{smtp_port}",
                              starttls="never", to=["ana@example.org"], timeout="10s",
                              **{"from": "bot@example.org"}, **keys) +
                     notifier("hook", "webhook", url=hook_url, timeout="10s", **keys) +
                     notifier("script", "exec", command=["/bin/sh", "-c", f"cat > '{out}'"],
                              **keys))
        self.write_config(watch("everything", ["term", "mail", "hook", "script"]),
                          first_run="notify", notifiers=notifiers)
        return out

    def test_check_names_the_file_and_line_in_any_section_for_every_kind(self):
        self.configure(SECTIONED.replace("PLUS {{more}}", "PLUS {{{more}}}"))
        proc = self.run_digestd("check", "--config", self.config_path)
        self.assertNotEqual(proc.returncode, 0, proc.stderr)
        where = os.path.join(self.dir, "templates", "all.mustache") + ":7:6: unescaped"
        lines = [l for l in proc.stderr.splitlines() if l.startswith(where)]
        self.assertEqual(len(lines), 4, proc.stderr)  # console, email, webhook, exec
        for name in ["term", "mail", "hook", "script"]:
            self.assertTrue(any(f'notifier "{name}"' in l for l in lines), proc.stderr)
        # A section given twice and text before the first section are refused too.
        self.configure("oops\n" + SECTIONED)
        proc = self.run_digestd("check", "--config", self.config_path)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("all.mustache:1:1: text before the first section", proc.stderr)
        self.configure(SECTIONED)
        self.run_digestd("check", "--config", self.config_path, expect=0)

    def test_preview_prints_each_kinds_templated_text(self):
        self.configure(SECTIONED)
        self.write_digest(DAY, hostile_digest())
        # Stores the day (the mail and the hook fail to connect: no matter here).
        self.run_digestd("once", "--config", self.config_path, "--date", DAY)
        # Email shows its subject and text part decoded, not the base64 of its MIME parts.
        for name in ["term", "mail", "hook", "script"]:
            with self.subTest(notifier=name):
                proc = self.run_digestd("preview", name, "--date", DAY, "--config",
                                        self.config_path, expect=0)
                self.assertIn("DIGEST 3 for " + name, proc.stdout)
                self.assertIn("ENTRY Sparse", proc.stdout)
                self.assertIn("PLUS 1 MORE", proc.stdout)
                self.assertNotIn("\u202e", proc.stdout)
                self.assertIn("nothing was sent", proc.stderr)

    def test_once_sends_templated_text_to_a_real_smtp_server_webhook_and_command(self):
        server = SmtpServer(self.dir, mode="plain")
        self.addCleanup(server.close)
        sink = WebhookSink(lifetime=60)
        self.addCleanup(sink.close)
        out = self.configure(SECTIONED, smtp_port=server.port, hook_url=sink.url("/hook"))
        self.write_digest(DAY, hostile_digest())
        proc = self.run_digestd("once", "--config", self.config_path, "--date", DAY, expect=0)

        # console: on digestd's standard output, terminal-safe.
        self.assertIn("DIGEST 3 for term", proc.stdout)
        self.assertIn("  ENTRY Sparse <script>alert(0)</script>", proc.stdout)
        self.assertIn("  <b>kept as text</b>", proc.stdout)
        self.assertIn("  PLUS 1 MORE", proc.stdout)
        self.assertNotIn("\u202e", proc.stdout)

        # webhook: the documented body plus "text", every value made safe.
        self.assertTrue(sink.wait_for_count(1, timeout=20))
        body = sink.records()[0].json
        self.assertEqual(body["version"], 1)
        self.assertEqual(len(body["papers"]), 2)
        text = body["text"]
        self.assertTrue(text.startswith("DIGEST 3 for hook\n\nENTRY Sparse"), text)
        self.assertEqual(text.count("ENTRY "), 2)
        self.assertIn("PLUS 1 MORE", text)
        for raw in ["@everyone", "@here", "\u202e"]:
            self.assertNotIn(raw, text)

        # exec: the same body on standard input.
        with open(out, encoding="utf-8") as f:
            piped = json.load(f)
        self.assertEqual(piped["text"].replace("script", "hook"), text.replace("script", "hook"))

        # email: the subject is the heading; the text part has the entries; the HTML part
        # shows them as text, every value and the template's own markup escaped.
        messages = server.messages()
        self.assertEqual(len(messages), 1, server.messages())
        message = email.message_from_bytes(messages[0][1], policy=email.policy.default)
        self.assertEqual(str(message["Subject"]), "DIGEST 3 for mail")
        plain = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        self.assertEqual(plain.count("ENTRY Sparse <script>"), 2, plain)
        self.assertIn("PLUS 1 MORE", plain)
        self.assertNotIn("<script>", html)
        self.assertNotIn("<b>kept as text</b>", html)
        self.assertIn("&lt;b&gt;kept as text&lt;/b&gt;", html)
        self.assertEqual(html.count("ENTRY Sparse &lt;script&gt;"), 2, html)
        self.assertIn("PLUS 1 MORE", html)
        self.assertNotIn("\u202e", plain + html)


if __name__ == "__main__":
    unittest.main()
