// The press banner (contract §5): the viewer's unacknowledged alarm presses and bus emergencies, pushed
// by the server over an event stream (/events), polled from /presses while the stream is down.
// Keeps the title prefixed "(N) " and beeps (WebAudio) while any is unacknowledged, when sound is on.
(function () {
  "use strict";
  var zone = document.getElementById("press-zone");
  if (!zone) { return; }
  var baseTitle = document.title.replace(/^\(\d+\) /, "");
  var count = document.querySelectorAll("#press-banner .press").length;
  var soundButton = document.getElementById("sound-toggle");
  var audio = null;
  var beepTimer = null;

  // ---- the banner ----------------------------------------------------------------------------------

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function pressNode(p) {
    var box = el("div", { "class": "press", "data-press": p.id });
    var what = el("p", { "class": "press-what" });
    var lang = document.documentElement.lang === "en" ? "en" : "zh";  // another page may have sent it
    what.appendChild(el("strong", {}, (p.titles && p.titles[lang]) || p.title));
    what.appendChild(document.createTextNode(" "));
    what.appendChild(el("span", { "class": "press-school" }, p.school_name));
    what.appendChild(document.createTextNode(" · "));
    what.appendChild(el("span", { "class": "press-place" }, p.place));
    what.appendChild(document.createTextNode(" · "));
    what.appendChild(el("time", {}, p.time));
    box.appendChild(what);
    var form = el("form", { method: "post", action: "/alerts/" + encodeURIComponent(p.id) + "/ack", "class": "press-ack" });
    form.appendChild(el("input", { type: "hidden", name: "csrf", value: zone.dataset.csrf }));
    form.appendChild(el("input", { type: "hidden", name: "next", value: zone.dataset.next }));
    form.appendChild(el("input", { type: "text", name: "note", placeholder: zone.dataset.tNote,
      "aria-label": zone.dataset.tNote, autocomplete: "off" }));
    form.appendChild(el("button", { type: "submit" }, zone.dataset.tAck));
    box.appendChild(form);
    return box;
  }

  function show(items) {
    var banner = document.getElementById("press-banner");
    if (!items.length) {
      if (banner) { banner.remove(); }
    } else {
      if (!banner) {
        banner = el("section", { id: "press-banner", "class": "press-banner", role: "alert", "aria-live": "assertive" });
        banner.appendChild(el("h2", {}, zone.dataset.tHead));
        zone.appendChild(banner);
      }
      var wanted = {};
      items.forEach(function (p) { wanted[p.id] = true; });
      Array.prototype.forEach.call(banner.querySelectorAll(".press"), function (node) {
        if (!wanted[node.dataset.press]) { node.remove(); }
      });
      items.forEach(function (p) {  // keep a note being typed: only add what is new
        if (!banner.querySelector(".press[data-press='" + p.id + "']")) { banner.appendChild(pressNode(p)); }
      });
    }
    var grew = items.length > count;
    count = items.length;
    document.title = (count ? "(" + count + ") " : "") + baseTitle;
    document.body.classList.toggle("pressed", count > 0);
    if (grew && navigator.vibrate) { navigator.vibrate([400, 200, 400]); }
    alarm();
  }

  // ---- sound ---------------------------------------------------------------------------------------

  function soundWanted() { return window.localStorage && localStorage.getItem("csm-sound") === "on"; }

  function context() {
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) { return null; }
    if (!audio) { audio = new Ctx(); }
    return audio;
  }

  function beep() {
    var ctx = context();
    if (!ctx || ctx.state !== "running") { label(); return; }
    [0, 0.35].forEach(function (at) {
      var osc = ctx.createOscillator();
      var gain = ctx.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, ctx.currentTime + at);
      gain.gain.exponentialRampToValueAtTime(0.4, ctx.currentTime + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + at + 0.25);
      osc.connect(gain).connect(ctx.destination);
      osc.start(ctx.currentTime + at);
      osc.stop(ctx.currentTime + at + 0.3);
    });
  }

  function alarm() {
    var on = count > 0 && soundWanted();
    if (on && !beepTimer) { beep(); beepTimer = setInterval(beep, 2500); }
    if (!on && beepTimer) { clearInterval(beepTimer); beepTimer = null; }
    label();
  }

  function label() {
    if (!soundButton) { return; }
    var wanted = soundWanted();
    var blocked = wanted && (!audio || audio.state !== "running");
    soundButton.setAttribute("aria-pressed", wanted && !blocked ? "true" : "false");
    soundButton.textContent = blocked ? soundButton.dataset.blocked : (wanted ? soundButton.dataset.on : soundButton.dataset.off);
    soundButton.classList.toggle("blocked", !!blocked);
  }

  function unlock() {  // browsers start audio only from a user's gesture
    if (!soundWanted()) { return; }
    var ctx = context();
    if (ctx && ctx.state !== "running") { ctx.resume().then(label, label); } else { label(); }
  }

  if (soundButton) {
    soundButton.addEventListener("click", function () {
      var blocked = soundWanted() && (!audio || audio.state !== "running");
      if (window.localStorage) { localStorage.setItem("csm-sound", soundWanted() && !blocked ? "off" : "on"); }
      unlock();
      alarm();
    });
  }
  document.addEventListener("pointerdown", unlock, { once: true });
  document.addEventListener("keydown", unlock, { once: true });

  // ---- push, with polling while the stream is down -------------------------------------------------
  // One open page of the monitor per browser holds the event stream (a Web Lock elects it) and passes
  // every update to the others over a BroadcastChannel: a browser has few connections per site, and
  // an event stream per tab would use them all up. When that page closes, another takes the lock.

  var pollTimer = null;
  var deliver = function (d) { show(d.items); };
  function poll(once) {
    fetch(zone.dataset.poll, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) { if (d) { (once ? function (x) { show(x.items); } : deliver)(d); } })
      .catch(function () {});
  }
  function startPolling() { if (!pollTimer) { poll(false); pollTimer = setInterval(function () { poll(false); }, 1000); } }
  function stopPolling() { if (pollTimer) { clearInterval(pollTimer); pollTimer = null; } }
  function listen() {
    if (!window.EventSource) { startPolling(); return; }
    var stream = new EventSource(zone.dataset.events);
    stream.addEventListener("presses", function (e) { stopPolling(); deliver(JSON.parse(e.data)); });
    stream.addEventListener("error", startPolling);
  }

  var channel = window.BroadcastChannel ? new BroadcastChannel("campus-presses") : null;
  if (channel && navigator.locks && navigator.locks.request) {
    channel.onmessage = function (e) { show(e.data.items); };
    deliver = function (d) { channel.postMessage(d); show(d.items); };
    navigator.locks.request("campus-press-stream", function () {
      listen();
      return new Promise(function () {});  // held while this page lives
    });
    poll(true);  // until the stream's holder has news, this page starts from the present
  } else {
    listen();
  }
  document.body.classList.toggle("pressed", count > 0);
  alarm();
})();
