/* qa report filters: agent, check, date range. Plain JavaScript, no network.
 * Reads the JSON data block and only toggles classes and the hidden
 * attribute; the one text it writes is a count. Filter state is kept in the
 * URL as #f?agent=ID&check=NAME&from=YYYY-MM-DD&to=YYYY-MM-DD so a filtered
 * view can be linked. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("qa-data").textContent);
  function byId(id) { return document.getElementById(id); }
  function each(selector, fn) { Array.prototype.forEach.call(document.querySelectorAll(selector), fn); }
  var fAgent = byId("f-agent"), fCheck = byId("f-check"), fFrom = byId("f-from"), fTo = byId("f-to");
  var count = byId("f-count"), noMatch = byId("no-match");
  var calls = Array.prototype.slice.call(document.querySelectorAll("article.call"));
  var sections = Array.prototype.slice.call(document.querySelectorAll("section.agent"));


  /* Tone down the marks and findings of other checks in one call (only when the check changed since). */
  var markedFor = {};
  calls.forEach(function (el) { markedFor[el.id] = ""; });
  function markCheck(el, check) {
    Array.prototype.forEach.call(el.querySelectorAll("mark[data-checks]"), function (m) {
      m.classList.toggle("other", check !== "" && m.getAttribute("data-checks").split(" ").indexOf(check) < 0);
    });
    Array.prototype.forEach.call(el.querySelectorAll("li.finding"), function (li) {
      li.classList.toggle("dim", check !== "" && li.getAttribute("data-check") !== check);
    });
    markedFor[el.id] = check;
  }

  function apply() {
    var ai = fAgent.value, check = fCheck.value, from = fFrom.value, to = fTo.value;
    if (from && to && from > to) { var t = from; from = to; to = t; }
    var shown = 0, perAgent = {};
    calls.forEach(function (el) {
      var c = data.calls[Number(el.getAttribute("data-idx"))];
      var ok = !!c &&
        (ai === "" || String(c.ai) === ai) &&
        (check === "" || c.checks.indexOf(check) >= 0) &&
        (from === "" || (!!c.date && c.date >= from)) &&
        (to === "" || (!!c.date && c.date <= to));
      el.hidden = !ok;
      if (ok) {
        shown += 1;
        perAgent[String(c.ai)] = (perAgent[String(c.ai)] || 0) + 1;
        if (markedFor[el.id] !== check) { markCheck(el, check); }
      }
    });
    var narrowing = check !== "" || from !== "" || to !== "";
    sections.forEach(function (el) {
      var a = el.getAttribute("data-ai");
      el.hidden = (ai !== "" && a !== ai) || (narrowing && !perAgent[a]);
    });
    each("table.overview tr[data-ai]", function (tr) {
      var me = tr.getAttribute("data-ai") === ai;
      tr.classList.toggle("sel", ai !== "" && me);
      tr.classList.toggle("dim", ai !== "" && !me);
    });
    each("table.overview [data-check]", function (td) {
      td.classList.toggle("hl", check !== "" && td.getAttribute("data-check") === check);
    });
    each("svg.chart", function (svg) {
      svg.classList.toggle("has-sel", ai !== "");
      svg.classList.toggle("has-check", check !== "");
    });
    each("svg.chart [data-ai]", function (g) {
      g.classList.toggle("sel", ai !== "" && g.getAttribute("data-ai") === ai);
    });
    each("svg.chart .cell", function (g) {
      g.classList.toggle("hl", check !== "" && g.getAttribute("data-check") === check);
    });
    count.textContent = shown + " of " + data.calls.length + " flagged calls shown";
    noMatch.hidden = shown > 0 || data.calls.length === 0;
    saveState();
  }

  function saveState() {
    var p = [];
    var a = data.agents[Number(fAgent.value)];
    if (fAgent.value !== "" && a) { p.push("agent=" + encodeURIComponent(a.agent_id)); }
    if (fCheck.value) { p.push("check=" + encodeURIComponent(fCheck.value)); }
    if (fFrom.value) { p.push("from=" + encodeURIComponent(fFrom.value)); }
    if (fTo.value) { p.push("to=" + encodeURIComponent(fTo.value)); }
    var hash = p.length ? "#f?" + p.join("&") : "";
    if (hash === location.hash || (!hash && location.hash.indexOf("#f?") !== 0)) { return; }
    try { history.replaceState(null, "", hash || location.pathname + location.search); } catch (e) { /* file:// quirks */ }
  }

  function loadState() {
    if (location.hash.indexOf("#f?") !== 0) { return; }
    location.hash.slice(3).split("&").forEach(function (kv) {
      var i = kv.indexOf("="), k = kv.slice(0, i), v;
      try { v = decodeURIComponent(kv.slice(i + 1)); } catch (e) { return; }
      if (k === "agent") {
        for (var j = 0; j < data.agents.length; j++) {
          if (data.agents[j].agent_id === v) { fAgent.value = String(j); }
        }
      } else if (k === "check" && data.checks.indexOf(v) >= 0) { fCheck.value = v; }
      else if (k === "from" && /^\d{4}-\d{2}-\d{2}$/.test(v)) { fFrom.value = v; }
      else if (k === "to" && /^\d{4}-\d{2}-\d{2}$/.test(v)) { fTo.value = v; }
    });
  }

  [fAgent, fCheck, fFrom, fTo].forEach(function (el) {
    el.addEventListener("change", apply);
    el.addEventListener("input", apply);
  });
  byId("f-reset").addEventListener("click", function () {
    fAgent.value = ""; fCheck.value = ""; fFrom.value = ""; fTo.value = "";
    apply();
  });
  byId("filters").addEventListener("submit", function (e) { e.preventDefault(); });
  loadState();
  apply();
  document.documentElement.setAttribute("data-ready", "1");
}());
