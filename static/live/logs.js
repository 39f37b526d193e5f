// The run's one log view: backlog then live lines over /ws/runs/<id>/logs/, resumed from the
// last cursor on reconnect, one colour per pod, follow/pause, and a search over every stored
// line on the server (htmx swaps its hits into #run-log, in place of the live lines until
// cleared). Pipeline events read as short lines; a click shows the raw line. The badge says
// "live", "reconnecting", or "ended · <state>" once the run is over and every line is here: then
// nothing reconnects. State changes also refresh the rest of the page (#run-status) at once.
(function () {
  "use strict";
  var panel = document.querySelector("[data-log-ws]");
  if (!panel) return;
  var out = panel.querySelector(".log-lines");
  var results = panel.querySelector(".log-results");
  var stateEl = panel.querySelector(".live-state");
  var searchForm = panel.querySelector(".log-search");
  var searchEl = panel.querySelector(".log-filter");
  var clearEl = panel.querySelector(".log-search-clear");
  var followEl = panel.querySelector(".log-follow");
  var countEl = panel.querySelector(".log-count");
  var MAX_SHOWN = 20000; // the page keeps the newest lines; the full log is a download away
  var CHUNK_LINES = 500;
  var DRAW_MS = 50;
  var lastCursor = null, socket = null, backoff = 500, lastMessage = 0, sinceAck = 0;
  var pending = [], scheduled = false, ownScrollTop = -1, shown = 0, lastDrawn = 0;
  var ended = false;
  var colours = {}, lastError = "";

  function colour(pod) {
    if (!(pod in colours)) {
      var hash = 0;
      for (var i = 0; i < pod.length; i++) hash = (hash * 31 + pod.charCodeAt(i)) >>> 0;
      colours[pod] = "hsl(" + (hash % 360) + ", 65%, 40%)";
    }
    return colours[pod];
  }

  function setState(text, cls) {
    stateEl.textContent = text;
    stateEl.className = "badge live-state " + cls;
    panel.dataset.state = cls;
  }

  function refreshStatus() {
    var status = document.getElementById("run-status");
    if (status && window.htmx && status.getAttribute("hx-get")) window.htmx.trigger(status, "run-changed");
  }

  function row(line) {
    var el = document.createElement("div");
    el.className = "log-line";
    el.dataset.cursor = line.cursor;
    var pod = document.createElement("span");
    pod.className = "log-pod";
    pod.textContent = line.pod;
    pod.title = line.pod;
    pod.style.color = colour(line.pod);
    var text = document.createElement("span");
    text.className = "log-text";
    if (line.summary) {
      el.className += " log-event";
      var summary = document.createElement("span");
      summary.className = "log-summary";
      summary.title = "Show the raw line";
      summary.textContent = line.summary;
      var raw = document.createElement("code");
      raw.className = "log-raw";
      raw.hidden = true;
      raw.textContent = line.text;
      text.appendChild(summary);
      text.appendChild(raw);
    } else {
      text.textContent = line.text;
    }
    el.appendChild(pod);
    el.appendChild(text);
    return el;
  }

  // All lines that arrived since the last drawing are drawn together, into blocks of up to
  // CHUNK_LINES rows with layout containment: the browser lays out the block that grew, not
  // every row shown, and old lines leave a whole block at a time.
  function render() {
    scheduled = false;
    lastDrawn = Date.now();
    var batch = pending.length > MAX_SHOWN ? pending.slice(pending.length - MAX_SHOWN) : pending;
    pending = [];
    var i = 0;
    while (i < batch.length) {
      var chunk = out.lastElementChild;
      if (!chunk || chunk.childElementCount >= CHUNK_LINES) {
        chunk = document.createElement("div");
        chunk.className = "log-chunk";
        out.appendChild(chunk);
      }
      var end = Math.min(batch.length, i + CHUNK_LINES - chunk.childElementCount);
      var fragment = document.createDocumentFragment();
      for (; i < end; i++) fragment.appendChild(row(batch[i]));
      chunk.appendChild(fragment);
    }
    shown += batch.length;
    while (out.firstElementChild && shown - out.firstElementChild.childElementCount >= MAX_SHOWN) {
      shown -= out.firstElementChild.childElementCount;
      out.removeChild(out.firstElementChild);
    }
    countEl.textContent = String(lastCursor);
    if (followEl.checked) scrollToEnd();
  }

  function add(line) {
    pending.push(line);
    // A hidden tab draws nothing: keep only what the page would show.
    if (pending.length > 2 * MAX_SHOWN) pending = pending.slice(pending.length - MAX_SHOWN);
    if (!scheduled) {
      // At most one drawing per DRAW_MS: a busy log costs a third of the CPU of drawing every
      // frame, and a line after a quiet spell is drawn at the next frame.
      scheduled = true;
      var wait = Math.max(0, lastDrawn + DRAW_MS - Date.now());
      setTimeout(function () { requestAnimationFrame(render); }, wait);
    }
  }

  function scrollToEnd() {
    out.scrollTop = out.scrollHeight;
    ownScrollTop = out.scrollTop;
  }

  function connect() {
    var path = panel.dataset.logWs + (lastCursor === null ? "?tail=1000" : "?after=" + lastCursor);
    socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + path, ["controlpanel"]);
    socket.onopen = function () { backoff = 500; lastMessage = Date.now(); lastError = ""; };
    socket.onmessage = function (event) {
      lastMessage = Date.now();
      var msg = JSON.parse(event.data);
      if (msg.type === undefined) {
        if (lastCursor !== null && msg.cursor <= lastCursor) return;
        add(msg);
        lastCursor = msg.cursor;
        if (++sinceAck >= 200) { sinceAck = 0; socket.send(JSON.stringify({ type: "ack", cursor: lastCursor })); }
        return;
      }
      if (msg.type === "live") {
        if (lastCursor === null) lastCursor = msg.cursor;
        countEl.textContent = String(lastCursor);
        setState("live", "live");
      }
      if (msg.type === "heartbeat" && lastCursor !== null) {
        socket.send(JSON.stringify({ type: "ack", cursor: lastCursor }));
        sinceAck = 0;
      }
      if (msg.type === "run.state") refreshStatus();
      if (msg.type === "ended") {
        ended = true;
        if (pending.length) render();  // "ended" promises every line is on the page
        if (msg.state) {
          // A run: over, with every stored line here.
          panel.dataset.runState = msg.state;
          setState("ended · " + msg.state, "ended");
          refreshStatus();
          socket.close(1000);
        } else {
          setState("ended", "closed");  // a pod's log (the cluster explorer) has ended
        }
      }
      if (msg.type === "gone") setState("run deleted", "closed");
      // A pod's log (the cluster explorer): why it stopped.
      if (msg.type === "error") { lastError = msg.message; setState(msg.message, "closed"); }
    };
    socket.onclose = function (event) {
      if (ended) return;
      if (event.code === 4401 || event.code === 4403 || event.code === 4404) {
        setState(lastError || (event.code === 4404 ? "run deleted" : "not allowed"), "closed");
        return;
      }
      setState(lastError ? "reconnecting (" + lastError + ")" : "reconnecting", "reconnecting");
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
  }

  setInterval(function () {
    // The server sends a heartbeat every 5 s: silence means the connection is dead.
    if (!ended && panel.dataset.state === "live" && Date.now() - lastMessage > 12000) {
      setState("reconnecting", "reconnecting");
      try { socket.close(); } catch (e) { /* reconnect follows from onclose */ }
    }
  }, 1000);

  // -- search: hits from the server replace the live lines until cleared ---------------------
  // (a run's log; a pod's log in the cluster explorer is not stored, so it has no search)
  if (searchForm && results && clearEl) {
    function showLive() {
      results.hidden = true;
      results.innerHTML = "";
      out.hidden = false;
      clearEl.hidden = true;
      panel.classList.remove("searching");
      if (followEl.checked) scrollToEnd();
    }
    function searching() {
      return searchEl.value.trim() !== "" || searchForm.elements.pod.value !== "";
    }
    document.body.addEventListener("htmx:beforeRequest", function (event) {
      if (event.detail.target === results && !searching()) {
        event.preventDefault(); // an emptied search box goes back to the live lines
        showLive();
      }
    });
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (event.detail.target !== results) return;
      if (!searching()) { showLive(); return; }
      results.hidden = false;
      out.hidden = true;
      clearEl.hidden = false;
      panel.classList.add("searching");
    });
    clearEl.addEventListener("click", function () {
      searchEl.value = "";
      searchForm.elements.pod.value = "";
      showLive();
    });
  }

  panel.addEventListener("click", function (event) {
    var summary = event.target.closest && event.target.closest(".log-summary");
    if (!summary) return;
    var raw = summary.nextElementSibling;
    raw.hidden = !raw.hidden;
    summary.classList.toggle("open", !raw.hidden);
  });
  out.addEventListener("scroll", function () {
    // Scrolling up pauses following; scrolling back to the bottom resumes it. The page's own
    // scrolls (following) are not the user's: lines may have arrived since, so ignore them.
    if (out.scrollTop + out.clientHeight >= out.scrollHeight - 4) followEl.checked = true;
    else if (Math.abs(out.scrollTop - ownScrollTop) > 1) followEl.checked = false;
  });
  followEl.addEventListener("change", function () {
    if (followEl.checked) scrollToEnd();
  });
  if (results && !results.hidden) { // opened with ?q=: the server drew the hits
    out.hidden = true;
    clearEl.hidden = false;
    panel.classList.add("searching");
  }
  setState("connecting", "reconnecting");
  connect();
})();
