// gridctl dashboard: live refresh by Server-Sent Events, drag and drop in dispatch queues.
// Pages work without this file: forms post and redirect, <noscript> reloads every 10 s.
(function () {
  "use strict";
  var csrf = document.body.getAttribute("data-csrf") || "";

  document.body.addEventListener("htmx:configRequest", function (ev) {
    ev.detail.headers["X-CSRF-Token"] = csrf;
  });

  // one change event from the server: every live region reloads itself (hx-trigger="refresh from:body")
  if (window.EventSource) {
    var source = new EventSource("/events?since=" + encodeURIComponent(document.body.getAttribute("data-version") || ""));
    source.addEventListener("change", function () {
      if (dragging) { pending = true; return; }
      if (window.htmx) { window.htmx.trigger(document.body, "refresh"); }
    });
  }

  var dragging = null;
  var pending = false;

  function queueRows(table) {
    return Array.prototype.slice.call(table.querySelectorAll("tbody tr[data-id]"));
  }

  document.addEventListener("dragstart", function (ev) {
    var row = ev.target.closest && ev.target.closest("tr[draggable=true]");
    if (!row) { return; }
    dragging = row;
    row.classList.add("dragging");
    ev.dataTransfer.effectAllowed = "move";
    ev.dataTransfer.setData("text/plain", row.getAttribute("data-id"));
  });

  document.addEventListener("dragover", function (ev) {
    if (!dragging) { return; }
    var row = ev.target.closest && ev.target.closest("table.queue tbody tr[data-id]");
    if (!row || row === dragging || row.parentNode !== dragging.parentNode) { return; }
    ev.preventDefault();
    var box = row.getBoundingClientRect();
    var after = ev.clientY > box.top + box.height / 2;
    row.parentNode.insertBefore(dragging, after ? row.nextSibling : row);
  });

  document.addEventListener("drop", function (ev) {
    if (dragging) { ev.preventDefault(); }
  });

  document.addEventListener("dragend", function () {
    if (!dragging) { return; }
    var row = dragging;
    dragging = null;
    row.classList.remove("dragging");
    var table = row.closest("table.queue");
    var ids = queueRows(table).filter(function (r) { return r.getAttribute("data-state") === "queued"; })
      .map(function (r) { return r.getAttribute("data-id"); });
    var body = "ids=" + encodeURIComponent(ids.join(",")) + "&moved=" + encodeURIComponent(row.getAttribute("data-id")) +
      "&csrf=" + encodeURIComponent(csrf);
    fetch("/groups/" + encodeURIComponent(table.getAttribute("data-group")) + "/reorder", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": csrf, "HX-Request": "true"},
      body: body
    }).then(function () {
      pending = false;
      if (window.htmx) { window.htmx.trigger(document.body, "refresh"); }
    });
  });
})();
