// SPDX-License-Identifier: MIT
// A "legacy app" of aigw's end-to-end tests: a two-turn tool conversation with an official SDK
// (`openai` or `@anthropic-ai/sdk` npm, their defaults: base URL, key from the environment, CA from
// NODE_EXTRA_CA_CERTS). It knows nothing of aigw.
//
//   node tool_turns.mjs openai|anthropic plain|stream MODEL PROMPT
//
// Turn 1: PROMPT with one tool (get_weather {city, unit}) and a forced call (OpenAI tool_choice
// "required", Anthropic {"type": "any"}). Turn 2: the history as the SDKs' documentation builds
// it — the assistant message the SDK returned (for streams, what its stream helper accumulated:
// chat.completions.stream().finalChatCompletion(), messages.stream().finalMessage()), with the
// call ids exactly as received, and the tool's result for each call — tool_choice auto.
//
// With TOOL_TURNS_BETWEEN=1 in the environment, it prints "between turns" on a line of its own
// after turn 1 and reads a line from stdin before turn 2: the test changes the world (a provider
// goes down) in between, without guessing at times.
//
// Prints one JSON object on stdout and exits 0 (1 when "error" is set):
//   {"client","pid","turns": [{"status", "body"}, ...],"status","body","error","error_class"}
//   turns   each turn's HTTP status and the SDK's (final) message object
//   status, body  on an API error, its status and the parsed error body

import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";

const SCHEMA = {
  type: "object",
  properties: { city: { type: "string" }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } },
  required: ["city", "unit"],
};
const RESULT = "21 degrees and sunny";

async function betweenTurns() {
  if (process.env.TOOL_TURNS_BETWEEN !== "1") return;
  process.stdout.write("between turns\n");
  await new Promise((resolve) => process.stdin.once("data", resolve));
  process.stdin.pause();
}

const out = { client: "tool_turns", pid: process.pid, turns: [], status: null, body: null, error: null };

async function openaiTurn(client, mode, params) {
  if (mode === "stream") {
    const s = client.chat.completions.stream({ ...params, stream_options: { include_usage: true } });
    const done = await s.finalChatCompletion();
    out.turns.push({ status: 200, body: done });
    return done.choices[0].message;
  }
  const { data, response } = await client.chat.completions.create(params).withResponse();
  out.turns.push({ status: response.status, body: data });
  return data.choices[0].message;
}

async function openaiTurns(mode, model, prompt) {
  const client = new OpenAI({ maxRetries: 0 });
  const tools = [{ type: "function", function: { name: "get_weather", description: "Current weather of a city", parameters: SCHEMA } }];
  const messages = [{ role: "user", content: prompt }];
  const msg = await openaiTurn(client, mode, { model, messages, tools, tool_choice: "required" });
  const calls = msg.tool_calls.map((c) => ({ id: c.id, type: c.type, function: { name: c.function.name, arguments: c.function.arguments } }));
  messages.push({ role: "assistant", content: msg.content, tool_calls: calls });
  for (const c of calls) messages.push({ role: "tool", tool_call_id: c.id, content: RESULT });
  await betweenTurns();
  await openaiTurn(client, mode, { model, messages, tools, tool_choice: "auto" });
}

async function anthropicTurn(client, mode, params) {
  if (mode === "stream") {
    const done = await client.messages.stream(params).finalMessage();
    out.turns.push({ status: 200, body: done });
    return done;
  }
  const { data, response } = await client.messages.create(params).withResponse();
  out.turns.push({ status: response.status, body: data });
  return data;
}

async function anthropicTurns(mode, model, prompt) {
  const client = new Anthropic({ maxRetries: 0 });
  const tools = [{ name: "get_weather", description: "Current weather of a city", input_schema: SCHEMA }];
  const messages = [{ role: "user", content: prompt }];
  const params = { model, max_tokens: 1024, tools };
  const msg = await anthropicTurn(client, mode, { ...params, messages, tool_choice: { type: "any" } });
  messages.push({ role: "assistant", content: msg.content });
  messages.push({ role: "user", content: msg.content.filter((b) => b.type === "tool_use").map((b) => ({ type: "tool_result", tool_use_id: b.id, content: RESULT })) });
  await betweenTurns();
  await anthropicTurn(client, mode, { ...params, messages, tool_choice: { type: "auto" } });
}

function errText(e) {
  let s = `${e.name ?? e.constructor?.name}: ${e.message}`;
  for (let c = e.cause; c; c = c.cause) s += ` <- ${c.code ? c.code + " " : ""}${c.message ?? c}`;
  return s;
}

try {
  const [sdk, mode, model, prompt] = process.argv.slice(2);
  if (!["openai", "anthropic"].includes(sdk) || !["plain", "stream"].includes(mode) || !model || !prompt)
    throw new Error("usage: tool_turns.mjs openai|anthropic plain|stream MODEL PROMPT");
  await (sdk === "openai" ? openaiTurns : anthropicTurns)(mode, model, prompt);
} catch (e) {
  out.error = errText(e);
  out.error_class = e?.constructor?.name ?? null;
  if ((e instanceof OpenAI.APIError || e instanceof Anthropic.APIError) && e.status !== undefined) {
    out.status = e.status;
    out.body = e.error ?? null;
  }
}
process.stdout.write(JSON.stringify(out) + "\n");
process.exitCode = out.error ? 1 : 0;
