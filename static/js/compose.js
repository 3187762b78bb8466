// Live X length counter for the compose form.
//
// On every keystroke this approximates X's weighted count (twitter-text v3) right here;
// when typing pauses, htmx asks the server for the exact count (networks.x.adapter,
// the same code that validates on save) and swaps it in. The approximation follows v3:
// text is NFC-normalised; code points in the "light" ranges weigh 1, all others 2;
// each URL weighs 23 (t.co); each emoji (sequence) weighs 2.
(function () {
  "use strict";
  var LIGHT = [[0x0000, 0x10ff], [0x2000, 0x200d], [0x2010, 0x201f], [0x2032, 0x2037]];
  var URL_WEIGHT = 23;
  var URL_RE = /(?:https?:\/\/|www\.)[^\s<>"]+|\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:com|org|net|io|dev|co|app|ai|de|uk|fr|nl|me|info|edu|gov)\b(?:\/[^\s<>"]*)?/gi;
  var EMOJI_RE = /\p{Extended_Pictographic}|\p{Regional_Indicator}/u;
  var segmenter = typeof Intl !== "undefined" && Intl.Segmenter ? new Intl.Segmenter(undefined, { granularity: "grapheme" }) : null;

  function weightOf(codePoint) {
    for (var i = 0; i < LIGHT.length; i++) {
      if (codePoint >= LIGHT[i][0] && codePoint <= LIGHT[i][1]) return 1;
    }
    return 2;
  }

  function weigh(text) {
    var total = 0;
    var graphemes = segmenter ? Array.from(segmenter.segment(text), function (s) { return s.segment; }) : Array.from(text);
    graphemes.forEach(function (g) {
      if (EMOJI_RE.test(g)) { total += 2; return; }
      for (var ch of g) total += weightOf(ch.codePointAt(0));
    });
    return total;
  }

  function approximateLength(text) {
    text = text.normalize("NFC");
    var urls = 0;
    var rest = text.replace(URL_RE, function () { urls += 1; return ""; });
    return weigh(rest) + urls * URL_WEIGHT;
  }

  function render(textarea) {
    var target = document.querySelector(textarea.getAttribute("data-counter"));
    if (!target) return;
    var limit = parseInt(textarea.getAttribute("data-limit"), 10) || 280;
    var count = textarea.value ? approximateLength(textarea.value) : 0;
    var cls = "counter approx" + (count > limit ? " over" : (limit - count < 20 ? " near" : ""));
    target.innerHTML = '<span class="' + cls + '" title="Approximate; the exact count follows when you pause">' + count + "/" + limit + "</span>";
    announceLater(textarea);
  }

  // Screen readers hear the count in a polite live region, once typing has paused for
  // ANNOUNCE_DELAY ms and only when it changed: a live counter that spoke on every
  // keystroke would talk over the typing.
  var ANNOUNCE_DELAY = 1500;
  function announceLater(textarea) {
    var live = document.querySelector(textarea.getAttribute("data-live"));
    if (!live) return;
    clearTimeout(textarea._announceTimer);
    textarea._announceTimer = setTimeout(function () {
      var counter = document.querySelector(textarea.getAttribute("data-counter") + " .counter");
      if (!counter) return;
      var parts = counter.textContent.trim().split("/");
      var count = parseInt(parts[0], 10), limit = parseInt(parts[1], 10);
      var words = count + " of " + limit + " characters";
      if (count > limit) words += ", " + (count - limit) + " over the limit";
      else if (limit - count < 20) words += ", " + (limit - count) + " left";
      if (live.textContent !== words) live.textContent = words;
    }, ANNOUNCE_DELAY);
  }

  // First ticked channel's zone: the zone the pin time is read in (as on the server).
  function updatePinZone(form) {
    var label = document.getElementById("pin-zone");
    if (!label) return;
    var first = form.querySelector('input[name="channels"]:checked');
    label.textContent = first ? first.getAttribute("data-tz") : "UTC";
  }

  // The header counter names the networks of the ticked channels (the count itself is
  // X's; each network's own count is under "Per network").
  function updateNetworks(form) {
    var label = document.getElementById("count-networks");
    var box = document.getElementById("channel-choices");
    if (!label || !box) return;
    var map = JSON.parse(box.getAttribute("data-networks") || "{}"), names = [];
    form.querySelectorAll('input[name="channels"]:checked').forEach(function (input) {
      (map[input.value] || []).forEach(function (n) { if (names.indexOf(n) < 0) names.push(n); });
    });
    if (!names.length || (names.length === 1 && names[0] === "X")) { label.textContent = "X length"; return; }
    label.textContent = "X length · ticked: " + names.join(", ");
  }

  // The main button says what it does: "Pin at Tue 8 Dec 10:00" once a pin time is set.
  function updateSaveButton(form) {
    var button = document.getElementById("save-button"), pin = form.querySelector('input[name="pin_at"]');
    if (!button || !pin) return;
    if (!pin.value) { button.textContent = button.getAttribute("data-plain"); return; }
    var at = new Date(pin.value);
    var words = isNaN(at) ? pin.value.replace("T", " ") : at.toLocaleString("en-GB", { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
    button.textContent = "Pin at " + words.replace(",", "");
  }

  // Images: a drop zone and a plain file input (keyboard users); one alt text field per
  // chosen image, in the same order as the files (the server pairs them by position).
  function setUpImages() {
    var zone = document.getElementById("drop-zone"), input = document.getElementById("images-input");
    var list = document.getElementById("image-alts");
    if (!zone || !input || !list) return;
    function renderAlts() {
      // The preview warns about images a network cannot take (a webhook without
      // PUBLIC_BASE_URL) as soon as they are chosen: tell it, and refresh it.
      var flag = document.getElementById("has-images");
      if (flag) {
        flag.value = input.files.length ? "1" : "";
        flag.dispatchEvent(new Event("change", { bubbles: true }));
      }
      var typed = Array.from(list.querySelectorAll("textarea")).map(function (t) { return t.value; });
      list.textContent = "";
      Array.from(input.files).forEach(function (file, i) {
        var item = document.createElement("li"), id = "image-alt-" + (i + 1);
        var thumb = document.createElement("img");
        thumb.src = URL.createObjectURL(file);
        thumb.alt = "";
        thumb.width = 64;
        thumb.height = 64;
        var label = document.createElement("label");
        label.setAttribute("for", id);
        label.textContent = "Alt text for image " + (i + 1) + " (" + file.name + ")";
        var text = document.createElement("textarea");
        text.name = "image_alt";
        text.id = id;
        text.rows = 2;
        text.maxLength = parseInt(list.getAttribute("data-max-alt"), 10) || 1500;
        text.value = typed[i] || "";
        item.append(thumb, label, text);
        list.append(item);
      });
    }
    ["dragenter", "dragover"].forEach(function (e) { zone.addEventListener(e, function (ev) { ev.preventDefault(); zone.classList.add("dragging"); }); });
    ["dragleave", "drop"].forEach(function (e) { zone.addEventListener(e, function (ev) { ev.preventDefault(); zone.classList.remove("dragging"); }); });
    zone.addEventListener("drop", function (ev) {
      if (!ev.dataTransfer || !ev.dataTransfer.files.length) return;
      input.files = ev.dataTransfer.files;
      renderAlts();
      var first = list.querySelector("textarea");
      if (first) first.focus();
    });
    input.addEventListener("change", renderAlts);
  }

  window.queueloopApproximateLength = approximateLength;

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("compose-form");
    if (!form) return;
    form.querySelectorAll("textarea[data-counter]").forEach(function (textarea) {
      textarea.addEventListener("input", function () { render(textarea); });
      render(textarea);
      clearTimeout(textarea._announceTimer); // nothing to announce before the user types
    });
    // The server's exact count (htmx) restarts the pause before it is announced.
    document.body.addEventListener("htmx:afterSwap", function (event) {
      var textarea = form.querySelector('textarea[data-counter="#' + event.detail.target.id + '"]');
      if (textarea) announceLater(textarea);
    });
    form.addEventListener("change", function (event) {
      if (event.target.name === "channels") { updatePinZone(form); updateNetworks(form); }
      if (event.target.name === "pin_at") updateSaveButton(form);
    });
    form.addEventListener("input", function (event) {
      if (event.target.name === "pin_at") updateSaveButton(form);
    });
    updatePinZone(form);
    updateNetworks(form);
    updateSaveButton(form);
    setUpImages();
  });
})();
