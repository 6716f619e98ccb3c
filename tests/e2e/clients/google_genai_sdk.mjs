// SPDX-License-Identifier: MIT
// A "legacy app" of aigw's end-to-end tests: Google's official `@google/genai` npm SDK with its
// defaults (base URL https://generativelanguage.googleapis.com, the Gemini API's v1beta, its
// global fetch, so the CA comes from NODE_EXTRA_CA_CERTS). Its key is GEMINI_API_KEY, handed to
// the client as its documentation shows. It knows nothing of aigw.
//
//   node google_genai_sdk.mjs gemini|vertex MODE MODEL PROMPT ['Name: value' ...]
//
//   vertex: Gemini on Vertex AI, as its documentation shows: new GoogleGenAI({vertexai: true,
//   project, location}) from GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION; the SDK mints its
//   own access token from the service-account key file GOOGLE_APPLICATION_CREDENTIALS
//   (google-auth-library, at https://oauth2.googleapis.com/token).
//
//   MODE  plain   models.generateContent({model, contents: PROMPT})
//         stream  models.generateContentStream({model, contents: PROMPT}) (?alt=sse)
//   The extra headers go with the request (config.httpOptions.headers).
//   SDK_EXTRA_CONFIG='{"tools": [...]}': members added to the request's config (a JSON object).
//
// Prints one JSON object on stdout and exits 0 (1 when "error" is set):
//   {"client","status","headers","body","chunks","pid","error"}
//   body    plain: the GenerateContentResponse as JSON, with "text" (the SDK's .text); stream:
//           the list of chunks, each with its "text"
//   status  200 when the SDK returned; an ApiError's status; null when no response came

import { GoogleGenAI, ApiError } from "@google/genai";

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

function plainOf(r) {
  const o = JSON.parse(JSON.stringify(r));
  o.text = r.text ?? null;
  delete o.sdkHttpResponse;
  return o;
}

const out = { client: "google_genai_sdk", status: null, headers: {}, body: null, chunks: [], pid: process.pid, error: null };

async function main() {
  const [provider, mode, model, prompt, ...extra] = process.argv.slice(2);
  if (!["gemini", "vertex"].includes(provider) || !["plain", "stream"].includes(mode) ||
      model === undefined || prompt === undefined)
    throw new Error("usage: google_genai_sdk.mjs gemini|vertex plain|stream MODEL PROMPT ['Name: value' ...]");
  const ai = provider === "vertex"
    ? new GoogleGenAI({ vertexai: true, project: process.env.GOOGLE_CLOUD_PROJECT,
                        location: process.env.GOOGLE_CLOUD_LOCATION })
    : new GoogleGenAI({ apiKey: process.env.GEMINI_API_KEY });
  const params = { model, contents: prompt, config: { httpOptions: { headers: parseHeaders(extra) } } };
  Object.assign(params.config, JSON.parse(process.env.SDK_EXTRA_CONFIG ?? "{}"));
  const t0 = performance.now();
  const ms = () => Math.round((performance.now() - t0) * 1000) / 1000;
  if (mode === "stream") {
    out.body = [];
    for await (const chunk of await ai.models.generateContentStream(params)) {
      out.chunks.push([ms(), "chunk"]);
      out.body.push(plainOf(chunk));
    }
  } else {
    const r = await ai.models.generateContent(params);
    out.chunks.push([ms(), "response"]);
    out.body = plainOf(r);
  }
  out.status = 200;
}

try {
  await main();
} catch (e) {
  out.error = errText(e);
  out.error_class = e?.constructor?.name ?? null;
  if (e instanceof ApiError) out.status = e.status;
}
process.stdout.write(JSON.stringify(out) + "\n");
process.exitCode = out.error ? 1 : 0;
