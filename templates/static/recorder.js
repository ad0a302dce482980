/* offhours recorder: records a video or audio answer in the browser with MediaRecorder.
 *
 * The server is the authority on time and takes: opening a timed question starts its clock there
 * (POST data-open-url returns the take with the server's times), and the upload (POST
 * data-upload-url, the raw recording as the body) is refused when it is late, too long, or a take
 * too many. This script shows those clocks, stops the recording at the limit, and lets the candidate
 * watch a take before saving it. In practice mode nothing leaves the browser.
 */
(function () {
  "use strict";
  var root = document.getElementById("recorder");
  if (!root) { return; }
  var d = root.dataset;
  var kind = d.kind === "audio" ? "audio" : "video";
  var practice = d.practice === "1";
  var limit = d.limit ? Number(d.limit) : null;
  var think = d.think ? Number(d.think) : null;
  var takesAllowed = d.takesAllowed ? Number(d.takesAllowed) : null;
  var takesUsed = Number(d.takesUsed || 0);
  var take = d.take ? JSON.parse(d.take) : null;
  var answered = d.answered === "1";
  var maxBytes = d.maxBytes ? Number(d.maxBytes) : null;

  function $(id) { return document.getElementById(id); }
  var statusEl = $("rec-status"), clockEl = $("rec-clock"), takesEl = $("rec-takes");
  var live = $("rec-live"), preview = $("rec-preview"), promptEl = $("prompt");
  var btnStart = $("rec-start"), btnNow = $("rec-now"), btnStop = $("rec-stop");
  var btnSave = $("rec-save"), btnAgain = $("rec-again"), nextLink = $("rec-next");

  var offsetMs = 0, stream = null, recorder = null, chunks = [], blob = null;
  var tick = null, stopTimer = null, thinkTimer = null, startedAt = 0, timeUp = false;

  function now() { return Date.now() + offsetMs; }
  function say(message, isError) {
    statusEl.textContent = message;
    statusEl.classList.toggle("error", !!isError);
    if (isError) { statusEl.focus(); }  // a keyboard or screen-reader user lands on what went wrong
  }
  function fmt(seconds) {
    var s = Math.max(0, Math.ceil(seconds));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }
  function show(element, visible) { if (element) { element.hidden = !visible; } }
  function only(visible) {
    [btnStart, btnNow, btnStop, btnSave, btnAgain].forEach(function (b) { show(b, visible.indexOf(b) >= 0); });
  }
  function takesLeft() { return takesAllowed === null ? Infinity : takesAllowed - takesUsed; }
  function showTakes() {
    if (!takesEl || practice) { return; }
    if (takesAllowed === null) { takesEl.textContent = "Takes used: " + takesUsed + " (no limit)"; }
    else { takesEl.textContent = "Takes used: " + takesUsed + " of " + takesAllowed; }
  }
  function clearTimers() {
    [tick, stopTimer, thinkTimer].forEach(function (t) { if (t) { clearInterval(t); clearTimeout(t); } });
    tick = stopTimer = thinkTimer = null;
  }
  function takeOpen() {
    if (!take || take.take === 0) { return false; }
    return !take.answer_ends_at || Date.parse(take.answer_ends_at) > now();
  }
  function applyTake(t) {
    take = t;
    offsetMs = Date.parse(t.server_now) - Date.now();
    takesUsed = Math.max(takesUsed, t.take);
    if (promptEl && t.prompt && promptEl.hidden) {
      promptEl.textContent = t.prompt;
      promptEl.hidden = false;
      say("The question: " + t.prompt);
    }
    show($("prompt-hint"), false);
    showTakes();
  }

  function request(method, url, body, contentType, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open(method, url);
      xhr.setRequestHeader("X-CSRF-Token", d.csrf);
      xhr.setRequestHeader("Accept", "application/json");
      if (contentType) { xhr.setRequestHeader("Content-Type", contentType); }
      if (onProgress && xhr.upload) {
        xhr.upload.onprogress = function (e) { if (e.lengthComputable) { onProgress(e.loaded / e.total); } };
      }
      xhr.onload = function () {
        var data = null;
        try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
        if (xhr.status >= 200 && xhr.status < 300) { resolve(data); }
        else { reject(new Error((data && data.detail) || ("the server answered " + xhr.status))); }
      };
      xhr.onerror = function () { reject(new Error("the connection failed; check your network and try again")); };
      xhr.send(body);
    });
  }

  function pickType() {
    var candidates = kind === "video"
      ? ["video/webm;codecs=vp8,opus", "video/webm", "video/mp4"]
      : ["audio/webm;codecs=opus", "audio/webm", "audio/ogg", "audio/mp4"];
    for (var i = 0; i < candidates.length; i++) {
      if (window.MediaRecorder && MediaRecorder.isTypeSupported(candidates[i])) { return candidates[i]; }
    }
    return "";
  }

  function getStream() {
    if (stream) { return Promise.resolve(stream); }
    if (!navigator.mediaDevices || !window.MediaRecorder) {
      return Promise.reject(new Error("this browser cannot record; use a recent Chrome, Edge, Firefox or Safari, or upload a file instead"));
    }
    var constraints = kind === "video" ? { video: { width: 640, height: 480 }, audio: true } : { audio: true };
    return navigator.mediaDevices.getUserMedia(constraints).then(function (s) {
      stream = s;
      if (live && kind === "video") { live.srcObject = s; show(live, true); live.play().catch(function () {}); }
      return s;
    }, function (error) {
      throw new Error("we could not use your " + (kind === "video" ? "camera and microphone" : "microphone") +
        " (" + error.name + "); allow access in your browser and try again");
    });
  }

  function openTake() {
    if (practice || takeOpen()) { return Promise.resolve(take); }
    return request("POST", d.openUrl, null, null).then(function (t) { applyTake(t); return t; });
  }

  function thinking() {
    var ends = take && take.think_ends_at ? Date.parse(take.think_ends_at) : (practice && think ? Date.now() + think * 1000 : null);
    if (!ends || ends <= now()) { return record(); }
    only([btnNow]);
    btnNow.focus();
    var update = function () {
      var left = (ends - now()) / 1000;
      clockEl.textContent = "Recording starts in " + fmt(left);
      if (left <= 0) { clearTimers(); record(); }
    };
    update();
    tick = setInterval(update, 250);
    return Promise.resolve();
  }

  function recordingSeconds() {
    var seconds = limit === null ? 3600 : limit;
    if (take && take.answer_ends_at) {
      seconds = Math.min(seconds, (Date.parse(take.answer_ends_at) - now()) / 1000);
    }
    return seconds;
  }

  function record() {
    clearTimers();
    var seconds = recordingSeconds();
    if (seconds <= 0) {
      releaseCamera();
      only(takesLeft() > 0 ? [btnStart] : []);
      say("The time for this take has run out." + (takesLeft() > 0 ? " You can start another take." : ""), true);
      return Promise.resolve();
    }
    return getStream().then(function (s) {
      chunks = [];
      blob = null;
      var type = pickType();
      recorder = type ? new MediaRecorder(s, { mimeType: type }) : new MediaRecorder(s);
      var recordedBytes = 0;
      recorder.ondataavailable = function (e) {
        if (!e.data || !e.data.size) { return; }
        chunks.push(e.data);
        recordedBytes += e.data.size;
        if (maxBytes && recordedBytes > maxBytes * 0.95) {  // stop before the upload would be refused
          timeUp = true;
          stop();
        }
      };
      recorder.onstop = recorded;
      recorder.start(1000);
      startedAt = Date.now();
      only([btnStop]);
      btnStop.focus();
      say("Recording. Press Stop when you have finished.");
      var showElapsed = function () {
        var elapsed = (Date.now() - startedAt) / 1000;
        clockEl.textContent = "Recording " + fmt(elapsed) + (limit === null ? "" : " of " + fmt(seconds));
      };
      showElapsed();
      tick = setInterval(showElapsed, 250);
      timeUp = false;
      stopTimer = setTimeout(function () { timeUp = true; stop(); }, seconds * 1000);
    });
  }

  function stop() {
    clearTimers();
    if (recorder && recorder.state !== "inactive") { recorder.stop(); }
  }

  function releaseCamera() {
    // The camera and microphone are on only while needed: their light goes off between takes.
    if (stream) { stream.getTracks().forEach(function (track) { track.stop(); }); }
    stream = null;
    if (live) { live.srcObject = null; show(live, false); }
  }

  function recorded() {
    releaseCamera();
    blob = new Blob(chunks, { type: recorder.mimeType || (kind + "/webm") });
    preview.src = URL.createObjectURL(blob);
    show(preview, true);
    clockEl.textContent = "Recorded " + fmt((Date.now() - startedAt) / 1000);
    if (practice) {
      only([btnAgain]);
      say("Watch your practice take below. Nothing was sent or stored.");
      btnAgain.focus();
      return;
    }
    var canRedo = takesLeft() > 0;
    only(canRedo ? [btnSave, btnAgain] : [btnSave]);
    say((timeUp ? "Time is up: the recording stopped. " : "") +
      "Check your take below, then save it" + (canRedo ? " or record again." : "."));
    btnSave.focus();
  }

  function save() {
    if (!blob) { return; }
    only([]);
    say("Uploading your answer…");
    var lastShown = 0;
    request("POST", d.uploadUrl, blob, blob.type, function (share) {
      var percent = Math.round(share * 100);
      if (percent - lastShown >= 25 || percent === 100) {  // a few updates, not a stream of them
        lastShown = percent;
        say("Uploading your answer… " + percent + "%");
      }
    }).then(function () {
      if (!answered) {  // the first saved take of this question: one more question answered
        var count = $("answered-count"), bar = $("answered-progress");
        if (count) { count.textContent = String(Number(count.textContent) + 1); }
        if (bar) { bar.value = bar.value + 1; }
      }
      answered = true;
      take = null;
      blob = null;
      showTakes();
      var again = takesLeft() > 0;
      only(again ? [btnAgain] : []);
      say("Saved. Your answer is stored" + (again ? "; you may still record it again." : "."));
      show(nextLink, true);
      if (nextLink) { nextLink.focus(); }
      document.dispatchEvent(new CustomEvent("offhours:saved", { detail: { question: d.question } }));
    }, function (error) {
      say("Not saved: " + error.message, true);
      only([btnSave]);
      btnSave.focus();
    });
  }

  function begin() {
    only([]);
    say("Starting…");
    getStream().then(openTake).then(thinking).catch(function (error) {
      releaseCamera();
      only(takesLeft() > 0 || practice ? [btnStart] : []);
      say(error.message, true);
    });
  }

  btnStart.addEventListener("click", begin);
  btnNow.addEventListener("click", function () { clearTimers(); record(); });
  btnStop.addEventListener("click", stop);
  btnSave.addEventListener("click", save);
  btnAgain.addEventListener("click", function () {
    show(preview, false);
    if (!practice && !takeOpen() && takesLeft() <= 0) { say("No takes are left for this question.", true); return; }
    begin();
  });

  // A take opened earlier (a reload, or another device) keeps its clock: continue where it stands.
  showTakes();
  if (take && !practice) {
    applyTake(take);
    only([btnStart]);
    say(take.think_ends_at && Date.parse(take.think_ends_at) > now()
      ? "Your thinking time is running. Press Start to turn on your " + (kind === "video" ? "camera" : "microphone") + "."
      : "This question is open. Press Start to record your answer.");
  } else if (!practice && takesLeft() <= 0) {
    only([]);
    say(answered ? "Your answer is saved; no takes are left." : "No takes are left for this question.");
  } else {
    only([btnStart]);
  }
})();
