// SPDX-License-Identifier: MIT
// A "legacy app" of aigw's end-to-end tests: the official `openai` npm SDK with its defaults
// (base URL https://api.openai.com/v1, key from OPENAI_API_KEY, global fetch, so the CA comes from
// NODE_EXTRA_CA_CERTS, default retries and timeout). It knows nothing of aigw.
//
//   node openai_sdk.mjs openai MODE MODEL PROMPT ['Name: value' ...]
//
//   MODE  plain             chat.completions.create({model, messages: [{role: "user", content}]})
//         stream            the same with stream: true, stream_options: {include_usage: true}
//         embeddings        embeddings.create({model, input})  (the SDK asks for base64, decodes)
//         responses         responses.create({model, input})
//         responses-stream  responses.create({model, input, stream: true})
//   The extra headers go with the request (request option `headers`).
//
// AIGW_TEST_AZURE=1: the SDK's own AzureOpenAI client instead, configured as Azure apps are, by
// its environment (AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY, OPENAI_API_VERSION); MODEL is
// then the deployment (the SDK puts it in the path, /openai/deployments/MODEL/...).
//
// Prints one JSON object on stdout and exits 0 (1 when "error" is set):
//   {"client","status","headers","body","chunks","pid","error"}
//   body    what the SDK returned, as JSON: the parsed result; for streams the list of chunk/event
//           objects in the order the SDK yielded them. On an API error: the parsed error body.
//   chunks  plain: [[ms, "response"]] when the result was parsed; streams: [[ms, type], ...] one
//           per chunk/event as the SDK yielded it (type: event "type", else "object")
//   status  the HTTP status of the (last) response; null when no response came
//   error_class  (only with "error") the class of what was thrown, e.g. AuthenticationError

import OpenAI, { AzureOpenAI } from "openai";

const MODES = ["plain", "stream", "embeddings", "responses", "responses-stream"];

// SDK_EXTRA_PARAMS='{"response_format": {...}}': members added to the chat completion's
// parameters (a JSON object).
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

const out = { client: "openai_sdk", status: null, headers: {}, body: null, chunks: [], pid: process.pid, error: null };

function request(client, mode, model, prompt, opts) {
  const messages = [{ role: "user", content: prompt }];
  const extra = JSON.parse(process.env.SDK_EXTRA_PARAMS ?? "{}");
  switch (mode) {
    case "plain":
      return client.chat.completions.create({ model, messages, ...extra }, opts);
    case "stream":
      return client.chat.completions.create(
        { model, messages, stream: true, stream_options: { include_usage: true }, ...extra },
        opts);
    case "embeddings":
      return client.embeddings.create({ model, input: prompt }, opts);
    case "responses":
      return client.responses.create({ model, input: prompt }, opts);
    default:
      return client.responses.create({ model, input: prompt, stream: true }, opts);
  }
}

async function main() {
  const [provider, mode, model, prompt, ...extra] = process.argv.slice(2);
  if (provider !== "openai" || !MODES.includes(mode) || model === undefined || prompt === undefined)
    throw new Error(`usage: openai_sdk.mjs openai ${MODES.join("|")} MODEL PROMPT ['Name: value' ...]`);
  const client = process.env.AIGW_TEST_AZURE ? new AzureOpenAI(retryOptions())
                                             : new OpenAI(retryOptions());
  const opts = { headers: parseHeaders(extra) };

  const t0 = performance.now();
  const ms = () => Math.round((performance.now() - t0) * 1000) / 1000;
  const { data, response } = await request(client, mode, model, prompt, opts).withResponse();
  out.status = response.status;
  out.headers = headersOf(response.headers);
  if (mode === "stream" || mode === "responses-stream") {
    out.body = [];
    for await (const ev of data) {
      out.chunks.push([ms(), ev.type ?? ev.object ?? "?"]);
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
  if (e instanceof OpenAI.APIError && e.status !== undefined) {
    out.status = e.status;
    out.headers = headersOf(e.headers);
    if (out.body === null) out.body = e.error ?? null;
  }
}
process.stdout.write(JSON.stringify(out) + "\n");
process.exitCode = out.error ? 1 : 0;
