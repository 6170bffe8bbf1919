"""Schemathesis hooks for Scripts/server-contract.

Random data is almost never a request the server can sign, so without help schemathesis would see only the error
answers of the signing routes. These hooks add, as examples of each operation, real documents of the test PKI the
script made (COS_CONTRACT_DIR: request.xml, signed.xml, fields.json), so that the answers of success (200, their
headers and bodies) are checked against openapi.yaml too. And XML bodies are sent as they are (schemathesis would
otherwise wrap a string in an element of its own).
"""
import base64
import json
import os

import schemathesis

DIRECTORY = os.environ["COS_CONTRACT_DIR"]


def _read(name):
    with open(os.path.join(DIRECTORY, name), "rb") as f:
        return f.read()


@schemathesis.serializer("application/xml")
def xml_as_it_is(ctx, value):
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")


@schemathesis.hook
def before_load_schema(context, raw_schema):
    request = _read("request.xml").decode("utf-8")
    signed = _read("signed.xml").decode("utf-8")
    fields = json.loads(_read("fields.json"))
    paths = raw_schema["paths"]

    def body(path, media_type, example):
        paths[path]["post"]["requestBody"]["content"][media_type]["example"] = example

    body("/v1/sign", "application/xml", request)
    # /v1/verify: a valid signature, and two invalid ones whose verdicts carry diagnoses (a copy pretty-printed
    # after signing: reformatted-after-signing; an ImportMPxN digit changed: content-changed), so that the
    # Diagnosis schema is checked against real answers.
    start = signed.index("<sr:ImportMPxN>") + len("<sr:ImportMPxN>") + 3
    tampered = signed[:start] + ("8" if signed[start] == "9" else "9") + signed[start + 1:]
    content = paths["/v1/verify"]["post"]["requestBody"]["content"]["application/xml"]
    content.pop("example", None)
    content["examples"] = {
        "valid": {"value": signed},
        "reformatted": {"value": signed.replace("><", ">\n  <")},
        "tampered": {"value": tampered},
    }
    body("/v1/requests/6.23", "application/json", fields)
    body("/sign", "application/json", {"message": base64.b64encode(request.encode()).decode(), "preserveCounter": False})
    body("/verify", "application/json", {"message": base64.b64encode(signed.encode()).decode()})
    raw_schema["components"]["parameters"]["mpid"]["example"] = "TS1E"
