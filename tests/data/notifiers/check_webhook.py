"""Checks webhook payloads the way a receiver would, for tests/notifiers/webhook_schema_test.cc.

usage: check_webhook.py --schema SCHEMA --doc WEBHOOK_MD [--secret whsec_...]... BODY.json...

Each BODY.json is validated against SCHEMA (JSON Schema draft 2020-12) made strict: an object
the schema describes may not carry a member the schema does not name, so the documented
schema cannot fall behind the bodies digestd sends. When BODY.headers.json exists (an object
of lower-case header names), the body's signature is checked with the `verify` function
from the first ```python block of WEBHOOK_MD, so the documented snippet is the one tested.

Prints "INVALID <file>: <why>" and "BAD SIGNATURE <file>" lines and exits 1 on any; exits 0
when every file passes. A missing jsonschema module is an error, not a skip.
"""
import argparse
import copy
import json
import os
import re
import sys

import jsonschema
from jsonschema import Draft202012Validator


def closed(schema):
    """`schema` with additionalProperties false on every object schema that lists properties."""
    schema = copy.deepcopy(schema)

    def close(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node.setdefault("additionalProperties", False)
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return schema


def documented_verify(doc_path):
    with open(doc_path, encoding="utf-8") as f:
        match = re.search(r"```python\n(.*?)```", f.read(), re.S)
    if not match:
        sys.exit(f"no ```python block in {doc_path}")
    namespace = {}
    exec(compile(match.group(1), doc_path, "exec"), namespace)
    return namespace["verify"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--schema", required=True)
    parser.add_argument("--doc", required=True)
    parser.add_argument("--secret", action="append", default=[])
    parser.add_argument("bodies", nargs="+")
    args = parser.parse_args()

    with open(args.schema, encoding="utf-8") as f:
        schema = json.load(f)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(closed(schema), format_checker=jsonschema.FormatChecker())
    verify = documented_verify(args.doc)

    failed = False
    for path in args.bodies:
        with open(path, "rb") as f:
            raw = f.read()
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError as e:
            print(f"INVALID {path}: not JSON: {e}")
            failed = True
            continue
        for error in validator.iter_errors(body):
            where = "/".join(str(p) for p in error.absolute_path)
            print(f"INVALID {path}: at /{where}: {error.message}")
            failed = True
        headers_path = path[: -len(".json")] + ".headers.json"
        if os.path.exists(headers_path):
            with open(headers_path, encoding="utf-8") as f:
                headers = json.load(f)
            now = int(headers["webhook-timestamp"]) + 10
            if not verify(args.secret, headers, raw, now=now):
                print(f"BAD SIGNATURE {path}")
                failed = True
        if not failed:
            print(f"ok {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
