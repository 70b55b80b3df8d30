"""What the benchmarks share: starting `healthcard all` on fresh databases, API clients,
HTTP calls and process figures."""
import json
import os
import shutil
import socket
import subprocess
import urllib.request

PG = "postgres://postgres@127.0.0.1:5432"
SERVICES = ["gateway", "collection", "verification", "cardmaking", "settlement"]


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def psql(sql, db="postgres"):
    return sh(["psql", "-q", "-X", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-c", sql])


def psql_rows(sql, db):
    out = sh(["psql", "-q", "-X", "-A", "-t", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-c", sql])
    return [line for line in out.splitlines() if line]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("content-type", "application/json")
    with urllib.request.urlopen(req, timeout=3600) as r:
        return json.loads(r.read() or b"null")


def vmhwm_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


class System:
    """`healthcard all` on fresh databases (PostgreSQL `<db_prefix>_<service>` or SQLite
    files in `data_dir`), stopped on exit."""

    def __init__(self, bin_dir, backend, data_dir, extra_env=None, db_prefix="hc_bench"):
        shutil.rmtree(data_dir, ignore_errors=True)
        os.makedirs(data_dir)
        self.binary = os.path.join(bin_dir, "healthcard")
        self.data_dir = data_dir
        self.db_prefix = db_prefix
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEALTHCARD_")}
        env.update({"HEALTHCARD_DATA_DIR": data_dir, "HEALTHCARD_LOG": "warn", "HEALTHCARD_WORKERS": "2",
                    "HEALTHCARD_RATE_LIMIT_PER_SECOND": "10000", "HEALTHCARD_RATE_LIMIT_BURST": "10000",
                    "HEALTHCARD_OUTBOX_POLL_MS": "50"})
        env.update(extra_env or {})
        for s in SERVICES:
            env[f"HEALTHCARD_{s.upper()}_LISTEN"] = f"127.0.0.1:{free_port()}"
            if backend == "postgres":
                psql(f"DROP DATABASE IF EXISTS {db_prefix}_{s} WITH (FORCE)")
                psql(f"CREATE DATABASE {db_prefix}_{s}")
                env[f"HEALTHCARD_{s.upper()}_DATABASE_URL"] = f"{PG}/{db_prefix}_{s}"
        self.env = env

    def __enter__(self):
        self.log = open(os.path.join(self.data_dir, "server.log"), "w")
        self.server = subprocess.Popen([self.binary, "all"], env=self.env, stdout=subprocess.PIPE, stderr=self.log,
                                       text=True)
        self.urls = {}
        while len(self.urls) < len(SERVICES):
            line = self.server.stdout.readline()
            if not line:
                raise RuntimeError("server did not start; see " + self.log.name)
            if line.startswith("{"):
                ev = json.loads(line)
                self.urls[ev["service"]] = ev["url"]
        self.gw = self.urls["gateway"]
        return self

    def __exit__(self, *exc):
        self.server.terminate()
        self.server.wait(timeout=60)
        self.log.close()

    def client(self, role, scopes=()):
        """A new API client of `role`, created with the CLI; returns its token."""
        scope_args = [a for s in scopes for a in ("--scope", s)]
        cred = json.loads(sh([self.binary, "clients", "create", "--name", role, "--role", role] + scope_args,
                             env=self.env))
        answer = http("POST", f"{self.gw}/api/v1/auth/token",
                      body={"client_id": cred["client_id"], "client_secret": cred["client_secret"]})
        return answer["access_token"]

    def peak_rss_mb(self):
        return vmhwm_mb(self.server.pid)


def cpu_seconds():
    """CPU seconds used so far by the server, PostgreSQL's processes and the benchmark's
    clients (this script and the programs it ran to the end): the difference of two
    readings says where a phase's time went."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {"healthcard": 0.0, "postgres": 0.0}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        used = (int(fields[11]) + int(fields[12])) / tick
        if comm.startswith("healthcard") and not comm.startswith("healthcard-"):
            out["healthcard"] += used
        elif comm.startswith("postgres"):
            out["postgres"] += used
    t = os.times()
    out["bench_clients"] = t.user + t.system + t.children_user + t.children_system
    return out


def cpu_delta(before, after):
    return {k: round(after[k] - before[k], 1) for k in before}
