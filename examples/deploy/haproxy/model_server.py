#!/usr/bin/env python3
"""A small HTTP scorer for one model version, for the HAProxy canary recipe and its tests.

    model_server.py --port 8001 --version 2 [--error-share 0.2] [--delay-ms 0]

GET /predict (or /) answers {"version": V, "prediction": ...}; with --error-share S,
that share of requests (every round(1/S)-th, so the rate is exact) answers 503 instead;
--delay-ms adds latency. GET /healthz answers 200 always.
"""
import argparse, json, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--version", required=True)
p.add_argument("--error-share", type=float, default=0.0)
p.add_argument("--delay-ms", type=float, default=0.0)
a = p.parse_args()
every = round(1 / a.error_share) if a.error_share > 0 else 0
lock, count = threading.Lock(), [0]

class Scorer(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/healthz":
            return self.reply(200, {"ok": True})
        with lock:
            count[0] += 1
            n = count[0]
        if a.delay_ms:
            time.sleep(a.delay_ms / 1000)
        if every and n % every == 0:
            return self.reply(503, {"version": a.version, "error": "scorer failed"})
        # The demo's question: tomorrow's weather from today's readings (a fixed answer here).
        self.reply(200, {"version": a.version, "prediction": "sun" if n % 3 else "rain"})

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass

ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", a.port), Scorer).serve_forever()
