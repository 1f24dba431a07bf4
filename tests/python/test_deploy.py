"""What can be checked of the deployment without a container engine: the
image's entrypoint and health command run here, outside a container; the
Dockerfile, compose file and Kubernetes manifests parse and carry the fields
their tools need; the runtime package list covers what the binaries load;
and the lab worker resumes its trial after being killed.
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
import uuid

import yaml

import lago
from lago_server import SERVER, LagoServer
from test_shared_database import postgres_admin_uri, psql

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEALTH = os.path.join(os.path.dirname(SERVER), "lago-health")
ENTRYPOINT = os.path.join(ROOT, "deploy", "docker-entrypoint.sh")


def read(*parts):
    with open(os.path.join(ROOT, *parts)) as f:
        return f.read()


def wait_for(path, proc, seconds=30):
    deadline = time.monotonic() + seconds
    while not (os.path.exists(path) and os.path.getsize(path) > 0):
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.02)
    with open(path) as f:
        return f.read().strip()



def serves_the_study_list(test, argv, path):
    """Runs a deployment's `lago web` command outside a container (on a free
    port, against a test server) and reads the list of studies at `path`."""
    test.assertEqual(argv[:5], ["python3", "-m", "lago", "web", "--listen"])
    argv = ["/usr/bin/python3"] + argv[1:5] + ["127.0.0.1:0"] + argv[6:]
    with LagoServer() as server:
        with lago.Client(server.address) as client:
            client.create_study("deploy-demo", {"x": (0, 1)})
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                text=True, env=dict(os.environ, LAGO_ADDRESS=server.address))
        try:
            url = proc.stdout.readline().split()[3]
            with urllib.request.urlopen(url + path.lstrip("/"), timeout=30) as r:
                test.assertEqual(r.status, 200)
                test.assertIn('<a href="/study/deploy-demo">', r.read().decode())
        finally:
            proc.terminate()
            proc.wait(30)
            proc.stdout.close()

class EntrypointTest(unittest.TestCase):
    def run_entrypoint(self, tmp, extra_env):
        env = dict(os.environ, LAGO_SERVER_BIN=SERVER, LAGO_DB=f"{tmp}/data/lago.db",
                   LAGO_LISTEN="0.0.0.0:0", **extra_env)
        for key in ("LAGO_ALLOW_INSECURE", "LAGO_SHUTDOWN_GRACE"):
            if key not in extra_env:
                env.pop(key, None)
        return subprocess.Popen([ENTRYPOINT, f"--port-file={tmp}/port"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def health(self, env):
        return subprocess.run([HEALTH, "--timeout=2"], env=dict(os.environ, **env),
                              capture_output=True, text=True, timeout=30)

    def test_the_image_defaults_refuse_plaintext_on_all_interfaces(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc = self.run_entrypoint(tmp, {})
            out, _ = proc.communicate(timeout=30)
            self.assertEqual(proc.returncode, 2)
            self.assertIn("--allow-insecure", out)

    def test_entrypoint_serves_is_healthy_and_stops_within_dockers_timeout(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc = self.run_entrypoint(tmp, {"LAGO_ALLOW_INSECURE": "true"})
            try:
                port = wait_for(f"{tmp}/port", proc)
                # lago-health finds the server from LAGO_LISTEN, as in the image.
                probe = self.health({"LAGO_LISTEN": f"0.0.0.0:{port}"})
                self.assertEqual(probe.returncode, 0, probe.stderr)
                self.assertIn("SERVING", probe.stdout)
                self.assertTrue(os.path.exists(f"{tmp}/data/lago.db"))
                with lago.Client(f"127.0.0.1:{port}") as client:
                    client.create_study("in-a-box", {"x": (0, 1)})
                start = time.monotonic()
                proc.send_signal(signal.SIGTERM)  # What `docker stop` sends.
                out, _ = proc.communicate(timeout=10)  # Docker's stop timeout.
                self.assertEqual(proc.returncode, 0, out)
                self.assertLess(time.monotonic() - start, 10.0)
                self.assertIn("grace 8 s", out)  # The entrypoint's default.
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            probe = self.health({"LAGO_HEALTH_ADDRESS": f"127.0.0.1:{port}"})
            self.assertEqual(probe.returncode, 1)


def dependencies(packages):
    """Every installed package that `packages` depend on, directly or not."""
    seen, todo = set(), list(packages)
    while todo:
        package = todo.pop()
        out = subprocess.run(["dpkg-query", "-W", "-f=${Depends}, ${Pre-Depends}", package],
                             capture_output=True, text=True).stdout
        for alternative in re.split(r"[,|]", out):
            name = alternative.strip().split(" ")[0].split(":")[0]
            if name and name not in seen:
                seen.add(name)
                todo.append(name)
    return seen


class ManifestTest(unittest.TestCase):
    def test_dockerfile(self):
        text = read("Dockerfile")
        stages = re.findall(r"^FROM (\S+)", text, re.M)
        self.assertEqual(stages, ["debian:12", "debian:12-slim"])
        self.assertIn("RUN ./deploy/run-tests.sh", text)  # The README's test command.
        runtime = text.split("FROM debian:12-slim", 1)[1]
        self.assertRegex(runtime, r"(?m)^USER lago$")
        self.assertIn('VOLUME ["/data"]', runtime)
        self.assertIn('HEALTHCHECK', runtime)
        self.assertIn('CMD ["lago-health"]', runtime)
        self.assertIn("LAGO_SHUTDOWN_GRACE=8", runtime)
        self.assertIn('ENTRYPOINT ["docker-entrypoint.sh"]', runtime)
        for src in re.findall(r"^COPY (?!--from)(\S+)", runtime, re.M):
            self.assertTrue(os.path.exists(os.path.join(ROOT, src)), src)

    def test_runtime_packages_cover_what_the_binaries_load(self):
        listed = [line for line in read("deploy", "runtime-packages.txt").splitlines()
                  if line and not line.startswith("#")]
        libs = set()
        for binary in (SERVER, HEALTH):
            ldd = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
            libs.update(re.findall(r"=> (\S+)", ldd))
        # dpkg knows a file by one of its names (/lib is /usr/lib here); one
        # query for every name of every library.
        names = {}
        for lib in libs:
            real = os.path.realpath(lib)
            for name in {lib, real, "/usr" + lib, "/usr" + real,
                         real.replace("/usr/lib/", "/lib/", 1)}:
                names[name] = lib
        found = subprocess.run(["dpkg", "-S", *sorted(names)], capture_output=True,
                               text=True).stdout
        owner_of = {}
        for line in found.splitlines():
            package, _, path = line.partition(": ")
            if path in names:
                owner_of[names[path]] = package.split(":")[0]
        self.assertEqual(libs - set(owner_of), set(), "libraries no package owns")
        owners = set(owner_of.values())
        # Packages every Debian image has, or that apt installs because the
        # listed ones depend on them (libpq5 brings Kerberos and LDAP, say).
        implied = {"libc6", "libgcc-s1", "libstdc++6"} | dependencies(listed)
        self.assertEqual(owners - set(listed) - implied, set())
        self.assertEqual(set(listed) - owners, set(), "listed but not loaded")

    def test_compose_file(self):
        doc = yaml.safe_load(read("deploy", "docker-compose.yml"))
        server = doc["services"]["server"]
        self.assertEqual(server["build"]["dockerfile"], "Dockerfile")
        self.assertIn("lago-data:/data", server["volumes"])  # A folder: the WAL persists.
        self.assertIn("lago-data", doc["volumes"])
        self.assertTrue(all(p.startswith("127.0.0.1:") for p in server["ports"]))
        self.assertEqual(server["healthcheck"]["test"], ["CMD", "lago-health"])
        self.assertEqual(server["environment"]["LAGO_DB"], "/data/lago.db")
        worker = doc["services"]["worker"]
        self.assertEqual(worker["depends_on"]["server"]["condition"], "service_healthy")
        self.assertEqual(worker["environment"]["LAGO_ADDRESS"], "server:50051")
        self.assertTrue(os.path.exists(os.path.join(ROOT, "deploy", "worker.Dockerfile")))
        web = doc["services"]["web"]
        self.assertTrue(all(p.startswith("127.0.0.1:8080:") for p in web["ports"]))
        self.assertEqual(web["environment"]["LAGO_ADDRESS"], "server:50051")
        # Its command, run here as the image would run it (the port and the
        # server's address are this test's), serves the list of studies.
        serves_the_study_list(self, web["entrypoint"] + web["command"], "/")

    def test_kubernetes_manifests(self):
        folder = os.path.join(ROOT, "deploy", "kubernetes")
        kustomization = yaml.safe_load(read("deploy", "kubernetes", "kustomization.yaml"))
        docs, web = {}, {}
        for name in kustomization["resources"]:
            for doc in yaml.safe_load_all(read("deploy", "kubernetes", name)):
                app = doc["metadata"]["labels"]["app.kubernetes.io/name"]
                (web if app == "lago-web" else docs)[doc["kind"]] = doc
        self.assertEqual(set(docs), {"PersistentVolumeClaim", "Deployment", "Service"})
        self.assertEqual(set(web), {"Deployment", "Service"})
        files = [f for f in os.listdir(folder) if os.path.isfile(os.path.join(folder, f))]
        self.assertEqual(sorted(files),
                         sorted(kustomization["resources"] + ["kustomization.yaml"]))
        deployment = docs["Deployment"]
        self.assertEqual(deployment["spec"]["replicas"], 1)
        self.assertEqual(deployment["spec"]["strategy"]["type"], "Recreate")
        pod = deployment["spec"]["template"]
        container = pod["spec"]["containers"][0]
        self.assertEqual(container["livenessProbe"]["grpc"]["port"], 50051)
        self.assertEqual(container["readinessProbe"]["grpc"]["port"], 50051)
        self.assertIn("cpu", container["resources"]["requests"])
        self.assertIn("memory", container["resources"]["requests"])
        self.assertTrue(pod["spec"]["securityContext"]["runAsNonRoot"])
        mount = container["volumeMounts"][0]
        self.assertEqual(mount["mountPath"], "/data")
        volume = next(v for v in pod["spec"]["volumes"] if v["name"] == mount["name"])
        self.assertEqual(volume["persistentVolumeClaim"]["claimName"],
                         docs["PersistentVolumeClaim"]["metadata"]["name"])
        service = docs["Service"]
        labels = pod["metadata"]["labels"]
        self.assertTrue(all(labels.get(k) == v for k, v in service["spec"]["selector"].items()))
        self.assertIn(service["spec"]["ports"][0]["targetPort"],
                      [p["name"] for p in container["ports"]])
        self.assertGreater(pod["spec"]["terminationGracePeriodSeconds"], 8)

        # lago web reads the server through its Service, and its own Service
        # selects its pods and port and stays inside the cluster.
        pod = web["Deployment"]["spec"]["template"]
        container = pod["spec"]["containers"][0]
        self.assertTrue(pod["spec"]["securityContext"]["runAsNonRoot"])
        env = {e["name"]: e["value"] for e in container["env"]}
        self.assertEqual(env["LAGO_ADDRESS"],
                         f"{service['metadata']['name']}:{service['spec']['ports'][0]['port']}")
        self.assertEqual(web["Service"]["spec"]["type"], "ClusterIP")
        labels = pod["metadata"]["labels"]
        self.assertTrue(all(labels.get(k) == v
                            for k, v in web["Service"]["spec"]["selector"].items()))
        self.assertNotEqual(web["Service"]["spec"]["selector"], service["spec"]["selector"])
        self.assertEqual(container["readinessProbe"]["httpGet"]["port"],
                         web["Service"]["spec"]["ports"][0]["targetPort"])
        self.assertIn(web["Service"]["spec"]["ports"][0]["targetPort"],
                      [p["name"] for p in container["ports"]])
        # Its command, run here against a test server, answers the probe's
        # path with the list of studies.
        serves_the_study_list(self, container["command"] + container["args"],
                              container["readinessProbe"]["httpGet"]["path"])

    def test_kubernetes_postgres_overlay(self):
        """deploy/kubernetes/postgres: the base with its patches applied (as
        strategic merge patches, by a small merge of our own: there is no
        kubectl here) has several replicas on the database of a Secret, and
        no volume. Then two servers with that container's environment, and
        the URI the Secret would hold, share a study on a PostgreSQL
        database of the test server."""
        overlay = os.path.join("deploy", "kubernetes", "postgres")
        kustomization = yaml.safe_load(read(overlay, "kustomization.yaml"))
        self.assertEqual(kustomization["resources"], ["../"])
        paths = [p["path"] for p in kustomization["patches"]]
        self.assertEqual(sorted(os.listdir(os.path.join(ROOT, overlay))),
                         sorted(paths + ["kustomization.yaml"]))
        base = {}
        for name in yaml.safe_load(read("deploy", "kubernetes",
                                        "kustomization.yaml"))["resources"]:
            for doc in yaml.safe_load_all(read("deploy", "kubernetes", name)):
                base[(doc["kind"], doc["metadata"]["name"])] = doc
        for path in paths:
            patch = yaml.safe_load(read(overlay, path))
            target = (patch["kind"], patch["metadata"]["name"])
            self.assertIn(target, base, f"{path} patches nothing in the base")
            if patch.get("$patch") == "delete":
                del base[target]
            else:
                base[target] = strategic_merge(base[target], patch)
        self.assertEqual(sorted(kind for kind, _ in base),
                         ["Deployment", "Deployment", "Service", "Service"])
        deployment = base[("Deployment", "lago-server")]
        self.assertGreaterEqual(deployment["spec"]["replicas"], 2)
        self.assertEqual(deployment["spec"]["strategy"]["type"], "Recreate")
        pod = deployment["spec"]["template"]["spec"]
        self.assertEqual(pod["volumes"], [])
        container = pod["containers"][0]
        self.assertEqual(container.get("volumeMounts"), [])
        env = {e["name"]: e for e in container["env"]}
        self.assertEqual(env["LAGO_DB"], {"name": "LAGO_DB", "valueFrom": {
            "secretKeyRef": {"name": "lago-postgres", "key": "uri"}}})
        self.assertIn("kubectl create secret generic lago-postgres",
                      read(overlay, "kustomization.yaml"))
        self.assertTrue(container["securityContext"]["readOnlyRootFilesystem"])

        admin = postgres_admin_uri(self)
        name = "lago_k8s_" + uuid.uuid4().hex[:12]
        psql(admin, f"CREATE DATABASE {name}")
        self.addCleanup(psql, admin, f"DROP DATABASE {name} WITH (FORCE)")
        values = {k: e["value"] for k, e in env.items() if "value" in e}
        self.assertEqual(values["LAGO_LISTEN"], "0.0.0.0:50051")
        replicas = []
        with tempfile.TemporaryDirectory() as tmp:
            try:
                for i in range(2):
                    # What the pod gets, on a free port.
                    run_env = dict(os.environ, **values)
                    run_env.update(LAGO_SERVER_BIN=SERVER, LAGO_LISTEN="0.0.0.0:0",
                                   LAGO_DB=admin.rsplit("/", 1)[0] + "/" + name)
                    replicas.append(subprocess.Popen(
                        [ENTRYPOINT, f"--port-file={tmp}/port-{i}"], env=run_env,
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
                ports = [wait_for(f"{tmp}/port-{i}", p) for i, p in enumerate(replicas)]
                with lago.Client(f"127.0.0.1:{ports[0]}") as client:
                    study = client.create_study("in-the-cluster", {"x": (0, 1)})
                    study.observe(study.suggest(), 0.5)
                with lago.Client(f"127.0.0.1:{ports[1]}") as client:
                    study = client.study("in-the-cluster")
                    self.assertEqual(study.info().stats.completed, 1)
                    self.assertEqual(study.suggest().id, 2)
                for proc in replicas:
                    proc.send_signal(signal.SIGTERM)
                    out, _ = proc.communicate(timeout=10)
                    self.assertEqual(proc.returncode, 0, out)
                    self.assertIn("PostgreSQL database", out)
                    self.assertNotIn("/data", out)
            finally:
                for proc in replicas:
                    if proc.poll() is None:
                        proc.kill()
                        proc.communicate()


# The list items that a strategic merge patch merges by a key, for the fields
# the overlays patch.
MERGE_KEYS = {"containers": "name", "env": "name", "volumes": "name",
              "volumeMounts": "mountPath"}


def strategic_merge(base, patch):
    """`patch` applied to `base` as a strategic merge patch, for what our
    overlays use: maps merge, null removes a key, lists of maps in MERGE_KEYS
    merge item by item, and an item with `$patch: delete` goes; other lists
    are replaced."""
    out = dict(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = strategic_merge(out[key], value)
        elif isinstance(value, list) and key in MERGE_KEYS:
            by = MERGE_KEYS[key]
            items = list(out.get(key, []))
            for item in value:
                i = next((j for j, b in enumerate(items) if b.get(by) == item.get(by)), None)
                if item.get("$patch") == "delete":
                    if i is None:
                        raise AssertionError(f"{key}: nothing to delete at {item}")
                    items.pop(i)
                elif i is None:
                    items.append(item)
                else:
                    items[i] = strategic_merge(items[i], item)
            out[key] = items
        else:
            out[key] = value
    return out


class LabWorkerTest(unittest.TestCase):
    WORKER = os.path.join(ROOT, "examples", "lab_worker.py")

    def worker(self, address, *args):
        return subprocess.Popen([sys.executable, self.WORKER, "--address", address,
                                 "--study", "lab", "--client-id", "station-1", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def test_a_killed_worker_resumes_its_trial(self):
        with LagoServer() as server:
            done = self.worker(server.address, "--max-trials", "3",
                               "--evaluation-seconds", "0.05")
            out, _ = done.communicate(timeout=120)
            self.assertEqual(done.returncode, 0, out)
            self.assertEqual(out.count("best so far"), 3)

            # A long experiment, heartbeating; the worker is killed mid-way.
            slow = self.worker(server.address, "--evaluation-seconds", "60",
                               "--heartbeat", "0.2")
            line = slow.stdout.readline()
            self.assertIn("running", line)
            running = int(re.search(r"trial (\d+)", line).group(1))
            time.sleep(1.2)  # A few heartbeats (every 0.2 s).
            slow.kill()
            slow.wait()
            slow.stdout.close()

            again = self.worker(server.address, "--max-trials", "1",
                                "--evaluation-seconds", "0.05")
            out, _ = again.communicate(timeout=120)
            self.assertEqual(again.returncode, 0, out)
            self.assertIn(f"resuming trial {running}", out)
            with lago.Client(server.address) as client:
                trials = lago.Study(client, "lab").trials()
            self.assertEqual([t.state for t in trials], ["completed"] * 4)
            self.assertEqual(trials[running - 1].client_id, "station-1")
            # The killed worker had renewed its lease while it ran.
            self.assertGreaterEqual(
                len(re.findall(rf"rpc=Heartbeat study=lab trial={running} code=OK",
                               server.log())), 2)


if __name__ == "__main__":
    unittest.main()
