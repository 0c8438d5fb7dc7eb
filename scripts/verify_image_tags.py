#!/usr/bin/env python3
"""Checks the sector tags and the hash tree root of an authenticated cvmsim image.

An independent reader of docs/formats.md ("Image certificate", "Encrypted image (LUKS2)",
"Sector tags and the hash tree"): it shares no code with cvmsim. Given the image file
(`cvmsim pack --integrity`) and the raw image key (32 bytes for suite sm, 64 for nist), it

  1. reads the LUKS2 primary header's JSON and takes the certificate (CVMSICRT version 2)
     of the first "cvmsim-image-cert" token (or of the token for --chip);
  2. recomputes every data sector's tag from its ciphertext (Poly1305, then one block of
     SM4 or AES-256, from the python3-cryptography package) and compares it with the tag
     stored in the tag area;
  3. recomputes the hash tree root over the stored tags and compares it with the
     certificate's root, or with --expect-root (e.g. the disk root of an attestation
     report, after the VM wrote to the disk).

It does not check the certificate's signature (`cvmsim inspect IMAGE` does): the root it
compares with is only as good as the certificate, or as the --expect-root given.

Exit codes: 0 every tag and the root verify; 1 a tag or the root does not; 2 bad input
(unreadable file, not a LUKS2 image, no version 2 certificate, wrong key size, ...).

    scripts/verify_image_tags.py disk.img image.key [--expect-root HEX] [--chip HEX]
"""

import argparse
import base64
import hashlib
import hmac
import json
import struct
import subprocess
import sys

TAG_SIZE = 16
NODE_SIZE = 32  # a tree node and the root
TAGS_PER_LEAF = 256  # a tree leaf covers a tag page
POLY_KEY_LABEL = b"cvmsim-sector-tag-v2 poly1305"
BLOCK_KEY_LABEL = b"cvmsim-sector-tag-v2 block"
BLOCK_KEY_BYTES = {"sm": 16, "nist": 32}  # SM4, AES-256
ALIGNMENT = 4096
CERT_TOKEN = "cvmsim-image-cert"
SUITES = {1: "sm", 2: "nist"}
KEY_BYTES = {"sm": 32, "nist": 64}  # SM4-XTS 2 x 128 bits, AES-256-XTS 2 x 256 bits
CHUNK = 1 << 20  # bytes of data read at a time


class BadInput(Exception):
    """The input is not something this script can check (exit code 2)."""


# --- M: SM3 (suite sm) or SHA-256 (suite nist), and HMAC-M ---------------------------------


def _hashlib_has_sm3():
    try:
        hashlib.new("sm3", b"")
        return True
    except ValueError:
        return False


def _openssl(args, data):
    try:
        done = subprocess.run(["openssl", *args], input=data, capture_output=True, check=False)
    except OSError as e:
        raise BadInput(f"hashlib has no SM3 and openssl cannot run: {e}") from e
    if done.returncode != 0:
        raise BadInput(f"openssl {' '.join(args[:3])} failed: "
                       f"{done.stderr.decode(errors='replace').strip()}")
    return done.stdout


class Primitives:
    """H (a hash with 32-byte output) and HMAC-H for one suite.

    SM3 comes from hashlib when its OpenSSL provides it (Debian 12's does); otherwise from the
    `openssl dgst -sm3` command, one process per hash (slow, but the same bytes)."""

    def __init__(self, suite, use_openssl_command=False):
        self.command = suite == "sm" and (use_openssl_command or not _hashlib_has_sm3())
        self._hashlib_name = "sm3" if suite == "sm" else "sha256"

    def hash(self, data):
        if self.command:
            return _openssl(["dgst", "-sm3", "-binary"], data)
        return hashlib.new(self._hashlib_name, data).digest()

    def keyed(self, key):
        """A function message -> HMAC-H(key, message)."""
        if self.command:
            # RFC 2104 over `openssl dgst`, so that the key goes through a pipe rather than
            # onto a command line (`openssl mac -macopt hexkey:` would show it to `ps`).
            if len(key) > 64:
                key = self.hash(key)
            key = key.ljust(64, b"\0")
            inner = bytes(b ^ 0x36 for b in key)
            outer = bytes(b ^ 0x5C for b in key)
            return lambda message: self.hash(outer + self.hash(inner + message))
        base = hmac.new(key, digestmod=self._hashlib_name)

        def mac(message):
            h = base.copy()
            h.update(message)
            return h.digest()

        return mac


# --- The tag: E(K_blk, Poly1305(K_poly, u64le(sector) || ciphertext)) -----------------------


def tag_function(suite, poly_key, block_key):
    """A function (first sector, list of ciphertexts) -> their tags, concatenated."""
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
        from cryptography.hazmat.primitives.poly1305 import Poly1305
    except ImportError as e:
        raise BadInput(f"the tags need Poly1305, SM4 and AES from python3-cryptography: {e}") from e
    block_key = block_key[:BLOCK_KEY_BYTES[suite]]
    algorithm = algorithms.SM4(block_key) if suite == "sm" else algorithms.AES(block_key)

    def tags(first, ciphertexts):
        hashed = b"".join(
            Poly1305.generate_tag(poly_key, struct.pack("<Q", first + i) + c)
            for i, c in enumerate(ciphertexts))
        # ECB: each 16-byte value enciphered on its own, one block per tag.
        encryptor = Cipher(algorithm, modes.ECB()).encryptor()
        return encryptor.update(hashed) + encryptor.finalize()

    return tags


