#!/usr/bin/env python3
"""Independent reference implementation of the cvmsim trace digest (docs/formats.md,
"Event trace").

Written from the specification, not from the C++ code, so that the golden value in
tests/trace/digest_test.cc is checked by two implementations. It reads the trace file as
written (Chrome Trace Event JSON), skips metadata events, takes the reserved arguments out
of each event's args and hashes the canonical rows.

usage: trace_digest.py TRACE.json
"""
import hashlib
import json
import sys

RESERVED = ("seq", "sim_ns", "vm", "asid", "actor", "target")


def canonical(doc):
    out = ["cvmsim-trace-digest-v1\n"]
    for event in doc["traceEvents"]:
        if event["ph"] == "M":
            continue
        args = dict(event["args"])
        row = [args["seq"], args["sim_ns"], args["actor"], args.get("target"), event["name"],
               event["cat"], args["vm"], args["asid"],
               {k: v for k, v in args.items() if k not in RESERVED}]
        out.append(json.dumps(row, separators=(",", ":"), sort_keys=True, ensure_ascii=False))
        out.append("\n")
    return "".join(out).encode("utf-8")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    print(hashlib.sha256(canonical(doc)).hexdigest())


if __name__ == "__main__":
    main()
