// Schedule editor: show only the fields the chosen frequency uses.
// Without JavaScript every field shows and the server ignores the unused ones.
(function () {
  "use strict";
  function update(form) {
    var checked = form.querySelector('input[name="frequency"]:checked');
    var freq = checked ? checked.value : "";
    form.querySelectorAll("[data-show-for]").forEach(function (el) {
      var wanted = el.getAttribute("data-show-for").split(" ");
      el.hidden = wanted.indexOf(freq) === -1;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("schedule-form");
    if (!form) return;
    form.addEventListener("change", function () { update(form); });
    update(form);
  });
})();
