#!/usr/bin/python3
"""The forecast service: a legacy app that asks Claude on AWS Bedrock, on Debian's boto3. It
knows nothing of aigw: bedrock-runtime.us-east-1.amazonaws.com, its own AWS credentials
(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), the CA from AWS_CA_BUNDLE; one Converse call and
one ConverseStream call."""
import boto3

MODEL = "us.anthropic.claude-3-5-haiku-20241022-v1:0"  # a US inference profile

bedrock = boto3.client("bedrock-runtime", region_name="us-east-1")


def ask(text):
    return [{"role": "user", "content": [{"text": text}]}]


r = bedrock.converse(modelId=MODEL, messages=ask("Forecast Q3 cloud spend for platform"))
print(f"  forecast : converse        -> {r['output']['message']['content'][0]['text'][:48]}..."
      f" ({r['usage']['outputTokens']} tokens out)")
r = bedrock.converse_stream(modelId=MODEL, messages=ask("Forecast Q4 cloud spend for platform"))
events = list(r["stream"])
text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
usage = next(e["metadata"]["usage"] for e in events if "metadata" in e)
print(f"  forecast : converse_stream -> {len(events)} events: {text[:40]}..."
      f" ({usage['outputTokens']} tokens out)")
