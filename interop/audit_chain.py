#!/usr/bin/env python3
"""An independent implementation of the audit chain format v1.

Written from crates/sealgate-audit/FORMAT.md alone (not from the Rust code),
with the Python standard library only: hashlib, struct, json, base64 and a
few lines of P-256 arithmetic for the ES256 checkpoints. It is the second
opinion the Rust test `independent_peer.rs` asks for, in both directions:

  audit_chain.py example FORMAT.md
      re-encodes the records of FORMAT.md section 5 from the values its prose
      states, and checks them against the documented canonical bytes,
      hashes and checkpoint signing input; then verifies the documented
      export under the documented pin; and re-derives section 6's example
      (leaf hashes, tree root, v2 checkpoint signing input, a proof).

  audit_chain.py verify FILE|- [--pin THUMBPRINT] [--checkpoints CPFILE]
      verifies a JSON Lines export (section 4; - reads stdin), with the
      checkpoint lines of CPFILE (J5: such as the agent's FILE.checkpoint)
      counted as if they were in the export, and prints, like
      `sealgate audit verify`,
        ok: N records, last seq S, last hash H, C checkpoints verified
      or, on the first fault, exits 1 after printing
        refused: record N: <reason>   (reason: seq-gap, seq-duplicate,
                                       malformed, hash-mismatch,
                                       broken-link, checkpoint-mismatch)
        refused: checkpoint at seq N: bad-signature
        refused: truncated at seq L, checkpoint at seq C
        refused: line N: <what>       (a bad checkpoint or root line)
        refused: checkpoints line N: <what>  (CPFILE: checkpoint lines only)
        refused: root: <what>

  audit_chain.py verify-export FILE|- --pin THUMBPRINT
      verifies a user's export (GET /v1/audit/export, section 7): the root
      key's thumbprint is the pin, every checkpoint is a v2 checkpoint it
      signed, and every record decodes from its canonical bytes, sits at leaf
      seq - 1, names the export's user (detail.owner) and is proven by its
      RFC 9162 inclusion proof under a signed tree head. Prints, like
      `sealgate audit verify --user-export`,
        ok: user U: N records (seq A to B), each proven in a signed tree of
        S records; C checkpoints verified
      or exits 1 after one "refused: ..." line per fault.

The Merkle tree (section 6, RFC 9162 section 2.1) is computed here from the
RFC's definitions with hashlib: leaf = SHA-256(0x00 || record hash), node =
SHA-256(0x01 || left || right).
"""

import base64
import hashlib
import json
import re
import struct
import sys
import unicodedata

RECORD_TAG = b"sealgate-audit-record-v1"
CHECKPOINT_TAG = b"sealgate-audit-checkpoint-v1"
CHECKPOINT_TAG_V2 = b"sealgate-audit-checkpoint-v2"
USER_EXPORT_FORMAT = "sealgate-audit-user-export-v1"
GENESIS = bytes(32)
MAX_LINE = 16 * 1024
U64_MAX = 2**64 - 1
I64_MIN = -(2**63)


class Refused(Exception):
    pass


class BadRecord(Refused):
    def __init__(self, seq, reason):
        super().__init__(f"record {seq}: {reason}")


# ---- section 2: canonical JSON ---------------------------------------------

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def canon_str(s):
    out = ['"']
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def canon(v):
    """Canonical JSON text of a value (section 2); ValueError if it has none."""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, int):
        if not I64_MIN <= v <= U64_MAX:
            raise ValueError("integer out of range")
        return str(v)
    if isinstance(v, float):
        raise ValueError("floating-point number")
    if isinstance(v, str):
        return canon_str(v)
    if isinstance(v, list):
        return "[" + ",".join(canon(x) for x in v) + "]"
    if isinstance(v, dict):
        names = sorted(v, key=lambda k: k.encode("utf-8"))
        return "{" + ",".join(canon_str(k) + ":" + canon(v[k]) for k in names) + "}"
    raise ValueError("not a JSON value")


