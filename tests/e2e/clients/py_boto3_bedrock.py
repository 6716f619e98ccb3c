#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A legacy Bedrock app on Debian's boto3: calls bedrock-runtime.us-east-1.amazonaws.com with its
own AWS credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY from the environment) and knows
nothing of aigw.

    py_boto3_bedrock.py OP MODEL PROMPT ['Name: value' ...]

OP: converse, converse_stream, invoke_model, invoke_model_with_response_stream. The headers go
on the request before it is signed (an app's own headers, such as the mock's x-mock-*). Prints
one JSON object: {"client", "status", "body", "headers", "pid", "error"}; "body" is the answer
(Converse's parsed result, InvokeModel's body parsed) or the list of stream events (InvokeModel
chunks decoded). Errors (a refused call, a stream that broke) are "error": its type and text.
INVOKE_BODY in the environment, when set, is the InvokeModel body sent as it is (a test
replays a body the mock saw, to get the answer that body gets).
"""
import json
import os
import sys

import boto3
from botocore.config import Config


def main():
    op, model, prompt, *hdrs = sys.argv[1:]
    out = {"client": "py_boto3_bedrock", "pid": os.getpid(), "status": None, "body": None,
           "headers": {}, "error": None}
    client = boto3.client("bedrock-runtime", region_name="us-east-1",
                          config=Config(retries={"max_attempts": 0}))

    def add_headers(request, **_):
        for h in hdrs:
            k, v = h.split(":", 1)
            request.headers[k.strip()] = v.strip()

    client.meta.events.register("before-sign.bedrock-runtime.*", add_headers)
    messages = [{"role": "user", "content": [{"text": prompt}]}]
    anthropic = json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64,
                            "messages": [{"role": "user", "content": prompt}]})
    anthropic = os.environ.get("INVOKE_BODY", anthropic)
    try:
        if op == "converse":
            r = client.converse(modelId=model, messages=messages)
            out["body"] = {k: r[k] for k in ("output", "usage", "stopReason")}
        elif op == "converse_stream":
            r = client.converse_stream(modelId=model, messages=messages)
            out["body"] = [e for e in r["stream"]]
        elif op == "invoke_model":
            r = client.invoke_model(modelId=model, body=anthropic)
            out["body"] = json.loads(r["body"].read())
        else:
            r = client.invoke_model_with_response_stream(modelId=model, body=anthropic)
            out["body"] = [json.loads(e["chunk"]["bytes"]) for e in r["body"]]
        out["status"] = r["ResponseMetadata"]["HTTPStatusCode"]
        out["headers"] = r["ResponseMetadata"]["HTTPHeaders"]
    except Exception as e:  # noqa: BLE001 -- reported to the test, which judges it
        meta = getattr(e, "response", {}).get("ResponseMetadata", {})
        out["status"] = meta.get("HTTPStatusCode")
        out["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(out, default=str))


main()
