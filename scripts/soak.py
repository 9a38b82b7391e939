#!/usr/bin/env python3
"""Soak `polyrun serve` with the adversarial suite and stdin floods, watching its memory.

    scripts/soak.py [--runs N] [--binary PATH] [--parallel P]

Starts a server on a free port (loopback, no tokens, no rate limit), submits N runs cycling
through conformance/hostile.json (each attempt's own limits, the suite's otherwise), and
meanwhile floods interactive runs that never read with stdin lines; reports the server's
resident memory (VmRSS, its own process, workers excluded) before, every 250 runs and after,
and how the runs ended, as JSON on stdout. A campaign, not a test: no assertion, numbers for
docs/security.md.
"""
import argparse, json, os, re, subprocess, sys, tempfile, threading, time, urllib.request
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIMITS = {"wall_time_ms": 2000, "memory_bytes": 64 << 20, "output_bytes": 64 << 10}


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def call(base, method, path, body=None, timeout=60):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--binary", default=os.path.expanduser("~/.cache/polyrun/target/debug/polyrun"))
    args = ap.parse_args()
    cases = json.load(open(os.path.join(ROOT, "conformance/hostile.json")))["cases"]
    marker_dir = tempfile.mkdtemp(prefix="polyrun-soak-")
    server = subprocess.Popen(
        [args.binary, "serve", "--listen", "127.0.0.1:0", "--no-site", "--token-rate", "0",
         "--token-concurrency", "64", "--max-queued", "256", "--max-running", str(args.parallel),
         "--retain-runs", "1000"],
        stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    base = re.search(r"(http://\S+)", line).group(1)
    time.sleep(0.5)
    samples = [{"runs": 0, "rss_kb": rss_kb(server.pid)}]
    statuses, done, lock = {}, [0], threading.Lock()

    def one(i):
        c = cases[i % len(cases)]
        code = c["code"].replace("{MARKER}", os.path.join(marker_dir, f"m{i}"))
        status, run = call(base, "POST", "/v1/runs", {
            "language": c["language"], "code": code, "limits": {**LIMITS, **c.get("limits", {})}})
        if status != 201:
            outcome = f"http {status}"
        else:
            while True:
                status, view = call(base, "GET", f"/v1/runs/{run['id']}?wait_ms=30000")
                if view.get("status") not in ("queued", "running"):
                    break
            outcome = view.get("status")
        with lock:
            statuses[outcome] = statuses.get(outcome, 0) + 1
            done[0] += 1
            if done[0] % 250 == 0:
                samples.append({"runs": done[0], "rss_kb": rss_kb(server.pid)})

    def flood():
        # Interactive runs that never read stdin, each sent 40 lines of 800 KB, then cancelled.
        for _ in range(5):
            status, run = call(base, "POST", "/v1/runs", {
                "language": "lua", "code": "while true do end", "interactive": True,
                "limits": {"wall_time_ms": 20000}})
            if status != 201:
                continue
            for _ in range(40):
                call(base, "POST", f"/v1/runs/{run['id']}/stdin", {"text": "x" * 800_000})
            call(base, "POST", f"/v1/runs/{run['id']}/cancel")

    start = time.time()
    flooder = threading.Thread(target=flood)
    flooder.start()
    with ThreadPoolExecutor(args.parallel * 2) as pool:
        list(pool.map(one, range(args.runs)))
    flooder.join()
    time.sleep(2)
    samples.append({"runs": done[0], "rss_kb": rss_kb(server.pid), "after": "idle 2 s"})
    escaped = os.listdir(marker_dir)
    server.terminate()
    server.wait(30)
    print(json.dumps({"runs": done[0], "seconds": round(time.time() - start, 1),
                      "outcomes": statuses, "rss": samples, "markers_created": escaped}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
