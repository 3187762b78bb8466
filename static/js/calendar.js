// Calendar: move a coming slot by dragging it to another cell, or from the keyboard.
//
// A slot that can move has data-move; its move URL is its own path + "move/", its local
// HH:MM the text of its <time> (the page carries each once: a week shows hundreds). A week
// cell is a day and an hour, a month cell a day: the slot keeps its minute (week) or its
// time of day (month) and takes the cell's date and hour. The move is the same POST as the
// slot panel's Move form (the server rotates the slot's token), then the page reloads with
// the server's message and the focus back on the moved slot.
//
// Keyboard: on a slot, Space picks it up; the arrow keys choose a cell (left/right a day,
// up/down an hour in a week, a week in a month); Enter moves it there; Escape puts it back.
// Enter on a slot that is not picked up opens its panel, which has a Move form too.
(function () {
  "use strict";
  var FOCUS_KEY = "queueloop-calendar-focus";

  function announce(text) {
    if (window.queueloopAnnounce) window.queueloopAnnounce(text);
  }

  function grid() { return document.querySelector(".cal-grid"); }

  function newTime(slot, cell) {
    var time = slot.querySelector("time").textContent.trim().split(":");
    var hour = cell.hasAttribute("data-hour") ? ("0" + cell.getAttribute("data-hour")).slice(-2) : time[0];
    return cell.getAttribute("data-day") + "T" + hour + ":" + time[1];
  }

  function describe(cell, slot) {
    var when = new Date(newTime(slot, cell) + ":00");
    return when.toLocaleDateString(undefined, { weekday: "long", day: "numeric", month: "long" }) +
      " " + newTime(slot, cell).slice(11);
  }

  function move(slot, cell) {
    var table = grid();
    var body = new URLSearchParams();
    body.set("publish_at", newTime(slot, cell));
    body.set("tz", table.getAttribute("data-tz"));
    body.set("csrfmiddlewaretoken", document.getElementById("cal-csrf").value);
    announce("Moving…");
    return fetch(slot.pathname + "move/", {
      method: "POST",
      body: body,
      headers: { Accept: "application/json", "X-CSRFToken": document.getElementById("cal-csrf").value },
      credentials: "same-origin",
    }).then(function (response) {
      return response.json().then(function (data) {
        if (data.key) sessionStorage.setItem(FOCUS_KEY, data.key);
        else sessionStorage.setItem(FOCUS_KEY, slot.getAttribute("data-key"));
        window.location.reload();
      });
    }).catch(function () {
      announce("The slot could not be moved: check your connection and try again.");
    });
  }

  // --- Drag and drop -----------------------------------------------------------------------
  var dragged = null;

  function cellOf(el) { return el && el.closest ? el.closest(".cal-cell[data-day]") : null; }

  document.addEventListener("dragstart", function (event) {
    var slot = event.target.closest && event.target.closest(".cal-slot[data-move]");
    if (!slot) return;
    dragged = slot;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", slot.getAttribute("data-key"));
  });
  document.addEventListener("dragend", function () {
    dragged = null;
    document.querySelectorAll(".cal-cell.is-target").forEach(function (c) { c.classList.remove("is-target"); });
  });
  document.addEventListener("dragover", function (event) {
    var cell = cellOf(event.target);
    if (!dragged || !cell || cell.classList.contains("is-past")) return;
    event.preventDefault(); // allows the drop
    event.dataTransfer.dropEffect = "move";
    if (!cell.classList.contains("is-target")) {
      document.querySelectorAll(".cal-cell.is-target").forEach(function (c) { c.classList.remove("is-target"); });
      cell.classList.add("is-target");
    }
  });
  document.addEventListener("drop", function (event) {
    var cell = cellOf(event.target);
    if (!dragged || !cell) return;
    event.preventDefault();
    var slot = dragged;
    dragged = null;
    if (cell.contains(slot)) return; // dropped where it was
    move(slot, cell);
  });

  // --- Keyboard ----------------------------------------------------------------------------
  var lifted = null; // { slot, cell }

  function cells() { return Array.prototype.slice.call(grid().querySelectorAll(".cal-cell[data-day]")); }

  function target(cell) {
    if (lifted.cell) lifted.cell.classList.remove("is-target");
    lifted.cell = cell;
    cell.classList.add("is-target");
    announce(describe(cell, lifted.slot));
  }

  function step(key) {
    var all = cells();
    var here = lifted.cell;
    var row = here.parentElement;
    var column = Array.prototype.indexOf.call(row.children, here);
    var next = null;
    if (key === "ArrowLeft" || key === "ArrowRight") {
      // A month's cells in document order are its days in order: Sunday steps to Monday.
      // A week's row is one hour: left and right stay in it.
      var line = grid().getAttribute("data-view") === "month" ? all : Array.prototype.slice.call(row.children);
      next = line[line.indexOf(here) + (key === "ArrowLeft" ? -1 : 1)] || null;
      if (next && !next.matches(".cal-cell[data-day]")) next = null;
    } else {
      var rowNext = key === "ArrowUp" ? row.previousElementSibling : row.nextElementSibling;
      next = rowNext ? rowNext.children[column] : null;
      if (next && !next.matches(".cal-cell[data-day]")) next = null;
    }
    if (next) target(next);
  }

  function putBack() {
    if (!lifted) return;
    lifted.slot.classList.remove("is-lifted");
    if (lifted.cell) lifted.cell.classList.remove("is-target");
    lifted = null;
  }

  document.addEventListener("keydown", function (event) {
    var slot = event.target.closest && event.target.closest(".cal-slot[data-move]");
    if (!slot || !grid()) return;
    if (!lifted && (event.key === " " || event.key === "Spacebar")) {
      event.preventDefault();
      lifted = { slot: slot, cell: null };
      slot.classList.add("is-lifted");
      target(cellOf(slot));
      announce("Picked up. Arrow keys choose a new time, Enter moves the slot there, Escape cancels.");
      return;
    }
    if (!lifted || lifted.slot !== slot) return;
    if (event.key.indexOf("Arrow") === 0) {
      event.preventDefault();
      step(event.key);
    } else if (event.key === "Enter") {
      event.preventDefault();
      var cell = lifted.cell;
      putBack();
      if (cell && cell !== cellOf(slot)) move(slot, cell);
      else announce("Not moved.");
    } else if (event.key === "Escape") {
      event.preventDefault();
      putBack();
      announce("Not moved.");
    }
  });
  document.addEventListener("focusout", function (event) {
    if (lifted && event.target === lifted.slot) putBack();
  });

  // After a move, the focus goes back to the slot that moved (the page was reloaded).
  document.addEventListener("DOMContentLoaded", function () {
    var key = sessionStorage.getItem(FOCUS_KEY);
    if (!key) return;
    sessionStorage.removeItem(FOCUS_KEY);
    var slot = document.querySelector('.cal-slot[data-key="' + key.replace(/[^a-z0-9-]/g, "") + '"]');
    if (slot) slot.focus();
  });
})();
