// Sort the scoreboard by a column: click a header button; click again to reverse.
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("button[data-col]").forEach(function (button) {
    button.addEventListener("click", function () {
      var col = Number(button.getAttribute("data-col"));
      var key = button.getAttribute("data-key");
      var attribute = key ? "data-sort-" + key : "data-sort";
      var th = button.closest("th");
      var ascending = button.getAttribute("data-order") !== "ascending";
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute(attribute) || "";
        var y = b.cells[col].getAttribute(attribute) || "";
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        if (c === 0) {
          c = Number(a.getAttribute("data-order")) - Number(b.getAttribute("data-order"));
          return c;
        }
        return ascending ? c : -c;
      });
      rows.forEach(function (row) { body.appendChild(row); });
      table.querySelectorAll("th[aria-sort]").forEach(function (other) { other.removeAttribute("aria-sort"); });
      table.querySelectorAll("button[data-order]").forEach(function (other) { other.removeAttribute("data-order"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      button.setAttribute("data-order", ascending ? "ascending" : "descending");
    });
  });
});
