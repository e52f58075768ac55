// Loaded as a module (base.html): GOV.UK Frontend and MOJ Frontend initialise their components (error summary,
// character count, notification banners, service navigation, MOJ sortable table and filter) on every page.
import { initAll as initGovUk } from "./vendor/govuk/govuk-frontend.min.js";
import { initAll as initMoj } from "./vendor/moj/moj-frontend.min.js";

document.body.classList.add("govuk-frontend-supported");  // what GOV.UK's inline snippet does (the CSP forbids it)
initGovUk();
initMoj();

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

// Form fields with a hide condition (data-hide: the tree engine/forms.py parse_condition makes from the form's FEEL,
// evaluated with the same meaning as services/form_validation.py): hidden, and their inputs disabled, so a hidden
// field is neither required nor sent.
function fieldValue(holder) {
  const type = holder.dataset.type;
  const inputs = [...holder.querySelectorAll("input, select, textarea")];
  if (type === "boolean") return inputs.length ? inputs[0].checked : null;
  if (type === "checklist") {
    const ticked = inputs.filter((i) => i.checked).map((i) => i.name.split("--").slice(1).join("--"));
    return ticked.length ? ticked : null;
  }
  const chosen = inputs.find((i) => (i.type === "radio" ? i.checked : true));
  const text = chosen ? chosen.value.trim() : "";
  if (text === "") return null;
  if (type === "long" || type === "number") return Number.isNaN(Number(text)) ? text : Number(text);
  return text;
}

function kindOf(value) {
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "number") return "number";
  if (typeof value === "string") return "string";
  return Array.isArray(value) ? "list" : typeof value;
}

function compareValues(op, left, right) {
  if (op === "=" || op === "!=") {
    let same;
    if (left === null || right === null) same = left === null && right === null;
    else if (kindOf(left) !== kindOf(right)) return null;
    else same = kindOf(left) === "list" ? JSON.stringify(left) === JSON.stringify(right) : left === right;
    return op === "=" ? same : !same;
  }
  if (left === null || right === null || kindOf(left) !== kindOf(right)) return null;
  if (!["number", "string"].includes(kindOf(left))) return null;
  return { "<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right }[op];
}

function evaluateCondition(tree, data) {
  const [head, ...rest] = tree;
  if (head === "lit") return rest[0];
  if (head === "var") {
    return rest[0].split(".").reduce((value, part) => (value && typeof value === "object" && !Array.isArray(value)
      ? (value[part] ?? null) : null), data);
  }
  if (head === "not") {
    const inner = evaluateCondition(rest[0], data);
    return typeof inner === "boolean" ? !inner : null;
  }
  if (head === "and" || head === "or") {
    const values = rest.map((part) => evaluateCondition(part, data));
    const decisive = head === "or";
    if (values.some((v) => v === decisive)) return decisive;
    return values.every((v) => typeof v === "boolean") ? !decisive : null;
  }
  const [op, left, right] = rest;
  return compareValues(op, evaluateCondition(left, data), evaluateCondition(right, data));
}

function applyHideConditions(form) {
  const holders = [...form.querySelectorAll(".field[data-field]")];
  const conditional = holders.filter((h) => h.dataset.hide);
  if (!conditional.length) return;
  let hidden = new Set();
  for (let round = 0; round <= conditional.length; round += 1) {  // until no more fields hide (as the server does)
    const data = {};
    holders.forEach((h) => { if (!hidden.has(h.dataset.field)) data[h.dataset.field] = fieldValue(h); });
    const now = new Set(conditional.filter((h) => evaluateCondition(JSON.parse(h.dataset.hide), data) === true)
      .map((h) => h.dataset.field));
    const same = now.size === hidden.size && [...now].every((name) => hidden.has(name));
    hidden = now;
    if (same) break;
  }
  conditional.forEach((holder) => {
    const hide = hidden.has(holder.dataset.field);
    holder.hidden = hide;
    holder.querySelectorAll("input, select, textarea").forEach((input) => { input.disabled = hide; });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form").forEach((form) => {
    if (!form.querySelector(".field[data-hide]")) return;
    applyHideConditions(form);
    form.addEventListener("input", () => applyHideConditions(form));
    form.addEventListener("change", () => applyHideConditions(form));
  });
});
