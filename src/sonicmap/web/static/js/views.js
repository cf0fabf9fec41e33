// The Tracks, Models and Jobs views. Each gets what it needs from app.js (no import cycle).

import { qs } from "./api.js";
import { $, el, fill, fmtDuration, fmtTime, pct, trackWho } from "./dom.js";

// -- tracks: search, similar, path builder, mix -------------------------------------------------

export function initTracks({ api, guard, showPlaylist, openArtist, say }) {
  const ends = { a: null, b: null };
  const seeds = [];

  function setEnd(which, t) {
    ends[which] = t;
    $(`#path-${which}`).textContent = trackWho(t);
    say(`${which === "a" ? "From" : "To"}: ${trackWho(t)}`);
  }

  function addSeed(seed) {
    if (seeds.some((s) => s.kind === seed.kind && s.id === seed.id)) return;
    seeds.push(seed);
    renderSeeds();
    say(`Mix seed added: ${seed.name}`);
  }

  function renderSeeds() {
    $("#mix-hint").hidden = seeds.length > 0;
    fill(
      $("#mix-seeds"),
      seeds.map((s, i) =>
        el(
          "li",
          {},
          `${s.kind}: ${s.name}`,
          el("button", { type: "button", "aria-label": `Remove seed ${s.name}`, onclick: () => { seeds.splice(i, 1); renderSeeds(); } }, "×"),
        ),
      ),
    );
  }

  function trackItem(t) {
    const label = trackWho(t);
    return el(
      "li",
      { dataset: { trackId: t.id } },
      el("span", { class: "who", text: label }),
      el("span", { class: "where", text: [t.album, t.path].filter(Boolean).join(" · ") }),
      el(
        "span",
        { class: "list-actions" },
        el("button", { type: "button", "aria-label": `Similar tracks to ${label}`, onclick: guard(() => similar(t)) }, "Similar"),
        el("button", { type: "button", "aria-label": `Path from ${label}`, onclick: () => setEnd("a", t) }, "From"),
        el("button", { type: "button", "aria-label": `Path to ${label}`, onclick: () => setEnd("b", t) }, "To"),
        el("button", { type: "button", "aria-label": `Mix seed ${label}`, onclick: () => addSeed({ kind: "track", id: t.id, name: label }) }, "Seed"),
        t.artist_id ? el("button", { type: "button", "aria-label": `Artist ${t.artist || ""}`, onclick: guard(() => openArtist(t.artist_id)) }, "Artist") : null,
      ),
    );
  }

  let latest = 0;
  async function search(q) {
    const mine = ++latest;
    const data = await api(`/tracks${qs({ q, limit: 50 })}`);
    if (mine !== latest) return; // a newer search was sent meanwhile
    $("#track-total").textContent = `(${data.total})`;
    fill($("#track-results"), data.items.length ? data.items.map(trackItem) : [el("li", { class: "muted", text: "No track matches." })]);
  }

  async function similar(t) {
    location.hash = "tracks";
    $("#similar-seed").textContent = `Like ${trackWho(t)}:`;
    const data = await api(`/tracks/${t.id}/similar${qs({ limit: 15, max_per_album: 2 })}`);
    fill(
      $("#similar-tracks"),
      data.items.map((s) => {
        const li = trackItem(s);
        li.querySelector(".where").textContent = `${pct(s.similarity ?? s.score)} · ${s.album || ""}`;
        return li;
      }),
    );
  }

  $("#track-search").addEventListener("submit", guard(async (e) => {
    e.preventDefault();
    await search($("#track-q").value.trim());
  }));
  $("#path-form").addEventListener("submit", guard(async (e) => {
    e.preventDefault();
    if (!ends.a || !ends.b) {
      say("Choose both ends of the path first (“From” and “To” on a track)", "error");
      return;
    }
    const count = Number($("#path-count").value) || 12;
    const data = await api(`/tracks/${ends.a.id}/path${qs({ to: ends.b.id, count })}`);
    showPlaylist(`Path ${trackWho(ends.a)} → ${trackWho(ends.b)}`, data.tracks, {
      path: true,
      recipe: { path: [ends.a.id, ends.b.id] },
    });
  }));
  $("#mix-form").addEventListener("submit", guard(async (e) => {
    e.preventDefault();
    if (!seeds.length) {
      say("Add at least one seed to the mix", "error");
      return;
    }
    const count = Number($("#mix-count").value) || 30;
    const data = await api("/mix", { method: "POST", body: { seeds: seeds.map(({ kind, id }) => ({ kind, id })), count } });
    // One seed: the music server can rebuild the same mix (radio / artist / cluster).
    const one = seeds.length === 1 ? seeds[0] : null;
    const recipe = one ? { [{ track: "radio", artist: "artist", cluster: "cluster" }[one.kind]]: one.id } : null;
    showPlaylist(`Mix from ${seeds.map((s) => s.name).join(", ")}`, data.tracks, { recipe });
  }));

  let loaded = false;
  return {
    trackItem,
    addSeed,
    show: guard(async () => {
      if (!loaded) {
        loaded = true;
        await search("");
      }
    }),
  };
}

