"""Checks of the deployment files (Docker cannot run here, so these read and cross-check them).

    /usr/bin/python3 -m unittest discover -s tests/deploy -v     # plain unittest
    /usr/bin/python3 tests/deploy/test_deploy_files.py           # same, plus a summary line
                                                                 # "deploy-tests: passed=P failed=F"

Needs python3-yaml (Debian) and a built binary: $CHROMA_HA_BIN, else $BUILD_DIR/chroma-ha, else
build/chroma-ha. Nothing is skipped: a missing binary, tool or file is a failure.

What is checked: render.yaml (services, database, wiring, env keys against `chroma-ha --help`, no
literal secrets, paths, the wired values accepted by the binary; the Chroma servers private
services reached by their private host:port, only the load balancer public, the monitor on the
load balancer's image, no client token while client auth does not exist), Dockerfile.loadbalancer
(stages; the build stage installs with `install-deps.sh --build-only`, which installs and calls no
Node.js/npm/PostgreSQL/chromium, before any source is copied; the tests it leaves to CI are exactly
those needing PostgreSQL; non-root user, HEALTHCHECK, EXPOSE = PORT, every runtime library of
`ldd chroma-ha` provided by a package of the runtime stage), the Chroma image
(pinned chromadb 3.5.0 / bindings 1.0.5, config), docker/docker-compose.yml, config/*.env.example,
config/prometheus.yml and config/alerts.yml (metric names exported by the running binary).
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def binary_path():
    if os.environ.get("CHROMA_HA_BIN"):
        return os.environ["CHROMA_HA_BIN"]
    build_dir = os.environ.get("BUILD_DIR") or os.path.join(ROOT, "build")
    return os.path.join(build_dir, "chroma-ha")


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def load_yaml(rel):
    return yaml.safe_load(read(rel))


# Variables the monitor subcommand reads in addition to the load balancer's (PRIMARY_URL,
# REPLICA_URL, SLACK_WEBHOOK_URL, ...). Provided by `chroma-ha monitor`, not in `--help` of the
# load balancer.
MONITOR_ONLY = {"PROXY_URL", "MONITOR_INTERVAL"}

IGNORED_GROUP = "Accepted from the old load balancer, no effect here"

_help_cache = {}


def help_vars():
    """(effective, no_effect) variable names from `chroma-ha --help`."""
    if "vars" in _help_cache:
        return _help_cache["vars"]
    bin_path = binary_path()
    if not os.access(bin_path, os.X_OK):
        raise AssertionError(f"{bin_path} is missing: build it first (bash scripts/build.sh)")
    out = subprocess.run([bin_path, "--help"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise AssertionError(f"chroma-ha --help exited {out.returncode}: {out.stderr}")
    effective, ignored = set(), set()
    group = ""
    for line in out.stdout.splitlines():
        m = re.match(r"^(\S.*):$", line)
        if m:
            group = m.group(1)
            continue
        m = re.match(r"^  ([A-Z][A-Z0-9_]+)\s", line)
        if m:
            (ignored if group == IGNORED_GROUP else effective).add(m.group(1))
    if "PRIMARY_URL" not in effective or "PORT" not in effective:
        raise AssertionError("could not read the variable table of chroma-ha --help")
    _help_cache["vars"] = (effective, ignored)
    return effective, ignored


# ---------------------------------------------------------------------------------------------
# Secrets

SECRET_KEY = re.compile(r"TOKEN|PASSWORD|SECRET|WEBHOOK|API_KEY|PRIVATE_KEY|DATABASE_URL")


def is_placeholder(value):
    v = value.strip().strip("'\"")
    return v == "" or "change-me" in v or v.startswith("${") or "local-only" in v


def secret_findings(text):
    """Literal credentials in `text` that are not placeholders."""
    found = []
    # URL user info with a password: scheme://user:PASSWORD@host
    for m in re.finditer(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@'\"]+:([^@\s/'\"]+)@", text):
        if not is_placeholder(m.group(1)):
            found.append(m.group(0))
    for m in re.finditer(r"(?i)\bpassword\s*[=:]\s*([^\s&;'\"]+)", text):
        if not is_placeholder(m.group(1)):
            found.append(m.group(0))
    for m in re.finditer(r"hooks\.slack\.com/services/([A-Za-z0-9/_-]+)", text):
        if not is_placeholder(m.group(1)):
            found.append(m.group(0))
    # Long random-looking tokens (mixed letters and digits, 32+ characters).
    for m in re.finditer(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{32,}={0,2}", text):
        tok = m.group(0)
        if re.search(r"[0-9]", tok) and re.search(r"[A-Za-z]", tok) and "/" not in tok:
            found.append(tok)
    return found


def strings_in(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from strings_in(k)
            yield from strings_in(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings_in(v)


# ---------------------------------------------------------------------------------------------
# Running the binary

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningBinary:
    """build/chroma-ha on a free loopback port with a temporary SQLite WAL; stopped by its PID."""

    def __init__(self, extra_env):
        self.tmp = tempfile.mkdtemp(prefix="chroma-ha-deploy-test.")
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
        env.update({
            "LISTEN_ADDRESS": "127.0.0.1",
            "PORT": str(self.port),
            "WAL_PATH": os.path.join(self.tmp, "wal.sqlite3"),
            "LOG_LEVEL": "warn",
        })
        env.update(extra_env)
        self.log_path = os.path.join(self.tmp, "log")
        self.log = open(self.log_path, "w+b")
        self.proc = subprocess.Popen([binary_path()], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, cwd=self.tmp)

    def output(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_ready(self, timeout=10.0):
        """True when /health answers (any status); False if the process exited first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1).close()
                return True
            except urllib.error.HTTPError:
                return True  # 503 while no instance is up: it is running
            except OSError:
                time.sleep(0.05)
        return False

    def get(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Dockerfiles

def dockerfile_stages(rel):
    """[(from_line, [(INSTRUCTION, args)])] with continuation lines joined, comments dropped."""
    lines, cur = [], ""
    for raw in read(rel).splitlines():
        s = raw.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if s.startswith("#"):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        lines.append(cur)
        cur = ""
    stages = []
    for line in lines:
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            stages.append((args.strip(), []))
        elif stages:
            stages[-1][1].append((instr, args.strip()))
        elif instr not in ("ARG",):
            raise AssertionError(f"{rel}: {instr} before the first FROM")
    return stages


def apt_packages(instructions):
    pkgs = []
    for instr, args in instructions:
        if instr != "RUN":
            continue
        for m in re.finditer(r"apt-get\s+install\s+([^&;|]*)", args):
            pkgs += [w for w in m.group(1).split() if not w.startswith("-")]
    return pkgs


def install_deps_packages(array):
    """The words of the bash array `array`=( ... ) in scripts/install-deps.sh."""
    m = re.search(rf"^{array}=\(([^)]*)\)", read("scripts/install-deps.sh"), re.M)
    if not m:
        raise AssertionError(f"scripts/install-deps.sh has no {array}=( ... )")
    return [w for line in m.group(1).splitlines() for w in line.split("#")[0].split()]


def gtest_names_by_postgres_use(dirs):
    """({Suite.Name of TESTs calling TestDatabaseUrlOrNull()}, {the other TEST names})."""
    needs, others = set(), set()
    header = re.compile(r"^TEST(?:_F)?\((\w+),\s*(\w+)\)", re.M)
    for d in dirs:
        for base, _, files in os.walk(os.path.join(ROOT, d)):
            for f in files:
                if not f.endswith("_test.cc"):
                    continue
                text = read(os.path.relpath(os.path.join(base, f), ROOT))
                heads = list(header.finditer(text))
                for k, h in enumerate(heads):
                    body = text[h.end():heads[k + 1].start() if k + 1 < len(heads) else None]
                    name = f"{h.group(1)}.{h.group(2)}"
                    (needs if "TestDatabaseUrlOrNull()" in body else others).add(name)
    return needs, others


def env_of(instructions):
    env = {}
    for instr, args in instructions:
        if instr == "ENV":
            for k, v in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|\S+)", args):
                env[k] = v.strip('"')
    return env


