#!/usr/bin/env python3
"""A small OCI distribution registry for tests, on loopback, in memory.

What no Debian registry has: the OCI 1.1 referrers API
(GET /v2/NAME/referrers/DIGEST, an image index, `artifactType` filter with
`OCI-Filters-Applied`, and `OCI-Subject` on a manifest PUT with a subject),
and Docker's bearer-token flow (401 with `WWW-Authenticate: Bearer realm=…,
service=…,scope=…`, a token from GET realm with Basic credentials).

Enough of the distribution API for skopeo to push and pull: blobs (HEAD,
GET, monolithic and chunked uploads), manifests by tag or digest (HEAD, GET,
PUT), tags/list.

    fake_oci_registry.py --port P [--no-referrers] [--token USER:PASSWORD] --log FILE
    fake_oci_registry.py --port P --token USER:PASSWORD [--reader USER:PASSWORD] --jwt KEY.pem CERT.pem ISSUER SERVICE --log FILE

--no-referrers: the referrers endpoint answers 404 and no OCI-Subject is set
(clients must use the `sha256-<hex>` fallback tag). --token: every /v2/
request needs a bearer token from /token, issued for USER:PASSWORD only,
scoped to repository:NAME:pull[,push]; --reader USER:PASSWORD, a second
login granted pull only. --jwt: /token issues the JSON web
tokens a real Distribution registry (`auth: token:`) checks: RS256, signed with
KEY.pem through openssl, the certificate in the `x5c` header, `iss` ISSUER,
`aud` SERVICE, and the `access` asked for (the token service of a real
registry, for Debian's docker-registry). Each request is logged to FILE as
`METHOD PATH STATUS` (the Authorization header never is).
"""
import argparse
import base64
import hashlib
import json
import secrets
import signal
import subprocess
import time
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

