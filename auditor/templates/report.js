(function () {
  "use strict";
  document.documentElement.className += " js";
  var table = document.getElementById("findings");
  var form = document.getElementById("filters");
  if (!table || !form) { return; }
  var bodies = Array.prototype.slice.call(table.tBodies);
  var inputs = Array.prototype.slice.call(form.querySelectorAll("[data-filter]"));
  var shown = document.getElementById("shown");

  function apply() {
    var want = {};
    inputs.forEach(function (el) { want[el.getAttribute("data-filter")] = el.value; });
    var q = (want.q || "").trim().toLowerCase();
    // "" = all but pass, "all" = every row, else one status: the option's count is the rows
    var st = want.status;
    var n = 0;
    bodies.forEach(function (b) {
      var d = b.dataset;
      var ok = (st === "all" || (st ? d.status === st : d.status !== "pass")) &&
        (!want.severity || d.severity === want.severity) &&
        (!want.control || d.control === want.control) &&
        (!want.account || d.account === want.account) &&
        (!q || d.search.indexOf(q) !== -1);
      b.hidden = !ok;
      if (ok) { n += 1; }
    });
    shown.textContent = n + " of " + bodies.length + " shown";
  }
  inputs.forEach(function (el) {
    el.addEventListener(el.tagName === "INPUT" ? "input" : "change", apply);
  });
  document.getElementById("reset").addEventListener("click", function () {
    inputs.forEach(function (el) { el.value = ""; });
    apply();
  });

  // A link to a finding (Fix first, diff, #id in the address) shows it even if filtered out.
  function reveal() {
    var id = decodeURIComponent((location.hash || "").slice(1));
    var target = id ? document.getElementById(id) : null;
    if (target && target.tagName === "TBODY" && target.hidden) {
      target.hidden = false;
      target.scrollIntoView();
    }
  }
  window.addEventListener("hashchange", reveal);

  var heads = Array.prototype.slice.call(table.querySelectorAll("th[data-sort]"));
  heads.forEach(function (th) {
    th.addEventListener("click", function () {
      var key = th.getAttribute("data-sort");
      var asc = !th.classList.contains("asc");
      heads.forEach(function (h) { h.classList.remove("asc", "desc"); });
      th.classList.add(asc ? "asc" : "desc");
      var numeric = key === "sevrank";
      bodies.sort(function (a, b) {
        var x = a.dataset[key], y = b.dataset[key];
        var c = numeric ? Number(x) - Number(y) : x.localeCompare(y);
        return asc ? c : -c;
      });
      bodies.forEach(function (b) { table.appendChild(b); });
    });
  });
  apply();
  reveal();
})();
