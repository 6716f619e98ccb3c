// SPDX-License-Identifier: MIT
// A "legacy app" of aigw's end-to-end tests: Node's own node:http2 client, nothing else. It knows
// nothing of aigw: it calls the real OpenAI URL and trusts the CA NODE_EXTRA_CA_CERTS names.
//
//   node node_h2.mjs N RESET_EVERY [WORDS DELAY_MS]
//
// Opens N streaming chat completions at once on one h2 session. Every RESET_EVERY-th stream
// (i % RESET_EVERY == 0; 0: none) is reset by the client (RST_STREAM CANCEL) as soon as its
// answer's head and first DATA have arrived; the others read to the end. WORDS / DELAY_MS ask the mock for that many
// words, one event each DELAY_MS apart, so answers are still running when the resets come.
// Prints {"alpn", "results": [[i, "reset"|"done", status, ok, bytes], ...]} with ok: a done
// stream ended with "data: [DONE]", a reset one had its first bytes; bytes: of the body read.
import http2 from "node:http2";

const [n, every, words = "40", delay = "50"] = process.argv.slice(2).map(String);
const session = http2.connect("https://api.openai.com");
session.on("error", (e) => {
  console.error(`session error: ${e.message}`);
  process.exit(1);
});

function call(i) {
  return new Promise((resolve) => {
    const reset = Number(every) > 0 && i % Number(every) === 0;
    const body = JSON.stringify({ model: "gpt-4o-mini", stream: true,
                                  messages: [{ role: "user", content: `stream ${i}` }] });
    const req = session.request({ ":method": "POST", ":path": "/v1/chat/completions",
                                  "content-type": "application/json",
                                  authorization: "Bearer sk-app-node",
                                  "x-mock-reply-words": words, "x-mock-chunk-delay-ms": delay });
    let status = 0, text = "";
    req.on("response", (h) => { status = h[":status"]; });
    req.setEncoding("utf8");
    req.on("data", (d) => {
      text += d;
      // Node may emit "response" a tick after the first "data": reset once it came.
      if (reset && status && !req.closed) {
        req.close(http2.constants.NGHTTP2_CANCEL);
        resolve([i, "reset", status, text.length > 0, Buffer.byteLength(text)]);
      }
    });
    req.on("end", () => resolve([i, "done", status, text.trimEnd().endsWith("data: [DONE]"),
                                 Buffer.byteLength(text)]));
    req.on("error", (e) => resolve([i, "error", status, String(e.code || e.message)]));
    req.end(body);
  });
}

const results = await Promise.all(Array.from({ length: Number(n) }, (_, i) => call(i)));
console.log(JSON.stringify({ alpn: session.alpnProtocol, results }));
session.close();
