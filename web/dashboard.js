// The aigw dashboard's script: reads /api/* and draws with chart.js. Names from the ledger
// (workloads, teams, models, services) are untrusted: they only ever go into textContent
// or chart labels (drawn on a canvas), never into innerHTML.
"use strict";

const days = Number(new URLSearchParams(location.search).get("days")) || 30;

async function api(what, params = "") {
  const r = await fetch(`/api/${what}?days=${days}${params}`);
  const body = await r.json();
  if (!r.ok) throw new Error(`${what}: ${body.error || r.status}`);
  return body;
}

function text(tag, value, cls) {
  const el = document.createElement(tag);
  el.textContent = String(value);
  if (cls) el.className = cls;
  return el;
}

function tile(label, value, id) {
  const t = document.createElement("div");
  t.className = "tile";
  t.id = id;
  t.append(text("b", value), text("span", label));
  document.getElementById("tiles").append(t);
}

function row(tbody, cells) {
  const tr = document.createElement("tr");
  for (const [v, num] of cells) tr.append(text("td", v, num ? "num" : ""));
  tbody.append(tr);
}

// Rows {day, key, cost_nano} as one dataset per key over the days seen.
function byDay(rows) {
  const dayList = [...new Set(rows.map((r) => r.day))].sort();
  const keys = [...new Set(rows.map((r) => r.key))];
  const datasets = keys.map((k) => ({
    label: k === "" ? "(none)" : k,
    data: dayList.map((d) => {
      const r = rows.find((x) => x.day === d && x.key === k);
      return r ? r.cost_nano / 1e9 : 0;
    }),
  }));
  return { labels: dayList, datasets };
}

function chart(id, type, data, extra = {}) {
  new Chart(document.getElementById(id), {
    type, data,
    options: { animation: false, responsive: true, ...extra },
  });
}

async function main() {
  document.getElementById("range").textContent = `(last ${days} days)`;
  const [totals, team, model, calls, top, shadow, live] = await Promise.all([
    api("totals"), api("spend", "&by=team"), api("spend", "&by=model"), api("calls"),
    api("top"), api("shadow"), api("live"),
  ]);
  const t = totals[0] || { calls: 0, errors: 0, cost_usd: "0.000000000" };
  tile("spend (USD)", t.cost_usd, "total-spend");
  tile("calls", t.calls, "total-calls");
  tile("errors", t.errors, "total-errors");
  tile("shadow-AI attempts denied",
       shadow.filter((s) => s.action === "denied").reduce((n, s) => n + s.attempts, 0),
       "shadow-denied");

  chart("spend-team", "bar", byDay(team), { scales: { x: { stacked: true }, y: { stacked: true } } });
  chart("spend-model", "bar", byDay(model), { scales: { x: { stacked: true }, y: { stacked: true } } });
  chart("calls", "line", {
    labels: calls.map((c) => c.day),
    datasets: [
      { label: "calls", data: calls.map((c) => c.calls) },
      { label: "errors", data: calls.map((c) => c.errors) },
      { label: "fallbacks", data: calls.map((c) => c.fallbacks) },
    ],
  });
  chart("budgets", "bar", {
    labels: live.budgets.map((b) => `${b.scope} (${b.period})`),
    datasets: [{ label: "used / budget", data: live.budgets.map((b) => b.ratio) }],
  }, { indexAxis: "y", scales: { x: { min: 0, suggestedMax: 1 } } });

  const topBody = document.querySelector("#top tbody");
  for (const w of top)
    row(topBody, [[w.workload], [w.team], [w.calls, 1], [w.errors, 1], [w.cost_usd, 1]]);
  const shadowBody = document.querySelector("#shadow tbody");
  for (const s of shadow)
    row(shadowBody, [[s.service], [s.action], [s.workload], [s.attempts, 1]]);
  const liveBody = document.querySelector("#live tbody");
  for (const k of ["calls", "errors", "fallbacks", "breaker_openings", "denied", "passthrough",
                   "captured", "cost_usd"])
    row(liveBody, [[k.replace("_", " ")], [live[k], 1]]);
  row(liveBody, [["breakers open now"],
                 [live.breakers_open.map((b) => b.target).join(", ") || "none"]]);
  document.body.dataset.ready = "1";
}

main().catch((e) => { document.getElementById("error").textContent = String(e); });
