"""Starts a real lago-server on a free loopback port for the Python tests.

The binary comes from $LAGO_SERVER (CTest sets it); the database is a real
SQLite file in a temporary folder.
"""

import os
import signal
import subprocess
import tempfile
import time

import grpc

SERVER = os.environ.get("LAGO_SERVER", "build/server/lago-server")


def health(address, timeout=2.0):
    """The grpc.health.v1 status of the whole server: 1 SERVING, 2 NOT_SERVING.

    The request (empty service name) and the response (field 1, varint) are
    written by hand: Debian's grpcio has no grpc_health module.
    """
    with grpc.insecure_channel(address) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                    request_serializer=lambda b: b,
                                    response_deserializer=lambda b: b)
        reply = check(b"", timeout=timeout)
        return reply[1] if len(reply) >= 2 and reply[0] == 0x08 else 0


class LagoServer:
    """A lago-server process. ``db`` defaults to a file in a fresh temporary folder."""

    def __init__(self, db=None, extra_args=()):
        self.tmp = tempfile.TemporaryDirectory(prefix="lago-py-")
        self.db = db or os.path.join(self.tmp.name, "lago.db")
        self.extra_args = list(extra_args)
        self.proc = None
        self.port = None
        self.log_path = os.path.join(self.tmp.name, "server.log")

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self, port=0):
        port_file = os.path.join(self.tmp.name, "port")
        if os.path.exists(port_file):
            os.remove(port_file)
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [SERVER, f"--listen=127.0.0.1:{port}", f"--db={self.db}",
                 f"--port-file={port_file}"] + self.extra_args,
                stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while not os.path.exists(port_file):
            if self.proc.poll() is not None:
                raise RuntimeError(f"lago-server exited with {self.proc.returncode}:\n"
                                   + self.log())
            if time.monotonic() > deadline:
                raise RuntimeError("lago-server did not start:\n" + self.log())
            time.sleep(0.02)
        with open(port_file) as f:
            self.port = int(f.read())
        return self

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def kill(self):
        """SIGKILL: no shutdown, no flush; what is on disk is all that is left."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            return self.proc.wait(timeout=timeout)
        return self.proc.returncode if self.proc else None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.tmp.cleanup()