# --- The LUKS2 header and the certificate -------------------------------------------------


def read_exact(f, offset, size, what):
    f.seek(offset)
    data = f.read(size)
    if len(data) != size:
        raise BadInput(f"{what}: the image ends before offset {offset + size}")
    return data


def luks2_json(f):
    """The metadata of the primary LUKS2 header (binary header big-endian)."""
    binary = read_exact(f, 0, 4096, "LUKS2 binary header")
    if binary[:6] != b"LUKS\xba\xbe":
        raise BadInput("not a LUKS2 image (no LUKS magic at offset 0)")
    version, = struct.unpack_from(">H", binary, 6)
    header_size, = struct.unpack_from(">Q", binary, 8)
    if version != 2:
        raise BadInput(f"LUKS version {version}; expected 2")
    if header_size < 16384 or header_size > 4 << 20 or header_size & (header_size - 1):
        raise BadInput(f"LUKS2 header size {header_size} is not a power of two in 16 KiB..4 MiB")
    copy = bytearray(read_exact(f, 0, header_size, "LUKS2 header"))
    # The checksum (unkeyed: it catches damage, not an attacker) over the copy with its
    # field zeroed.
    stored = bytes(copy[448:480])
    copy[448:512] = bytes(64)
    algorithm = binary[72:104].split(b"\0", 1)[0]
    if algorithm == b"sha256" and hashlib.sha256(copy).digest() != stored:
        raise BadInput("the LUKS2 primary header's checksum does not match")
    text = bytes(copy[4096:]).split(b"\0", 1)[0]
    try:
        return json.loads(text)
    except ValueError as e:
        raise BadInput(f"the LUKS2 JSON area does not parse: {e}") from e


def certificate_bytes(metadata, chip):
    tokens = metadata.get("tokens")
    if not isinstance(tokens, dict):
        raise BadInput("the LUKS2 JSON has no tokens")

    def number(key):
        return int(key) if key.isdigit() else float("inf")

    for key in sorted(tokens, key=number):
        token = tokens[key]
        if not isinstance(token, dict) or token.get("type") != CERT_TOKEN:
            continue
        if chip is not None and str(token.get("chip_id", "")).lower() != chip:
            continue
        try:
            return base64.b64decode(token["certificate"], validate=True)
        except (KeyError, TypeError, ValueError) as e:
            raise BadInput(f"token {key}: no base64 certificate ({e})") from e
    wanted = f" for chip {chip}" if chip is not None else ""
    raise BadInput(f"no {CERT_TOKEN} token{wanted} in the LUKS2 JSON")


def parse_certificate(cert):
    """The fields this check needs from a CVMSICRT (little-endian), with the decoder's
    checks on them. Version 2 only: version 1 has no sector tags."""
    if len(cert) < 122 or cert[:8] != b"CVMSICRT":
        raise BadInput("the token's certificate is not a CVMSICRT")
    version, suite, cipher, key_bits = struct.unpack_from("<HBBH", cert, 8)
    if version == 1:
        raise BadInput("certificate version 1: the image has no sector tags "
                       "(packed without --integrity)")
    if version != 2:
        raise BadInput(f"certificate version {version} is not supported (expected 2)")
    if suite not in SUITES:
        raise BadInput(f"certificate suite {suite} is unknown")
    sector_size, = struct.unpack_from("<I", cert, 16)
    data_offset, data_length = struct.unpack_from("<QQ", cert, 40)
    mode = cert[72]
    tag_offset, = struct.unpack_from("<Q", cert, 80)
    root = bytes(cert[88:88 + NODE_SIZE])
    if sector_size not in (512, 4096):
        raise BadInput(f"certificate sector size {sector_size}")
    if data_offset % ALIGNMENT or data_length == 0 or data_length % sector_size:
        raise BadInput(f"certificate data offset {data_offset} / length {data_length}")
    if mode != 1 or any(cert[73:80]):
        raise BadInput(f"certificate integrity mode {mode} (expected 1, then 7 zero bytes)")
    data_end = data_offset + data_length
    if tag_offset % ALIGNMENT or tag_offset < data_end:
        raise BadInput(f"certificate tag offset {tag_offset} (data ends at {data_end})")
    if data_end >= 1 << 64 or tag_offset + data_length // sector_size * TAG_SIZE >= 1 << 64:
        raise BadInput("certificate offsets overflow 64 bits")
    return {
        "suite": SUITES[suite],
        "cipher": cipher,
        "key_bits": key_bits,
        "sector_size": sector_size,
        "data_offset": data_offset,
        "data_length": data_length,
        "tag_offset": tag_offset,
        "root": root,
    }


