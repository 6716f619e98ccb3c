"""AWS Bedrock from the AWS SDK for JavaScript (@aws-sdk/client-bedrock-runtime, an unmodified
captured app): its Bedrock runtime client speaks only HTTP/2, so it is captured only once aigw
offers and serves h2 to clients. Converse and ConverseStream are answered, re-signed with the
gateway's key (the mock knows no other) and recorded with the usage Bedrock reported.

Before aigw offered h2 (HTTP/1.1 only) the SDK failed with "Protocol error" before sending
anything."""
import json
import os
from pathlib import Path

import pytest

from conftest import hosts_wrap  # noqa: E402
from test_bedrock import (GW_ID, MODEL, PROMPT, APP_ID, APP_SECRET, bedrock,  # noqa: E402
                          check_resigned)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (port 443, unshare -m)"),
]

CLIENTS = Path(__file__).resolve().parent / "clients"
SCRIPT = r"""
const { BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand } =
  require("@aws-sdk/client-bedrock-runtime");
(async () => {
  const [op, model, prompt] = process.argv.slice(1); // node -e: no script path in argv
  const out = { pid: process.pid, status: null, body: null, error: null };
  const c = new BedrockRuntimeClient({ region: "us-east-1", maxAttempts: 1 });
  const messages = [{ role: "user", content: [{ text: prompt }] }];
  try {
    if (op === "converse") {
      const r = await c.send(new ConverseCommand({ modelId: model, messages }));
      out.status = r.$metadata.httpStatusCode;
      out.body = { usage: r.usage, output: r.output };
    } else {
      const r = await c.send(new ConverseStreamCommand({ modelId: model, messages }));
      out.status = r.$metadata.httpStatusCode;
      out.body = [];
      for await (const e of r.stream) out.body.push(e);
    }
  } catch (e) {
    out.error = `${e.name}: ${e.message}`;
  }
  console.log(JSON.stringify(out));
})();
"""


def run_js(gw, op):
    env = dict(gw.env(), AWS_ACCESS_KEY_ID=APP_ID, AWS_SECRET_ACCESS_KEY=APP_SECRET,
               NODE_PATH=str(CLIENTS / "node_modules"), AWS_EC2_METADATA_DISABLED="true",
               NODE_EXTRA_CA_CERTS=str(gw.ca_dir / "ca.pem"))
    p = gw.app.run(hosts_wrap(gw.hosts, ["node", "-e", SCRIPT, "--", op, MODEL, PROMPT]),
                   timeout=60, env=env, cwd=str(CLIENTS))
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("op", ["converse", "converse_stream"])
def test_captured_aws_js_sdk_over_h2_is_resigned_and_recorded(gw, monkeypatch, op):
    gw.start(bedrock(gw, monkeypatch))
    r = run_js(gw, op)
    assert r["status"] == 200 and not r["error"], r
    usage = r["body"]["usage"] if op == "converse" else r["body"][-1]["metadata"]["usage"]
    check_resigned(gw, MODEL.replace(":", "%3A"))
    rec = gw.world.wait_record(**{"event.name": "proxy.request", "process.pid": r["pid"]})
    assert rec["gen_ai.request.model"] == MODEL and rec["aigw.credential"] == "gateway", rec
    assert rec["gen_ai.usage.input_tokens"] == usage["inputTokens"], rec
    assert rec["gen_ai.usage.output_tokens"] == usage["outputTokens"], rec
    assert GW_ID not in json.dumps(r)