INDEX = "application/vnd.oci.image.index.v1+json"
LOCK = threading.Lock()
BLOBS = {}          # digest -> bytes
MANIFESTS = {}      # (repo, ref) -> (bytes, media type); ref a tag or a digest
UPLOADS = {}        # uuid -> bytearray
TOKENS = {}         # token -> set of (repo, action)


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body=b"", headers=None, head=False):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers = dict(headers or {}, **{"Content-Type": (headers or {}).get("Content-Type", "application/json")})
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        self.end_headers()
        if not head:
            self.wfile.write(body)
        with open(self.server.log_path, "a") as f:
            f.write(f"{self.command} {self.path} {status}\n")

    def error(self, status, code, message, headers=None, head=False):
        self.answer(status, {"errors": [{"code": code, "message": message}]}, headers, head)

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    # --- the bearer-token flow -------------------------------------------------

    def token_endpoint(self, query):
        auth = self.headers.get("Authorization", "")
        logins = {"Basic " + base64.b64encode(login.encode()).decode(): login
                  for login in [self.server.token_login, self.server.reader_login] if login}
        if auth not in logins:
            return self.error(401, "UNAUTHORIZED", "invalid username/password")
        login = logins[auth]
        read_only = login == self.server.reader_login
        granted = set()
        for scope in query.get("scope", []):
            parts = scope.split(":")
            if len(parts) == 3 and parts[0] == "repository":
                granted |= {(parts[1], a) for a in parts[2].split(",") if a == "pull" or not read_only}
        if self.server.jwt:
            token = self.jwt(granted, query, login)
        else:
            token = secrets.token_hex(16)
            with LOCK:
                TOKENS[token] = granted
        self.answer(200, {"token": token, "access_token": token, "expires_in": 300})

    def jwt(self, granted, query, login):
        key, cert, issuer, service = self.server.jwt
        def b64(data):
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
        with open(cert) as f:
            der = "".join(line.strip() for line in f if not line.startswith("-----"))
        now = int(time.time())
        access = {}
        for repo, action in sorted(granted):
            access.setdefault(repo, []).append(action)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [der]}
        claims = {"iss": issuer, "sub": login.split(":")[0], "aud": query.get("service", [service])[0],
                  "exp": now + 300, "nbf": now - 10, "iat": now, "jti": secrets.token_hex(8),
                  "access": [{"type": "repository", "name": r, "actions": a} for r, a in access.items()]}
        signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key], input=signing_input.encode(),
                                   capture_output=True, check=True).stdout
        return signing_input + "." + b64(signature)

    def authorized(self, repo, action, head):
        if not self.server.token_login:
            return True
        auth = self.headers.get("Authorization", "")
        with LOCK:
            granted = TOKENS.get(auth[len("Bearer "):]) if auth.startswith("Bearer ") else None
        if granted is not None and (repo is None or (repo, action) in granted):
            return True
        realm = f"http://127.0.0.1:{self.server.server_port}/token"
        challenge = f'Bearer realm="{realm}",service="fake-registry"'
        if repo is not None:
            actions = "pull" if action == "pull" else "pull,push"
            challenge += f',scope="repository:{repo}:{actions}"'
        self.error(401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": challenge}, head)
        return False

    # --- routing ---------------------------------------------------------------

    def route(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        path = url.path
        head = self.command == "HEAD"
        if path == "/token" and self.command == "GET" and self.server.token_login:
            return self.token_endpoint(query)
        if path in ("/v2", "/v2/"):
            if self.authorized(None, "pull", head):
                self.answer(200, {}, head=head)
            return
        if not path.startswith("/v2/"):
            return self.error(404, "NOT_FOUND", "not found", head=head)
        rest = path[len("/v2/"):]
        for kind in ("/blobs/uploads/", "/blobs/", "/manifests/", "/referrers/", "/tags/list"):
            if kind in rest:
                repo, arg = rest.split(kind, 1)
                break
        else:
            return self.error(404, "NAME_UNKNOWN", "unknown route", head=head)
        action = "pull" if self.command in ("GET", "HEAD") else "push"
        if not self.authorized(repo, action, head):
            return
        if kind == "/blobs/uploads/":
            return self.upload(repo, arg, query)
        if kind == "/blobs/":
            with LOCK:
                data = BLOBS.get(arg)
            if data is None:
                return self.error(404, "BLOB_UNKNOWN", "blob unknown", head=head)
            return self.answer(200, data, {"Docker-Content-Digest": arg, "Content-Type": "application/octet-stream"}, head)
        if kind == "/manifests/":
            return self.manifest(repo, arg, head)
        if kind == "/referrers/":
            return self.referrers(repo, arg, query)
        with LOCK:
            tags = sorted({ref for (r, ref) in MANIFESTS if r == repo and not ref.startswith("sha256:")})
        return self.answer(200, {"name": repo, "tags": tags})

    def upload(self, repo, arg, query):
        if self.command == "POST":
            data = self.body()
            if "digest" in query:
                digest = query["digest"][0]
                if sha256(data) != digest:
                    return self.error(400, "DIGEST_INVALID", "digest mismatch")
                with LOCK:
                    BLOBS[digest] = data
                return self.answer(201, b"", {"Location": f"/v2/{repo}/blobs/{digest}", "Docker-Content-Digest": digest})
            uuid = secrets.token_hex(8)
            with LOCK:
                UPLOADS[uuid] = bytearray(data)
            return self.answer(202, b"", {"Location": f"/v2/{repo}/blobs/uploads/{uuid}", "Range": "0-0", "Docker-Upload-UUID": uuid})
        uuid = arg.strip("/")
        with LOCK:
            known = uuid in UPLOADS
        if not known:
            return self.error(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown")
        data = self.body()
        with LOCK:
            UPLOADS[uuid] += data
            size = len(UPLOADS[uuid])
        if self.command == "PATCH":
            return self.answer(202, b"", {"Location": f"/v2/{repo}/blobs/uploads/{uuid}", "Range": f"0-{max(0, size - 1)}",
                                          "Docker-Upload-UUID": uuid})
        if self.command == "PUT":
            digest = query.get("digest", [""])[0]
            with LOCK:
                blob = bytes(UPLOADS.pop(uuid))
            if sha256(blob) != digest:
                return self.error(400, "DIGEST_INVALID", "digest mismatch")
            with LOCK:
                BLOBS[digest] = blob
            return self.answer(201, b"", {"Location": f"/v2/{repo}/blobs/{digest}", "Docker-Content-Digest": digest})
        return self.error(405, "UNSUPPORTED", "method not allowed")

    def manifest(self, repo, ref, head):
        if self.command in ("GET", "HEAD"):
            with LOCK:
                found = MANIFESTS.get((repo, ref))
            if found is None:
                return self.error(404, "MANIFEST_UNKNOWN", "manifest unknown", head=head)
            data, media = found
            return self.answer(200, data, {"Content-Type": media, "Docker-Content-Digest": sha256(data)}, head)
        if self.command != "PUT":
            return self.error(405, "UNSUPPORTED", "method not allowed")
        data = self.body()
        media = self.headers.get("Content-Type", "")
        digest = sha256(data)
        if ref.startswith("sha256:") and ref != digest:
            return self.error(400, "DIGEST_INVALID", "digest mismatch")
        with LOCK:
            MANIFESTS[(repo, digest)] = (data, media)
            MANIFESTS[(repo, ref)] = (data, media)
        headers = {"Location": f"/v2/{repo}/manifests/{digest}", "Docker-Content-Digest": digest}
        subject = (json.loads(data or b"{}").get("subject") or {}).get("digest")
        if subject and self.server.referrers:
            headers["OCI-Subject"] = subject
        return self.answer(201, b"", headers)

    def referrers(self, repo, digest, query):
        if not self.server.referrers:
            return self.error(404, "NOT_FOUND", "no referrers API")
        wanted = query.get("artifactType", [None])[0]
        entries = []
        with LOCK:
            items = [(ref, d, m) for (r, ref), (d, m) in MANIFESTS.items() if r == repo and ref.startswith("sha256:")]
        for ref, data, media in sorted(items):
            doc = json.loads(data or b"{}")
            if (doc.get("subject") or {}).get("digest") != digest:
                continue
            kind = doc.get("artifactType") or (doc.get("config") or {}).get("mediaType")
            if wanted and kind != wanted:
                continue
            entry = {"mediaType": media, "digest": ref, "size": len(data), "artifactType": kind}
            if doc.get("annotations"):
                entry["annotations"] = doc["annotations"]
            entries.append(entry)
        headers = {"Content-Type": INDEX}
        if wanted:
            headers["OCI-Filters-Applied"] = "artifactType"
        return self.answer(200, {"schemaVersion": 2, "mediaType": INDEX, "manifests": entries}, headers)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = route


def main():
    # A test runner may start it with SIGTERM blocked (inherited): stop() must work.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--no-referrers", action="store_true")
    p.add_argument("--token", default="")
    p.add_argument("--reader", default="")
    p.add_argument("--jwt", nargs=4, metavar=("KEY", "CERT", "ISSUER", "SERVICE"))
    p.add_argument("--log", required=True)
    a = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    server.referrers = not a.no_referrers
    server.token_login = a.token
    server.jwt = a.jwt
    server.reader_login = a.reader
    server.log_path = a.log
    open(a.log, "w").close()
    server.serve_forever()


if __name__ == "__main__":
    main()
