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

  // What is typed on a form is kept in the session as it is typed (routes/apply.py keep_typed): calling
  // staff, a card notice, a language switch or 返回 and back leave the form as it was (an accessibility
  // review: each of them emptied it, and an elderly resident typed it all again).
  var applyForm = document.querySelector('form[action$="/apply"]');
  if (applyForm) {
    var keepTyped = function () {
      var typed = new URLSearchParams();
      Array.prototype.forEach.call(applyForm.elements, function (el) {
        if (!el.name || el.name.indexOf("field_") !== 0) { return; }
        if ((el.type === "radio" || el.type === "checkbox") && !el.checked) { return; }
        typed.append(el.name, el.value);
      });
      var m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
      fetch(applyForm.getAttribute("action").replace(/\/apply$/, "/typed"), {
        method: "POST", body: typed, keepalive: true, credentials: "same-origin",
        headers: { "x-csrftoken": m ? decodeURIComponent(m[1]) : "" }
      }).catch(function () {});
    };
    applyForm.addEventListener("input", keepTyped);
    applyForm.addEventListener("change", keepTyped);
  }

  // 结束 while a form holds what the resident typed asks once more (an elderly residents' review: a tap meant
  // for the keyboard beneath it threw a long form away): a second tap within a few seconds ends. The idle
  // timeout submits the form itself (finish(), below), which asks nothing.
  var finishForm = document.getElementById("finish-form");
  var confirmNote = document.getElementById("finish-confirm");
  var confirmUntil = 0;
  var typedSomething = function () {
    if (!applyForm) { return false; }
    return Array.prototype.some.call(applyForm.elements, function (el) {
      if (!el.name || el.name.indexOf("field_") !== 0 || el.type === "hidden") { return false; }
      return (el.type === "radio" || el.type === "checkbox") ? el.checked : el.value.trim() !== "";
    });
  };
  if (finishForm && confirmNote) {
    finishForm.addEventListener("submit", function (e) {
      if (Date.now() < confirmUntil || !typedSomething()) { return; }
      e.preventDefault();
      confirmUntil = Date.now() + 8000;
      confirmNote.hidden = false;
      setTimeout(function () { if (Date.now() >= confirmUntil) { confirmNote.hidden = true; } }, 8100);
    });
  }

  // The on-screen keyboard for text fields (templates/_textpad.html): pinyin letters, Chinese words offered.
  // Letters not turned into characters never reach a form field: the form asks first (the search box
  // alone takes them as typed, as pinyin initials).
  var tp = document.getElementById("textpad");
  if (tp) {
    var fields = Array.prototype.slice.call(document.querySelectorAll("[data-textpad]"));
    var target = null, letters = "", cands = [], start = 0, starts = [], shown = 0, asked = 0, armed = false;
    var shownFor = document.getElementById("tp-for");
    var shownLetters = document.getElementById("tp-letters");
    var note = document.getElementById("tp-note");
    var row = document.getElementById("tp-cands");
    var search = function () { return target && target.dataset.letters === "search"; };
    var say = function (key) { note.textContent = key ? tp.dataset[key] : ""; };
    var changed = function () { target.dispatchEvent(new Event("input", { bubbles: true })); };
    var put = function (text) {
      var max = target.maxLength > 0 ? target.maxLength : 100;
      target.value = (target.value + text).slice(0, max);
      changed();
    };
    var draw = function () { // as many words as fit on one line: the keys below never move
      shownLetters.textContent = letters;
      row.textContent = "";
      shown = 0;
      for (var i = start; i < cands.length; i++) {
        var b = document.createElement("button");
        b.type = "button"; b.className = "key cand"; b.textContent = cands[i][0];
        b.dataset.tp = "cand"; b.dataset.used = String(cands[i][1]);
        row.appendChild(b);
        if (row.scrollWidth > row.clientWidth && shown > 0) { row.removeChild(b); break; }
        shown += 1;
      }
      document.getElementById("tp-prev").disabled = starts.length === 0;
      document.getElementById("tp-next").disabled = start + shown >= cands.length;
    };
    var ask = function () {
      var mine = ++asked;
      cands = []; start = 0; starts = []; say("");
      draw();
      if (!letters) { return; }
      fetch("/ime?p=" + encodeURIComponent(letters) + "&k=" + encodeURIComponent(target.dataset.kind || "text"),
        { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (m) {
          if (mine !== asked) { return; } // a later letter asked again
          if (m.failed) { say("failed"); return; }
          if (!m.ready) { say("preparing"); setTimeout(function () { if (mine === asked) { ask(); } }, 2000); return; }
          cands = m.candidates || [];
          if (!cands.length) { say(search() ? "nothingSearch" : "nothing"); }
          draw();
        })
        .catch(function () { // the kiosk did not answer: ask again shortly
          if (mine !== asked) { return; }
          say("preparing");
          setTimeout(function () { if (mine === asked) { ask(); } }, 2000);
        });
    };
    // the keyboard's foot at the screen's foot: the field above it stays in sight, clear of the header
    var visible = function () { tp.scrollIntoView({ block: "end" }); };
    var aim = function (field) {
      if (!field || field === target) { return; }
      var dropped = letters && !search();
      if (letters && search()) { put(letters); }
      letters = "";
      target = field;
      ask();
      if (dropped) { say("dropped"); }
      shownFor.textContent = field.dataset.textpad;
      (field.closest(".field, .row") || field).after(tp); // the keyboard goes beneath the field it types into
    };
    aim(fields[0]);
    fields.forEach(function (f) {
      f.addEventListener("focus", function () { aim(f); tp.hidden = false; visible(); });
      if (f.form) {
        f.form.addEventListener("submit", function (e) {
          if (!letters || f !== target) { return; }
          if (search()) { put(letters); letters = ""; return; }
          e.preventDefault(); say("pickFirst"); visible();
        });
      }
    });
    tp.addEventListener("click", function (e) {
      var b = e.target.closest ? e.target.closest("[data-tp]") : null;
      if (!b || !target) { return; }
      var act = b.dataset.tp, zh = tp.dataset.mode === "zh", wasArmed = armed;
      armed = false;
      if (act === "key") {
        var ch = b.dataset.ch;
        if (zh && /[a-z]/.test(ch)) {
          if (letters.length < 40) { letters += ch; ask(); visible(); } else { say("tooLong"); }
        } else if (letters && search()) { put(letters); letters = ""; ask(); put(ch); }
        else if (letters) { say("pickFirst"); }
        else { put(tp.dataset.caps === "on" && /[a-z]/.test(ch) ? ch.toUpperCase() : ch); }
      } else if (act === "cand") {
        put(b.textContent);
        letters = letters.slice(Number(b.dataset.used));
        ask();
      } else if (act === "space") {
        if (!letters) { put(" "); }
        else if (cands.length) { put(cands[0][0]); letters = letters.slice(cands[0][1]); ask(); }
        else { say("pickFirst"); }
      } else if (act === "back") {
        if (letters) { letters = letters.slice(0, -1); ask(); }
        else { target.value = target.value.slice(0, -1); changed(); }
      } else if (act === "clear") { // the letters first; the field's text only at a second tap
        if (letters) { letters = ""; ask(); }
        else if (!target.value) { say(""); }
        else if (wasArmed) { target.value = ""; changed(); say(""); }
        else { armed = true; say("clearAgain"); }
      } else if (act === "mode") {
        if (letters) { say("pickFirst"); } else { tp.dataset.mode = zh ? "en" : "zh"; }
      } else if (act === "caps") { // capitals, for letters typed as they are (英文)
        tp.dataset.caps = tp.dataset.caps === "on" ? "off" : "on";
        if (zh && !letters) { tp.dataset.mode = "en"; }
      } else if (act === "next") { starts.push(start); start += shown; draw(); }
      else if (act === "prev") { start = starts.pop() || 0; draw(); }
    });
  }

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
  function activity(ev) {
    last = Date.now();
    // Hidden once the touch is done (click), not as it starts: nothing moves under the finger meanwhile.
    if (!banner.hidden && ev.type !== "pointerdown") { banner.hidden = true; }
    if (Date.now() - lastPing >= pingMs) { ping(); }
  }
  // Two soft notes when the warning comes up: a resident who looked away (to the staff, to a bag) hears that
  // the screen is about to clear (an elderly residents' review: the banner alone went unseen). Made here,
  // no sound file; the kiosk's browser plays without a tap (--autoplay-policy, shegong-kiosk.service).
  function chime() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) { return; }
      var ctx = new Ctx();
      [[1318.5, 0], [1046.5, 0.2]].forEach(function (note) {
        var at = ctx.currentTime + note[1];
        var tone = ctx.createOscillator(), gain = ctx.createGain();
        tone.type = "sine";
        tone.frequency.value = note[0];
        gain.gain.setValueAtTime(0.0001, at);
        gain.gain.exponentialRampToValueAtTime(0.3, at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.45);
        tone.connect(gain);
        gain.connect(ctx.destination);
        tone.start(at);
        tone.stop(at + 0.5);
      });
      setTimeout(function () { ctx.close(); }, 1200);
    } catch (_) { /* no sound here: the banner still shows */ }
  }
  function finish() {
    if (finishing) { return; }
    finishing = true;
    document.getElementById("finish-reason").value = "timeout";
    document.getElementById("finish-form").submit();
  }
  ["pointerdown", "click", "keydown", "input"].forEach(function (ev) {
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
      if (banner.hidden) { chime(); }
      banner.hidden = false;
    }
  }, 200);
})();
