#!/usr/bin/env python3
"""dsv3 against ik_llama.cpp and llama.cpp on the same weights, runs alternating.

usage: scripts/peer_bench.py DSV3 PEERS_DIR [--depths 512,4096] [--formats bf16,q8,q4]
                             [--pairs 3] [--threads 2] [--engines ik,llama] [--quick] [--nice N]
       scripts/peer_bench.py --self-test

PEERS_DIR is a scratch folder outside this repository holding the peers' builds and the
bench-moe weights in every format:
  PEERS_DIR/ik/build/bin/llama-bench          ik_llama.cpp (run with -rtr 1: run-time repacking)
  PEERS_DIR/llama.cpp/build/bin/llama-bench   llama.cpp
  PEERS_DIR/models/bench-moe-bf16, bench-moe-fp8                Hugging Face checkpoints
  PEERS_DIR/models/bench-moe-{BF16,Q8_0,Q4_K_M}.gguf            the same weights as GGUF
dsv3's q8 / q4 checkpoints (models/bench-moe-q8, bench-moe-q4) are made with `dsv3 quantize`
when missing. docs/performance.md says how the peers are built.

For each depth and format, PAIRS pairs run one after the other: dsv3 then each peer of --engines
(default ik: ik_llama.cpp; ik,llama adds llama.cpp), dsv3, the peers again, ... The machine
drifts from minute to minute, so each pair gives one ratio per peer and the table shows the
median ratio with the smallest and largest. Prefill is DEPTH prompt
tokens; decode is 64 tokens after DEPTH tokens of context (dsv3: `bench -p DEPTH -n 64`;
llama-bench: `-p DEPTH` and `-gp DEPTH,64` in ik_llama.cpp, `-d DEPTH -n 64` in llama.cpp).
The table goes to stdout, progress to stderr; --json-out FILE keeps every run's figures.
Python 3 standard library only; never part of the build or the tests.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

GGUF_OF = {"bf16": "BF16", "fp8": "BF16", "q8": "Q8_0", "q4": "Q4_K_M"}
GEN_TOKENS = 64


# ---------------------------------------------------------------- parsing the tools' outputs

def parse_dsv3_json(text):
    """The figures of one `dsv3 bench --json` run (its stdout).

    >>> r = parse_dsv3_json(SAMPLE_DSV3)
    >>> (r["prefill"], r["decode"], r["roofline_pct"], r["bytes_per_token"])
    (412.5, 51.25, 78.5, 427000000)
    """
    last = [line for line in text.strip().splitlines() if line.startswith("{")]
    if not last:
        raise ValueError("dsv3 bench printed no JSON object")
    d = json.loads(last[-1])
    return {"prefill": float(d["prefill_tok_s"]), "decode": float(d["decode_tok_s"]),
            "roofline_pct": float(d.get("roofline_pct", 0.0)),
            "bandwidth_gb_s": float(d.get("bandwidth_gb_s", 0.0)),
            "bytes_per_token": int(d.get("bytes_per_token", 0)),
            "kv_type": d.get("kv_type", "")}


def parse_llama_json(text):
    """Prefill and decode tok/s of one `llama-bench -o json` run, and the engine's commit.

    A prompt-only test (n_gen 0) is the prefill; a test with n_gen > 0 is the decode: after
    n_prompt tokens (ik_llama.cpp's -gp) or n_depth tokens (llama.cpp's -d).
    >>> r = parse_llama_json(SAMPLE_IK_JSON)
    >>> (r["prefill"], r["decode"], r["commit"])
    (350.25, 45.5, '8337e4cd')
    >>> parse_llama_json(SAMPLE_LLAMA_JSON)["decode"]
    30.0
    """
    start = text.find("[")
    if start < 0:
        raise ValueError("llama-bench printed no JSON array")
    rows = json.loads(text[start:])
    out = {"prefill": None, "decode": None, "commit": "", "cpu": ""}
    for row in rows:
        out["commit"] = str(row.get("build_commit", ""))
        out["cpu"] = str(row.get("cpu_info", ""))
        kind = "decode" if int(row.get("n_gen", 0)) > 0 else "prefill"
        out[kind] = float(row["avg_ts"])
    return out


def parse_llama_md(text):
    """The same from `llama-bench -o md` (the last column is "t/s" as "mean ± sd").

    >>> r = parse_llama_md(SAMPLE_IK_MD)
    >>> (r["prefill"], r["decode"])
    (350.25, 45.5)
    """
    out = {"prefill": None, "decode": None, "commit": "", "cpu": ""}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[-1] or not cells[-1][0].isdigit():
            if line.startswith("build:"):
                out["commit"] = line.split()[1]
            continue
        test, ts = cells[-2], float(cells[-1].split()[0])
        out["decode" if test.startswith("tg") else "prefill"] = ts
    return out


# ---------------------------------------------------------------- running the engines

class Runner:
    def __init__(self, args):
        self.args = args
        self.prefix = ["nice", "-n", str(args.nice)] if args.nice is not None else []
        if args.nice is not None:
            set_autogroup_nice(args.nice)

    def run(self, cmd):
        cmd = self.prefix + cmd
        print("  $ " + " ".join(cmd), file=sys.stderr, flush=True)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=self.args.timeout)
        if p.returncode != 0:
            raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr.strip()[-600:]}")
        return p.stdout

    def dsv3(self, model, depth, reps):
        out = self.run([self.args.dsv3, "bench", "--model", model, "-p", str(depth),
                        "-n", str(GEN_TOKENS), "-t", str(self.args.threads), "-r", str(reps),
                        "--mtp", "off", "--json", *self.args.dsv3_arg])
        return parse_dsv3_json(out)

    def ik(self, gguf, depth, reps):
        exe = os.path.join(self.args.peers, "ik", "build", "bin", "llama-bench")
        out = self.run([exe, "-m", gguf, "-t", str(self.args.threads), "-p", str(depth), "-n", "0",
                        "-gp", f"{depth},{GEN_TOKENS}", "-r", str(reps), "-rtr", "1",
                        "-o", "json"])
        return parse_llama_json(out)

    def llama(self, gguf, depth, reps):
        exe = os.path.join(self.args.peers, "llama.cpp", "build", "bin", "llama-bench")
        base = [exe, "-m", gguf, "-t", str(self.args.threads), "-r", str(reps), "-o", "json"]
        pre = parse_llama_json(self.run(base + ["-p", str(depth), "-n", "0"]))
        dec = parse_llama_json(self.run(base + ["-p", "0", "-n", str(GEN_TOKENS),
                                                "-d", str(depth)]))
        return {"prefill": pre["prefill"], "decode": dec["decode"], "commit": pre["commit"]}


def set_autogroup_nice(value):
    """Where the kernel groups processes by session (sched_autogroup), `nice` only ranks a
    process against its own session; the session's group weight is what competes with other
    users' builds, so set that too (needs the right to raise priority; else a note)."""
    try:
        with open("/proc/self/autogroup", "w") as f:
            f.write(str(value))
    except OSError as e:
        print(f"note: autogroup nice {value} not set ({e.strerror})", file=sys.stderr)