def depth(v):
    """Levels of containers: {} is 1, {"a":[]} is 2."""
    if isinstance(v, dict):
        return 1 + max((depth(x) for x in v.values()), default=0)
    if isinstance(v, list):
        return 1 + max((depth(x) for x in v), default=0)
    return 0


def strict_loads(text):
    """json.loads refusing duplicate members (any depth) and non-integers."""

    def pairs(items):
        d = {}
        for k, v in items:
            if k in d:
                raise ValueError("duplicate member")
            d[k] = v
        return d

    def no_float(_):
        raise ValueError("floating-point number")

    def no_constant(_):
        raise ValueError("NaN or Infinity")

    return json.loads(text, object_pairs_hook=pairs, parse_float=no_float, parse_constant=no_constant)


# ---- section 1: records ----------------------------------------------------

_KIND = re.compile(r"[a-z][a-z0-9_-]*\Z")
_ACTION = re.compile(r"[a-z][a-z0-9_]*\Z")


def has_control(s):
    return any(unicodedata.category(ch) == "Cc" for ch in s)


def check_fields(r):
    """R2-R5; returns what is wrong, or None."""
    actor, action, subject, detail = r["actor"], r["action"], r["subject"], r["detail"]
    kind, colon, ident = actor.partition(":")
    if len(actor.encode("utf-8")) > 256 or not colon or not _KIND.match(kind) or not ident or has_control(actor):
        return "actor"
    if len(action.encode("utf-8")) > 64 or not _ACTION.match(action):
        return "action"
    if len(subject.encode("utf-8")) > 256 or has_control(subject):
        return "subject"
    if not isinstance(detail, dict):
        return "detail is not an object"
    try:
        text = canon(detail)
    except ValueError as e:
        return f"detail: {e}"
    if len(text.encode("utf-8")) > 4096:
        return "detail longer than 4096 bytes"
    if depth(detail) > 4:
        return "detail nested deeper than 4 levels"
    return None


def lp(b):
    return struct.pack(">I", len(b)) + b


def canonical_bytes(r):
    return (
        RECORD_TAG
        + struct.pack(">QQ", r["seq"], r["time"])
        + lp(r["actor"].encode("utf-8"))
        + lp(r["action"].encode("utf-8"))
        + lp(r["subject"].encode("utf-8"))
        + lp(canon(r["detail"]).encode("utf-8"))
        + r["prev_hash"]
    )


def record_hash(r):
    return hashlib.sha256(canonical_bytes(r)).digest()


def checkpoint_input(seq, h, time, tree=None):
    """C1 (v1, 76 bytes) or, with tree = (size, root), C3 (v2, 116 bytes)."""
    if tree is None:
        return CHECKPOINT_TAG + struct.pack(">Q", seq) + h + struct.pack(">Q", time)
    return CHECKPOINT_TAG_V2 + struct.pack(">Q", seq) + h + struct.pack(">QQ", time, tree[0]) + tree[1]


# ---- section 6: the Merkle tree (RFC 9162 section 2.1) ---------------------


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


class Tree:
    """MTH of a growing list of leaves, kept as the roots of its complete
    subtrees (one per bit of the size, largest first)."""

    def __init__(self):
        self.size, self.stack = 0, []

    def push(self, leaf):
        h, level = leaf, 0
        while self.stack and self.stack[-1][0] == level:
            h = node_hash(self.stack.pop()[1], h)
            level += 1
        self.stack.append((level, h))
        self.size += 1

    def root(self):
        if not self.stack:
            return hashlib.sha256(b"").digest()
        h = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            h = node_hash(left, h)
        return h


