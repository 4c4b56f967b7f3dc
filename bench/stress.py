"""Load test: concurrent readers (linkage, SPARQL, saved queries, exports) while a steward keeps re-importing.

    python bench/stress.py                         # 64 clients, 60 s, bundled case + 1e5 synthetic triples
    python bench/stress.py --seconds 10 --clients 16 --triples 0      # a smoke run, bundled case only

A real ``oversight serve`` (auth on, tokens made beforehand, no rate limit) on loopback over a fresh store in
bench/out/stress-run/ (log: bench/out/stress-server.log): the bundled case, then the synthetic source. Each
request of the mix is fetched once as its reference; then ``--clients`` keep-alive clients ask at random
(seeded) for ``--seconds`` while a steward PUTs the synthetic file and the bundled CSV folder (zipped) again and
again. The statements never change, so each answer must equal its reference but for the data version, cursors
and times (else it is partial or mixed), and arrive whole (length, chunked end; JSON, zip, XML, RDF parse).
Then ``audit verify`` runs and the audit's responses (path, status, body SHA-256) are matched one to one with
the answers received. Prints markdown tables; writes bench/out/stress.json (bad bodies: stress-sample-N.bin).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from common import MAX_UPLOAD_BYTES, free_port, serve, stop, vm  # noqa: E402  # bench/common.py

OUT = BENCH / "out"
# the server's settings (bench/isolation.py's too): auth on, no rate limit, the bundled case, requests logged
SERVER = {"AUTH": "true", "RATE_LIMIT": "0", "MAX_UPLOAD_BYTES": MAX_UPLOAD_BYTES, "LOAD_BUNDLED": "true",
          "LOG_LEVEL": "INFO"}
SELECT = "SELECT ?o ?id WHERE { ?o a ov:Officer ; ov:identifier ?id } ORDER BY ?id LIMIT 50"
AGGREGATE = """SELECT ?officer (COUNT(DISTINCT ?investigation) AS ?n) WHERE {
  ?finding a ov:Finding ; ov:officer ?officer ; ov:allegation ?allegation .
  ?allegation ov:investigation ?investigation .
} GROUP BY ?officer HAVING (COUNT(DISTINCT ?investigation) >= 2) ORDER BY ?officer"""
VERSION = re.compile(rb"(?<![0-9a-f])[0-9a-f]{16}(?![0-9a-f])")  # a data version (entity ids are 20 hex)
VOLATILE = ("data_version", "next", "generated_at")  # top-level JSON keys naming the version or the time
Answer = tuple[int, dict[str, str], bytes, float]  # status, headers, body, seconds


class Lost(Exception):
    """No complete answer: the connection failed or the body was cut."""


class Client:
    """One keep-alive connection; every complete answer is tallied for the audit cross-check."""

    tally: ClassVar[Counter[tuple[str, str, int, str]]] = Counter()
    lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, port: int, timeout: float = 600) -> None:
        self.port, self.timeout = port, timeout
        self.conn: http.client.HTTPConnection | None = None

    def send(self, method: str, path: str, token: str | None, body: bytes | None = None, media: str = "") -> Answer:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update({"Content-Type": media} if media else {})
        start = time.perf_counter()
        try:
            conn = self.conn = self.conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()  # IncompleteRead when a sized or chunked body is cut short
            seconds, head = time.perf_counter() - start, {k.lower(): v for k, v in response.getheaders()}
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise Lost(f"{type(exc).__name__}: {exc}") from None
        if "content-length" in head and int(head["content-length"]) != len(data):
            raise Lost(f"Content-Length {head['content-length']} but {len(data)} bytes")
        if response.will_close:
            self.close()
        if path != "/health" and response.status not in (401, 403, 429):  # those have no response record
            with Client.lock:
                Client.tally[(method, path.split("?")[0], response.status, hashlib.sha256(data).hexdigest())] += 1
        return response.status, head, data, seconds

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@dataclass(frozen=True)
class Kind:
    name: str  # its row in the report
    role: str  # reader or investigator
    path: str
    check: str  # json | sparql | graphml | xml (version left out) | zip | rdf:EXTENSION
    weight: int
    body: bytes | None = None  # POSTed as application/sparql-query
    vary: bool = False  # a new comment in each query text, so the service parses it again (no cache)

    def ask(self, client: Client, token: str, salt: str = "") -> Answer:
        if self.body is None:
            return client.send("GET", self.path, token)
        body = f"# {salt}\n".encode() + self.body if self.vary else self.body
        return client.send("POST", self.path, token, body, "application/sparql-query")


def fingerprint(check: str, body: bytes, full: bool = False) -> str:
    """A digest of the answer without what names the version; raises ValueError or SyntaxError if malformed."""
    if check in ("json", "sparql"):
        data = json.loads(body)
        if check == "sparql" and "results" not in data:
            raise ValueError("not SPARQL JSON results")
        body = json.dumps({k: v for k, v in data.items() if k not in VOLATILE}, sort_keys=True).encode()
    elif check == "zip":
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            if archive.testzip() is not None:
                raise ValueError("corrupt zip member")
            json.loads(archive.read("manifest.json"))
            body = b"".join(archive.read(n) for n in sorted(archive.namelist()) if n != "manifest.json")
    elif check == "xml":
        body = VERSION.sub(b"V", body)
    if full and check in ("graphml", "xml"):
        ET.fromstring(body)
    elif full and check.startswith("rdf:"):
        import pyoxigraph as ox

        sum(1 for _ in ox.parse(body, format=ox.RdfFormat.from_extension(check[4:])))
    return hashlib.sha256(body).hexdigest()


def mix(client: Client, token: str) -> list[Kind]:
    near: dict[str, set[str]] = {}  # officers one co-accusal apart, for paths of one and two hops
    for item in json.loads(client.send("GET", "/linkage/co-accused?min_shared=1&limit=500", token)[2])["items"]:
        near.setdefault(item["officer"]["id"], set()).add(item["other"]["id"])
        near.setdefault(item["other"]["id"], set()).add(item["officer"]["id"])
    pairs = [(a, min(bs)) for a, bs in sorted(near.items())][:1]
    pairs += [(a, c) for a, bs in sorted(near.items()) for b in sorted(bs) for c in sorted(near[b])
              if c != a and c not in bs][:1]
    investigation = json.loads(client.send("GET", "/investigations?limit=1", token)[2])["items"][0]["investigation"]
    return [Kind("linkage/repeat-subjects", "reader", "/linkage/repeat-subjects?min_investigations=2&limit=20", "json", 4),
            Kind("linkage/co-accused", "reader", "/linkage/co-accused?min_shared=1&limit=20", "json", 4),
            Kind("linkage/shared-groups", "reader", "/linkage/shared-groups?outcome=dismissal&limit=20", "json", 3),
            *(Kind("linkage/path", "reader", f"/linkage/path?from={a}&to={b}&limit=5", "json", 2) for a, b in pairs),
            Kind("officers", "reader", "/officers?limit=50", "json", 2),
            Kind("officers", "reader", "/officers?outcome=dismissal", "json", 1),
            Kind("sparql/select", "investigator", "/sparql?query=" + urllib.parse.quote(SELECT), "sparql", 3),
            Kind("sparql/aggregate", "investigator", "/sparql", "sparql", 2, AGGREGATE.encode()),
            Kind("sparql/new-text", "investigator", "/sparql", "sparql", 1, SELECT.encode(), vary=True),
            Kind("queries/saved", "investigator", "/queries/officers-in-several-investigations?min=2", "sparql", 1),
            Kind("queries/saved", "investigator", "/queries/co-accused-pairs?min=2", "sparql", 1),
            Kind("export/graphml", "reader", "/export/officers.graphml", "graphml", 1),
            Kind("export/gexf", "reader", "/export/officers.gexf?kinds=co-accused&min_weight=2", "xml", 1),
            Kind("export/csv", "reader", "/export/full.csv", "zip", 1),
            Kind("export/rdf", "reader", "/export/full.nt", "rdf:nt", 1),
            Kind("export/rdf", "reader", f"/export/investigation/{investigation['id']}.ttl", "rdf:ttl", 1)]


@dataclass
class Run:
    port: int
    kinds: list[Kind]
    reference: dict[Kind, str]
    tokens: dict[str, list[str]]
    payloads: list[tuple[str, bytes, str]]
    seed: int
    max_requests: int
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    issued: int = 0
    rows: list[tuple[str, float, int, str, float]] = field(default_factory=list)  # kind, s, status, problem, end
    imports: list[tuple[float, int, str]] = field(default_factory=list)  # seconds, status, version or problem
    samples: list[bytes] = field(default_factory=list)

    def client(self, i: int) -> None:
        rng, conn, mine = random.Random(self.seed * 1000 + i), Client(self.port), []
        while not self.stop.is_set():
            with self.lock:
                if self.issued >= self.max_requests:
                    break
                self.issued += 1
            kind = rng.choices(self.kinds, [k.weight for k in self.kinds])[0]
            try:
                status, _, body, seconds = kind.ask(conn, self.tokens[kind.role][i % 8], f"{i}-{self.issued}")
            except Lost as exc:
                mine.append((kind.name, math.nan, 0, f"lost: {exc}", time.monotonic()))
                continue
            problem = "" if status == 200 else f"{status} on {kind.name}: {body[:200].decode(errors='replace')}"
            if status == 200:
                try:
                    if fingerprint(kind.check, body) != self.reference[kind]:
                        fingerprint(kind.check, body, full=True)
                        problem = f"differs from the reference: {kind.path}"
                except (ValueError, SyntaxError, KeyError, zipfile.BadZipFile) as exc:
                    problem = f"malformed: {kind.path}: {type(exc).__name__}: {exc}"[:300]
                if problem and len(self.samples) < 10:
                    self.samples.append(body)
            mine.append((kind.name, seconds, status, problem, time.monotonic()))
        conn.close()
        with self.lock:
            self.rows.extend(mine)

    def importer(self) -> None:
        conn, turn = Client(self.port, timeout=1800), 0
        while not self.stop.is_set():
            name, body, media = self.payloads[turn % len(self.payloads)]
            turn += 1
            try:
                status, _, answer, seconds = conn.send("PUT", f"/sources/{name}", self.tokens["steward"][0], body, media)
                said = json.loads(answer).get("data_version", "") if status < 300 else answer[:300].decode(errors="replace")
                self.imports.append((seconds, status, said))
            except Lost as exc:
                self.imports.append((math.nan, 0, f"lost: {exc}"))
            if self.imports[-1][1] not in (200, 201):
                time.sleep(1)
        conn.close()


def audit_check(store: Path) -> dict[str, Any]:
    """``audit verify``'s verdict, and the audit's answers matched one to one with those received."""
    done = subprocess.run([sys.executable, "-m", "api", "audit", "verify"], check=False, capture_output=True,
                          text=True, env={**os.environ, "OVERSIGHT_DATA_DIR": str(store)})
    asked: dict[str, dict[str, Any]] = {}
    answered: Counter[tuple[str, str, int, str]] = Counter()
    events: Counter[str] = Counter()
    incomplete = errors = 0
    for line in (store / "audit" / "audit.jsonl").read_text("utf-8").splitlines():
        record = json.loads(line)
        events[record["event"]] += 1
        if record["event"] == "request":
            asked[record["id"]] = record
        elif record["event"] == "response":
            incomplete, errors = incomplete + (not record["complete"]), errors + (record["status"] >= 500)
            request = asked[record["request"]]
            answered[(request["method"], request["path"], record["status"], record["sha256"])] += 1
    found = re.search(r"(\d+) records", done.stdout)
    return {"verify_exit": done.returncode, "verify": (done.stdout + done.stderr).strip(), "events": dict(events),
            "records": int(found.group(1)) if found else None, "incomplete": incomplete, "status_5xx": errors,
            "answered_not_received": sum((answered - Client.tally).values()),
            "received_not_recorded": sum((Client.tally - answered).values())}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(v for v in values if not math.isnan(v))
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else math.nan


def main(argv: list[str] | None = None) -> int:
    from api.access import Tokens
    from graph.ingest.cases import bundled_path

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--max-requests", type=int, default=1_000_000)
    parser.add_argument("--triples", type=float, default=1e5, help="synthetic source size; 0: the bundled case only")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, help="waitress threads (OVERSIGHT_THREADS; default: the server's)")
    parser.add_argument("--imports", action=argparse.BooleanOptionalAction, default=True, help="re-import meanwhile")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the server is stopped
    store, n = OUT / "stress-run" / "store", int(args.triples)
    shutil.rmtree(store.parent, ignore_errors=True)
    made = Tokens(store)
    tokens = {r: [made.create(r, f"stress {r} {i}")[1] for i in range(8)] for r in ("steward", "reader", "investigator")}
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:  # as `oversight load --server` sends a folder
        for csv_file in sorted(bundled_path().glob("*.csv")):
            zipped.write(csv_file, csv_file.name)
    payloads = [("charing-cross", archive.getvalue(), "application/zip")]
    if n:
        file = OUT / f"synthetic-{n}-s{args.seed}.nt"
        if not file.exists():
            subprocess.run([sys.executable, str(BENCH / "generate.py"), "--triples", str(n), "--seed",
                            str(args.seed), "-o", str(file)], check=True)
        payloads.insert(0, ("synthetic", file.read_bytes(), "application/n-triples"))
    log, load_before = OUT / "stress-server.log", os.getloadavg()  # others' work on this machine shows here
    log.unlink(missing_ok=True)  # this run's server output only: its error lines are counted below
    port = free_port()
    proc, _ = serve(store, port, log=log, env={**SERVER, "THREADS": args.threads or None})
    try:
        setup = Client(port)
        if n:
            status, _, body, seconds = setup.send("PUT", "/sources/synthetic", tokens["steward"][0], *payloads[0][1:])
            assert status == 201, body[:500]
            print(f"loaded the synthetic source ({n:,} triples) in {seconds:.1f} s", flush=True)
        kinds = mix(setup, tokens["reader"][0])
        reference = {}
        for kind in kinds:
            status, _, body, _ = kind.ask(setup, tokens[kind.role][0])
            assert status == 200, f"{kind.path}: {status} {body[:300]!r}"
            reference[kind] = fingerprint(kind.check, body, full=True)
        run = Run(port, kinds, reference, tokens, payloads, args.seed, args.max_requests)
        threads = [threading.Thread(target=run.client, args=(i,)) for i in range(args.clients)]
        loader = threading.Thread(target=run.importer)
        print(f"{args.clients} clients for {args.seconds:g} s on port {port}; {len(kinds)} requests in the mix", flush=True)
        start, cpu = time.monotonic(), (time.process_time(), vm(proc.pid)["cpu_s"])  # utime + stime
        for thread in ((loader,) if args.imports else ()) + tuple(threads):
            thread.start()
        while time.monotonic() < start + args.seconds and any(t.is_alive() for t in threads):
            time.sleep(0.2)
        run.stop.set()
        for thread in threads + [loader] * args.imports:
            thread.join()
        elapsed, cpu_client = time.monotonic() - start, time.process_time() - cpu[0]
        cpu_server = vm(proc.pid)["cpu_s"] - cpu[1]
        final_version = json.loads(setup.send("GET", "/health", None)[2])["data_version"]
        time.sleep(1)  # a response record is written just after its body is sent; SIGTERM would cut it
    finally:
        stop(proc)
    log_errors = [line for line in log.read_text(errors="replace").splitlines()
                  if re.search(r"Traceback|ERROR|Exception|CRITICAL", line)]
    audit = audit_check(store)
    for i, body in enumerate(run.samples):
        (OUT / f"stress-sample-{i}.bin").write_bytes(body)
    rows, done = run.rows, [i for i in run.imports if i[1] in (200, 201)]
    report: dict[str, Any] = {
        "clients": args.clients, "window_s": args.seconds, "elapsed_s": round(elapsed, 1), "triples": n,
        "seed": args.seed, "nproc": os.cpu_count(), "python": sys.version.split()[0], "requests": len(rows),
        "tree": [subprocess.run(["git", "--no-optional-locks", "-C", str(BENCH), *c], check=False, capture_output=True,
                                text=True).stdout.split() for c in (["rev-parse", "HEAD"], ["status", "--porcelain"])],
        "in_window": sum(r[4] <= start + args.seconds for r in rows), "throughput_rps": len(rows) / elapsed,
        "cpu_client_s": round(cpu_client, 1), "cpu_server_s": round(cpu_server, 1), "kinds": {},
        "loadavg_before_after": [load_before, os.getloadavg()],
        "imports": {"completed": len(done), "failed": [i for i in run.imports if i[1] not in (200, 201)],
                    "p50_s": pct([i[0] for i in done], 0.5), "max_s": pct([i[0] for i in done], 1.0),
                    "last_version": done[-1][2] if done else None, "health_after": final_version},
        "problems": Counter(r[3] for r in rows if r[3]).most_common(20), "audit": audit, "server_log_errors": log_errors[:50]}
    for name in sorted({kind.name for kind in kinds}):
        mine = [r for r in rows if r[0] == name]
        report["kinds"][name] = {
            "requests": len(mine), "2xx": sum(200 <= r[2] < 300 for r in mine), "4xx": sum(400 <= r[2] < 500 for r in mine),
            "5xx": sum(r[2] >= 500 for r in mine), "lost": sum(r[2] == 0 for r in mine),
            "bad_body": sum(bool(r[3]) and r[2] == 200 for r in mine), "p50_ms": pct([r[1] for r in mine], 0.5) * 1000,
            "p99_ms": pct([r[1] for r in mine], 0.99) * 1000, "max_ms": pct([r[1] for r in mine], 1.0) * 1000}
    (OUT / "stress.json").write_text(json.dumps(report, indent=2, default=str))
    print("\n| kind | requests | 2xx | 4xx | 5xx | lost | bad body | p50 ms | p99 ms | max ms |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, k in report["kinds"].items():
        print(f"| {name} | {k['requests']} | {k['2xx']} | {k['4xx']} | {k['5xx']} | {k['lost']} | {k['bad_body']} |"
              f" {k['p50_ms']:.0f} | {k['p99_ms']:.0f} | {k['max_ms']:.0f} |")
    imp = report["imports"]
    print(f"\n{len(rows)} requests ({report['in_window']} ended within the {args.seconds:g} s window) in {elapsed:.1f} s:"
          f" {report['throughput_rps']:.1f} requests/s; CPU s: server {cpu_server:.0f}, this client {cpu_client:.0f};"
          f" load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}\n"
          f"imports completed {imp['completed']} (p50 {imp['p50_s']:.1f} s, max {imp['max_s']:.1f} s), failed"
          f" {len(imp['failed'])}; last import's data version {imp['last_version']}, /health after {final_version}\n"
          f"audit verify (exit {audit['verify_exit']}): {audit['verify']}\naudit events {audit['events']}; responses"
          f" incomplete {audit['incomplete']}, 5xx {audit['status_5xx']}; answered but not received"
          f" {audit['answered_not_received']}; received but not recorded {audit['received_not_recorded']}\n"
          f"server log error lines: {len(log_errors)}; problems: {report['problems'] or 'none'}")
    bad = sum(k["5xx"] + k["lost"] + k["bad_body"] for k in report["kinds"].values()) + len(imp["failed"])
    return 1 if bad or audit["verify_exit"] or (args.imports and imp["last_version"] != final_version) else 0


if __name__ == "__main__":
    sys.exit(main())