def prepare_models(args):
    """dsv3's q8 / q4 checkpoints, quantized from bench-moe-bf16 when missing."""
    models = os.path.join(args.peers, "models")
    for fmt in args.formats:
        if fmt in ("q8", "q4"):
            out = os.path.join(models, f"bench-moe-{fmt}")
            if not os.path.exists(os.path.join(out, "config.json")):
                print(f"making {out}", file=sys.stderr, flush=True)
                subprocess.run([args.dsv3, "quantize", "--model",
                                os.path.join(models, "bench-moe-bf16"), "--to", fmt, "--out", out],
                               check=True)
        gguf = os.path.join(models, f"bench-moe-{GGUF_OF[fmt]}.gguf")
        if not os.path.exists(gguf):
            raise SystemExit(f"{gguf} is missing: build the peers' models first")


def reps_for(depth, args):
    """Repeats inside one run: 3 for short prompts, 1 where a prefill takes tens of seconds."""
    if args.reps:
        return args.reps
    return 3 if depth <= 1024 else 1


# ---------------------------------------------------------------- the table

def spread(values, fmt):
    return f"{fmt.format(min(values))}-{fmt.format(max(values))}"


def summarize(pairs, peer, what):
    """'1.23x (1.10-1.30)' and the medians of both engines, from a list of pair results."""
    ratios = [p["dsv3"][what] / p[peer][what] for p in pairs if p[peer][what]]
    if not ratios:
        return "-"
    d = statistics.median(p["dsv3"][what] for p in pairs)
    o = statistics.median(p[peer][what] for p in pairs if p[peer][what])
    return (f"{statistics.median(ratios):.2f}x ({spread(ratios, '{:.2f}')}) | "
            f"{d:.1f} / {o:.1f}")


