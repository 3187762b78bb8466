// One clock: tell the server the browser's time zone, once, in the `ql_tz` cookie. It is
// stored as the person's display zone when they have none yet (never over a choice:
// accounts/zone_middleware.py). Zone names are letters, digits, "/", "_", "+", "-": no
// escaping needed.
(function () {
  "use strict";
  // The option of a zone picker for `zone`: its own, or the one listing it as an old name
  // (browsers may still report Asia/Calcutta for Asia/Kolkata).
  function optionFor(select, zone) {
    for (var i = 0; i < select.options.length; i++) {
      var option = select.options[i];
      var aliases = (option.getAttribute("data-aliases") || "").split(" ");
      if (option.value === zone || aliases.indexOf(zone) !== -1) return option;
    }
    return null;
  }

  // The time-zone picker's search (ground/zone_field.py): every word typed must appear
  // in an option's city, country, offset, name or old names; the others are hidden. The
  // selected option stays visible, so a search never changes the value by itself.
  function wirePicker(select) {
    var search = document.getElementById(select.id + "_search");
    var count = select.parentNode.querySelector(".zone-count");
    if (!search) return;
    search.hidden = false;
    var timer = null;
    var entries = [];
    for (var i = 0; i < select.options.length; i++) {
      var option = select.options[i];
      var text = (option.getAttribute("data-search") || option.value.toLowerCase()) + " " +
        option.text.toLowerCase();
      entries.push({ option: option, text: text, words: text.split(/[\s,:;()\/_\u2014-]+/) });
    }
    // Whole words first: "india" shows Kolkata, not the Indiana zones too (they show
    // while no zone has the whole word, e.g. for "indi").
    function filter() {
      var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
      var whole = entries.filter(function (e) {
        return words.every(function (w) { return e.words.indexOf(w) !== -1; });
      });
      var matches = whole.length ? whole : entries.filter(function (e) {
        return words.every(function (w) { return e.text.indexOf(w) !== -1; });
      });
      var shown = 0, first = null;
      entries.forEach(function (e) {
        var match = matches.indexOf(e) !== -1;
        e.option.hidden = !match && !e.option.selected;
        if (match) { shown += 1; if (!first) first = e.option; }
      });
      if (count) {
        count.textContent = words.length ? shown + (shown === 1 ? " zone matches" : " zones match") : "";
      }
      return first;
    }
    search.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(filter, 80);
    });
    // Enter picks the first match (and does not submit the form).
    search.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") return;
      event.preventDefault();
      var first = filter();
      if (first) {
        select.value = first.value;
        select.dispatchEvent(new Event("change", { bubbles: true }));
        select.focus();
      }
    });
  }

  var pickers = document.querySelectorAll("select[data-zone-picker]");
  for (var i = 0; i < pickers.length; i++) wirePicker(pickers[i]);

  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && /^[A-Za-z0-9_+\-\/]+$/.test(zone) && document.cookie.indexOf("ql_tz=" + zone) === -1) {
      document.cookie = "ql_tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
    }
    var hint = document.getElementById("browser-zone");
    if (hint && zone) {
      hint.textContent = zone;
      var use = document.getElementById("use-browser-zone");
      var select = document.getElementById("id_timezone");
      if (use && select) {
        use.hidden = false;
        use.addEventListener("click", function () {
          var option = optionFor(select, zone);
          if (option) select.value = option.value;
        });
      }
    }
  } catch (e) { /* no Intl: the profile page still lets a person pick */ }
})();
