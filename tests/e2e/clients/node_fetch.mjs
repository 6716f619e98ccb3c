// SPDX-License-Identifier: MIT
// A "legacy app" of aigw's end-to-end tests: Node's global fetch (undici), nothing else. It knows
// nothing of aigw: it calls the real provider URL and trusts the CA that NODE_EXTRA_CA_CERTS names.
//
//   node node_fetch.mjs PROVIDER MODE MODEL PROMPT ['Name: value' ...]
//
//   PROVIDER  openai | anthropic
//   MODE      plain | stream                      (OpenAI chat completions, Anthropic messages)
//             embeddings | responses | responses-stream              (OpenAI only)
//
// Key from OPENAI_API_KEY / ANTHROPIC_API_KEY. The request body is compact JSON with a fixed key
// order (harness.request_body() builds the same bytes, so a deterministic mock answers both alike):
//   openai plain            {"model":M,"messages":[{"role":"user","content":P}]}
//   openai stream           ... ,"stream":true,"stream_options":{"include_usage":true}}
//   openai embeddings       {"model":M,"input":P}
//   openai responses        {"model":M,"input":P}            (-stream: ... ,"stream":true})
//   anthropic plain         {"model":M,"max_tokens":1024,"messages":[{"role":"user","content":P}]}
//   anthropic stream        ... ,"stream":true}
//
// Prints one JSON object on stdout and exits 0 (1 when "error" is set):
//   {"client","status","headers","body","chunks","pid","error"}
//   body    the response body as received (decoded from gzip/br by fetch, then UTF-8), streams too
//   chunks  [[ms since the request started, bytes], ...], one per read as the bytes arrived
// An HTTP error status is no client error: status and body tell it.

const TARGETS = {
  openai: {
    plain: "/v1/chat/completions",
    stream: "/v1/chat/completions",
    embeddings: "/v1/embeddings",
    responses: "/v1/responses",
    "responses-stream": "/v1/responses",
  },
  anthropic: { plain: "/v1/messages", stream: "/v1/messages" },
};
const BASE = { openai: "https://api.openai.com", anthropic: "https://api.anthropic.com" };

function requestBody(provider, mode, model, prompt) {
  const msgs = [{ role: "user", content: prompt }];
  if (provider === "anthropic") {
    const b = { model, max_tokens: 1024, messages: msgs };
    if (mode === "stream") b.stream = true;
    return JSON.stringify(b);
  }
  if (mode === "plain") return JSON.stringify({ model, messages: msgs });
  if (mode === "stream")
    return JSON.stringify({ model, messages: msgs, stream: true, stream_options: { include_usage: true } });
  if (mode === "embeddings" || mode === "responses") return JSON.stringify({ model, input: prompt });
  return JSON.stringify({ model, input: prompt, stream: true });
}

function parseHeaders(args) {
  const h = {};
  for (const a of args) {
    const i = a.indexOf(":");
    if (i <= 0) throw new Error(`bad header ${JSON.stringify(a)}: want 'Name: value'`);
    h[a.slice(0, i).trim().toLowerCase()] = a.slice(i + 1).trim();
  }
  return h;
}

function errText(e) {
  let s = `${e.name}: ${e.message}`;
  for (let c = e.cause; c; c = c.cause) s += ` <- ${c.code ? c.code + " " : ""}${c.message ?? c}`;
  return s;
}

const out = { client: "node_fetch", status: null, headers: {}, body: "", chunks: [], pid: process.pid, error: null };

async function main() {
  const [provider, mode, model, prompt, ...extra] = process.argv.slice(2);
  const path = TARGETS[provider]?.[mode];
  if (!path || model === undefined || prompt === undefined)
    throw new Error("usage: node_fetch.mjs openai|anthropic MODE MODEL PROMPT ['Name: value' ...]");
  const keyVar = provider === "openai" ? "OPENAI_API_KEY" : "ANTHROPIC_API_KEY";
  const key = process.env[keyVar];
  if (!key) throw new Error(`${keyVar} is not set`);
  const headers = { "content-type": "application/json" };
  if (provider === "openai") headers.authorization = `Bearer ${key}`;
  else Object.assign(headers, { "x-api-key": key, "anthropic-version": "2023-06-01" });
  Object.assign(headers, parseHeaders(extra));

  const t0 = performance.now();
  const res = await fetch(BASE[provider] + path, {
    method: "POST",
    headers,
    body: requestBody(provider, mode, model, prompt),
  });
  out.status = res.status;
  for (const [k, v] of res.headers) out.headers[k] = v;
  const parts = [];
  try {
    if (res.body) {
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        out.chunks.push([Math.round((performance.now() - t0) * 1000) / 1000, value.length]);
        parts.push(value);
      }
    }
  } finally {
    out.body = new TextDecoder().decode(Buffer.concat(parts));
  }
}

try {
  await main();
} catch (e) {
  out.error = errText(e);
}
process.stdout.write(JSON.stringify(out) + "\n");
process.exitCode = out.error ? 1 : 0;
