// The case desk's only script: a filter list applies as soon as a choice is made.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form.filters select.auto").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });
});