PEER_NAMES = {"ik": "ik_llama.cpp", "llama": "llama.cpp"}


def table(results, args, peer, title):
    """Markdown rows: format x depth, decode and prefill ratios (median, min-max of the pairs)."""
    lines = [f"| {title} | depth | decode ratio (min-max) | decode tok/s dsv3 / peer "
             f"| prefill ratio (min-max) | prefill tok/s dsv3 / peer | dsv3 decode % of probe |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for fmt in args.formats:
        for depth in args.depths:
            pairs = results.get((fmt, depth))
            if not pairs or peer not in pairs[0]:
                continue
            roof = statistics.median(p["dsv3"]["roofline_pct"] for p in pairs)
            lines.append(f"| {fmt} vs {GGUF_OF[fmt]} | {depth} | {summarize(pairs, peer, 'decode')} "
                         f"| {summarize(pairs, peer, 'prefill')} | {roof:.0f}% |")
    return "\n".join(lines)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def dsv3_commit():
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        rev = subprocess.run(["git", "-C", here, "describe", "--always", "--dirty"],
                             capture_output=True, text=True, check=True).stdout.strip()
        return rev or "unknown"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def report(results, args, commits):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()
    engines = ", ".join(f"{PEER_NAMES[e]} {commits.get(e, '?')}" + (" (-rtr 1)" if e == "ik" else "")
                        for e in args.engines)
    out = [f"{now}, {cpu_model()}, {args.threads} threads, dsv3 {commits['dsv3']}, {engines}"
           f"; median of {args.pairs} alternating pairs (min-max of the pair ratios); "
           f"decode = {GEN_TOKENS} tokens after DEPTH tokens, prefill = DEPTH tokens; "
           f"load average at the end {load[0]:.1f} (other jobs share the machine)",
           ]
    for e in args.engines:
        out += ["", table(results, args, e, f"dsv3 vs {PEER_NAMES[e]}")]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dsv3", nargs="?", help="the dsv3 binary (build/release/dsv3)")
    ap.add_argument("peers", nargs="?", help="the peers' scratch folder")
    ap.add_argument("--depths", default="512,4096", help="comma-separated context depths")
    ap.add_argument("--formats", default="bf16,q8,q4", help="bf16, q8, q4, fp8 (against BF16)")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=0,
                    help="repeats inside each run (default: 3 up to depth 1024, else 1)")
    ap.add_argument("--engines", default="ik", help="peers to run after dsv3 in each pair: ik, llama")
    ap.add_argument("--llama", action="store_true", help="the same as --engines ik,llama")
    ap.add_argument("--quick", action="store_true", help="one pair at depth 512")
    ap.add_argument("--nice", type=int,
                    help="run the engines under `nice -n N` (and this session's autogroup)")
    ap.add_argument("--timeout", type=int, default=7200, help="seconds per run")
    ap.add_argument("--json-out", help="write every run's figures to this file")
    ap.add_argument("--dsv3-arg", action="append", default=[],
                    help="extra argument for dsv3 bench (repeat: --dsv3-arg=--kv-type --dsv3-arg=f16)")
    ap.add_argument("--self-test", action="store_true", help="check the parsers and exit")
    args = ap.parse_args()
    if args.self_test:
        import doctest
        failed, tried = doctest.testmod()
        print(f"{tried - failed} of {tried} checks passed")
        sys.exit(1 if failed else 0)
    if not args.dsv3 or not args.peers:
        ap.error("DSV3 and PEERS_DIR are required")
    if args.quick:
        args.depths, args.pairs = "512", 1
    args.depths = [int(x) for x in args.depths.split(",")]
    args.formats = args.formats.split(",")
    args.engines = ["ik", "llama"] if args.llama else args.engines.split(",")
    for e in args.engines:
        if e not in PEER_NAMES:
            ap.error(f"--engines: '{e}' is not one of {', '.join(PEER_NAMES)}")
    for f in args.formats:
        if f not in GGUF_OF:
            ap.error(f"--formats: '{f}' is not one of {', '.join(GGUF_OF)}")
    prepare_models(args)
    runner = Runner(args)
    models = os.path.join(args.peers, "models")
    results, commits = {}, {"dsv3": dsv3_commit()}
    for depth in args.depths:
        reps = reps_for(depth, args)
        for fmt in args.formats:
            gguf = os.path.join(models, f"bench-moe-{GGUF_OF[fmt]}.gguf")
            pairs = results.setdefault((fmt, depth), [])
            for i in range(args.pairs):
                print(f"{fmt} depth {depth}: pair {i + 1} of {args.pairs}", file=sys.stderr, flush=True)
                pair = {"dsv3": runner.dsv3(os.path.join(models, f"bench-moe-{fmt}"), depth, reps)}
                for e in args.engines:
                    pair[e] = getattr(runner, e)(gguf, depth, reps)
                    commits[e] = pair[e]["commit"][:8]
                print("    " + ", ".join(f"{k} pp {v['prefill']:.1f} tg {v['decode']:.2f}"
                                         for k, v in pair.items()), file=sys.stderr, flush=True)
                pairs.append(pair)
            if args.json_out:
                with open(args.json_out, "w") as f:
                    json.dump({f"{k[0]}@{k[1]}": v for k, v in results.items()}, f, indent=1)
    print(report(results, args, commits))