// -- models: history, activate / delete, drift chart, schedule -----------------------------------

export function initModels({ api, guard, withKey, say, reloadMap }) {
  async function activate(m) {
    const out = await withKey(() => api(`/gmm/models/${m.id}/activate`, { method: "POST" }));
    say(`Model ${out.id} is now active`);
    await render();
    await reloadMap();
  }

  async function remove(m) {
    if (!confirm(`Delete model ${m.id} and its assignments?`)) return;
    await withKey(() => api(`/gmm/models/${m.id}`, { method: "DELETE" }));
    say(`Model ${m.id} deleted`);
    await render();
  }

  function row(m) {
    const active = m.status === "active";
    return el(
      "tr",
      { class: active ? "active" : "", dataset: { modelId: m.id } },
      el("td", {}, String(m.id)),
      el("td", {}, m.k ?? "—"),
      el("td", {}, fmtTime(m.created_at)),
      el("td", {}, m.trigger),
      el("td", {}, el("span", { class: `badge ${m.status}` }, active ? "active ★" : m.status)),
      el(
        "td",
        {},
        el(
          "span",
          { class: "actions" },
          m.status === "archived"
            ? el("button", { type: "button", "aria-label": `Activate model ${m.id}`, onclick: guard(() => activate(m)) }, "Activate")
            : null,
          !active && m.status !== "training"
            ? el("button", { type: "button", class: "danger", "aria-label": `Delete model ${m.id}`, onclick: guard(() => remove(m)) }, "Delete")
            : null,
        ),
      ),
    );
  }

  async function render() {
    const [models, drift, status] = await Promise.all([
      api(`/gmm/models${qs({ limit: 100 })}`),
      api(`/gmm/drift${qs({ limit: 100 })}`),
      api("/gmm/status"),
    ]);
    fill($("#models-table tbody"), models.items.length ? models.items.map(row) : [el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No model yet."))]);
    driftChart(drift.items.slice().reverse());
    fill(
      $("#schedule"),
      status.schedule.map((s) =>
        el("li", {}, el("strong", { text: s.name }), ` — ${s.enabled ? fmtTime(s.next_run_at) : "disabled"} `, el("span", { class: "muted", text: `(${s.schedule})` })),
      ),
    );
  }

  $("#train-now").addEventListener("click", guard(async () => {
    const out = await withKey(() => api("/gmm/train", { method: "POST", body: {} }));
    say(`Training ${out.status} (task ${out.task_id})`);
  }));

  return { show: guard(render) };
}

// An SVG line chart of drift over time with the threshold as a dashed line.
function driftChart(points) {
  const box = $("#drift-chart");
  const data = points.filter((p) => p.drift !== null && p.drift !== undefined);
  if (!data.length) {
    fill(box, el("p", { class: "muted", text: "No drift check yet." }));
    return;
  }
  const W = 480;
  const H = 200;
  const L = 40;
  const B = 24;
  const threshold = data[data.length - 1].threshold ?? null;
  const top = Math.max(...data.map((p) => p.drift), threshold ?? 0) * 1.15 || 1;
  const x = (i) => L + (data.length === 1 ? (W - L) / 2 : (i / (data.length - 1)) * (W - L - 10));
  const y = (v) => H - B - (v / top) * (H - B - 10);
  const ns = "http://www.w3.org/2000/svg";
  const s = (tag, attrs, text) => {
    const n = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    return n;
  };
  const last = data[data.length - 1];
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `Drift of the last ${data.length} checks; latest ${last.drift.toFixed(3)}${threshold !== null ? `, threshold ${threshold}` : ""}` });
  svg.append(s("line", { class: "axis", x1: L, y1: H - B, x2: W, y2: H - B }), s("line", { class: "axis", x1: L, y1: 5, x2: L, y2: H - B }));
  svg.append(s("text", { x: 2, y: y(top / 1.15) + 4 }, (top / 1.15).toFixed(2)), s("text", { x: 2, y: H - B }, "0"));
  if (threshold !== null) {
    svg.append(s("line", { class: "threshold", x1: L, x2: W, y1: y(threshold), y2: y(threshold) }));
    svg.append(s("text", { x: W - 110, y: y(threshold) - 4 }, `threshold ${threshold}`));
  }
  svg.append(s("polyline", { class: "line", points: data.map((p, i) => `${x(i)},${y(p.drift)}`).join(" ") }));
  data.forEach((p, i) => {
    const c = s("circle", { class: "dot", cx: x(i), cy: y(p.drift), r: 3.5 });
    c.append(s("title", {}, `${fmtTime(p.checked_at)}: ${p.drift.toFixed(3)} (${p.decision})`));
    svg.append(c);
  });
  svg.append(s("text", { x: L, y: H - 6 }, fmtTime(data[0].checked_at)));
  fill(box, svg, el("p", { class: "muted", text: `Latest: ${last.drift.toFixed(3)} (${last.decision}) on ${fmtTime(last.checked_at)}` }));
}

