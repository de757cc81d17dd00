"use strict";
// Errors of the page, shown in #errors (and so visible to the browser tests).
const pageErrors = [];
function pageError(message) {
  pageErrors.push(String(message));
  const box = document.getElementById("errors");
  if (box) {
    box.textContent = pageErrors.join("\n");
    box.hidden = false;
  }
}
window.addEventListener("error", (e) => pageError(e.message));
window.addEventListener("unhandledrejection", (e) => pageError(e.reason));
const consoleError = console.error.bind(console);
console.error = (...args) => {
  pageError(args.join(" "));
  consoleError(...args);
};
