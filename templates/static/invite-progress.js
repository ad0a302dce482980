/* Follows a CSV upload's progress: asks the server how many lines are done every second, moves the
   progress bar, and loads the report once the last line is done. Without JavaScript the page says
   the same on reload. Screen readers hear every quarter, not every line. */
(function () {
  "use strict";
  var card = document.getElementById("invite-run");
  if (!card || !card.dataset.progressUrl) { return; }
  var bar = document.getElementById("progress");
  var done = document.getElementById("progress-done");
  var announcer = document.createElement("p");
  announcer.className = "visually-hidden";
  announcer.setAttribute("role", "status");
  card.appendChild(announcer);
  var spokenQuarter = 0;
  function poll() {
    fetch(card.dataset.progressUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        // Forgotten, refused or broken: the page itself, reloaded, says what happened.
        if (!response.ok) { window.location.reload(); return null; }
        return response.json();
      })
      .then(function (run) {
        if (!run) { return; }
        bar.value = run.done;
        done.textContent = String(run.done);
        var quarter = run.total ? Math.floor((4 * run.done) / run.total) : 4;
        if (quarter > spokenQuarter && quarter < 4) {
          spokenQuarter = quarter;
          announcer.textContent = run.done + " of " + run.total + " lines done.";
        }
        if (!run.running) { window.location.reload(); return; }
        setTimeout(poll, 1000);
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  setTimeout(poll, 500);
})();
