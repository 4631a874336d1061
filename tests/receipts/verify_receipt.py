"""An independent check of a niji receipt, with only hashlib and the
`cryptography` package: the C2SP signed note (Ed25519) of the checkpoint,
then the RFC 9162 inclusion proof of the entry against its root.

    python verify_receipt.py RECEIPT.json LOG_KEY

LOG_KEY is the log's verifier key as the platform publishes it
(`name+id+base64`). Exits 0 and prints the entry when the receipt checks,
1 with the reason when it does not.
"""

import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Refused(Exception):
    pass


def sha256(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def open_note(note, vkey):
    """The text of a signed note that `vkey` signed."""
    name, key_id, key = vkey.split("+", 2)
    typed = base64.b64decode(key, validate=True)
    if typed[0] != 1 or len(typed) != 33:
        raise Refused("the log key is not an Ed25519 key")
    public = typed[1:]
    want_id = sha256(name.encode(), b"\n", typed)[:4]
    if want_id.hex() != key_id:
        raise Refused("the log key's id does not match it")
    split = note.rfind("\n\n")
    if split < 0:
        raise Refused("the checkpoint has no signatures")
    text, signatures = note[: split + 1], note[split + 2 :]
    verifier = Ed25519PublicKey.from_public_bytes(public)
    for line in signatures.splitlines():
        if not line.startswith("\u2014 "):
            raise Refused("not a signature line: %r" % line)
        signer, blob = line[2:].split(" ", 1)
        blob = base64.b64decode(blob, validate=True)
        if signer != name or blob[:4] != want_id:
            continue
        try:
            verifier.verify(blob[4:], text.encode())
            return text
        except InvalidSignature:
            pass
    raise Refused("no valid signature by the log key")


def verify_inclusion(index, size, leaf, proof, root):
    """RFC 9162 section 2.1.3.2."""
    if index >= size:
        raise Refused("the index is outside the tree")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise Refused("the proof is too long")
        if fn & 1 or fn == sn:
            r = sha256(b"\x01", p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = sha256(b"\x01", r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0 or r != root:
        raise Refused("the proof does not lead to the checkpoint's root")


def verify(receipt, log_key):
    if receipt.get("format") != "niji-receipt/v1":
        raise Refused("not a niji-receipt/v1")
    if receipt["log_key"] != log_key:
        raise Refused("signed by another key than the log's")
    origin, size, root = open_note(receipt["checkpoint"], log_key).split("\n")[:3]
    if int(size) != receipt["tree_size"]:
        raise Refused("the checkpoint is of another size than the proof")
    entry = base64.b64decode(receipt["entry"], validate=True)
    proof = [base64.b64decode(h, validate=True) for h in receipt["inclusion"]]
    verify_inclusion(
        receipt["index"],
        receipt["tree_size"],
        sha256(b"\x00", entry),
        proof,
        base64.b64decode(root, validate=True),
    )
    if json.loads(entry)["index"] != receipt["index"]:
        raise Refused("the entry names another index")
    return origin, entry


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        receipt = json.load(f)
    try:
        origin, entry = verify(receipt, sys.argv[2])
    except (Refused, ValueError, KeyError) as e:
        print("receipt refused: %s" % e)
        return 1
    print("receipt checks: entry %d of %s" % (receipt["index"], origin))
    print(entry.decode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
