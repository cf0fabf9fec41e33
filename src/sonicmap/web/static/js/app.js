// The page: views switched by the URL hash (#map, #tracks, #models, #jobs), the map with its
// artist panel and playlist, shared state (path ends, mix seeds, the current playlist).

import { api, apiKey, ApiError, qs } from "./api.js";
import { $, el, fill, download, m3u8, pct, trackWho } from "./dom.js";
import { ArtistMap } from "./map.js";
import { initTracks, initModels, initJobs } from "./views.js";

const state = {
  map: null,
  mapData: null,
  playlist: null, // {title, tracks}
  servers: [],
};

// -- messages --------------------------------------------------------------------------------

export function showError(err) {
  if (err && err.name === "AbortError") return;
  const text = err instanceof ApiError ? err.readable : `Something went wrong: ${err && err.message ? err.message : err}`;
  say(text, "error");
  console.error(err);
}

export function say(text, kind = "info") {
  const box = $("#alert");
  box.dataset.kind = kind;
  fill(box, el("span", { text }), el("button", { type: "button", class: "quiet", onclick: () => (box.hidden = true) }, "Dismiss"));
  box.hidden = false;
}

// Run an async action; any error shows as a readable message instead of a silent failure.
export const guard = (fn) => async (...args) => {
  try {
    return await fn(...args);
  } catch (err) {
    showError(err);
    return undefined;
  }
};

// -- API key (kept for the tab only) -------------------------------------------------------

export function askKey() {
  const dlg = $("#key-dialog");
  const input = $("#key-input");
  input.value = apiKey.get();
  return new Promise((resolve) => {
    dlg.addEventListener(
      "close",
      () => {
        if (dlg.returnValue === "save" && input.value.trim()) apiKey.set(input.value.trim());
        if (dlg.returnValue === "forget") apiKey.clear();
        updateKeyButton();
        resolve(dlg.returnValue === "save" ? apiKey.get() : "");
      },
      { once: true },
    );
    dlg.showModal();
    input.focus();
  });
}

function updateKeyButton() {
  $("#key-button").textContent = apiKey.get() ? "API key ✓" : "API key";
}

// A change that needs the key: asks for it once per tab; asks again when the server refuses it.
export async function withKey(fn) {
  if (!apiKey.get() && !(await askKey())) {
    throw new ApiError(401, "missing_api_key", "This change needs the API key; none was given");
  }
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) apiKey.clear();
    updateKeyButton();
    throw err;
  }
}

// -- views -----------------------------------------------------------------------------------

const views = {};

