// The kiosk's only script: follow card and scan events, warn before the idle timeout, let one tap extend it.
(function () {
  "use strict";
  var body = document.body;

  // A page restored from the back/forward cache is never shown as it was: ask the server again.
  window.addEventListener("pageshow", function (e) { if (e.persisted) { location.reload(); } });

  // A card tap's page (/claim/<token>) is the services page: show its address, so a reload asks for that.
  if (location.pathname.indexOf("/claim/") === 0 && body.dataset.path) {
    history.replaceState(null, "", body.dataset.path);
  }

  // On-screen keypads (templates/_keypad.html): a tapped key types into its field; no system keyboard.
  document.addEventListener("click", function (e) {
    var key = e.target.closest ? e.target.closest("[data-key]") : null;
    var pad = key ? key.closest(".keypad") : null;
    var field = pad ? document.getElementById(pad.dataset.for) : null;
    if (!field) { return; }
    var k = key.dataset.key;
    var max = field.maxLength > 0 ? field.maxLength : 64;
    if (k === "back") { field.value = field.value.slice(0, -1); }
    else if (k === "clear") { field.value = ""; }
    else if (field.value.length < max) { field.value += k; }
    field.dispatchEvent(new Event("input", { bubbles: true }));
  });

  var stream = new EventSource("/events");
  stream.onmessage = function (e) {
    try {
      var m = JSON.parse(e.data);
      if (m.go) { stream.close(); location.replace(m.go); }
      if (m.help) { // the hub answered the call for staff: say who is coming
        var notice = document.getElementById("help-notice");
        var text = document.getElementById("help-text");
        if (notice && text) { text.textContent = notice.dataset.answered.replace("{name}", m.help); }
      }
    } catch (_) { /* not ours */ }
  };

  // The staff sign-in runs out: the welcome page shows 工作人员登录 again; elsewhere the bar goes (the
  // server no longer takes anything as staff), without losing what is typed on the page.
  if (body.dataset.staffLeft) {
    setTimeout(function () {
      if (location.pathname === "/") { location.reload(); return; }
      var bar = document.getElementById("staffbar");
      if (bar) { bar.hidden = true; }
    }, Number(body.dataset.staffLeft) * 1000);
  }

  if (body.dataset.session !== "1") { return; }
  var idleMs = Number(body.dataset.idle) * 1000;
  var warnMs = Number(body.dataset.warn) * 1000;
  var pingMs = Number(body.dataset.ping) * 1000;
  var banner = document.getElementById("idle-warning");
  var count = document.getElementById("idle-count");
  var last = Date.now();
  var lastPing = Date.now();
  var finishing = false;

  function csrf() {
    var m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  function ping() {
    lastPing = Date.now();
    fetch("/session/extend", { method: "POST", headers: { "x-csrftoken": csrf() }, credentials: "same-origin" })
      .then(function (r) { if (r.status === 410) { location.replace("/?ended=timeout"); } })
      .catch(function () {});
  }
  function activity() {
    last = Date.now();
    if (!banner.hidden) { banner.hidden = true; }
    if (Date.now() - lastPing >= pingMs) { ping(); }
  }
  function finish() {
    if (finishing) { return; }
    finishing = true;
    document.getElementById("finish-reason").value = "timeout";
    document.getElementById("finish-form").submit();
  }
  ["pointerdown", "keydown", "input"].forEach(function (ev) {
    document.addEventListener(ev, activity, { passive: true, capture: true });
  });
  document.getElementById("idle-extend").addEventListener("click", function () {
    last = Date.now(); banner.hidden = true; ping();
  });
  setInterval(function () {
    var idle = Date.now() - last;
    if (idle >= idleMs) { finish(); return; }
    if (idle >= idleMs - warnMs) {
      count.textContent = String(Math.ceil((idleMs - idle) / 1000));
      banner.hidden = false;
    }
  }, 200);
})();
