// Validation as you type, for the portal's forms. An enhancement only: every
// form works without it, and the server checks everything again (its answer
// is the one that counts). Served from this origin, so the CSP's
// `script-src 'self'` admits it; nothing inline, nothing fetched.
//
// A field opts in with `data-check`:
//   data-check="duration"  a duration as Writ writes it (30m, 8h, 1h30m, 2w),
//                          at most `data-max-seconds` (named `data-max-label`);
//   data-check="text"      not blank; `data-message` says what to write.
// The message goes to the element `<field id>-hint` (an aria-live region)
// and to the browser's own constraint validation, which blocks the submit.
(function () {
  "use strict";
  var UNIT = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
  var SHAPE = /^([1-9][0-9]{0,6}[smhdw]){1,5}$/;

  function seconds(text) {
    if (!SHAPE.test(text)) return null;
    var total = 0;
    text.replace(/([0-9]+)([smhdw])/g, function (_, n, unit) {
      total += Number(n) * UNIT[unit];
      return "";
    });
    return total;
  }

  function problem(field) {
    var value = field.value.trim();
    if (field.dataset.check === "duration") {
      if (value === "") return "Say for how long, e.g. 4h.";
      var s = seconds(value);
      if (s === null) return "\u201c" + value + "\u201d is not a duration: write e.g. 30m, 8h, 2d or 1h30m.";
      var max = Number(field.dataset.maxSeconds || 0);
      if (max > 0 && s > max) return "That is longer than this access allows: at most " + field.dataset.maxLabel + ".";
      return "";
    }
    if (field.dataset.check === "text" && value === "") return field.dataset.message || "This field is required.";
    return "";
  }

  function check(field) {
    var text = problem(field);
    field.setCustomValidity(text);
    field.setAttribute("aria-invalid", text ? "true" : "false");
    var hint = document.getElementById(field.id + "-hint");
    if (hint) hint.textContent = text;
  }

  function checked(event) {
    var field = event.target;
    if (field && field.dataset && field.dataset.check) check(field);
  }

  document.addEventListener("input", checked);
  document.addEventListener("focusout", checked);
  // A submit the browser blocks (a required field left empty) fires
  // `invalid` on each wrong field, and no `submit`: say why there too.
  document.addEventListener("invalid", checked, true);
  // Before a submit, every field of the form is checked, typed in or not.
  document.addEventListener("submit", function (event) {
    var fields = event.target.querySelectorAll("[data-check]");
    for (var i = 0; i < fields.length; i++) check(fields[i]);
    if (!event.target.checkValidity()) {
      event.preventDefault();
      event.target.reportValidity();
    }
  }, true);
})();
