// The search page: a form (like, filter, kind, k) whose query is the
// page's URL, hits with thumbnails (click one to search from it), and a
// canvas of labelled boxes for a query by icons.
"use strict";

const $ = (id) => document.getElementById(id);
const fields = ["like", "filter", "kind", "k"];
const colors = { bone: "#e6e6d2", contrast: "#50aaff", "soft-tissue": "#e6786e", lipid: "#f0c83c" };
let boxes = []; // drawn boxes: {class, x0, y0, x1, y1} in canvas pixels (1 px = 1 mm)

// api fetches from the API with the bearer token, if one is given (kept
// for this tab only, never in the URL).
function api(url, init = {}) {
  const token = $("token").value.trim();
  sessionStorage.setItem("token", token);
  if (token) init.headers = { ...init.headers, Authorization: "Bearer " + token };
  return fetch(url, init);
}

// run fetches an answer and shows it; state in body.dataset tells tests
// when it is shown.
async function run(url, init) {
  document.body.dataset.state = "loading";
  $("status").textContent = "searching…";
  try {
    const resp = await api(url, init);
    const a = await resp.json();
    if (!resp.ok) throw new Error(a.error || resp.statusText);
    show(a);
  } catch (e) {
    $("summary").textContent = "Error: " + e.message;
    $("summary").className = "error";
    $("hits").replaceChildren();
  }
  $("status").textContent = "";
  document.body.dataset.state = "done";
}

function show(a) {
  const n = a.total !== undefined ? `${a.total} records` : `${a.hits.length} hits`;
  $("summary").textContent = `${n} of ${a.kind || "every kind"}, served by ${a.index} in ${a.took_ms} ms`;
  $("summary").className = "";
  $("hits").replaceChildren(...a.hits.map(hitItem));
}

function hitItem(h) {
  const li = document.createElement("li");
  li.className = "hit";
  li.dataset.key = h.key;
  const img = document.createElement("img");
  const src = "/search/thumbnail?key=" + encodeURIComponent(h.key);
  if ($("token").value.trim()) { // an img cannot send the token: fetch it
    api(src).then((r) => (r.ok ? r.blob() : null)).then((b) => { if (b) img.src = URL.createObjectURL(b); });
  } else {
    img.src = src;
  }
  img.alt = "layout of " + h.key;
  const text = document.createElement("div");
  const score = h.distance !== undefined ? `distance ${h.distance.toFixed(3)}` : h.sim !== undefined ? `SIM ${h.sim.toFixed(3)}` : "";
  text.innerHTML = `<div class="key"></div><div class="meta"></div>`;
  text.firstChild.textContent = `${h.rank}. ${h.key}`;
  text.lastChild.textContent = [h.kind, h.class, h.scan_id, score].filter(Boolean).join(" · ");
  li.append(img, text);
  li.title = "search for records like this one";
  li.addEventListener("click", () => {
    $("like").value = h.key;
    $("filter").value = "";
    if (!$("kind").value) $("kind").value = h.kind;
    submit();
  });
  return li;
}

// params returns the form's query as URL parameters, empty fields left out.
function params() {
  const p = new URLSearchParams();
  for (const f of fields) {
    const v = $(f).value.trim();
    if (v) p.set(f, v);
  }
  if (!p.has("like")) p.delete("k"); // k only asks for similarity
  return p;
}

// submit makes the form's query the page's URL (shareable) and runs it.
function submit() {
  const p = params();
  history.pushState(null, "", "/?" + p);
  run("/search?" + p);
}

// fromURL fills the form from the page's URL and runs its query.
function fromURL() {
  const p = new URLSearchParams(location.search);
  for (const f of fields) if (p.has(f)) $(f).value = p.get(f);
  if (p.has("like") && !p.get("kind")) $("kind").value = $("kind").value || "hist-hu-v1";
  if (p.has("like") || p.has("filter")) run("/search?" + params());
}

async function loadKinds() {
  try {
    const resp = await api("/search/kinds");
    const { kinds } = await resp.json();
    $("kind").replaceChildren($("kind").options[0]);
    for (const k of kinds || []) {
      const o = document.createElement("option");
      o.value = o.textContent = k.kind;
      $("kind").append(o);
    }
  } catch (e) {
    $("status").textContent = "kinds: " + e.message;
  }
}

// The sketch: drag to add a box of the chosen class.
function draw() {
  const c = $("sketch"), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  boxes.forEach((b, i) => {
    g.fillStyle = colors[b.class] || "#999";
    g.globalAlpha = 0.55;
    g.fillRect(b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0);
    g.globalAlpha = 1;
    g.strokeStyle = g.fillStyle;
    g.strokeRect(b.x0, b.y0, b.x1 - b.x0, b.y1 - b.y0);
    g.fillStyle = "#fff";
    g.fillText(`${i + 1} ${b.class}`, b.x0 + 3, b.y0 + 12);
  });
}

function sketchEvents() {
  const c = $("sketch");
  let start = null;
  const at = (e) => { const r = c.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  c.addEventListener("mousedown", (e) => { start = at(e); });
  c.addEventListener("mouseup", (e) => {
    if (!start) return;
    const [x, y] = at(e);
    const b = { class: $("class").value, x0: Math.min(start[0], x), y0: Math.min(start[1], y), x1: Math.max(start[0], x), y1: Math.max(start[1], y) };
    start = null;
    if (b.x1 - b.x0 >= 3 && b.y1 - b.y0 >= 3) boxes.push(b);
    draw();
  });
  $("clear").addEventListener("click", () => { boxes = []; draw(); });
  $("icons-search").addEventListener("click", searchIcons);
}

// searchIcons posts the boxes as a virtual image's objects (mm; canvas y
// grows downwards like image rows).
function searchIcons() {
  if (!boxes.length) {
    $("summary").textContent = "Draw at least one box first.";
    return;
  }
  const objects = boxes.map((b, i) => ({ label: i + 1, class: b.class, min_mm: [b.x0, b.y0, 0], max_mm: [b.x1, b.y1, 0] }));
  const t = $("threshold").value || "0.5";
  run("/search/sketch?threshold=" + encodeURIComponent(t), { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(objects) });
}

$("token").value = sessionStorage.getItem("token") || "";
$("token").addEventListener("change", loadKinds);
$("form").addEventListener("submit", (e) => { e.preventDefault(); submit(); });
window.addEventListener("popstate", fromURL);
sketchEvents();
draw();
loadKinds().then(fromURL);
