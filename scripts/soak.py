#!/usr/bin/env python3
"""Soak test of `dsv3 serve`: hostile and ordinary traffic for a bounded time.

Starts the server on a free loopback port, then runs, until --seconds have passed or
--max-requests were sent:
  * --clients concurrent streaming clients (chat and completions), a third of which hang up
    at a random point mid-stream;
  * malformed requests: bad JSON, wrong types, out-of-range values, huge fields, oversized
    bodies, bad or missing headers, broken chunked bodies, unknown paths and methods;
  * --slow-clients slow clients that send their request one byte per second.

Every minute (and at the end) it prints: completed / 4xx / 5xx / hangs / dropped / server
RSS. A hang is a request that got no answer (or, streaming, no byte) within --deadline
seconds; dropped is a connection the server closed without answering (httplib does that for
some malformed HTTP). It exits non-zero on any 5xx, any hang, or when the server dies.
Python 3 standard library only; loopback only; it stops by itself.
"""

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

HOST = "127.0.0.1"


class Stats:
    """Counters per reporting window and in total, shared by the client threads."""

    KEYS = ("completed", "4xx", "5xx", "hangs", "dropped", "disconnects", "slow_answered")

    def __init__(self):
        self.lock = threading.Lock()
        self.window = dict.fromkeys(self.KEYS, 0)
        self.total = dict.fromkeys(self.KEYS, 0)
        self.sent = 0
        self.failures = []  # (kind, description), for the final report

    def add(self, key, what=None):
        with self.lock:
            self.window[key] += 1
            self.total[key] += 1
            if key in ("5xx", "hangs") and len(self.failures) < 20:
                self.failures.append((key, what))

    def take_window(self):
        with self.lock:
            w, self.window = self.window, dict.fromkeys(self.KEYS, 0)
            return w


class Hang(Exception):
    pass


class Dropped(Exception):
    pass


def read_until(sock, buf, marker, deadline):
    """Reads into buf until it holds marker; returns its index. Hang/Dropped otherwise."""
    while True:
        i = buf.find(marker)
        if i >= 0:
            return i
        try:
            sock.settimeout(deadline)
            chunk = sock.recv(65536)
        except socket.timeout:
            raise Hang("no answer within the deadline")
        except OSError as e:
            raise Dropped(str(e))
        if not chunk:
            raise Dropped("connection closed before the answer was complete")
        buf.extend(chunk)


def read_response(sock, deadline, stop_after_chunks=None):
    """Reads one HTTP response; returns (status, body bytes, hung_up_early).

    With stop_after_chunks, closes the connection after that many body chunks (a client
    that disconnects mid-stream)."""
    buf = bytearray()
    end = read_until(sock, buf, b"\r\n\r\n", deadline)
    head = bytes(buf[:end]).decode("latin-1")
    del buf[: end + 4]
    status_line = head.split("\r\n", 1)[0]
    parts = status_line.split(" ")
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise Dropped("not an HTTP status line: %r" % status_line[:80])
    status = int(parts[1])
    headers = {}
    for line in head.split("\r\n")[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    body = bytearray()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = 0
        while True:
            end = read_until(sock, buf, b"\r\n", deadline)
            size = int(bytes(buf[:end]).split(b";")[0] or b"0", 16)
            del buf[: end + 2]
            if size == 0:
                break
            while len(buf) < size + 2:
                try:
                    sock.settimeout(deadline)
                    chunk = sock.recv(65536)
                except socket.timeout:
                    raise Hang("stream stalled for the deadline")
                if not chunk:
                    raise Dropped("stream closed mid-chunk")
                buf.extend(chunk)
            body.extend(buf[:size])
            del buf[: size + 2]
            chunks += 1
            if stop_after_chunks is not None and chunks >= stop_after_chunks:
                return status, bytes(body), True
    elif "content-length" in headers:
        n = int(headers["content-length"])
        while len(buf) < n:
            try:
                sock.settimeout(deadline)
                chunk = sock.recv(65536)
            except socket.timeout:
                raise Hang("body stalled for the deadline")
            if not chunk:
                raise Dropped("closed mid-body")
            buf.extend(chunk)
        body = buf[:n]
    return status, bytes(body), False


def http_request(method, path, body=b"", headers=None, content_length=True):
    h = {"Host": "%s" % HOST, "Connection": "close"}
    if body and content_length:
        h["Content-Length"] = str(len(body))
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    head = "%s %s HTTP/1.1\r\n" % (method, path)
    head += "".join("%s: %s\r\n" % kv for kv in h.items())
    return head.encode() + b"\r\n" + body


def chat_body(rng, stream, max_tokens):
    words = ["Tell", "me", "about", "the", "city", "and", "the", "jury", "today", "please"]
    text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 30)))
    return json.dumps({"model": "default", "stream": stream, "max_tokens": max_tokens,
                       "temperature": rng.choice([0, 0.7, 1.0]), "seed": rng.randint(0, 1000),
                       "messages": [{"role": "user", "content": text}]}).encode()


