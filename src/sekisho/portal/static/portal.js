// Progressive enhancement only: every page works without this file.
// After a refused form, move the keyboard focus to the list of problems, so that a screen reader reads it first.
document.addEventListener("DOMContentLoaded", function () {
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
});
