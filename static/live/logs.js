// Live run logs: backlog then live lines over /ws/runs/<id>/logs/, resumed from the last cursor
// on reconnect, one colour per pod, follow/pause, a client-side filter, download of the full
// log. The badge says "live" or "reconnecting"; a missing heartbeat counts as a lost connection.
(function () {
  "use strict";
  var panel = document.querySelector("[data-log-ws]");
  if (!panel) return;
  var out = panel.querySelector(".log-lines");
  var stateEl = panel.querySelector(".live-state");
  var filterEl = panel.querySelector(".log-filter");
  var followEl = panel.querySelector(".log-follow");
  var countEl = panel.querySelector(".log-count");
  var MAX_SHOWN = 20000; // the page keeps the newest lines; the full log is a download away
  var CHUNK_LINES = 500;
  var DRAW_MS = 50;
  var lastCursor = null, socket = null, backoff = 500, lastMessage = 0, sinceAck = 0;
  var pending = [], scheduled = false, ownScrollTop = -1, shown = 0, lastDrawn = 0;
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

  function matches(row) {
    var q = filterEl.value.toLowerCase();
    return !q || row.textContent.toLowerCase().indexOf(q) !== -1;
  }

  function row(line) {
    var el = document.createElement("div");
    el.className = "log-line";
    el.dataset.cursor = line.cursor;
    var pod = document.createElement("span");
    pod.className = "log-pod";
    pod.textContent = line.pod;
    pod.style.color = colour(line.pod);
    var text = document.createElement("span");
    text.className = "log-text";
    text.textContent = line.text;
    el.appendChild(pod);
    el.appendChild(text);
    el.hidden = !matches(el);
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
        setState("live", "live");
      }
      if (msg.type === "heartbeat" && lastCursor !== null) {
        socket.send(JSON.stringify({ type: "ack", cursor: lastCursor }));
        sinceAck = 0;
      }
      if (msg.type === "gone") setState("run deleted", "closed");
      // A pod's log (the cluster explorer): why it stopped, and the end of a finished log.
      if (msg.type === "error") { lastError = msg.message; setState(msg.message, "closed"); }
      if (msg.type === "ended") setState("ended", "closed");
    };
    socket.onclose = function (event) {
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
    if (panel.dataset.state === "live" && Date.now() - lastMessage > 12000) {
      setState("reconnecting", "reconnecting");
      try { socket.close(); } catch (e) { /* reconnect follows from onclose */ }
    }
  }, 1000);

  filterEl.addEventListener("input", function () {
    out.querySelectorAll(".log-line").forEach(function (row) { row.hidden = !matches(row); });
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
  setState("connecting", "reconnecting");
  connect();
})();