// -- jobs: in progress with progress bars, recent failures with reasons -------------------------

export function initJobs({ api, guard }) {
  let timer = null;

  async function render() {
    const [running, failed, recent, scans, pending] = await Promise.all([
      api(`/jobs${qs({ status: "running", limit: 20 })}`),
      api(`/jobs${qs({ status: "failed", limit: 10 })}`),
      api(`/jobs${qs({ limit: 25 })}`),
      api(`/scans${qs({ status: "running", limit: 5 })}`),
      api(`/tracks${qs({ status: "pending", limit: 1 })}`),
    ]);
    const items = [];
    for (const sc of scans.items) {
      const done = sc.added + sc.changed + sc.failed + sc.moved;
      const total = done + pending.total;
      items.push(
        el(
          "li",
          {},
          el("strong", { text: `Scan ${sc.id}` }),
          ` — ${done} analysed, ${pending.total} to go, ${sc.failed} failed`,
          el("progress", { max: total || 1, value: total ? done : null, "aria-label": `Scan ${sc.id} progress` }),
        ),
      );
    }
    for (const j of running.items) {
      const secs = (Date.now() - new Date(j.started_at).getTime()) / 1000;
      items.push(el("li", {}, el("strong", { text: j.task }), ` — running for ${fmtDuration(secs)}`, el("progress", { "aria-label": `${j.task} in progress` })));
    }
    fill($("#running"), items.length ? items : [el("li", { class: "muted", text: "Nothing is running." })]);
    fill(
      $("#failures"),
      failed.items.length
        ? failed.items.map((j) =>
            el("li", {}, el("strong", { text: j.task }), ` — ${fmtTime(j.finished_at || j.started_at)}`, el("div", { class: "reason", text: reason(j) })),
          )
        : [el("li", { class: "muted", text: "No failures." })],
    );
    fill(
      $("#jobs-table tbody"),
      recent.items.map((j) =>
        el(
          "tr",
          {},
          el("td", {}, j.task),
          el("td", {}, el("span", { class: `badge ${j.status}` }, j.status)),
          el("td", {}, fmtTime(j.started_at)),
          el("td", {}, j.finished_at ? fmtDuration((new Date(j.finished_at) - new Date(j.started_at)) / 1000) : "…"),
        ),
      ),
    );
    clearTimeout(timer);
    if (!$("#view-jobs").hidden) timer = setTimeout(guard(render), items.length ? 3000 : 15000);
  }

  return { show: guard(render) };
}

function reason(job) {
  const r = job.result || {};
  return r.message || r.error || r.reason || JSON.stringify(r);
}
