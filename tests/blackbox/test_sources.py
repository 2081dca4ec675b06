"""Every source kind through the real binary: `parse --format` for each, one paper seen
through several sources is one paper, and a feed whose GUIDs change is not re-notified."""
import json
import os
import textwrap
import unittest

from digestd_harness import DigestdCase, digest, entry

DATA = os.environ.get("DIGESTD_TEST_DATA", "")
D1 = "2024-01-29"


def hf_item(arxiv_id, title, upvotes):
    return {"paper": {"id": arxiv_id, "title": title, "summary": "We study a model of things.",
                      "authors": [{"name": "Ada Lovelace", "hidden": False}],
                      "upvotes": upvotes, "submittedOnDailyAt": D1 + "T00:00:00.000Z"},
            "title": title, "thumbnail": f"https://cdn/{arxiv_id}.png", "numComments": 1}


def rss(items):
    body = "".join(f"<item><title>{t}</title><link>{link}</link><guid isPermaLink=\"false\">{g}</guid>"
                   f"<description>About a model.</description></item>" for t, link, g in items)
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Blog</title>'
            f"<link>https://blog.example.org/</link>{body}</channel></rss>")


class Sources(DigestdCase):
    def source(self, name, kind, url):
        return textwrap.dedent(f"""
            [[source]]
            name = "{name}"
            kind = "{kind}"
            url = "{url}"
            first_run = "notify"
            lookback_days = 0
            """)

    def test_parse_every_format(self):
        for fmt, folder in (("hf-daily", "hf-api"), ("arxiv", "arxiv"), ("feed", "feeds")):
            files = sorted(f for f in os.listdir(os.path.join(DATA, folder))
                           if f.endswith((".json", ".xml")))
            self.assertTrue(files, folder)
            for name in files:
                path = os.path.join(DATA, folder, name)
                proc = self.run_digestd("parse", "--format", fmt, path, "--json", expect=0)
                out = json.loads(proc.stdout)
                self.assertEqual(out["source"], path)
                for p in out["papers"]:
                    self.assertTrue(p["key"], f"{name}: {p}")

    def test_one_paper_through_three_sources_is_notified_once(self):
        self.write("hf/2024-01-29.json", json.dumps([hf_item("2401.00001", "A model", 12)]))
        self.write("feed.xml", rss([("A model", "https://arxiv.org/abs/2401.00001",
                                     "oai:arXiv.org:2401.00001v2")]))
        self.write_digest(D1, digest(D1, entry("2401.00001", "A model (Korean digest title)")))
        extra = (self.source("hf", "hf-daily", "file://" + os.path.join(self.dir, "hf/{date}.json")) +
                 self.source("blog", "feed", "file://" + os.path.join(self.dir, "feed.xml")))
        self.write_config('[[watch]]\nname = "models"\nkeywords = ["model"]\nnotify = ["log"]\n',
                          first_run="notify", extra_source=extra)
        lines = self.once(D1)
        self.assertEqual([l["paper"]["key"] for l in lines], ["arxiv:2401.00001"])
        self.assertEqual(self.once(D1), [])

    def test_changing_guids_are_detected_not_renotified(self):
        self.write("feed.xml", rss([("Post about a model", "https://blog.example.org/p/1", "guid-a")]))
        self.write_config('[[watch]]\nname = "models"\nkeywords = ["model"]\nnotify = ["log"]\n',
                          url="file://" + os.path.join(self.dir, "feed.xml"), first_run="notify")
        text = open(os.path.join(self.dir, "digestd.toml"), encoding="utf-8").read()
        self.write("digestd.toml", text.replace('kind = "markdown"', 'kind = "feed"'))
        self.assertEqual(len(self.once(D1)), 1)
        self.write("feed.xml", rss([("Post about a model", "https://blog.example.org/p/1", "guid-b")]))
        proc = self.run_digestd("once", "--config", os.path.join(self.dir, "digestd.toml"),
                                "--date", D1, "--json", expect=0)
        self.assertEqual(proc.stdout.strip(), "")
        self.assertIn("changed its GUID", proc.stderr)

    def test_invalid_utf8_and_wrong_content_type_over_http(self):
        from digest_server import DigestServer
        server = DigestServer(self.dir)
        self.addCleanup(server.close)
        body = json.dumps([hf_item("2401.00001", "A model TITLE", 3)]).encode()
        body = body.replace(b"TITLE", b"\xff\xfe broken \xc3")
        with open(os.path.join(self.dir, "2024-01-29.json"), "wb") as f:
            f.write(body)   # served as text/markdown: the wrong content type for JSON
        self.write_config('[[watch]]\nname = "models"\nkeywords = ["model"]\nnotify = ["log"]\n',
                          url=server.url("/{date}.json"), first_run="notify")
        text = open(os.path.join(self.dir, "digestd.toml"), encoding="utf-8").read()
        self.write("digestd.toml", text.replace('kind = "markdown"', 'kind = "hf-daily"'))
        lines = self.once(D1)
        self.assertEqual([l["paper"]["key"] for l in lines], ["arxiv:2401.00001"])
        self.assertIn("\ufffd", lines[0]["paper"]["title"])
        with open(os.path.join(self.dir, "matches.jsonl"), "rb") as f:
            f.read().decode("utf-8")  # strict: the file notifier wrote valid UTF-8


if __name__ == "__main__":
    unittest.main()