# ---------------------------------------------------------------------------------------------
# Debian packages

def dpkg_owner(path):
    candidates = [path, os.path.realpath(path)]
    for p in list(candidates):
        if p.startswith("/usr/lib/"):
            candidates.append(p[len("/usr"):])
        elif p.startswith("/lib/"):
            candidates.append("/usr" + p)
    for p in candidates:
        r = subprocess.run(["dpkg-query", "-S", p], capture_output=True, text=True)
        if r.returncode == 0:
            for line in r.stdout.splitlines():
                if not line.startswith("diversion by"):
                    return line.split(":")[0].split(",")[0].strip()
    return None


_dpkg_cache = {}


def dpkg_db():
    """{package: (priority, [dependency clauses])}, {virtual: [packages]} of installed packages."""
    if "db" in _dpkg_cache:
        return _dpkg_cache["db"]
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package}\t${Status}\t${Priority}\t${Provides}\t${Depends}, "
         "${Pre-Depends}\n"], capture_output=True, text=True, check=True).stdout
    pkgs, provides = {}, {}
    for line in out.splitlines():
        name, status, prio, prov, deps = (line.split("\t") + [""] * 5)[:5]
        if not status.endswith("installed") or "not-installed" in status:
            continue
        clauses = [c.strip() for c in deps.split(",") if c.strip()]
        pkgs[name] = (prio, clauses)
        for p in prov.split(","):
            p = re.sub(r"\(.*?\)", "", p).strip().split(":")[0]
            if p:
                provides.setdefault(p, []).append(name)
    _dpkg_cache["db"] = (pkgs, provides)
    return pkgs, provides