# --- Tags and tree --------------------------------------------------------------------------


def tree_root(h, tags):
    """leaf j = M(0x00 || tags of the page j: 256 tags, the last page possibly fewer);
    parent = M(0x01 || left || right); a last node without a sibling moves up unchanged; the
    root is the one node left."""
    page = TAGS_PER_LEAF * TAG_SIZE
    level = [h.hash(b"\x00" + tags[i:i + page]) for i in range(0, len(tags), page)]
    while len(level) > 1:
        up = [h.hash(b"\x01" + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            up.append(level[-1])
        level = up
    return level[0]


def verify(image_path, key, expect_root, chip, use_openssl_command):
    """(exit code, message)."""
    with open(image_path, "rb") as f:
        cert = parse_certificate(certificate_bytes(luks2_json(f), chip))
        if len(key) != KEY_BYTES[cert["suite"]] or len(key) * 8 != cert["key_bits"]:
            raise BadInput(f"the key is {len(key)} bytes; a {cert['suite']} image key is "
                           f"{cert['key_bits'] // 8}")
        h = Primitives(cert["suite"], use_openssl_command)
        derive = h.keyed(key)  # K_poly and K_blk: HMAC-M(image key, label)
        tags_of = tag_function(cert["suite"], derive(POLY_KEY_LABEL), derive(BLOCK_KEY_LABEL))
        sector_size = cert["sector_size"]
        sectors = cert["data_length"] // sector_size
        tags = read_exact(f, cert["tag_offset"], sectors * TAG_SIZE, "tag area")
        per_chunk = CHUNK // sector_size
        for first in range(0, sectors, per_chunk):
            count = min(per_chunk, sectors - first)
            data = read_exact(f, cert["data_offset"] + first * sector_size, count * sector_size,
                              "data segment")
            computed = tags_of(first, [data[i * sector_size:(i + 1) * sector_size]
                                       for i in range(count)])
            for i in range(count):
                sector = first + i
                stored = tags[sector * TAG_SIZE:(sector + 1) * TAG_SIZE]
                if not hmac.compare_digest(computed[i * TAG_SIZE:(i + 1) * TAG_SIZE], stored):
                    return 1, (f"tags: sector {sector} does not match its tag (data at image "
                               f"offset {cert['data_offset'] + sector * sector_size}, tag at "
                               f"{cert['tag_offset'] + sector * TAG_SIZE}): the sector or its "
                               f"tag was changed, or the key is not this image's")
    root = tree_root(h, tags)
    certified = cert["root"]
    if expect_root is not None:
        if root != expect_root:
            return 1, (f"tags: {sectors} sectors ok, but root {root.hex()} is not the expected "
                       f"{expect_root.hex()} (the certificate's is {certified.hex()})")
        where = ("the certificate and --expect-root" if root == certified else
                 "--expect-root (not the certificate's pack-time root "
                 f"{certified.hex()}: the disk was written since)")
        return 0, f"tags: {sectors} sectors ok, root {root.hex()} matches {where}"
    if root != certified:
        return 1, (f"tags: {sectors} sectors ok, but root {root.hex()} is not the certificate's "
                   f"{certified.hex()} (a disk a VM wrote to has a newer root: pass the "
                   f"report's disk root with --expect-root)")
    return 0, f"tags: {sectors} sectors ok, root {root.hex()} matches the certificate"


def hex_bytes(size):
    def parse(text):
        try:
            value = bytes.fromhex(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"{text!r} is not hex") from e
        if len(value) != size:
            raise argparse.ArgumentTypeError(f"{text!r} is {len(value)} bytes; expected {size}")
        return value

    return parse


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Check an authenticated cvmsim image's sector tags and hash tree root "
        "(docs/formats.md, \"Sector tags and the hash tree\").")
    parser.add_argument("image", help="the image file (cvmsim pack --integrity)")
    parser.add_argument("key", help="the raw image key: 32 bytes (sm) or 64 bytes (nist)")
    parser.add_argument("--expect-root", type=hex_bytes(NODE_SIZE), metavar="HEX",
                        help="the root the tags must give (64 hex digits, e.g. an attestation "
                        "report's disk root) instead of the certificate's")
    parser.add_argument("--chip", type=lambda s: hex_bytes(16)(s).hex(), metavar="HEX",
                        help="take the certificate of this chip id (32 hex digits) instead of "
                        "the first one")
    parser.add_argument("--openssl-command", action="store_true",
                        help="compute SM3 with the openssl command even when hashlib has it "
                        "(the fallback, slow)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    try:
        with open(args.key, "rb") as f:
            key = f.read()
        code, message = verify(args.image, key, args.expect_root, args.chip,
                               args.openssl_command)
    except OSError as e:
        print(f"verify_image_tags: {e}", file=sys.stderr)
        return 2
    except BadInput as e:
        print(f"verify_image_tags: {args.image}: {e}", file=sys.stderr)
        return 2
    print(message)
    return code


if __name__ == "__main__":
    sys.exit(main())
