// Repeating form sections: "Add a row" copies the last row with empty cells and the next index.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-add-row]");
  if (!button) return;
  const body = document.getElementById(button.dataset.addRow).querySelector("tbody");
  const last = body.lastElementChild;
  const next = last.cloneNode(true);
  const index = body.children.length;
  next.querySelectorAll("textarea").forEach((cell) => {
    cell.name = cell.name.replace(/-\d+-/, `-${index}-`);
    cell.value = "";
  });
  body.appendChild(next);
});

// No inline handlers (the Content-Security-Policy forbids them): filters submit on change, print buttons print.
document.addEventListener("change", (event) => {
  if (event.target.matches("select[data-autosubmit]")) event.target.form.submit();
});
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) window.print();
});