def inclusion_root(index, size, leaf, path):
    """RFC 9162 section 2.1.3.2: the root `path` leads to from `leaf` at
    `index` in a tree of `size` leaves, or None if the path cannot fit."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


# ---- ES256 (P-256, SHA-256) verification and RFC 7638 ----------------------

P = 2**256 - 2**224 + 2**192 + 2**96 - 1
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
A = P - 3
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
G = (
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)


def on_curve(pt):
    x, y = pt
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + A * x + B)) % P == 0


def add(p1, p2):
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2 and (y1 + y2) % P == 0:
        return None
    if p1 == p2:
        lam = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return (x3, (lam * (x1 - x3) - y1) % P)


def mul(k, pt):
    acc = None
    while k:
        if k & 1:
            acc = add(acc, pt)
        pt = add(pt, pt)
        k >>= 1
    return acc


def es256_verify(q, msg, sig):
    if len(sig) != 64:
        return False
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    if not (1 <= r < N and 1 <= s < N):
        return False
    e = int.from_bytes(hashlib.sha256(msg).digest(), "big")
    w = pow(s, -1, N)
    x = add(mul(e * w % N, G), mul(r * w % N, q))
    return x is not None and x[0] % N == r


def b64u_decode(s):
    if not isinstance(s, str) or not re.fullmatch(r"[A-Za-z0-9_-]*", s) or len(s) % 4 == 1:
        raise ValueError("not unpadded base64url")
    raw = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != s:
        raise ValueError("non-canonical base64url")
    return raw


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def root_key(jwk):
    """Section 3, C2: the root public key from its JWK."""
    if not isinstance(jwk, dict):
        raise Refused("root: jwk is not an object")
    if not set(jwk) <= {"kty", "crv", "x", "y", "use", "alg", "kid"}:
        raise Refused("root: jwk has a member other than kty, crv, x, y, use, alg, kid")
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise Refused("root: not an EC P-256 key")
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", "ES256") != "ES256":
        raise Refused("root: use or alg is not sig / ES256")
    try:
        x, y = b64u_decode(jwk["x"]), b64u_decode(jwk["y"])
    except (KeyError, ValueError) as e:
        raise Refused(f"root: x or y: {e}") from None
    if len(x) != 32 or len(y) != 32:
        raise Refused("root: x or y is not 32 bytes")
    q = (int.from_bytes(x, "big"), int.from_bytes(y, "big"))
    if not on_curve(q):
        raise Refused("root: the point is not on P-256")
    return q, jwk["x"], jwk["y"]


def thumbprint(x, y):
    """RFC 7638: members crv, kty, x, y in that order, no whitespace."""
    text = '{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}' % (x, y)
    return b64u(hashlib.sha256(text.encode()).digest())


# ---- section 4: the JSON Lines export --------------------------------------


def record_line(r):
    return (
        '{"type":"record","seq":%d,"time":%d,"actor":%s,"action":%s,"subject":%s,"detail":%s,'
        '"prev_hash":"%s","hash":"%s"}'
        % (
            r["seq"],
            r["time"],
            canon_str(r["actor"]),
            canon_str(r["action"]),
            canon_str(r["subject"]),
            canon(r["detail"]),
            r["prev_hash"].hex(),
            r["hash"].hex(),
        )
    )


def checkpoint_line(seq, h, time, sig, tree=None):
    if tree is None:
        return '{"type":"checkpoint","seq":%d,"hash":"%s","time":%d,"sig":"%s"}' % (seq, h.hex(), time, b64u(sig))
    return '{"type":"checkpoint","seq":%d,"hash":"%s","time":%d,"tree_size":%d,"tree_root":"%s","sig":"%s"}' % (
        seq,
        h.hex(),
        time,
        tree[0],
        tree[1].hex(),
        b64u(sig),
    )


def is_u64(v):
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= U64_MAX


def hash_of(v):
    if not isinstance(v, str) or not re.fullmatch(r"[0-9a-f]{64}", v):
        raise ValueError("not 64 lowercase hex digits")
    return bytes.fromhex(v)


def parse_line(raw):
    """('record', dict) | ('checkpoint', tuple) | ('root', key) | ('bad-record', why);
    raises Refused for a bad checkpoint or root line."""
    if len(raw) > MAX_LINE:
        return ("bad-record", "line longer than 16 KiB")
    try:
        text = raw.decode("utf-8")
        m = strict_loads(text)
    except (UnicodeError, ValueError, RecursionError):
        return ("bad-record", "not one JSON object")
    if not isinstance(m, dict):
        return ("bad-record", "not one JSON object")
    kind = m.get("type")
    if kind == "checkpoint":
        try:
            v1 = {"type", "seq", "hash", "time", "sig"}
            if set(m) not in (v1, v1 | {"tree_size", "tree_root"}):
                raise ValueError("members")
            seq, time = m["seq"], m["time"]
            if not (is_u64(seq) and is_u64(time)) or seq == 0:
                raise ValueError("seq or time")
            tree = None
            if "tree_size" in m:
                if not is_u64(m["tree_size"]):
                    raise ValueError("tree_size")
                tree = (m["tree_size"], hash_of(m["tree_root"]))
            h, sig = hash_of(m["hash"]), b64u_decode(m["sig"])
            if len(sig) != 64 or checkpoint_line(seq, h, time, sig, tree).encode() != raw:
                raise ValueError("not the exporter's line")
        except ValueError as e:
            raise Refused(f"checkpoint line: {e}") from None
        return ("checkpoint", (seq, h, time, sig, tree))
    if kind == "root":
        if set(m) != {"type", "jwk"}:
            raise Refused("root line: members")
        return ("root", root_key(m["jwk"]))
    try:
        if set(m) != {"type", "seq", "time", "actor", "action", "subject", "detail", "prev_hash", "hash"}:
            raise ValueError("members")
        if kind != "record" or not (is_u64(m["seq"]) and is_u64(m["time"])):
            raise ValueError("type, seq or time")
        if not all(isinstance(m[k], str) for k in ("actor", "action", "subject")):
            raise ValueError("actor, action or subject is not a string")
        r = dict(m, prev_hash=hash_of(m["prev_hash"]), hash=hash_of(m["hash"]))
        if not isinstance(r["detail"], dict):
            raise ValueError("detail is not an object")
        if record_line(r).encode("utf-8") != raw:
            raise ValueError("not the exporter's line (J3)")
    except ValueError as e:
        return ("bad-record", str(e))
    return ("record", r)


def parse_checkpoints(data):
    """J5: a checkpoint file holds checkpoint lines only; anything else is
    refused by its line number."""
    out = []
    for no, raw in enumerate(data.split(b"\n"), 1):
        if not raw:
            continue
        try:
            kind, value = parse_line(raw)
        except Refused as e:
            raise Refused(f"checkpoints line {no}: {e}") from None
        if kind != "checkpoint":
            raise Refused(f"checkpoints line {no}: not a checkpoint line")
        out.append(value)
    return out


def verify_export(data, pin=None, extra=()):
    """Returns the summary line; raises Refused on the first fault. `extra`
    checkpoints (from a checkpoint file) count as if they were in `data`."""
    if data.endswith(b"\n"):
        data = data[:-1]
    lines = data.split(b"\n") if data else []
    records, checkpoints, root = [], [], None
    for no, raw in enumerate(lines, 1):
        try:
            kind, value = parse_line(raw)
        except Refused as e:
            raise Refused(f"line {no}: {e}") from None
        if kind in ("record", "bad-record"):
            records.append((kind, value))
        elif kind == "checkpoint":
            checkpoints.append(value)
        elif root is not None:
            raise Refused(f"line {no}: a second root line")
        else:
            root = value
    checkpoints.extend(extra)
    q = None
    if pin is not None:
        if root is None:
            raise Refused("root: no root line")
        if thumbprint(root[1], root[2]) != pin:
            raise Refused("root: the root line does not match the pin")
        q = root[0]
    pending = {}
    for cp in checkpoints:
        pending.setdefault(cp[0], []).append(cp)

    def signature_ok(cp):
        seq, h, time, sig, tree = cp
        if tree is not None and tree[0] != seq:
            raise Refused(f"checkpoint at seq {seq}: bad-signature")
        if not es256_verify(q, checkpoint_input(seq, h, time, tree), sig):
            raise Refused(f"checkpoint at seq {seq}: bad-signature")

    last_seq, last_hash, verified = 0, GENESIS, 0
    tree = Tree()
    for kind, r in records:
        seq = last_seq + 1
        if kind == "bad-record":
            raise BadRecord(seq, f"malformed ({r})")
        if r["seq"] > seq:
            raise BadRecord(seq, "seq-gap")
        if r["seq"] < seq:
            raise BadRecord(seq, "seq-duplicate")
        why = check_fields(r)
        if why:
            raise BadRecord(seq, f"malformed ({why})")
        if record_hash(r) != r["hash"]:
            raise BadRecord(seq, "hash-mismatch")
        if r["prev_hash"] != last_hash:
            raise BadRecord(seq, "broken-link")
        tree.push(leaf_hash(r["hash"]))
        if q is not None:
            for cp in pending.pop(seq, []):
                signature_ok(cp)
                if cp[1] != r["hash"]:
                    raise BadRecord(seq, "checkpoint-mismatch")
                if cp[4] is not None and cp[4][1] != tree.root():
                    raise BadRecord(seq, "tree-mismatch")
                verified += 1
        last_seq, last_hash = seq, r["hash"]
    if q is not None and pending:
        for seq in sorted(pending):
            for cp in pending[seq]:
                signature_ok(cp)
        raise Refused(f"truncated at seq {last_seq}, checkpoint at seq {max(pending)}")
    out = f"ok: {last_seq} records, last seq {last_seq}, last hash {last_hash.hex()}, {verified} checkpoints verified"
    if q is None and checkpoints:
        out += f", {len(checkpoints)} not verified (no root key given)"
    return out


# ---- section 7: a user's export ---------------------------------------------


def decode_record(b):
    """Section 1 backwards: the record whose canonical bytes are exactly b."""
    if not b.startswith(RECORD_TAG):
        raise ValueError("does not start with the record tag")
    at = len(RECORD_TAG)
    if len(b) < at + 16:
        raise ValueError("ends inside seq or time")
    seq, time = struct.unpack(">QQ", b[at : at + 16])
    at += 16
    fields = []
    for name in ("actor", "action", "subject", "detail"):
        if len(b) < at + 4:
            raise ValueError(f"ends inside the length of {name}")
        (n,) = struct.unpack(">I", b[at : at + 4])
        at += 4
        if len(b) < at + n:
            raise ValueError(f"{name} runs past the end")
        fields.append(b[at : at + n].decode("utf-8"))
        at += n
    if len(b) - at != 32:
        raise ValueError("prev_hash is not the last 32 bytes")
    actor, action, subject, detail_text = fields
    detail = strict_loads(detail_text)
    if not isinstance(detail, dict) or canon(detail) != detail_text:
        raise ValueError("detail is not a canonical JSON object")
    r = {"seq": seq, "time": time, "actor": actor, "action": action, "subject": subject, "detail": detail}
    r["prev_hash"] = b[at:]
    why = check_fields(r)
    if why:
        raise ValueError(f"malformed ({why})")
    if canonical_bytes(r) != b:
        raise ValueError("not the canonical encoding")
    r["hash"] = hashlib.sha256(b).digest()
    return r


def verify_user_export(data, pin):
    """Returns the summary line; raises Refused with every fault found."""
    try:
        doc = strict_loads(data.decode("utf-8"))
    except (UnicodeError, ValueError, RecursionError):
        raise Refused("not a user export: not one JSON object") from None
    if not isinstance(doc, dict) or doc.get("format") != USER_EXPORT_FORMAT:
        raise Refused(f"not a user export: format is not {USER_EXPORT_FORMAT}")
    if set(doc) != {"format", "user", "root", "checkpoints", "records", "next_after", "more"}:
        raise Refused("not a user export: members")
    user = doc["user"]
    if not isinstance(user, str):
        raise Refused("not a user export: user is not a string")
    q, x, y = root_key(doc["root"])
    if thumbprint(x, y) != pin:
        raise Refused("root: the export's root key does not match the pin")
    cps = doc["checkpoints"]
    if not isinstance(cps, list) or not cps:
        raise Refused("not a user export: no checkpoints")
    heads = {}
    for i, c in enumerate(cps, 1):
        try:
            if not isinstance(c, dict) or set(c) != {"seq", "hash", "time", "tree_size", "tree_root", "sig"}:
                raise ValueError("members")
            if not all(is_u64(c[k]) for k in ("seq", "time", "tree_size")):
                raise ValueError("seq, time or tree_size")
            h, root, sig = hash_of(c["hash"]), hash_of(c["tree_root"]), b64u_decode(c["sig"])
        except ValueError as e:
            raise Refused(f"checkpoint {i}: {e}") from None
        if c["tree_size"] != c["seq"] or not es256_verify(
            q, checkpoint_input(c["seq"], h, c["time"], (c["tree_size"], root)), sig
        ):
            raise Refused(f"checkpoint {i} (seq {c['seq']}): bad-signature")
        heads[c["tree_size"]] = root
    entries = doc["records"]
    if not isinstance(entries, list):
        raise Refused("not a user export: records is not a list")
    faults, seqs = [], []
    for i, e in enumerate(entries, 1):
        seq = None
        try:
            if not isinstance(e, dict) or set(e) != {"index", "tree_size", "record", "proof"}:
                raise ValueError("members")
            if not (is_u64(e["index"]) and is_u64(e["tree_size"])):
                raise ValueError("index or tree_size")
            r = decode_record(b64u_decode(e["record"]))
            seq = r["seq"]
            path = e["proof"]
            if not isinstance(path, list) or len(path) > 64:
                raise ValueError("proof is not a list of at most 64 hashes")
            path = [hash_of(p) for p in path]
            if e["index"] != seq - 1:
                raise ValueError("index is not seq - 1")
            if r["detail"].get("owner") != user:
                raise ValueError(f"does not name user {user}")
            if e["tree_size"] not in heads:
                raise ValueError("no signed tree of that size")
            got = inclusion_root(e["index"], e["tree_size"], leaf_hash(r["hash"]), path)
            if got != heads[e["tree_size"]]:
                raise ValueError("inclusion proof does not lead to the signed tree root")
            if seqs and seq <= seqs[-1]:
                raise ValueError("out of order or repeated")
            seqs.append(seq)
        except (ValueError, UnicodeError, RecursionError) as ex:
            where = f"record {i}" + (f" (seq {seq})" if seq is not None else "")
            faults.append(f"{where}: {ex}")
    if faults:
        raise Refused("\nrefused: ".join(faults))
    out = f"ok: user {user}: {len(seqs)} records"
    if seqs:
        out += f" (seq {seqs[0]} to {seqs[-1]})"
    return out + f", each proven in a signed tree of {max(heads)} records; {len(cps)} checkpoints verified"


# ---- section 5: the worked example -----------------------------------------


def example(format_md):
    section = format_md.split("## 5. Worked example", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("\n", 1)[1] for b in section.split("```")[1::2]]
    hashes = re.findall(r"hash = `([0-9a-f]{64})`", section)
    pin = re.search(r"thumbprint is\s+`([A-Za-z0-9_-]{43})`", section).group(1)
    unhex = lambda block: bytes.fromhex("".join(block.split()))  # noqa: E731
    # The records as section 5's prose states them.
    r1 = {
        "seq": 1,
        "time": 1767225600000,
        "actor": "user:u1",
        "action": "credential_created",
        "subject": "cred_1",
        "detail": {"scope": ["read", "trade"], "exchange": "binance"},
        "prev_hash": GENESIS,
    }
    r2 = {
        "seq": 2,
        "time": 1767225600250,
        "actor": "service:signer",
        "action": "denied",
        "subject": "cred_1",
        "detail": {"rule": "scope", "class": "withdraw"},
    }
    checks = []

    def check(what, got, want):
        checks.append(what)
        if got != want:
            raise Refused(f"example: {what}: computed {got!r}, FORMAT.md says {want!r}")

    check("record 1 canonical detail", canon(r1["detail"]), '{"exchange":"binance","scope":["read","trade"]}')
    check("record 1 detail length", len(canon(r1["detail"])), 47)
    check("record 1 canonical bytes", canonical_bytes(r1), unhex(blocks[0]))
    check("record 1 length", len(canonical_bytes(r1)), 166)
    r1["hash"] = record_hash(r1)
    check("record 1 hash", r1["hash"].hex(), hashes[0])
    check("record 2 canonical detail", canon(r2["detail"]), '{"class":"withdraw","rule":"scope"}')
    r2["prev_hash"] = r1["hash"]
    check("record 2 canonical bytes", canonical_bytes(r2), unhex(blocks[1]))
    check("record 2 length", len(canonical_bytes(r2)), 149)
    r2["hash"] = record_hash(r2)
    check("record 2 hash", r2["hash"].hex(), hashes[1])
    cp_input = checkpoint_input(2, r2["hash"], 1767225601000)
    check("checkpoint signing input", cp_input, unhex(blocks[2]))
    check("checkpoint signing input length", len(cp_input), 76)
    export = blocks[3]
    lines = export.rstrip("\n").split("\n")
    check("export record 1 line", lines[1], record_line(r1))
    check("export record 2 line", lines[2], record_line(r2))
    check("export summary", verify_export(export.encode(), pin), blocks[4].strip())
    # Section 6's example: the tree over these two records and the v2 checkpoint input.
    tree_md = format_md.split("## 6. The Merkle tree", 1)[1].split("\n## ", 1)[0]
    stated = lambda label: re.search(label + r" = ([0-9a-f]{64})", tree_md).group(1)  # noqa: E731
    leaves = [leaf_hash(r1["hash"]), leaf_hash(r2["hash"])]
    check("tree leaf 1", leaves[0].hex(), stated("leaf1"))
    check("tree leaf 2", leaves[1].hex(), stated("leaf2"))
    tree = Tree()
    for leaf in leaves:
        tree.push(leaf)
    check("tree root", tree.root().hex(), stated("root"))
    v2_input = checkpoint_input(2, r2["hash"], 1767225601000, (2, tree.root()))
    check("v2 checkpoint signing input", v2_input, unhex(tree_md.split("```")[1].split("\n", 1)[1]))
    check("proof of leaf 1", inclusion_root(1, 2, leaves[1], [leaves[0]]), tree.root())
    return checks


def main(argv):
    try:
        if len(argv) == 3 and argv[1] == "example":
            with open(argv[2], encoding="utf-8") as f:
                checks = example(f.read())
            print(f"ok: FORMAT.md sections 5 and 6 reproduced ({len(checks)} checks)")
            return 0
        if len(argv) == 5 and argv[1] == "verify-export" and argv[3] == "--pin":
            if argv[2] == "-":
                data = sys.stdin.buffer.read()
            else:
                with open(argv[2], "rb") as f:
                    data = f.read()
            print(verify_user_export(data, argv[4]))
            return 0
        opts = dict(zip(argv[3::2], argv[4::2]))
        if (
            len(argv) >= 3
            and argv[1] == "verify"
            and len(argv) % 2 == 1
            and set(opts) <= {"--pin", "--checkpoints"}
            and len(opts) == (len(argv) - 3) // 2
        ):
            if argv[2] == "-":
                data = sys.stdin.buffer.read()
            else:
                with open(argv[2], "rb") as f:
                    data = f.read()
            extra = []
            if "--checkpoints" in opts:
                with open(opts["--checkpoints"], "rb") as f:
                    extra = parse_checkpoints(f.read())
            print(verify_export(data, opts.get("--pin"), extra))
            return 0
    except Refused as e:
        print(f"refused: {e}")
        return 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