def dep_closure(roots):
    pkgs, provides = dpkg_db()
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        for clause in pkgs.get(p, ("", []))[1]:
            for alt in clause.split("|"):
                name = re.sub(r"\(.*?\)|\[.*?\]", "", alt).strip().split(":")[0]
                if name in pkgs:
                    todo.append(name)
                    break
                if name in provides:
                    todo.append(provides[name][0])
                    break
    return seen


# Libraries of the C/C++ runtime that every Debian image has (libc6, libstdc++6, libgcc-s1).
BASE_LIBS = ("libc.so", "libstdc++.so", "libm.so", "libgcc_s.so", "ld-linux", "linux-vdso",
             "libpthread.so", "libdl.so", "librt.so")


# =============================================================================================

class RenderBlueprint(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bp = load_yaml("render.yaml")
        cls.services = {s["name"]: s for s in cls.bp.get("services", [])}

    def env(self, service):
        return {e["key"]: e for e in self.services[service].get("envVars", []) if "key" in e}

    def test_services_and_database_exist(self):
        for name in ("chroma-primary", "chroma-replica", "chroma-load-balancer", "chroma-monitor"):
            self.assertIn(name, self.services)
            self.assertEqual(self.services[name].get("runtime"), "docker", name)
        dbs = {d["name"]: d for d in self.bp.get("databases", [])}
        self.assertIn("chroma-metadata", dbs)

    def test_chroma_servers(self):
        persist = load_yaml("docker/chroma-config.yaml")["persist_path"]
        for name in ("chroma-primary", "chroma-replica"):
            s = self.services[name]
            # Private service: no public URL. The servers have no authentication.
            self.assertEqual(s["type"], "pserv", f"{name} must be private (no public URL)")
            self.assertEqual(os.path.normpath(s["dockerfilePath"]), "docker/chroma.Dockerfile")
            # Render's HTTP health checks are for web services only.
            self.assertNotIn("healthCheckPath", s, name)
            self.assertIn("disk", s, f"{name} needs a persistent disk")
            self.assertEqual(s["disk"]["mountPath"], persist, f"{name}: disk not at persist_path")
            self.assertTrue(s["disk"].get("name"), name)
        disks = [self.services[n]["disk"]["name"] for n in ("chroma-primary", "chroma-replica")]
        self.assertEqual(len(set(disks)), 2, "primary and replica need their own disks")

    def test_load_balancer(self):
        s = self.services["chroma-load-balancer"]
        self.assertEqual(s["type"], "web")
        self.assertEqual(s["dockerfilePath"], "./Dockerfile.loadbalancer")
        self.assertEqual(s.get("healthCheckPath"), "/health")
        env = self.env("chroma-load-balancer")
        for key, target in (("PRIMARY_URL", "chroma-primary"), ("REPLICA_URL", "chroma-replica")):
            self.assertIn(key, env)
            fs = env[key].get("fromService")
            self.assertIsNotNone(fs, f"{key} must be wired with fromService")
            self.assertEqual(fs.get("name"), target)
            self.assertEqual(fs.get("type"), "pserv")
            # The private host and port; a private service has no public URL to point at.
            self.assertEqual(fs.get("property"), "hostport", key)
        self.assertEqual(env["DATABASE_URL"].get("fromDatabase"),
                         {"name": "chroma-metadata", "property": "connectionString"})
        # A fleet: at least two processes on the shared PostgreSQL WAL, and no disk (a service
        # with a disk runs one instance; the WAL is the database, not a file).
        self.assertGreaterEqual(s.get("numInstances", 1), 2)
        self.assertNotIn("disk", s)
        self.assertNotIn("WAL_PATH", env)
        self.assertIs(env["ADMIN_TOKEN"].get("generateValue"), True)
        self.assertIs(env["SLACK_WEBHOOK_URL"].get("sync"), False)

    def test_load_balancer_env_keys_are_read_by_the_binary(self):
        effective, ignored = help_vars()
        for key in self.env("chroma-load-balancer"):
            self.assertNotIn(key, ignored, f"{key} has no effect in chroma-ha")
            self.assertIn(key, effective, f"{key} is not listed by chroma-ha --help")

    def test_only_the_load_balancer_is_public(self):
        public = sorted(n for n, s in self.services.items() if s["type"] == "web")
        self.assertEqual(public, ["chroma-load-balancer"])
        for name, s in self.services.items():
            for e in s.get("envVars", []):
                for v in strings_in(e):
                    self.assertNotIn("onrender.com", v, f"{name}.{e.get('key')}: a public URL")

    def test_load_balancer_requires_a_generated_client_token(self):
        # The public load balancer authenticates clients with a token Render generates (never a
        # literal), counted per the client's address behind Render's proxy; nothing else holds
        # client credentials, and the README shows how an application reads and sends it.
        env = self.env("chroma-load-balancer")
        self.assertEqual(env["CHROMA_SERVER_AUTHN_CREDENTIALS"], {
            "key": "CHROMA_SERVER_AUTHN_CREDENTIALS", "generateValue": True})
        self.assertNotIn("CHROMA_SERVER_AUTHN_CREDENTIALS_FILE", env)
        self.assertEqual(env["AUTH_TRUST_FORWARDED_FOR"].get("value"), "true")
        transport = env.get("CHROMA_AUTH_TOKEN_TRANSPORT_HEADER", {}).get("value", "Authorization")
        self.assertEqual(transport, "Authorization")
        for name, s in self.services.items():
            if name == "chroma-load-balancer":
                continue
            for key in self.env(name):
                self.assertFalse(key.startswith("CHROMA_SERVER_AUTHN"), f"{name}.{key}")
        self.assertNotRegex(read("render.yaml"), r"no client authentication")
        readme = read("README.md")
        self.assertIn("CHROMA_SERVER_AUTHN_CREDENTIALS", readme)
        self.assertRegex(readme, r"headers: \{ Authorization: `Bearer \$\{")  # JS ChromaClient
        self.assertRegex(readme, r"HttpClient\([^)]*headers=")  # Python HttpClient

    def test_monitor(self):
        s = self.services["chroma-monitor"]
        self.assertEqual(s["type"], "worker")
        self.assertEqual(s["dockerfilePath"], "./Dockerfile.loadbalancer")
        # The same image as the load balancer: same Dockerfile and context, no other build input.
        lb = self.services["chroma-load-balancer"]
        for key in ("runtime", "dockerfilePath", "dockerContext"):
            self.assertEqual(s.get(key), lb.get(key), key)
        self.assertEqual(s.get("dockerCommand", "").split(), ["chroma-ha", "monitor"])
        env = self.env("chroma-monitor")
        for key in ("PROXY_URL", "PRIMARY_URL", "REPLICA_URL", "SLACK_WEBHOOK_URL"):
            self.assertIn(key, env)
        self.assertEqual(env["PROXY_URL"]["fromService"]["name"], "chroma-load-balancer")
        self.assertIs(env["SLACK_WEBHOOK_URL"].get("sync"), False)
        effective, _ = help_vars()
        for key in env:
            self.assertIn(key, effective | MONITOR_ONLY, f"monitor variable {key} is read by nothing")

    def test_references_resolve(self):
        dbs = {d["name"] for d in self.bp.get("databases", [])}
        for sname, s in self.services.items():
            for e in s.get("envVars", []):
                if "fromDatabase" in e:
                    self.assertIn(e["fromDatabase"]["name"], dbs, f"{sname}.{e['key']}")
                if "fromService" in e:
                    fs = e["fromService"]
                    self.assertIn(fs["name"], self.services, f"{sname}.{e['key']}")
                    self.assertEqual(fs["type"], self.services[fs["name"]]["type"],
                                     f"{sname}.{e['key']}: wrong service type")
                sources = [k for k in ("value", "fromService", "fromDatabase", "generateValue",
                                       "sync") if k in e]
                self.assertEqual(len(sources), 1, f"{sname}.{e.get('key')}: one source, got "
                                 f"{sources}")

    def test_no_literal_secrets(self):
        for sname, s in self.services.items():
            for e in s.get("envVars", []):
                if SECRET_KEY.search(e.get("key", "")):
                    self.assertNotIn("value", e, f"{sname}.{e['key']} is a literal secret")
        findings = [f for v in strings_in(self.bp) for f in secret_findings(v)]
        findings += secret_findings(read("render.yaml"))
        self.assertEqual(findings, [])

    def test_docker_paths_exist(self):
        for sname, s in self.services.items():
            for key in ("dockerfilePath", "dockerContext"):
                if key in s:
                    self.assertTrue(os.path.exists(os.path.join(ROOT, s[key])),
                                    f"{sname}.{key}: {s[key]} does not exist")

    def test_ports_match_the_images(self):
        lb_port = env_of(dockerfile_stages("Dockerfile.loadbalancer")[-1][1]).get("PORT")
        chroma_port = env_of(dockerfile_stages("docker/chroma.Dockerfile")[-1][1]).get("PORT")
        for sname, port in (("chroma-load-balancer", lb_port), ("chroma-primary", chroma_port),
                            ("chroma-replica", chroma_port)):
            env = self.env(sname)
            if "PORT" in env:
                self.assertEqual(str(env["PORT"]["value"]), port, sname)

    def test_wired_instance_urls_are_accepted_by_the_binary(self):
        # What Render puts in PRIMARY_URL / REPLICA_URL for the property used, with loopback
        # stand-ins for the internal host names (nothing listens there).
        env = self.env("chroma-load-balancer")
        values = {}
        for key in ("PRIMARY_URL", "REPLICA_URL"):
            prop = env[key]["fromService"]["property"]
            port = free_port()
            values[key] = {"hostport": f"127.0.0.1:{port}", "host": "127.0.0.1"}[prop]
        run = RunningBinary(values)
        try:
            ok = run.wait_ready()
            self.assertTrue(ok, "chroma-ha did not start with the values render.yaml wires "
                            f"({values}):\n{run.output()}")
        finally:
            run.stop()


class LoadBalancerDockerfile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stages = dockerfile_stages("Dockerfile.loadbalancer")
        cls.build = cls.stages[0]
        cls.final = cls.stages[-1]

    def runs(self, stage):
        return " ".join(a for i, a in stage[1] if i == "RUN")

    def test_stages(self):
        self.assertGreaterEqual(len(self.stages), 2)
        self.assertRegex(self.build[0], r"^debian:12(\s|$)|^debian:bookworm(\s|$)")
        self.assertRegex(self.build[0], r"(?i)\sAS\s+build$")
        self.assertRegex(self.final[0], r"^debian:12-slim$|^debian:bookworm-slim$")

    def test_build_stage_installs_builds_and_tests(self):
        runs = self.runs(self.build)
        self.assertIn("scripts/install-deps.sh --build-only", runs)
        self.assertIn("scripts/build.sh", runs)
        self.assertRegex(runs, r"ctest --test-dir build")
        self.assertTrue(any(i == "COPY" for i, _ in self.build[1]))

    def test_build_stage_installs_no_runtime_or_e2e_toolchain(self):
        forbidden = re.compile(r"\b(node(js)?|npm|postgresql(-\d+)?|chromium)\b")
        for instr, args in self.build[1]:
            if instr == "RUN":
                self.assertNotRegex(args, r"npm |apt-get\s+install.*" + forbidden.pattern, args)
        for pkg in install_deps_packages("BUILD_PACKAGES"):
            self.assertNotRegex(pkg, forbidden, "a --build-only package")
        for pkg in ("g++", "cmake", "ninja-build", "libgtest-dev", "libgmock-dev"):
            self.assertIn(pkg, install_deps_packages("BUILD_PACKAGES"))

    def test_install_deps_build_only_calls_no_node_npm_or_apt(self):
        # Stubs shadow node, npm and apt-get and record any call; every build package is installed
        # on this machine (it built the binary), so --build-only must only check and exit 0.
        stubs = tempfile.mkdtemp(prefix="chroma-ha-stubs.")
        log = os.path.join(stubs, "calls")
        try:
            for tool in ("node", "npm", "apt-get"):
                path = os.path.join(stubs, tool)
                with open(path, "w") as f:
                    f.write(f"#!/bin/sh\necho {tool} >> '{log}'\nexit 1\n")
                os.chmod(path, 0o755)
            env = dict(os.environ, PATH=stubs + ":/usr/sbin:/usr/bin:/sbin:/bin")
            r = subprocess.run(["bash", os.path.join(ROOT, "scripts/install-deps.sh"),
                                "--build-only"], env=env, capture_output=True, text=True,
                               timeout=60)
            calls = open(log).read().split() if os.path.exists(log) else []
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(calls, [], "install-deps.sh --build-only called " + ", ".join(calls))
        finally:
            shutil.rmtree(stubs)

    def test_dependencies_are_installed_before_the_source_is_copied(self):
        instrs = self.build[1]
        install = next(n for n, (i, a) in enumerate(instrs)
                       if i == "RUN" and "scripts/install-deps.sh" in a)
        copies = [(n, a) for n, (i, a) in enumerate(instrs) if i == "COPY"]
        for n, args in copies:
            sources = [w for w in args.split()[:-1] if not w.startswith("--")]
            if n < install:
                self.assertEqual(sources, ["scripts/install-deps.sh"],
                                 f"COPY {args} before the package install invalidates its layer")
            self.assertNotIn(".", sources, "COPY . copies everything: no layer survives an edit")
        copy_src = [n for n, a in copies if a.split()[0] == "src"]
        self.assertTrue(copy_src, "no COPY src in the build stage")
        self.assertLess(install, copy_src[0])

    def test_tests_left_to_ci_are_exactly_those_needing_postgres(self):
        m = re.search(r'^ARG CTEST_NEEDS_POSTGRES="([^"]+)"', read("Dockerfile.loadbalancer"), re.M)
        self.assertIsNotNone(m, "no ARG CTEST_NEEDS_POSTGRES")
        self.assertIn('-E "$CTEST_NEEDS_POSTGRES"', self.runs(self.build))
        excluded = re.compile(m.group(1))
        needs, others = gtest_names_by_postgres_use(("tests/unit", "tests/conformance"))
        self.assertTrue(needs)
        self.assertEqual(sorted(n for n in needs if not excluded.search(n)), [],
                         "tests that need PostgreSQL would pass vacuously in the image build")
        self.assertEqual(sorted(n for n in others if excluded.search(n)), [],
                         "tests that need no server are left out of the image build")

    def test_final_stage(self):
        instrs = self.final[1]
        users = [a for i, a in instrs if i == "USER"]
        self.assertTrue(users, "no USER in the final stage")
        self.assertNotIn(users[-1].split(":")[0], ("root", "0"))
        copies = [a for i, a in instrs if i == "COPY"]
        self.assertTrue(any(a.startswith("--from=build") and a.endswith("/usr/local/bin/chroma-ha")
                            for a in copies), copies)
        health = [a for i, a in instrs if i == "HEALTHCHECK"]
        self.assertTrue(health and "/health" in health[0], health)
        # Listener TLS (TLS_CERT_FILE) turns the health check to https.
        self.assertIn("TLS_CERT_FILE", health[0])
        self.assertIn("https", health[0])
        env = env_of(instrs)
        self.assertEqual(env.get("PORT"), "8000")
        self.assertEqual(env.get("WAL_PATH"), "/var/lib/chroma-ha/wal.sqlite3")
        exposed = [a.split("/")[0] for i, a in instrs if i == "EXPOSE"]
        self.assertEqual(exposed, [env["PORT"]])
        start = [a for i, a in instrs if i in ("CMD", "ENTRYPOINT")]
        self.assertTrue(start and re.match(r'^\[\s*"chroma-ha"', start[-1]), start)

    def test_runtime_packages_provide_every_library(self):
        pkgs = apt_packages(self.final[1])
        self.assertTrue(pkgs, "no apt-get install in the runtime stage")
        installed, _ = dpkg_db()
        for p in pkgs:
            self.assertIn(p, installed, f"runtime package {p} is not a known (installed) package")
        ldd = subprocess.run(["ldd", binary_path()], capture_output=True, text=True, check=True)
        needed = subprocess.run(["readelf", "-d", binary_path()], capture_output=True, text=True,
                                check=True).stdout
        direct = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", needed))
        base_pkgs = [p for p, (prio, _) in installed.items() if prio == "required"]
        closure = dep_closure(pkgs + base_pkgs)
        problems = []
        for line in ldd.stdout.splitlines():
            m = re.match(r"\s*(\S+)\s+=>\s+(\S+)", line)
            if not m:
                continue
            soname, path = m.groups()
            if path == "not" or not os.path.exists(path):
                problems.append(f"{soname} not found by ldd")
                continue
            if soname.startswith(BASE_LIBS):
                continue
            owner = dpkg_owner(path)
            if owner is None:
                problems.append(f"{soname}: no Debian package owns {path}")
            elif soname in direct and owner not in pkgs:
                problems.append(f"{soname} (linked directly): install {owner} in the runtime stage")
            elif owner not in closure:
                problems.append(f"{soname}: {owner} is not installed by the runtime stage")
        self.assertEqual(problems, [])


class ChromaImage(unittest.TestCase):
    def test_pins(self):
        stages = dockerfile_stages("docker/chroma.Dockerfile")
        self.assertRegex(stages[0][0], r"^node:20-bookworm-slim$|^debian:12")
        text = read("docker/chroma.Dockerfile")
        self.assertIn("3.5.0", text)
        self.assertIn("1.0.5", text)
        self.assertRegex(text, r"npm ci")
        pkg = yaml.safe_load(read("package.json"))  # JSON is YAML
        self.assertEqual(pkg["dependencies"]["chromadb"], "3.5.0")
        self.assertEqual(pkg["overrides"]["chromadb-js-bindings-linux-x64-gnu"], "1.0.5")
        lock = yaml.safe_load(read("package-lock.json"))["packages"]
        self.assertEqual(lock["node_modules/chromadb"]["version"], "3.5.0")
        self.assertEqual(lock["node_modules/chromadb-js-bindings-linux-x64-gnu"]["version"],
                         "1.0.5")

    def test_files_and_config(self):
        instrs = dockerfile_stages("docker/chroma.Dockerfile")[-1][1]
        for i, a in instrs:
            if i == "COPY" and not a.startswith("--from"):
                for src in a.split()[:-1]:
                    if not src.startswith("--"):
                        self.assertTrue(os.path.exists(os.path.join(ROOT, src)), src)
        cfg = load_yaml("docker/chroma-config.yaml")
        self.assertEqual(cfg["listen_address"], "0.0.0.0")
        self.assertEqual(cfg["persist_path"], "/data")
        self.assertFalse(cfg.get("allow_reset", False))
        env = env_of(instrs)
        self.assertEqual([a for i, a in instrs if i == "EXPOSE"], [env["PORT"]])
        health = [a for i, a in instrs if i == "HEALTHCHECK"]
        self.assertTrue(health and "/api/v2/heartbeat" in health[0])
        self.assertIn("CHROMA_PORT", read("docker/chroma-entrypoint.sh"))


class Compose(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.doc = load_yaml("docker/docker-compose.yml")
        cls.svc = cls.doc["services"]
        cls.base = os.path.join(ROOT, "docker")

    def test_services(self):
        for name in ("chroma-primary", "chroma-replica", "postgres", "chroma-ha", "chroma-monitor"):
            self.assertIn(name, self.svc)
        self.assertEqual(self.svc["postgres"]["image"], "postgres:15")
        self.assertEqual(os.path.basename(self.svc["chroma-ha"]["build"]["dockerfile"]),
                         "Dockerfile.loadbalancer")
        self.assertEqual(self.svc["chroma-monitor"]["command"], ["chroma-ha", "monitor"])
        # One build: the monitor runs the image chroma-ha builds and never pulls it.
        self.assertNotIn("build", self.svc["chroma-monitor"])
        self.assertEqual(self.svc["chroma-monitor"]["image"], self.svc["chroma-ha"]["image"])
        self.assertEqual(self.svc["chroma-monitor"].get("pull_policy"), "never")
        self.assertRegex(self.svc["chroma-ha"]["environment"]["DATABASE_URL"],
                         r"^postgres(ql)?://[^@]+@postgres:5432/")

    def test_referenced_files_exist(self):
        for name, s in self.svc.items():
            b = s.get("build")
            if b:
                ctx = os.path.normpath(os.path.join(self.base, b.get("context", ".")))
                self.assertTrue(os.path.isdir(ctx), f"{name}: context {ctx}")
                self.assertTrue(os.path.isfile(os.path.join(ctx, b.get("dockerfile",
                                                                       "Dockerfile"))), name)
            for f in s.get("env_file", []) or []:
                self.assertTrue(os.path.isfile(os.path.join(self.base, f)), f"{name}: {f}")

    def test_env_keys_are_read(self):
        effective, _ = help_vars()
        for key in self.svc["chroma-ha"]["environment"]:
            self.assertIn(key, effective, key)
        for key in self.svc["chroma-monitor"]["environment"]:
            self.assertIn(key, effective | MONITOR_ONLY, key)

    def test_only_local_placeholder_credentials(self):
        text = read("docker/docker-compose.yml")
        self.assertIn("LOCAL ONLY", text)
        self.assertEqual([f for v in strings_in(self.doc) for f in secret_findings(v)], [])
        pw = self.svc["postgres"]["environment"]["POSTGRES_PASSWORD"]
        self.assertTrue(pw.startswith("${POSTGRES_PASSWORD"), "password must be overridable")


def parse_env_file(rel):
    """[(key, value, comment_block)]; every assignment must follow a comment."""
    entries, comment = [], []
    for line in read(rel).splitlines():
        s = line.strip()
        if not s:
            comment = []
        elif s.startswith("#"):
            comment.append(s)
        else:
            key, sep, value = s.partition("=")
            if not sep:
                raise AssertionError(f"{rel}: not KEY=VALUE: {s}")
            entries.append((key, value, " ".join(comment)))
            comment = []
    return entries


class EnvExamples(unittest.TestCase):
    FILES = ("config/local.env.example", "config/render.env.example")

    def test_keys_are_read_and_commented(self):
        effective, _ = help_vars()
        for rel in self.FILES:
            entries = parse_env_file(rel)
            self.assertTrue(entries, rel)
            for key, _, comment in entries:
                self.assertTrue(comment, f"{rel}: {key} has no comment")
                if key in MONITOR_ONLY:
                    self.assertRegex(comment.lower(), r"monitor", f"{rel}: {key} monitor-only")
                else:
                    self.assertIn(key, effective, f"{rel}: {key} is not read by chroma-ha")

    def test_secrets_are_placeholders(self):
        for rel in self.FILES:
            for key, value, _ in parse_env_file(rel):
                if SECRET_KEY.search(key) and key != "DATABASE_URL":
                    self.assertTrue(is_placeholder(value), f"{rel}: {key}={value}")
            self.assertEqual(secret_findings(read(rel)), [], rel)

    def test_render_example_matches_render_yaml(self):
        bp = load_yaml("render.yaml")
        used = {e["key"] for s in bp["services"] for e in s.get("envVars", [])}
        example = {k for k, _, _ in parse_env_file("config/render.env.example")}
        self.assertEqual(used - example, set(), "render.yaml keys missing from the example")


class Prometheus(unittest.TestCase):
    REQUIRED = ("chroma_ha_upstream_healthy", "chroma_ha_wal_backlog_entries",
                "chroma_ha_wal_replication_lag_seconds", "chroma_ha_wal_blocked_collections",
                "chroma_ha_wal_append_failures_total")

    @classmethod
    def alert_metrics(cls):
        doc = load_yaml("config/alerts.yml")
        names = set()
        for g in doc["groups"]:
            for r in g["rules"]:
                names |= set(re.findall(r"\bchroma_ha_[a-z0-9_]+", r["expr"]))
        return doc, names

    def test_scrape_config(self):
        doc = load_yaml("config/prometheus.yml")
        jobs = doc["scrape_configs"]
        job = next(j for j in jobs if j["job_name"] == "chroma-ha")
        self.assertEqual(job.get("metrics_path", "/metrics"), "/metrics")
        self.assertIs(job.get("honor_labels"), True, "the `instance` label of chroma-ha is lost")
        targets = [t for sc in job["static_configs"] for t in sc["targets"]]
        self.assertTrue(targets)
        compose = load_yaml("docker/docker-compose.yml")["services"]
        for t in targets:
            host, _, port = t.partition(":")
            self.assertIn(host, compose, f"target {t} is not a compose service")
            self.assertEqual(port, str(compose[host]["environment"]["PORT"]))
        for f in doc.get("rule_files", []):
            self.assertTrue(os.path.isfile(os.path.join(ROOT, "config", f)), f)

    def test_alert_rules(self):
        doc, names = self.alert_metrics()
        for g in doc["groups"]:
            for r in g["rules"]:
                self.assertTrue(r.get("alert") and r.get("expr"), r)
                self.assertIn(r.get("labels", {}).get("severity"), ("warning", "critical"), r)
                self.assertEqual(r["expr"].count("("), r["expr"].count(")"), r["expr"])
        for n in self.REQUIRED:
            self.assertIn(n, names, f"no alert uses {n}")
        header = "\n".join(l for l in read("config/alerts.yml").splitlines()
                           if l.lstrip().startswith("#"))
        for n in names:
            self.assertRegex(header, rf"\b{n}\b", f"{n} is not listed in the header comment")

    def test_metric_names_are_exported_by_the_binary(self):
        _, names = self.alert_metrics()
        run = RunningBinary({"PRIMARY_URL": f"http://127.0.0.1:{free_port()}",
                             "REPLICA_URL": f"http://127.0.0.1:{free_port()}"})
        try:
            self.assertTrue(run.wait_ready(), f"chroma-ha did not start:\n{run.output()}")
            status, body = run.get("/metrics")
            self.assertEqual(status, 200, body[:500])
        finally:
            run.stop()
        exported = set(re.findall(r"^# TYPE (\S+)", body, re.M))
        exported |= set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)", body, re.M))
        self.assertEqual(sorted(names - exported), [], "alert metrics missing from /metrics")


if __name__ == "__main__":
    program = unittest.main(exit=False, verbosity=2)
    result = program.result
    failed = len(result.failures) + len(result.errors) + len(result.skipped) + \
        len(result.unexpectedSuccesses)
    passed = result.testsRun - failed
    print(f"deploy-tests: passed={passed} failed={failed}")
    sys.exit(0 if failed == 0 and result.testsRun > 0 else 1)
