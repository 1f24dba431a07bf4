"""TLS and bearer tokens through a real lago-server and the Python client.

Certificates are made at test time with Debian's openssl: a CA, a server
certificate for 127.0.0.1 and a client certificate, all signed by the CA.
"""

import os
import subprocess
import tempfile
import unittest
import urllib.error
import urllib.request

import grpc

import lago
from lago_server import SERVER, LagoServer, health

READ_WRITE = "rw-0123456789abcdef-secret"
READ_ONLY = "ro-fedcba9876543210-secret"
CLI = os.environ.get("LAGO_CLI", "build/bin/lago")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(folder):
    """ca.pem, server.pem/server.key (SAN 127.0.0.1, localhost), client.pem/client.key."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=lago test CA", cwd=folder)
    for name, ext in [("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                      ("client", "extendedKeyUsage=clientAuth")]:
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", "-subj", f"/CN=lago {name}", cwd=folder)
        with open(os.path.join(folder, f"{name}.ext"), "w") as f:
            f.write(ext + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-out", f"{name}.pem",
                "-extfile", f"{name}.ext", cwd=folder)


def start_fails(*args):
    """Runs lago-server expecting it to refuse to start: (exit code, stderr)."""
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([SERVER, f"--db={tmp}/lago.db", *args],
                              capture_output=True, text=True, timeout=30)
        return proc.returncode, proc.stderr


class SecurityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="lago-sec-")
        cls.dir = cls.tmp.name
        make_certificates(cls.dir)
        cls.tokens = os.path.join(cls.dir, "tokens")
        with open(cls.tokens, "w") as f:
            f.write(f"# operators\nread-write {READ_WRITE}\n\nread-only {READ_ONLY}\n")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def assertCode(self, code, fn):
        with self.assertRaises(lago.LagoError) as e:
            fn()
        self.assertEqual(e.exception.code, code, e.exception.details)
        return e.exception.details

    def test_tokens_and_roles(self):
        with LagoServer(extra_args=[f"--token-file={self.tokens}"]) as server:
            with lago.Client(server.address, token=READ_WRITE) as rw:
                study = rw.create_study("s", {"x": (0, 1)}, strategy="sobol")
                trial = study.suggest()
            with lago.Client(server.address, token="") as nobody:
                details = self.assertCode(grpc.StatusCode.UNAUTHENTICATED,
                                          nobody.list_studies)
                self.assertIn("Bearer", details)
            with lago.Client(server.address, token="not-a-known-token-at-all") as wrong:
                self.assertCode(grpc.StatusCode.UNAUTHENTICATED,
                                lambda: wrong.get_study("s"))
            with lago.Client(server.address, token=READ_ONLY) as ro:
                self.assertEqual([s.name for s in ro.list_studies()], ["s"])
                self.assertEqual(len(lago.Study(ro, "s").trials()), 1)
                # Predict is a read: past the token check, sobol has no model.
                details = self.assertCode(grpc.StatusCode.FAILED_PRECONDITION,
                                          lambda: lago.Study(ro, "s").predict([[0.5]]))
                self.assertIn("keeps no model", details)
                details = self.assertCode(grpc.StatusCode.FAILED_PRECONDITION,
                                          lambda: lago.Study(ro, "s").model_best())
                self.assertIn("keeps no model", details)
                details = self.assertCode(grpc.StatusCode.PERMISSION_DENIED,
                                          lambda: lago.Study(ro, "s").observe(trial, 1.0))
                self.assertIn("read-only", details)
                self.assertCode(grpc.StatusCode.PERMISSION_DENIED,
                                lambda: ro.create_study("t", {"x": (0, 1)}))
            with lago.Client(server.address, token=READ_WRITE) as rw:
                self.assertEqual(lago.Study(rw, "s").observe(trial, 1.0).state, "completed")
            # Probes need no token.
            self.assertEqual(health(server.address), 1)
            log = server.log()
        self.assertIn("2 tokens", log)
        self.assertIn("UNAUTHENTICATED", log)
        for secret in (READ_WRITE, READ_ONLY, "not-a-known-token-at-all"):
            self.assertNotIn(secret, log)

    def test_the_browser_view_needs_only_a_read_only_token(self):
        with open(self.path("ro-token"), "w") as f:
            f.write(READ_ONLY + "\n")
        with LagoServer(extra_args=[f"--token-file={self.tokens}"]) as server:
            with lago.Client(server.address, token=READ_WRITE) as rw:
                rw.create_study("lab", {"x": (0, 1)}, strategy="sobol")
            pages = {}
            for name, token_args in (("ro", ["--token-file", self.path("ro-token")]),
                                     ("none", [])):
                proc = subprocess.Popen(
                    [CLI, "--address", server.address, *token_args, "web", "--listen",
                     "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                    text=True, env={k: v for k, v in os.environ.items() if k != "LAGO_TOKEN"})
                try:
                    url = proc.stdout.readline().split()[3]
                    try:
                        with urllib.request.urlopen(url, timeout=30) as r:
                            pages[name] = (r.status, r.read().decode())
                    except urllib.error.HTTPError as e:
                        pages[name] = (e.code, e.read().decode())
                finally:
                    proc.terminate()
                    proc.wait(30)
                    proc.stdout.close()
        self.assertEqual(pages["ro"][0], 200)
        self.assertIn('<a href="/study/lab">lab</a>', pages["ro"][1])
        self.assertEqual(pages["none"][0], 502)
        self.assertIn("<h1>UNAUTHENTICATED</h1>", pages["none"][1])
        for _, page in pages.values():
            self.assertNotIn(READ_ONLY, page)

    def test_tls_round_trip(self):
        args = [f"--tls-cert={self.path('server.pem')}", f"--tls-key={self.path('server.key')}",
                f"--token-file={self.tokens}"]
        with LagoServer(extra_args=args) as server:
            with lago.Client(server.address, token=READ_WRITE,
                             tls_ca=self.path("ca.pem")) as client:
                study = client.create_study("tls", {"x": (-1, 1), "y": (0, 2)},
                                            strategy="sobol")
                trial = study.suggest()
                self.assertEqual(study.observe(trial, 0.25).value, 0.25)
                self.assertEqual(study.best().id, trial.id)
            # A plaintext client cannot talk to a TLS server.
            with lago.Client(server.address, token=READ_WRITE, timeout=3,
                             retries=0) as plain:
                self.assertCode(grpc.StatusCode.UNAVAILABLE, plain.list_studies)
            self.assertIn("TLS, 2 tokens", server.log())

    def test_client_certificates(self):
        args = [f"--tls-cert={self.path('server.pem')}", f"--tls-key={self.path('server.key')}",
                f"--tls-client-ca={self.path('ca.pem')}"]
        with LagoServer(extra_args=args) as server:
            with lago.Client(server.address, tls_ca=self.path("ca.pem"),
                             tls_cert=self.path("client.pem"),
                             tls_key=self.path("client.key")) as client:
                client.create_study("mtls", {"x": (0, 1)})
            with lago.Client(server.address, tls_ca=self.path("ca.pem"), timeout=3,
                             retries=0) as anonymous:
                self.assertCode(grpc.StatusCode.UNAVAILABLE, anonymous.list_studies)

    def test_plaintext_beyond_loopback_needs_consent(self):
        code, err = start_fails("--listen=0.0.0.0:0")
        self.assertEqual(code, 2)
        self.assertIn("--allow-insecure", err)
        self.assertIn("0.0.0.0:0", err)
        with LagoServer(extra_args=["--allow-insecure=true"]) as server:
            # LagoServer itself listens on loopback; the flag is accepted.
            self.assertEqual(health(server.address), 1)

    def test_bad_security_files_are_named_and_secrets_are_not_printed(self):
        bad = self.path("bad-tokens")
        with open(bad, "w") as f:
            f.write(f"read-write {READ_WRITE}\nsuperuser {READ_ONLY}\n")
        code, err = start_fails(f"--token-file={bad}")
        self.assertEqual(code, 2)
        self.assertIn("line 2", err)
        self.assertIn("superuser", err)
        self.assertNotIn(READ_ONLY, err)
        code, err = start_fails(f"--token-file={self.path('missing')}")
        self.assertIn("cannot read the tokens file", err)
        code, err = start_fails(f"--tls-cert={self.path('server.pem')}")
        self.assertIn("--tls-cert and --tls-key", err)
        code, err = start_fails(f"--tls-cert={self.tokens}", f"--tls-key={self.tokens}")
        self.assertIn("is not PEM", err)


if __name__ == "__main__":
    unittest.main()
