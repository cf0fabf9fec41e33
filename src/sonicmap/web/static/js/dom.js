// Small DOM helpers. Text always goes in as text (never HTML), so names from tags are safe.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export const $ = (sel, root = document) => root.querySelector(sel);

export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString() : "—");

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${Math.round(seconds - m * 60)} s`;
}

export const pct = (p) => `${Math.round(p * 100)} %`;

export function trackWho(t) {
  const who = [t.artist, t.title].filter(Boolean).join(" — ");
  return who || t.path.split("/").pop();
}

// Extended M3U8 of tracks (paths as the server stores them), downloaded as a file.
export function m3u8(tracks) {
  const lines = ["#EXTM3U"];
  for (const t of tracks) {
    const secs = t.duration_s ? Math.round(t.duration_s) : -1;
    lines.push(`#EXTINF:${secs},${[t.artist, t.title].filter(Boolean).join(" - ")}`.replace(/[\r\n]+/g, " "));
    lines.push(t.path);
  }
  return lines.join("\n") + "\n";
}

export function download(name, text, type = "audio/x-mpegurl") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
