/* Counts down a timed written answer. The server refuses answers that arrive after the limit
   (plus a short grace for the network); this only shows the time left. */
(function () {
  "use strict";
  var el = document.getElementById("answer-clock");
  if (!el) { return; }
  var offset = Date.parse(el.dataset.serverNow) - Date.now();
  var ends = Date.parse(el.dataset.ends);
  var announced = false;
  function update() {
    var left = Math.max(0, Math.ceil((ends - (Date.now() + offset)) / 1000));
    el.textContent = "Time left: " + Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    if (left <= 30 && !announced) { el.setAttribute("aria-live", "assertive"); announced = true; }
    if (left === 0) { el.textContent = "Time is up: save now; late answers are refused."; clearInterval(timer); }
  }
  var timer = setInterval(update, 500);
  update();
})();
