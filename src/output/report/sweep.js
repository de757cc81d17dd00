// The sweep: a sortable table and a Pareto plot; a click on a row or a point shows that
// variant's own report (its 3D view) below. `#<id>` in the address selects a variant.
(function () {
  const frame = document.getElementById("variant-view");
  const status = document.getElementById("status");
  function select(id) {
    const row = document.querySelector(`tr[data-id="${CSS.escape(id)}"]`);
    if (!row || row.dataset.ok !== "true") return;
    document.querySelectorAll("[data-id].selected").forEach((e) => e.classList.remove("selected"));
    document.querySelectorAll(`[data-id="${CSS.escape(id)}"]`).forEach((e) => e.classList.add("selected"));
    frame.src = `${encodeURIComponent(id)}/report.html`;
    status.dataset.selected = id;
    status.textContent = `showing ${id}`;
    if (location.hash !== `#${id}`) history.replaceState(null, "", `#${id}`);
  }
  document.querySelectorAll("[data-id]").forEach((e) =>
    e.addEventListener("click", () => select(e.dataset.id)));
  // Sorting: a click on a header sorts by that column, again reverses.
  const body = document.querySelector("#variants tbody");
  document.querySelectorAll("#variants th").forEach((th, column) => {
    th.addEventListener("click", () => {
      const descending = th.dataset.sorted === "ascending";
      document.querySelectorAll("#variants th").forEach((h) => delete h.dataset.sorted);
      th.dataset.sorted = descending ? "descending" : "ascending";
      const rows = Array.from(body.rows);
      const key = (r) => {
        const cell = r.cells[column];
        const number = Number(cell.dataset.value);
        return cell.dataset.value !== undefined && cell.dataset.value !== "" && !Number.isNaN(number) ? number : cell.textContent;
      };
      rows.sort((a, b) => {
        const x = key(a), y = key(b);
        const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
        return descending ? -order : order;
      });
      rows.forEach((r) => body.appendChild(r));
    });
  });
  const wanted = decodeURIComponent(location.hash.slice(1));
  const first = document.querySelector('tr[data-ok="true"]');
  if (wanted) select(wanted);
  else if (first) select(first.dataset.id);
})();
