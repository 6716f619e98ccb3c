#!/usr/bin/python3
"""The billing service: a legacy app that summarises invoices with OpenAI. It knows nothing of
aigw: plain urllib to https://api.openai.com, its own API key, the CA from SSL_CERT_FILE."""
import json
import os
import urllib.request

for invoice in ("INV-1042: 12 seats, annual", "INV-1043: usage overage, March"):
    body = json.dumps({"model": "gpt-4o-mini",
                       "messages": [{"role": "system", "content": "Summarise invoices."},
                                    {"role": "user", "content": invoice}]}).encode()
    req = urllib.request.Request("https://api.openai.com/v1/chat/completions", data=body,
                                 headers={"content-type": "application/json",
                                          "authorization": "Bearer sk-billing-own-key"})
    with urllib.request.urlopen(req, timeout=20) as r:
        answer = json.load(r)
    print(f"  billing  : {invoice!r} -> {answer['choices'][0]['message']['content'][:60]}...")
