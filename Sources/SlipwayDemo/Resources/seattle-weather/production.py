"""The demo's production on loopback: the recipe of examples/deploy/haproxy, run for real.

    python3 /WORKSPACE/production.py start /WORKSPACE/serving/production

`start` is the supervisor `slipway demo` runs (its standard input a pipe from the demo). It
picks free loopback ports and starts, each with the workspace's path in its command line:
one scorer per version (`scorer`, servers v1..v6 of HAProxy's backend `models`), HAProxy in
front of them with its admin socket and its Prometheus exporter, a Prometheus scraping that
exporter every second (a throw-away TSDB under the folder), and a load generator (`load`:
production's requests, bounded in time and count). It writes ready.json (the addresses) once
Prometheus has scraped HAProxy, or failed.txt. It stops everything it started when its
standard input closes (the demo ended, failed, or was killed), on SIGTERM or SIGINT, or when
a component dies; then it exits. The pids it started are in pids.txt meanwhile.

    python3 /WORKSPACE/production.py scorer PORT VERSION /WORKSPACE
    python3 /WORKSPACE/production.py load URL RATE SECONDS MAX /WORKSPACE

A scorer serves serving/models/VERSION.json (written by deploy.py; 503 until it exists):
GET /predict?precipitation=&temp_max=&temp_min=&wind= answers the predicted weather. Like
many model servers it checks its input first: a temperature more than 3 standard deviations
from those the model was trained on is refused (422), as a model trained in °F refuses
readings in °C. The load generator sends the newest production batch's days
(incoming/processed/), or the last days of data/history.csv before one arrives.
"""
import csv, ctypes, glob, shutil, tempfile, json, math, os, signal, socket, subprocess, sys, threading, time, urllib.error, urllib.parse, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
VERSIONS = range(1, 7)
# The whole start-up's budget, in seconds; DemoProduction.start waits longer (120 s).
STARTUP = 100
SCRAPE = "global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n  - job_name: haproxy\n    static_configs: [{targets: ['127.0.0.1:%d']}]\n"


def free_ports(n):
    """n distinct free loopback ports (all held open until every one is chosen)."""
    held = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        held.append(s)
    ports = [s.getsockname()[1] for s in held]
    for s in held:
        s.close()
    return ports