function route() {
  const name = (location.hash.replace(/^#/, "").split("/")[0] || "map").toLowerCase();
  const view = views[name] ? name : "map";
  for (const sec of document.querySelectorAll(".view")) sec.hidden = sec.id !== `view-${view}`;
  for (const a of document.querySelectorAll("nav a[data-view]")) {
    if (a.dataset.view === view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (view === "map" && state.map) state.map.resize();
  views[view].show();
}

export function go(view) {
  if (location.hash === `#${view}`) route();
  else location.hash = view;
}

// -- the map and the artist panel -----------------------------------------------------------

async function loadMap() {
  const data = await api("/map");
  state.mapData = data;
  const empty = data.artists.id.length === 0;
  $("#map-empty").hidden = !empty;
  state.map.setData(data);
  renderLegend(data);
  fill($("#artist-names"), data.artists.name.slice(0, 5000).map((n) => el("option", { value: n })));
  document.body.dataset.mapReady = "1";
  performance.mark("sonicmap:map-ready");
}

function renderLegend(data) {
  const counts = new Map();
  for (const c of data.artists.cluster) counts.set(c, (counts.get(c) || 0) + 1);
  const buttons = data.clusters.map((c, slot) =>
    el(
      "button",
      {
        type: "button",
        "aria-pressed": "false",
        title: "Show this cluster only (press again for all)",
        onclick: (e) => {
          const on = state.map.focusCluster !== slot;
          state.map.focusCluster = on ? slot : null;
          for (const b of $("#legend").querySelectorAll("button")) b.setAttribute("aria-pressed", "false");
          e.currentTarget.setAttribute("aria-pressed", String(on));
          state.map.draw();
        },
      },
      el("span", { class: "swatch", style: `background:${state.map.colour(slot)}`, "aria-hidden": "true" }),
      `${c.label || "cluster " + c.id} (${c.size})`,
    ),
  );
  fill($("#legend"), buttons);
}

export async function openArtist(artistId, { centre = true } = {}) {
  go("map");
  const m = state.map;
  const i = m.index ? m.index.get(artistId) : undefined;
  if (i !== undefined) {
    m.selected = i;
    m.marked = new Set();
    if (centre) m.centreOn(i);
    else m.draw();
  }
  $("#artist-hint").hidden = true;
  const body = $("#artist-body");
  fill(body, el("p", { class: "muted", text: "Loading…" }));
  const [artist, similar, tracks, cluster] = await Promise.all([
    api(`/artists/${artistId}`),
    api(`/artists/${artistId}/similar${qs({ limit: 10 })}`).catch((e) => e),
    api(`/tracks${qs({ artist_id: artistId, limit: 25 })}`),
    api(`/artists/${artistId}/cluster`).catch((e) => e),
  ]);
  $("#artist-title").textContent = artist.name;
  const parts = [
    el("p", { class: "muted" }, `${artist.n_tracks} tracks · ${artist.n_albums} albums`),
  ];
  if (cluster instanceof ApiError) {
    parts.push(el("p", { class: "muted", text: `No cluster: ${cluster.message}` }));
  } else {
    parts.push(
      el("h3", { text: "Clusters" }),
      el(
        "ul",
        { class: "bars", "aria-label": "Cluster probabilities" },
        cluster.probabilities.slice(0, 5).map((p) =>
          el(
            "li",
            {},
            el("span", { text: p.label || `cluster ${p.cluster_id}` }),
            el("span", { text: pct(p.probability) }),
            el("span", { class: "bar", "aria-hidden": "true" }, el("span", { style: `width:${(p.probability * 100).toFixed(1)}%` })),
          ),
        ),
      ),
    );
  }
  parts.push(el("h3", { text: "Similar artists" }));
  if (similar instanceof ApiError) {
    parts.push(el("p", { class: "muted", text: similar.message }));
  } else {
    const marked = new Set();
    for (const s of similar.items) {
      const j = m.index && m.index.get(s.id);
      if (j !== undefined) marked.add(j);
    }
    m.marked = marked;
    m.draw();
    parts.push(
      el(
        "ul",
        { class: "linklist", id: "similar-artists" },
        similar.items.map((s) =>
          el("li", {}, el("button", { type: "button", onclick: guard(() => openArtist(s.id)) }, `${s.name} · ${pct(s.score)}`)),
        ),
      ),
    );
  }
  parts.push(
    el("div", { class: "actions" }, el("button", { type: "button", class: "quiet", onclick: () => views.tracks.addSeed({ kind: "artist", id: artist.id, name: artist.name }) }, "Use as mix seed")),
    el("h3", { text: `Tracks (${tracks.total})` }),
    el("ul", { class: "tracklist" }, tracks.items.map((t) => views.tracks.trackItem(t))),
  );
  fill(body, parts);
}

// -- playlists (a path or a mix) ------------------------------------------------------------

// recipe: how the music server can rebuild it (POST /playlists/push), or null.
export function showPlaylist(title, tracks, { path = false, recipe = null } = {}) {
  state.playlist = { title, tracks, recipe };
  updatePush();
  go("map");
  const m = state.map;
  $("#playlist").hidden = false;
  $("#playlist-title").textContent = title;
  $("#playlist-summary").textContent = `${tracks.length} tracks`;
  fill(
    $("#playlist-items"),
    tracks.map((t, j) =>
      el(
        "li",
        {},
        el("span", { class: "who", text: trackWho(t) }),
        el("span", { class: "where", text: t.similarity !== undefined ? `similarity ${pct(t.similarity)}${t.step_similarity != null ? ` · step ${pct(t.step_similarity)}` : ""}` : "" }),
      ),
    ),
  );
  // Draw the path through the artists' dots (consecutive tracks of one artist share a dot).
  const seq = [];
  for (const t of tracks) {
    const i = m.index ? m.index.get(t.artist_id) : undefined;
    if (i !== undefined && seq[seq.length - 1] !== i) seq.push(i);
  }
  m.path = path ? seq : [];
  m.marked = path ? new Set() : new Set(seq);
  m.draw();
  $("#playlist").scrollIntoView({ block: "nearest" });
}

function clearPlaylist() {
  state.playlist = null;
  $("#playlist").hidden = true;
  state.map.path = [];
  state.map.marked = new Set();
  state.map.draw();
}

function exportPlaylist() {
  if (!state.playlist) return;
  const name = state.playlist.title.replace(/[^\w.-]+/g, "_").replace(/^_+|_+$/g, "") || "sonicmap";
  download(`${name}.m3u8`, m3u8(state.playlist.tracks));
}

async function loadServers() {
  // Pushing needs a configured music server; the button stays hidden without one.
  let servers = [];
  try {
    const data = await api("/servers");
    servers = Array.isArray(data) ? data : data.items || [];
  } catch {
    servers = [];
  }
  state.servers = servers;
  fill($("#push-server"), servers.map((s) => el("option", { value: s.name, text: s.name })));
  updatePush();
}

function updatePush() {
  // Shown only with a configured music server; a mix of several seeds has no server recipe.
  const can = state.servers.length > 0 && state.playlist && state.playlist.recipe;
  $("#push-box").hidden = !can;
}

async function pushPlaylist() {
  if (!state.playlist) return;
  const server = $("#push-server").value;
  const { recipe, title, tracks } = state.playlist;
  const res = await withKey(() =>
    api("/playlists/push", {
      method: "POST",
      body: { server, name: title.slice(0, 512), count: tracks.length, ...recipe },
    }),
  );
  say(`Playlist “${title}” sent to ${server}: ${res.status} (task ${res.task_id})`);
}

// -- start -----------------------------------------------------------------------------------

function start() {
  state.map = new ArtistMap($("#map"), {
    onSelect: guard((id) => openArtist(id, { centre: false })),
    onHover: (i, p) => {
      const tip = $("#tooltip");
      if (i < 0) {
        tip.hidden = true;
        return;
      }
      tip.textContent = state.map.names[i];
      tip.style.left = `${p[0]}px`;
      tip.style.top = `${p[1]}px`;
      tip.hidden = false;
    },
  });
  views.map = { show: () => {} };
  views.tracks = initTracks({ api, guard, showPlaylist, openArtist, say });
  views.models = initModels({ api, guard, withKey, say, reloadMap: guard(loadMap) });
  views.jobs = initJobs({ api, guard });
  $("#find-artist").addEventListener("submit", guard(async (e) => {
    e.preventDefault();
    const q = $("#find-artist-input").value.trim().toLowerCase();
    if (!q || !state.mapData) return;
    const names = state.mapData.artists.name;
    let i = names.findIndex((n) => n.toLowerCase() === q);
    if (i < 0) i = names.findIndex((n) => n.toLowerCase().includes(q));
    if (i < 0) {
      say(`No artist on the map matches “${q}”`, "error");
      return;
    }
    await openArtist(state.mapData.artists.id[i]);
  }));
  for (const b of document.querySelectorAll("[data-zoom]")) {
    b.addEventListener("click", () => {
      const z = b.dataset.zoom;
      if (z === "in") state.map.zoom(1.5);
      else if (z === "out") state.map.zoom(1 / 1.5);
      else state.map.fit();
    });
  }
  $("#export-m3u8").addEventListener("click", exportPlaylist);
  $("#push-playlist").addEventListener("click", guard(pushPlaylist));
  $("#clear-playlist").addEventListener("click", clearPlaylist);
  $("#key-button").addEventListener("click", () => askKey());
  updateKeyButton();
  window.addEventListener("hashchange", route);
  route();
  guard(loadMap)();
  loadServers();
}

start();
