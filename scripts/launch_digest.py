#!/usr/bin/env python3
"""Independent reference implementation of the cvmsim launch digest (docs/formats.md).

Written from the specification, not from the C++ code, so that the golden values in
tests/measure/launch_digest_test.cc are checked by two implementations.

usage: launch_digest.py sm|nist FIRMWARE [LOAD_GPA]
"""
import hashlib
import struct
import sys

PAGE = 4096


def h(suite, data):
    return hashlib.new("sm3" if suite == "sm" else "sha384", data).digest()


def extend(suite, digest, gpa, page_type, contents):
    d = len(digest)
    content_digest = bytes(d) if page_type == 2 else h(suite, contents)
    record = digest + content_digest + struct.pack("<HBBIQ", 2 * d + 16, page_type, 0, 0, gpa)
    return h(suite, record)


def vcpu_page(rip, rsp, rflags=0x2):
    body = b"CVMSVCPU" + struct.pack("<IIQQQ", 1, 0, rip, rsp, rflags)
    return body + bytes(PAGE - len(body))


def measure(suite, firmware, load_gpa=0x100000, stack_top=0x100000):
    digest = bytes(32 if suite == "sm" else 48)
    for offset in range(0, len(firmware), PAGE):
        page = firmware[offset:offset + PAGE]
        page += bytes(PAGE - len(page))
        digest = extend(suite, digest, load_gpa + offset, 1, page)
    return extend(suite, digest, 0, 3, vcpu_page(load_gpa, stack_top))


if __name__ == "__main__":
    suite, path = sys.argv[1], sys.argv[2]
    gpa = int(sys.argv[3], 0) if len(sys.argv) > 3 else 0x100000
    with open(path, "rb") as f:
        print(measure(suite, f.read(), gpa, gpa).hex())