def write_atomically(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def answers(url, timeout=1.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read().decode(errors="replace")
    except Exception:
        return None


LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def die_with(parent):
    """A preexec_fn: the child gets SIGTERM when `parent` ends, even by SIGKILL
    (its own session means nothing else would reach it)."""
    def arm():
        if LIBC is not None:
            LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent ended before the line above
            os._exit(1)
    return arm


class Supervisor:
    def __init__(self, base):
        self.base = base
        self.children = []   # (name, Popen)
        self.stopping = threading.Event()
        self.scratch = None  # a short folder for the socket, when the workspace's path is too long for one
        self.deadline = time.monotonic() + STARTUP

    def spawn(self, name, args):
        # Called from the main thread only: PR_SET_PDEATHSIG fires when the thread that
        # forked ends, and the main thread is the last of this process to end.
        log = open(os.path.join(self.base, name + ".log"), "ab")
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                             preexec_fn=die_with(os.getpid()))
        log.close()
        self.children.append((name, p))
        write_atomically(os.path.join(self.base, "pids.txt"), "".join(f"{n} {c.pid}\n" for n, c in self.children))
        return p

    def wait_for(self, what, seconds, check):
        # Every wait also ends by the start-up's whole budget, which the demo waits out.
        end = min(time.monotonic() + seconds, self.deadline)
        while time.monotonic() < end:
            if self.stopping.is_set():
                raise RuntimeError("stopped during start-up")
            if check():
                return
            dead = [n for n, c in self.children if c.poll() is not None]
            if dead:
                raise RuntimeError(f"{dead[0]} exited during start-up: " + self.tail(dead[0]))
            time.sleep(0.1)
        if time.monotonic() >= self.deadline:
            raise RuntimeError(f"{what} did not happen within start-up's {STARTUP} s")
        raise RuntimeError(f"{what} did not happen within {seconds} s")

    def tail(self, name):
        try:
            with open(os.path.join(self.base, name + ".log"), errors="replace") as f:
                return " ".join(f.read().strip().splitlines()[-3:])[-400:]
        except OSError:
            return ""

    def stop(self):
        self.stopping.set()
        for _, c in reversed(self.children):
            if c.poll() is None:
                c.terminate()
        end = time.monotonic() + 5
        for _, c in self.children:
            try:
                c.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                c.kill()
                c.wait()
        try:
            os.remove(os.path.join(self.base, "pids.txt"))
        except OSError:
            pass
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def start(self, rate, seconds, most):
        frontend, exporter, prom, *scorers = free_ports(3 + len(VERSIONS))
        workspace, me = HERE, os.path.abspath(__file__)
        for v, port in zip(VERSIONS, scorers):
            self.spawn(f"scorer-v{v}", [sys.executable, me, "scorer", str(port), str(v), workspace])
        for v, port in zip(VERSIONS, scorers):
            self.wait_for(f"scorer v{v} answering", 15, lambda port=port: answers(f"http://127.0.0.1:{port}/healthz") is not None)
        sock = os.path.join(self.base, "haproxy.sock")
        if len(sock.encode()) > 100 or any(c in sock for c in " \t'\"#\\"):
            self.scratch = tempfile.mkdtemp(prefix="slipway-demo-")
            sock = os.path.join(self.scratch, "haproxy.sock")
        servers = "".join(f"  server v{v} 127.0.0.1:{port} weight 0\n" for v, port in zip(VERSIONS, scorers))
        write_atomically(os.path.join(self.base, "haproxy.cfg"), f"""global
  stats socket {sock} mode 600 level admin
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
frontend model
  bind 127.0.0.1:{frontend}
  default_backend models
frontend metrics
  bind 127.0.0.1:{exporter}
  http-request use-service prometheus-exporter if {{ path /metrics }}
backend models
  balance roundrobin
{servers}""")
        self.spawn("haproxy", ["haproxy", "-db", "-f", os.path.join(self.base, "haproxy.cfg")])
        self.wait_for("HAProxy's admin socket", 15, lambda: os.path.exists(sock))
        write_atomically(os.path.join(self.base, "prometheus.yml"), SCRAPE % exporter)
        self.spawn("prometheus", ["prometheus", "--config.file=" + os.path.join(self.base, "prometheus.yml"),
                                  "--storage.tsdb.path=" + os.path.join(self.base, "tsdb"),
                                  f"--web.listen-address=127.0.0.1:{prom}"])
        up = f"http://127.0.0.1:{prom}/api/v1/query?query=" + urllib.parse.quote('up{job="haproxy"} == 1')
        self.wait_for("Prometheus scraping HAProxy", 60, lambda: '"value"' in (answers(up) or ""))
        url = f"http://127.0.0.1:{frontend}/predict"
        self.spawn("load", [sys.executable, me, "load", url, str(rate), str(seconds), str(most), workspace])
        return {"prometheus": f"http://127.0.0.1:{prom}", "socket": sock, "frontend": url,
                "exporter": f"http://127.0.0.1:{exporter}/metrics", "rate": rate}


def supervise(base, rate, seconds, most):
    os.makedirs(base, exist_ok=True)
    for name in ("ready.json", "failed.txt"):
        try:
            os.remove(os.path.join(base, name))
        except OSError:
            pass
    sup = Supervisor(base)
    signal.signal(signal.SIGTERM, lambda *_: sup.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: sup.stopping.set())

    def watch_input():
        # The demo holds the other end of standard input: EOF means it is gone.
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except Exception:
            pass
        sup.stopping.set()
    threading.Thread(target=watch_input, daemon=True).start()
    try:
        ready = sup.start(rate, seconds, most)
        write_atomically(os.path.join(base, "ready.json"), json.dumps(ready))
    except Exception as e:
        write_atomically(os.path.join(base, "failed.txt"), str(e))
        sup.stop()
        return 1
    while not sup.stopping.wait(0.5):
        # A component that dies (the load generator ends on its own) is said in its log.
        for name, c in sup.children:
            if name != "load" and c.poll() is not None:
                write_atomically(os.path.join(base, "failed.txt"), f"{name} exited ({c.returncode}): " + sup.tail(name))
                sup.stopping.set()
    sup.stop()
    return 0


def scorer(port, version, workspace):
    parent = os.getppid()  # before anything slow: the supervisor may end meanwhile
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    sys.path.insert(0, workspace)
    from predict import predict
    path = os.path.join(workspace, "serving", "models", f"{version}.json")
    cache = {"mtime": None, "model": None}
    lock = threading.Lock()

    def model():
        try:
            mtime = os.path.getmtime(path)
        except OSError:
            return None
        with lock:
            if cache["mtime"] != mtime:
                with open(path) as f:
                    cache["model"], cache["mtime"] = json.load(f), mtime
            return cache["model"]

    class Scorer(BaseHTTPRequestHandler):
        def do_GET(self):
            url = urllib.parse.urlparse(self.path)
            if url.path == "/healthz":
                return self.reply(200, {"ok": True})
            m = model()
            if m is None:
                return self.reply(503, {"version": version, "error": "not deployed"})
            q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
            try:
                row = {f: float(q[f]) for f in m["features"]}
            except (KeyError, ValueError):
                return self.reply(400, {"version": version, "error": "expected " + ", ".join(m["features"])})
            for i, f in enumerate(m["features"]):
                z = (row[f] - m["mean"][i]) / m["std"][i]
                if f.startswith("temp") and abs(z) > 3:
                    return self.reply(422, {"version": version, "error": f"{f} {row[f]} is {abs(z):.1f} standard deviations from the training data"})
            self.reply(200, {"version": version, "prediction": predict(m, row)})

        def reply(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    def orphaned():
        # Never outlives the supervisor, however it ended.
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)
    threading.Thread(target=orphaned, daemon=True).start()
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", port), Scorer).serve_forever()


def days(workspace):
    """Production's requests: the newest batch's days, else the history's last days."""
    batches = sorted(glob.glob(os.path.join(workspace, "incoming", "processed", "*.csv")), key=os.path.getmtime)
    source = batches[-1] if batches else os.path.join(workspace, "data", "history.csv")
    try:
        with open(source, newline="") as f:
            rows = [r for r in csv.DictReader(f) if r.get("temp_max")]
    except OSError:
        return []
    return rows[-31:]


def load(url, rate, seconds, most, workspace):
    """Sends `rate` requests a second, at most `most` of them and for at most `seconds`."""
    features = ["precipitation", "temp_max", "temp_min", "wind"]
    codes, start, sent, rows, read_at = {}, time.monotonic(), 0, [], -10.0
    out = os.path.join(workspace, "serving", "production", "load.json")
    parent = os.getppid()
    while sent < most and time.monotonic() - start < seconds and os.getppid() == parent:
        if time.monotonic() - read_at > 2:
            rows, read_at = days(workspace) or rows, time.monotonic()
        due = start + sent / rate
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        code = 0
        if rows:
            r = rows[sent % len(rows)]
            query = urllib.parse.urlencode({f: r[f] for f in features})
            try:
                with urllib.request.urlopen(url + "?" + query, timeout=2) as a:
                    code = a.status
            except urllib.error.HTTPError as e:
                code = e.code
            except Exception:
                code = 0
        codes[code] = codes.get(code, 0) + 1
        sent += 1
        if sent % 100 == 0:
            write_atomically(out, json.dumps({"sent": sent, "codes": codes}))
    write_atomically(out, json.dumps({"sent": sent, "codes": codes, "done": True}))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "start":
        # RATE requests a second for at most SECONDS and MAX requests.
        rate, seconds, most = (float(args[1]), float(args[2]), int(args[3])) if len(args) >= 4 else (20.0, 7200.0, 150000)
        sys.exit(supervise(os.path.abspath(args[0]), rate, seconds, most))
    elif cmd == "scorer":
        scorer(int(args[0]), args[1], args[2])
    elif cmd == "load":
        load(args[0], float(args[1]), float(args[2]), int(args[3]), args[4])
    else:
        sys.exit(f"production.py: unknown command {cmd!r}: start, scorer or load")
