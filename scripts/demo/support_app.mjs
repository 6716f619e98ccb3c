// The support service: a legacy Node app that streams answers from Anthropic with fetch.
// It knows nothing of aigw: https://api.anthropic.com, its own key, NODE_EXTRA_CA_CERTS.
const res = await fetch("https://api.anthropic.com/v1/messages", {
  method: "POST",
  headers: {
    "content-type": "application/json",
    "x-api-key": "sk-ant-support-own-key",
    "anthropic-version": "2023-06-01",
    "x-mock-chunk-delay-ms": "60",
  },
  body: JSON.stringify({
    model: "claude-3-5-haiku-latest", max_tokens: 200, stream: true,
    messages: [{ role: "user", content: "My order arrived damaged, what now?" }],
  }),
});
process.stdout.write("  support  : streaming: ");
const decoder = new TextDecoder();
let buf = "";
for await (const chunk of res.body) {
  buf += decoder.decode(chunk, { stream: true });
  let i;
  while ((i = buf.indexOf("\n\n")) >= 0) {
    const event = buf.slice(0, i);
    buf = buf.slice(i + 2);
    const data = event.split("\n").find((l) => l.startsWith("data: "));
    if (!data) continue;
    const ev = JSON.parse(data.slice(6));
    if (ev.type === "content_block_delta") process.stdout.write(ev.delta.text);
  }
}
process.stdout.write("\n");
