// Laku Grosir dashboard: small progressive enhancements. Every page works without this script.
// - countdowns to each session's deadline, in the page's own words (body[data-words])
// - the product form: the size units per lot summed as you type, checked against the lot size on submit
// - the product form: a button to add another size row
"use strict";

(function () {
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  function countdowns() {
    var words = JSON.parse(document.body.getAttribute("data-words") || "{}");
    var clocks = document.querySelectorAll("[data-ends-at]");
    if (!clocks.length || !words.remaining) return;
    function left(endsAt) {
      var seconds = Math.floor((Date.parse(endsAt) - Date.now()) / 1000);
      if (seconds <= 0) return words.time_up;
      var days = Math.floor(seconds / 86400);
      var hours = Math.floor((seconds % 86400) / 3600);
      var minutes = Math.floor((seconds % 3600) / 60);
      var parts;
      if (days) parts = [fill(words.days, { n: days }), fill(words.hours, { n: hours })];
      else if (hours) parts = [fill(words.hours, { n: hours }), fill(words.minutes, { n: minutes })];
      else parts = [fill(words.minutes, { n: minutes }), fill(words.seconds, { n: seconds % 60 })];
      return fill(words.remaining, { time: parts.join(" ") });
    }
    function tick() {
      clocks.forEach(function (clock) { clock.textContent = left(clock.getAttribute("data-ends-at")); });
    }
    tick();
    window.setInterval(tick, 1000);
  }

  function lotSum() {
    var form = document.getElementById("product-form");
    if (!form) return;
    var lot = document.getElementById("grosir_unit_size");
    var output = document.getElementById("lot-sum");
    function check() {
      var sum = 0;
      var any = false;
      form.querySelectorAll("[data-units]").forEach(function (input) {
        if (input.value.trim() !== "") { any = true; sum += parseInt(input.value, 10) || 0; }
      });
      var size = lot.value.trim() === "" ? null : parseInt(lot.value, 10);
      var ok = !any || size === sum;
      if (!any && size === null) output.textContent = "";
      else if (size === null) output.textContent = fill(form.getAttribute("data-sum-no-lot"), { sum: sum });
      else if (ok) output.textContent = fill(form.getAttribute("data-sum-ok"), { sum: sum });
      else output.textContent = fill(form.getAttribute("data-sum-bad"), { sum: sum, lot: size });
      output.className = "sum " + (ok ? "ok" : "bad");
      return ok;
    }
    form.addEventListener("input", check);
    form.addEventListener("submit", function (event) {
      if (!check()) {
        event.preventDefault();
        lot.setAttribute("aria-invalid", "true");
        output.setAttribute("role", "alert");
        lot.focus();
      }
    });
    check();

    var add = document.getElementById("add-size");
    var body = document.querySelector("#size-rows tbody");
    if (!add || !body) return;
    add.hidden = false;
    add.addEventListener("click", function () {
      var rows = body.querySelectorAll("tr");
      var next = rows.length;
      var row = rows[rows.length - 1].cloneNode(true);
      row.querySelectorAll("input, label").forEach(function (element) {
        ["id", "name", "for"].forEach(function (attribute) {
          var value = element.getAttribute(attribute);
          if (value) element.setAttribute(attribute, value.replace(/variants-\d+-/, "variants-" + next + "-"));
        });
        if (element.tagName === "INPUT") { element.value = ""; element.removeAttribute("aria-invalid"); element.removeAttribute("aria-describedby"); }
        if (element.tagName === "LABEL") element.textContent = element.textContent.replace(/\d+\s*$/, String(next + 1));
      });
      row.querySelectorAll(".field-error").forEach(function (error) { error.remove(); });
      row.querySelectorAll("td").forEach(function (cell) { cell.classList.remove("invalid"); });
      body.appendChild(row);
      row.querySelector("input").focus();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    countdowns();
    lotSum();
  });
})();
