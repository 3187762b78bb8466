// One clock: tell the server the browser's time zone, once, in the `ql_tz` cookie. It is
// stored as the person's display zone when they have none yet (never over a choice:
// accounts/zone_middleware.py). Zone names are letters, digits, "/", "_", "+", "-": no
// escaping needed.
(function () {
  "use strict";
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
        use.addEventListener("click", function () { select.value = zone; });
      }
    }
  } catch (e) { /* no Intl: the profile page still lets a person pick */ }
})();
