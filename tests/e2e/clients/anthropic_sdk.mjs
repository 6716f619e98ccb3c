// SPDX-License-Identifier: MIT
// A "legacy app" of aigw's end-to-end tests: the official `@anthropic-ai/sdk` npm SDK with its
// defaults (base URL https://api.anthropic.com, key from ANTHROPIC_API_KEY, global fetch, so the
// CA comes from NODE_EXTRA_CA_CERTS, default retries and timeout). It knows nothing of aigw.
//
//   node anthropic_sdk.mjs anthropic MODE MODEL PROMPT ['Name: value' ...]
//
//   MODE  plain   messages.create({model, max_tokens: 1024, messages: [{role: "user", content}]})
//         stream  the same with stream: true
//   The extra headers go with the request (request option `headers`).
//
// Prints one JSON object on stdout and exits 0 (1 when "error" is set):
//   {"client","status","headers","body","chunks","pid","error"}
//   body    what the SDK returned, as JSON: the parsed Message; for streams the list of events in
//           the order the SDK yielded them (it drops "ping"). On an API error: the parsed error body.
//   chunks  plain: [[ms, "response"]] when the result was parsed; stream: [[ms, event type], ...]
//           one per event as the SDK yielded it
//   status  the HTTP status of the (last) response; null when no response came
//   error_class  (only with "error") the class of what was thrown, e.g. AuthenticationError

import Anthropic from "@anthropic-ai/sdk";

// SDK_EXTRA_PARAMS='{"top_k": 3}': members added to the request's parameters (a JSON object).
//
// SDK_MAX_RETRIES=N: the client's maxRetries (the tests of aigw's own 429s ask 0, as an app that
// handles rate limits itself would); unset, the SDK's default.
function retryOptions() {
  const n = process.env.SDK_MAX_RETRIES;
  return n === undefined ? {} : { maxRetries: Number(n) };
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
  let s = `${e.name ?? e.constructor?.name}: ${e.message}`;
  for (let c = e.cause; c; c = c.cause) s += ` <- ${c.code ? c.code + " " : ""}${c.message ?? c}`;
  return s;
}

function headersOf(h) {
  const o = {};
  if (h) for (const [k, v] of h) o[k] = v;
  return o;
}

const out = { client: "anthropic_sdk", status: null, headers: {}, body: null, chunks: [], pid: process.pid, error: null };

async function main() {
  const [provider, mode, model, prompt, ...extra] = process.argv.slice(2);
  if (provider !== "anthropic" || !["plain", "stream"].includes(mode) || model === undefined ||
      prompt === undefined)
    throw new Error("usage: anthropic_sdk.mjs anthropic plain|stream MODEL PROMPT ['Name: value' ...]");
  const client = new Anthropic(retryOptions());
  const params = { model, max_tokens: 1024, messages: [{ role: "user", content: prompt }] };
  if (mode === "stream") params.stream = true;
  Object.assign(params, JSON.parse(process.env.SDK_EXTRA_PARAMS ?? "{}"));

  const t0 = performance.now();
  const ms = () => Math.round((performance.now() - t0) * 1000) / 1000;
  const { data, response } = await client.messages.create(params, { headers: parseHeaders(extra) })
    .withResponse();
  out.status = response.status;
  out.headers = headersOf(response.headers);
  if (mode === "stream") {
    out.body = [];
    for await (const ev of data) {
      out.chunks.push([ms(), ev.type]);
      out.body.push(ev);
    }
  } else {
    out.chunks.push([ms(), "response"]);
    out.body = data;
  }
}

try {
  await main();
} catch (e) {
  out.error = errText(e);
  out.error_class = e?.constructor?.name ?? null;
  if (e instanceof Anthropic.APIError && e.status !== undefined) {
    out.status = e.status;
    out.headers = headersOf(e.headers);
    if (out.body === null) out.body = e.error ?? null;
  }
}
process.stdout.write(JSON.stringify(out) + "\n");
process.exitCode = out.error ? 1 : 0;
