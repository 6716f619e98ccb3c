#!/usr/bin/python3
"""xlate_streams: writes two realistic provider streams into DIR for `bench_providers events`:
anthropic.sse (a Messages stream) and openai.sse (a chat completion stream with the usage
chunk), and the same without the tool call (anthropic_text.sse, openai_text.sse: what a Gemini
app, which cannot ask for tools through a translation, is answered), each with text deltas of 5-40 bytes (some with quotes, newlines and non-ASCII), a tool
call whose arguments come in pieces, and the providers' opening and closing events, in the
providers' own framing. Deterministic (seeded), so before/after runs see the same bytes.

    xlate_streams.py DIR [TEXT_DELTAS] [ARG_DELTAS]
"""
import json
import os
import random
import sys

WORDS = ("the of and a to in is you that it he was for on are as with his they I at be this "
         "have from or one had by word but not what all were we when your can said there use an "
         "each which she do how their if will up other about out many then them these so some "
         "her would make like him into time has look two more write go see number no way could "
         "people my than first water been call who oil its now find long down day did get come "
         "made may part café naïve “quoted” \"escaped\" tab\there new\nline 日本語 emoji😀").split(" ")


def texts(rng, n):
    out = []
    for _ in range(n):
        s = ""
        want = rng.randint(5, 40)
        while len(s.encode()) < want:
            s += rng.choice(WORDS) + " "
        out.append(s[: max(5, want)])
    return out


def arg_pieces(rng, n):
    args = json.dumps({"location": "San Francisco, CA", "unit": "celsius",
                       "days": 5, "detail": " ".join(texts(rng, 6))}, ensure_ascii=False)
    cut = sorted(rng.sample(range(1, len(args)), n - 1))
    return [args[a:b] for a, b in zip([0] + cut, cut + [len(args)])]


def j(o):
    return json.dumps(o, separators=(",", ":"), ensure_ascii=False)


def anthropic(rng, n_text, n_args):
    ev = []
    add = lambda name, o: ev.append("event: %s\ndata: %s\n\n" % (name, j(o)))
    add("message_start", {"type": "message_start", "message": {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
        "model": "claude-3-5-haiku-20241022", "content": [], "stop_reason": None,
        "stop_sequence": None, "usage": {"input_tokens": 472, "cache_creation_input_tokens": 0,
                                         "cache_read_input_tokens": 0, "output_tokens": 2}}})
    add("content_block_start", {"type": "content_block_start", "index": 0,
                                "content_block": {"type": "text", "text": ""}})
    add("ping", {"type": "ping"})
    for t in texts(rng, n_text):
        add("content_block_delta", {"type": "content_block_delta", "index": 0,
                                    "delta": {"type": "text_delta", "text": t}})
    add("content_block_stop", {"type": "content_block_stop", "index": 0})
    add("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {
        "type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather",
        "input": {}}})
    for p in arg_pieces(rng, n_args):
        add("content_block_delta", {"type": "content_block_delta", "index": 1,
                                    "delta": {"type": "input_json_delta", "partial_json": p}})
    add("content_block_stop", {"type": "content_block_stop", "index": 1})
    add("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use",
                                                             "stop_sequence": None},
                          "usage": {"output_tokens": 89}})
    add("message_stop", {"type": "message_stop"})
    return "".join(ev)


def openai(rng, n_text, n_args):
    ev = []
    base = {"id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion.chunk",
            "created": 1741569952, "model": "gpt-4o-mini-2024-07-18",
            "service_tier": "default", "system_fingerprint": "fp_06737a9306"}

    def add(delta, finish=None, usage=None, choices=True):
        o = dict(base)
        o["choices"] = [{"index": 0, "delta": delta, "logprobs": None,
                         "finish_reason": finish}] if choices else []
        o["usage"] = usage
        ev.append("data: %s\n\n" % j(o))
    add({"role": "assistant", "content": "", "refusal": None})
    for t in texts(rng, n_text):
        add({"content": t})
    add({"tool_calls": [{"index": 0, "id": "call_DdmO9pD3xa9XTPNJ32zg2hcA", "type": "function",
                         "function": {"name": "get_weather", "arguments": ""}}]})
    for p in arg_pieces(rng, n_args):
        add({"tool_calls": [{"index": 0, "function": {"arguments": p}}]})
    add({}, finish="tool_calls")
    add(None, usage={"prompt_tokens": 472, "completion_tokens": 89, "total_tokens": 561,
                     "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                     "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                                   "accepted_prediction_tokens": 0,
                                                   "rejected_prediction_tokens": 0}},
        choices=False)
    ev.append("data: [DONE]\n\n")
    return "".join(ev)


def text_only(stream):
    """STREAM without its tool call's events, ending as a text answer does."""
    keep = [e for e in stream.split("\n\n") if e and '"tool_calls":[' not in e
            and '"index":1' not in e]
    return "".join(e.replace('"finish_reason":"tool_calls"', '"finish_reason":"stop"')
                   .replace('"stop_reason":"tool_use"', '"stop_reason":"end_turn"') + "\n\n"
                   for e in keep)


def main():
    out = sys.argv[1]
    n_text = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    n_args = int(sys.argv[3]) if len(sys.argv) > 3 else 12
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "anthropic.sse"), "w") as f:
        f.write(anthropic(random.Random(13), n_text, n_args))
    with open(os.path.join(out, "openai.sse"), "w") as f:
        f.write(openai(random.Random(13), n_text, n_args))
    with open(os.path.join(out, "anthropic_text.sse"), "w") as f:
        f.write(text_only(anthropic(random.Random(13), n_text, n_args)))
    with open(os.path.join(out, "openai_text.sse"), "w") as f:
        f.write(text_only(openai(random.Random(13), n_text, n_args)))


if __name__ == "__main__":
    main()
