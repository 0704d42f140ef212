// faceblur web page: every asset is local (no CDN); talks to the same /v1 API as any client.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { items: [], token: sessionStorage.getItem("faceblur-token") || "" };

function headers() {
  return state.token ? { Authorization: "Bearer " + state.token } : {};
}

async function errorText(resp) {
  try {
    const body = await resp.json();
    return typeof body.detail === "string" ? body.detail : resp.statusText;
  } catch (_) {
    return resp.status + " " + resp.statusText;
  }
}

async function loadModels() {
  const resp = await fetch("/v1/models", { headers: headers() });
  if (resp.status === 401) {
    $("#token-label").hidden = false;
    return;
  }
  const body = await resp.json();
  const select = $("#model");
  select.innerHTML = "";
  for (const m of body.models) {
    const opt = document.createElement("option");
    opt.value = m.name;
    opt.textContent = m.name + (m.name === body.default ? " (default)" : "");
    opt.selected = m.name === body.default;
    select.appendChild(opt);
  }
}

function settings() {
  return { strength: $("#strength").value, model: $("#model").value, mode: $("#mode").value };
}

function isVideo(file) {
  return file.type.startsWith("video/") || /\.(mp4|mov|mkv|avi|webm|m4v)$/i.test(file.name);
}

function addFiles(files) {
  for (const file of files) {
    if (isVideo(file)) addVideo(file);
    else addPhoto(file);
  }
  $("#toolbar").hidden = state.items.length === 0;
}

function addPhoto(file) {
  const card = $("#photo-card").content.firstElementChild.cloneNode(true);
  card.querySelector(".name").textContent = file.name;
  const before = card.querySelector(".before");
  before.src = URL.createObjectURL(file);
  card.querySelector(".after").src = before.src; // the layout's size until the result arrives
  const split = card.querySelector(".split");
  split.addEventListener("input", () => {
    before.style.clipPath = `inset(0 ${100 - split.value}% 0 0)`;
    card.querySelector(".divider").style.left = split.value + "%";
  });
  const item = { kind: "photo", file, card, url: null, name: null, seq: 0 };
  state.items.push(item);
  $("#results").appendChild(card);
  render(item);
}

async function render(item) {
  const seq = ++item.seq; // a newer request (strength moved again) wins
  const { card, file } = item;
  const compare = card.querySelector(".compare");
  const error = card.querySelector(".error");
  compare.classList.add("loading");
  const form = new FormData();
  form.append("image", file);
  const s = settings();
  for (const k of ["strength", "model", "mode"]) form.append(k, s[k]);
  let resp;
  try {
    resp = await fetch("/v1/deblur", { method: "POST", body: form, headers: headers() });
  } catch (err) {
    resp = null;
  }
  if (seq !== item.seq) return;
  compare.classList.remove("loading");
  if (!resp || !resp.ok) {
    error.textContent = resp ? await errorText(resp) : "the server did not answer";
    error.hidden = false;
    card.dataset.state = "error";
    return;
  }
  error.hidden = true;
  const blob = await resp.blob();
  if (item.url) URL.revokeObjectURL(item.url);
  item.url = URL.createObjectURL(blob);
  const disposition = resp.headers.get("content-disposition") || "";
  item.name = (disposition.match(/filename="([^"]+)"/) || [null, "result.png"])[1];
  card.querySelector(".after").src = item.url;
  const faces = resp.headers.get("x-faces");
  card.querySelector(".meta").textContent =
    `${faces} face${faces === "1" ? "" : "s"} · ${resp.headers.get("x-milliseconds")} ms`;
  const link = card.querySelector(".download");
  link.href = item.url;
  link.download = item.name;
  card.dataset.state = "done";
  card.dataset.strength = s.strength;
}

async function addVideo(file) {
  const card = $("#video-card").content.firstElementChild.cloneNode(true);
  card.querySelector(".name").textContent = file.name;
  const item = { kind: "video", file, card, url: null, name: "result.mp4" };
  state.items.push(item);
  $("#results").appendChild(card);
  const error = card.querySelector(".error");
  const form = new FormData();
  form.append("video", file);
  const s = settings();
  form.append("strength", s.strength);
  form.append("model", s.model);
  const resp = await fetch("/v1/jobs", { method: "POST", body: form, headers: headers() });
  if (!resp.ok) {
    error.textContent = await errorText(resp);
    error.hidden = false;
    return;
  }
  const job = await resp.json();
  const bar = card.querySelector("progress");
  for (;;) {
    await new Promise((r) => setTimeout(r, 700));
    const st = await (await fetch(job.status_url, { headers: headers() })).json();
    bar.value = st.progress;
    card.querySelector(".meta").textContent = `${st.frames_done}/${st.frames_total ?? "?"} frames`;
    if (st.state === "failed") {
      error.textContent = st.error || "failed";
      error.hidden = false;
      return;
    }
    if (st.state === "done") break;
  }
  const video = await (await fetch(job.result_url, { headers: headers() })).blob();
  item.url = URL.createObjectURL(video);
  const player = card.querySelector("video");
  player.src = item.url;
  player.hidden = false;
  bar.hidden = true;
  const link = card.querySelector(".download");
  link.href = item.url;
  link.download = file.name.replace(/\.[^.]+$/, "") + "_sharp.mp4";
  link.hidden = false;
}

function rerenderAll() {
  for (const item of state.items) if (item.kind === "photo") render(item);
}

function setup() {
  const drop = $("#drop");
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    addFiles(e.dataTransfer.files);
  });
  $("#files").addEventListener("change", (e) => {
    addFiles(e.target.files);
    e.target.value = "";
  });
  const strength = $("#strength");
  let timer = null;
  strength.addEventListener("input", () => {
    $("#strength-value").textContent = Number(strength.value).toFixed(2);
    clearTimeout(timer);
    timer = setTimeout(rerenderAll, 250); // one request per pause, not per pixel of slider travel
  });
  $("#model").addEventListener("change", rerenderAll);
  $("#mode").addEventListener("change", rerenderAll);
  $("#token").addEventListener("change", (e) => {
    state.token = e.target.value;
    sessionStorage.setItem("faceblur-token", state.token);
    loadModels();
  });
  $("#download-all").addEventListener("click", () => {
    for (const item of state.items) {
      if (!item.url) continue;
      const a = document.createElement("a");
      a.href = item.url;
      a.download = item.name;
      document.body.appendChild(a);
      a.click();
      a.remove();
    }
  });
  $("#clear").addEventListener("click", () => {
    for (const item of state.items) if (item.url) URL.revokeObjectURL(item.url);
    state.items = [];
    $("#results").innerHTML = "";
    $("#toolbar").hidden = true;
  });
  loadModels();
}

setup();