# Recorded outputs (trimmed) that the doctests parse.
SAMPLE_DSV3 = """{"bandwidth_gb_s":27.1,"bytes_per_token":427000000,"decode_tok_s":51.25,\
"kv_type":"f32","prefill_tok_s":412.5,"roofline_pct":78.5,"threads":2}"""
SAMPLE_IK_JSON = """[
  {"build_commit": "8337e4cd", "cpu_info": "Intel(R) Xeon(R)", "n_threads": 2,
   "n_prompt": 512, "n_gen": 0, "avg_ts": 350.25, "stddev_ts": 3.1},
  {"build_commit": "8337e4cd", "cpu_info": "Intel(R) Xeon(R)", "n_threads": 2,
   "n_prompt": 512, "n_gen": 64, "avg_ts": 45.5, "stddev_ts": 0.4}
]"""
SAMPLE_LLAMA_JSON = """[
  {"build_commit": "abc1234", "n_prompt": 0, "n_gen": 64, "n_depth": 4096, "avg_ts": 30.0}
]"""
SAMPLE_IK_MD = """| model | size | params | backend | threads | test | t/s |
| --- | ---: | ---: | --- | ---: | ---: | ---: |
| deepseek2 16B Q8_0 | 1.7 GiB | 1.69 B | CPU | 2 | pp512 | 350.25 ± 3.10 |
| deepseek2 16B Q8_0 | 1.7 GiB | 1.69 B | CPU | 2 | tg64@pp512 | 45.50 ± 0.40 |

build: 8337e4cd (1)"""

if __name__ == "__main__":
    main()
