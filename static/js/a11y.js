// Keyboard and screen-reader support shared by every page:
// - a form that comes back with errors moves focus to its first invalid field (or to the
//   error summary), so the error is read out where it must be fixed;
// - an htmx swap keeps focus on the same control when it is still there (or on its row,
//   or the swapped region), and says what changed in the polite #announcer live region;
// - in a channel's queue, Alt+ArrowUp / Alt+ArrowDown move the focused post.
(function () {
  "use strict";

  function announce(text) {
    var region = document.getElementById("announcer");
    if (!region || !text) return;
    // Clearing first makes a repeated message ("Moved to position 2 of 5") be read again.
    region.textContent = "";
    setTimeout(function () { region.textContent = text; }, 60);
  }
  window.queueloopAnnounce = announce;

  function focusFirstError() {
    var invalid = document.querySelector('main [aria-invalid="true"]:not([type="hidden"])');
    var summary = document.querySelector("main .form-errors[role=alert]");
    var target = invalid || summary;
    if (target) target.focus({ preventScroll: false });
  }

  // --- htmx: keep focus, announce ----------------------------------------------------------
  // A control is found again after a swap by its row's id plus its own name/value.
  function focusKey(el) {
    if (!el || el === document.body) return null;
    var row = el.closest("[id]");
    return {
      row: row ? row.id : null,
      tag: el.tagName,
      name: el.getAttribute("name"),
      value: el.getAttribute("value"),
    };
  }

  function findByKey(key, region) {
    if (!key) return null;
    var row = key.row ? document.getElementById(key.row) : null;
    if (!row) return null;
    var candidates = row.querySelectorAll(key.tag);
    for (var i = 0; i < candidates.length; i++) {
      var c = candidates[i];
      if (c.getAttribute("name") === key.name && c.getAttribute("value") === key.value) {
        if (!c.disabled) return c;
        break;
      }
    }
    // The same control is gone or disabled (a post moved to the top cannot move up):
    // the next best is another enabled control of the same row.
    return row.querySelector("button:not([disabled]), a[href], input:not([type=hidden])") || row;
  }

  var pending = null;

  document.addEventListener("htmx:beforeRequest", function (event) {
    var active = document.activeElement;
    var form = event.detail.elt.closest ? event.detail.elt.closest("form") || event.detail.elt : event.detail.elt;
    pending = {
      key: focusKey(active),
      hadFocus: active && active !== document.body,
      form: form,
      announce: form && form.getAttribute ? form.getAttribute("data-announce") : null,
    };
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    var from = target && target.getAttribute && target.getAttribute("data-announce-from");
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    // Only what the user changed is announced (not a preview loaded with the page).
    if (from && source && source.contains && source.contains(document.activeElement)) {
      var said = target.querySelector(from);
      if (said) announce(said.textContent.replace(/\s+/g, " ").trim());
    }
    if (!pending) return;
    var state = pending;
    pending = null;
    var active = document.activeElement;
    var lost = state.hadFocus && (!active || active === document.body || !document.contains(active));
    if (lost && document.contains(target)) {
      var again = findByKey(state.key, target);
      if (!again) {
        again = target;
        if (!again.hasAttribute("tabindex")) again.setAttribute("tabindex", "-1");
      }
      if (again.getAttribute("tabindex") === null && !/^(A|BUTTON|INPUT|SELECT|TEXTAREA)$/.test(again.tagName)) {
        again.setAttribute("tabindex", "-1");
      }
      again.focus();
    }
    if (state.announce) {
      var row = state.key && state.key.row ? document.getElementById(state.key.row) : null;
      var text = state.announce;
      if (row && row.parentElement) {
        var items = Array.prototype.filter.call(row.parentElement.children, function (c) {
          return c.tagName === row.tagName;
        });
        text = text.replace("{position}", items.indexOf(row) + 1).replace("{total}", items.length);
      }
      announce(text);
    }
  });

  // A swap that removes the focused element (a dismissed notice) takes the focus with it,
  // and the removed element's events no longer reach the document: hand the focus to the
  // enclosing section and announce here, before the swap.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target && target.contains(document.activeElement) && event.detail.serverResponse === "") {
      var region = target.parentElement.closest("section") || document.getElementById("main");
      if (!region.hasAttribute("tabindex")) region.setAttribute("tabindex", "-1");
      var said = pending && pending.announce;
      pending = null;
      setTimeout(function () { region.focus(); announce(said); }, 0);
    }
  });

  // --- Queue: Alt+Arrow moves the focused post ---------------------------------------------
  document.addEventListener("keydown", function (event) {
    if (!event.altKey || (event.key !== "ArrowUp" && event.key !== "ArrowDown")) return;
    var item = event.target.closest && event.target.closest(".queue-item");
    if (!item) return;
    var button = item.querySelector('button[name="direction"][value="' + (event.key === "ArrowUp" ? "up" : "down") + '"]');
    if (!button || button.disabled) return;
    event.preventDefault();
    button.focus();
    button.click();
  });

  document.addEventListener("DOMContentLoaded", focusFirstError);
})();
