"""libcurl, libpq and libsystemd are loaded when a run first needs them
(core/shared_library.h): a run with local sources and notifiers maps none of them, an HTTP
source loads libcurl, and the state commands load nothing of any (test_systemd: libsystemd
where systemd listens). What the dynamic loader itself reports (LD_DEBUG=files)
says which were mapped."""
import os
import subprocess

from digestd_harness import DIGESTD, ON_POSTGRESQL, TIMEOUT, WATCH_ALL, DigestdCase, digest, entry

D1 = "2024-01-29"


class LoadedWhenNeeded(DigestdCase):
    def run_traced(self, *args):
        """Runs digestd with the loader's trace; returns (process, the libraries it mapped)."""
        env = dict(os.environ, LD_DEBUG="files")
        proc = subprocess.run([DIGESTD, *args], capture_output=True, text=True, timeout=TIMEOUT,
                              cwd=self.dir, env=env)
        self.assertEqual(proc.returncode, 0, f"digestd {' '.join(args)}\n{proc.stderr[-4000:]}")
        mapped = set()
        for line in proc.stderr.splitlines():
            if "file=" in line and "[0];" in line or "dynamically loaded by" in line:
                name = line.split("file=", 1)[1].split(" ", 1)[0].split("[", 1)[0].strip(";")
                mapped.add(os.path.basename(name))
        return proc, mapped

    def test_a_local_run_maps_neither_libcurl_nor_libpq_nor_libsystemd(self):
        self.write_digest(D1, digest(D1, entry("2401.00001", "A model of things")))
        self.write_config(WATCH_ALL, first_run="notify")
        config = os.path.join(self.dir, "digestd.toml")
        proc, mapped = self.run_traced("once", "--config", config, "--date", D1)
        self.assertEqual(len(self.matches_file()), 1, proc.stderr[-2000:])
        self.assertNotIn("libcurl.so.4", mapped)
        self.assertNotIn("libsystemd.so.0", mapped)
        # On PostgreSQL the state itself needs libpq.
        self.assertEqual("libpq.so.5" in mapped, ON_POSTGRESQL)
        for command in (("status",), ("check",)):
            _, mapped = self.run_traced(*command, "--config", config)
            self.assertNotIn("libcurl.so.4", mapped, command)
            self.assertNotIn("libsystemd.so.0", mapped, command)

    def test_an_http_source_loads_libcurl(self):
        from digest_server import DigestServer
        server = DigestServer(self.dir)
        self.addCleanup(server.close)
        self.write(f"{D1}.md", digest(D1, entry("2401.00001", "A model of things")))
        self.write_config(WATCH_ALL, url=server.url("/{date}.md"), first_run="notify")
        proc, mapped = self.run_traced("once", "--config", os.path.join(self.dir, "digestd.toml"),
                                       "--date", D1)
        self.assertEqual(len(self.matches_file()), 1, proc.stderr[-2000:])
        self.assertIn("libcurl.so.4", mapped)


if __name__ == "__main__":
    import unittest
    unittest.main()