def completion_body(rng, stream, max_tokens):
    return json.dumps({"prompt": "Once upon a time " * rng.randint(1, 8), "stream": stream,
                       "max_tokens": max_tokens}).encode()


def malformed_requests(rng):
    """(name, raw request bytes) of hostile requests; each must get a 4xx (or be dropped)."""
    big = "x" * rng.choice([100_000, 1_000_000, 4_000_000])
    p = "/v1/chat/completions"
    msg = [{"role": "user", "content": "hi"}]
    bodies = [
        ("bad json", b'{"messages": [', {}),
        ("not an object", b"[1, 2, 3]", {}),
        ("invalid utf-8", b'{"prompt": "\xff\xfe"}', {}),
        ("messages as string", json.dumps({"messages": "hi"}).encode(), {}),
        ("max_tokens as string", json.dumps({"messages": msg, "max_tokens": "9"}).encode(), {}),
        ("negative temperature", json.dumps({"messages": msg, "temperature": -1}).encode(), {}),
        ("n too large", json.dumps({"messages": msg, "n": 10**6}).encode(), {}),
        ("huge top_logprobs", json.dumps({"messages": msg, "top_logprobs": 10**9}).encode(), {}),
        ("huge content", json.dumps({"messages": [{"role": "user", "content": big}],
                                     "max_tokens": 1}).encode(), {}),
        ("huge stop list", json.dumps({"messages": msg, "stop": ["s"] * 10000}).encode(), {}),
        ("token ids out of range", json.dumps({"prompt": [10**9, -5]}).encode(), {}),
        ("deep-ish nesting", (b"[" * 200 + b"]" * 200), {}),
        ("unknown role", json.dumps({"messages": [{"role": "wizard", "content": 1}]}).encode(), {}),
    ]
    reqs = [(name, http_request("POST", rng.choice([p, "/v1/completions"]), b, h))
            for name, b, h in bodies]
    reqs += [
        ("body over the limit", http_request("POST", p, b"{" + b" " * (9 << 20) + b"}")),
        ("unknown path", http_request("GET", "/v1/nothing/" + "a" * 100)),
        ("wrong method", http_request("DELETE", p)),
        ("bad content-length", b"POST " + p.encode() + b" HTTP/1.1\r\nHost: x\r\n"
         b"Content-Length: abc\r\nConnection: close\r\n\r\n{}"),
        ("huge content-length", b"POST " + p.encode() + b" HTTP/1.1\r\nHost: x\r\n"
         b"Content-Length: 99999999999999999999\r\nConnection: close\r\n\r\n{}"),
        ("header without colon", b"GET /health HTTP/1.1\r\nno-colon-here\r\nConnection: close\r\n\r\n"),
        ("huge header", b"GET /health HTTP/1.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"),
        ("many headers", b"GET /health HTTP/1.1\r\n" + b"X-A: b\r\n" * 500 + b"Connection: close\r\n\r\n"),
        ("garbage request line", b"\x00\x01\x02 garbage\r\n\r\n"),
        ("bad chunked body", b"POST " + p.encode() + b" HTTP/1.1\r\nHost: x\r\n"
         b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
        ("http/0.9-ish", b"GET /\r\n\r\n"),
        ("long url", b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n"),
    ]
    return reqs


class Soak:
    def __init__(self, args):
        self.args = args
        self.stats = Stats()
        self.end_time = time.monotonic() + args.seconds
        self.stopping = threading.Event()

    def budget_left(self):
        with self.stats.lock:
            if self.stats.sent >= self.args.max_requests:
                return False
            self.stats.sent += 1
        return time.monotonic() < self.end_time and not self.stopping.is_set()

    def connect(self):
        s = socket.create_connection((HOST, self.args.port), timeout=self.args.deadline)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def exchange(self, raw, what, stop_after_chunks=None):
        """Sends raw, reads the answer and counts it."""
        try:
            with self.connect() as s:
                try:
                    s.sendall(raw)
                except OSError:
                    pass  # the server may answer (413, 400) before reading everything
                status, body, hung_up = read_response(s, self.args.deadline, stop_after_chunks)
        except Hang as e:
            self.stats.add("hangs", "%s: %s" % (what, e))
            return
        except (Dropped, ConnectionError) as e:
            self.stats.add("dropped", "%s: %s" % (what, e))
            return
        if hung_up:
            self.stats.add("disconnects")
        elif status >= 500:
            self.stats.add("5xx", "%s: %d %s" % (what, status, body[:200]))
        elif status >= 400:
            self.stats.add("4xx")
        else:
            self.stats.add("completed")

    def streaming_client(self, seed):
        rng = random.Random(seed)
        while self.budget_left():
            chat = rng.random() < 0.6
            body = (chat_body if chat else completion_body)(rng, True, rng.randint(4, 48))
            path = "/v1/chat/completions" if chat else "/v1/completions"
            stop_after = rng.randint(1, 10) if rng.random() < 0.33 else None
            self.exchange(http_request("POST", path, body), "stream " + path, stop_after)

    def malformed_client(self, seed):
        rng = random.Random(seed)
        while self.budget_left():
            name, raw = rng.choice(malformed_requests(rng))
            self.exchange(raw, "malformed: " + name)
            time.sleep(rng.uniform(0, 0.2))

    def slow_client(self, seed):
        """Sends a valid request one byte per second; counts whether it is ever answered."""
        rng = random.Random(seed)
        while self.budget_left():
            raw = http_request("POST", "/v1/completions", completion_body(rng, False, 2))
            try:
                with self.connect() as s:
                    for i in range(len(raw)):
                        if time.monotonic() >= self.end_time:
                            break
                        s.sendall(raw[i:i + 1])
                        time.sleep(1.0)
                    else:
                        read_response(s, self.args.deadline)
                        self.stats.add("slow_answered")
            except (Hang, Dropped, OSError):
                pass  # a server may time a slow client out; that is its right

    def monitor(self, server):
        start = time.monotonic()
        minute = 0
        while not self.stopping.wait(timeout=1.0):
            if server.poll() is not None:
                print("soak: the server exited with status %s" % server.returncode, flush=True)
                self.stopping.set()
                return
            if time.monotonic() - start >= 60 * (minute + 1):
                minute += 1
                self.report("minute %d" % minute, self.stats.take_window(), server)

    def report(self, label, counts, server):
        print("soak: %-9s completed %5d  4xx %5d  5xx %3d  hangs %3d  dropped %4d  "
              "disconnects %4d  slow answered %3d  server RSS %s"
              % (label, counts["completed"], counts["4xx"], counts["5xx"], counts["hangs"],
                 counts["dropped"], counts["disconnects"], counts["slow_answered"],
                 rss_of(server.pid)), flush=True)


def rss_of(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return "%d MiB" % (int(line.split()[1]) // 1024)
    except OSError:
        pass
    return "gone"


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_healthy(port, server, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if server.poll() is not None:
            return False
        try:
            with socket.create_connection((HOST, port), timeout=2) as s:
                s.sendall(http_request("GET", "/health"))
                status, _, _ = read_response(s, 5)
                if status == 200:
                    return True
        except (OSError, Hang, Dropped):
            pass
        time.sleep(0.2)
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default="build/release/dsv3")
    ap.add_argument("--model", default="models/default")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--max-requests", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=8, help="concurrent streaming clients")
    ap.add_argument("--malformed-clients", type=int, default=2)
    ap.add_argument("--slow-clients", type=int, default=2)
    ap.add_argument("--deadline", type=float, default=30,
                    help="seconds without an answer (or a streamed byte) that make a hang")
    ap.add_argument("--port", type=int, default=0, help="0: a free port")
    ap.add_argument("--server-log", default=None, help="server stderr (default: a temp file)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--serve-arg", action="append", default=[],
                    help="extra argument for dsv3 serve (repeat)")
    args = ap.parse_args()
    args.port = args.port or free_port()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)

    log_path = args.server_log or "/tmp/dsv3-soak-%d.log" % os.getpid()
    log = open(log_path, "wb")
    cmd = [args.binary, "serve", "--model", args.model, "--host", HOST, "--port", str(args.port),
           "--no-log"] + args.serve_arg
    print("soak: %s (seed %d, %gs, %d streaming + %d malformed + %d slow clients, "
          "deadline %gs; server log %s)" % (" ".join(cmd), seed, args.seconds, args.clients,
                                            args.malformed_clients, args.slow_clients,
                                            args.deadline, log_path), flush=True)
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_healthy(args.port, server, 120):
            print("soak: the server did not become healthy (see %s)" % log_path)
            return 1
        soak = Soak(args)
        soak.end_time = time.monotonic() + args.seconds
        workers = []
        for i in range(args.clients):
            workers.append(threading.Thread(target=soak.streaming_client, args=(seed + i,)))
        for i in range(args.malformed_clients):
            workers.append(threading.Thread(target=soak.malformed_client, args=(seed + 100 + i,)))
        for i in range(args.slow_clients):
            workers.append(threading.Thread(target=soak.slow_client, args=(seed + 200 + i,)))
        for w in workers:
            w.daemon = True
            w.start()
        mon = threading.Thread(target=soak.monitor, args=(server,), daemon=True)
        mon.start()
        # Workers end by themselves: no new request after the end time, and every read is
        # bounded by the deadline.
        for w in workers:
            w.join(timeout=max(0.0, soak.end_time - time.monotonic()) + 2 * args.deadline + 5)
        stuck = sum(w.is_alive() for w in workers)
        soak.stopping.set()
        mon.join()
        died = server.poll() is not None
        soak.report("last", soak.stats.take_window(), server)
        soak.report("total", soak.stats.total, server)
        t = soak.stats.total
        for kind, what in soak.stats.failures:
            print("soak: %s: %s" % (kind, what))
        if stuck:
            print("soak: %d client threads still blocked after the deadline" % stuck)
        bad = t["5xx"] + t["hangs"] + stuck + (1 if died else 0)
        print("soak: %s" % ("FAILED" if bad else "passed"))
        return 1 if bad else 0
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        log.close()


if __name__ == "__main__":
    sys.exit(main())
