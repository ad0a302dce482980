/* Counts down a timed written answer or the assessment to the end time the server gives (in
   data-ends, with the server's clock in data-server-now). The server refuses answers that arrive
   after the limit; this only shows the time left. Screen readers hear it at
   a few moments (one minute, thirty and ten seconds, and the end), not at every tick. */
(function () {
  "use strict";
  var el = document.querySelector(".clock[data-ends]");
  if (!el) { return; }
  var announcer = document.createElement("p");
  announcer.className = "visually-hidden";
  announcer.setAttribute("role", "status");
  el.parentNode.insertBefore(announcer, el.nextSibling);
  var offset = Date.parse(el.dataset.serverNow) - Date.now();
  var ends = Date.parse(el.dataset.ends);
  var spoken = {};
  var moments = { 60: "One minute left.", 30: "Thirty seconds left.", 10: "Ten seconds left." };
  function update() {
    var left = Math.max(0, Math.ceil((ends - (Date.now() + offset)) / 1000));
    el.textContent = "Time left: " + Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    Object.keys(moments).forEach(function (moment) {
      if (left <= Number(moment) && left > 0 && !spoken[moment]) {
        spoken[moment] = true;
        Object.keys(moments).forEach(function (m) { if (Number(m) >= Number(moment)) { spoken[m] = true; } });
        announcer.textContent = moments[moment];
      }
    });
    if (left === 0) {
      el.textContent = el.dataset.upText || "Time is up: save now; late answers are refused.";
      announcer.textContent = "Time is up.";
      clearInterval(timer);
    }
  }
  var timer = setInterval(update, 500);
  update();
})();
