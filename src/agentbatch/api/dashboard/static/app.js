// agentbatch dashboard: refresh the live parts of a page while its work runs.
// Each element with data-live-src is re-rendered by the server (?fragment=...) every
// 2 s; a response with "X-Live: 0" (the job ended) stops the refreshing after that one.
(function () {
  "use strict";
  var INTERVAL_MS = 2000;
  function start() {
    var body = document.body;
    if (body.dataset.live !== "1") return;
    var sections = Array.prototype.slice.call(document.querySelectorAll("[data-live-src]"));
    var state = document.getElementById("live-state");
    var refreshes = 0;
    function openDetails(el) {
      var open = {};
      el.querySelectorAll("details[open]").forEach(function (d, i) {
        var key = d.closest("[data-block]");
        open[(key ? key.dataset.block : "") + ":" + i] = true;
      });
      return open;
    }
    function restoreDetails(el, open) {
      el.querySelectorAll("details").forEach(function (d, i) {
        var key = d.closest("[data-block]");
        if (open[(key ? key.dataset.block : "") + ":" + i]) d.open = true;
      });
    }
    function refresh() {
      var live = true;
      var pending = sections.map(function (el) {
        return fetch(el.dataset.liveSrc, { credentials: "same-origin", cache: "no-store" })
          .then(function (r) {
            if (r.headers.get("X-Live") === "0") live = false;
            if (!r.ok) return null;
            return r.text();
          })
          .then(function (html) {
            if (html === null) return;
            var open = openDetails(el);
            el.innerHTML = html;
            restoreDetails(el, open);
          })
          .catch(function () { /* a failed refresh is retried at the next tick */ });
      });
      Promise.all(pending).then(function () {
        refreshes += 1;
        body.dataset.refreshes = String(refreshes);
        if (live) {
          setTimeout(refresh, INTERVAL_MS);
        } else {
          body.dataset.live = "0";
          if (state) state.textContent = "finished (no longer refreshing)";
        }
      });
    }
    setTimeout(refresh, INTERVAL_MS);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
