// Live camera frames: one websocket per <figure data-camera-ws>, binary messages of
// [uint64 seq][uint64 capture ms][JPEG]. Measures fps, drops and latency itself, acks each
// shown frame (the server never sends more than two unacknowledged) and reconnects with backoff.
(function () {
  "use strict";

  function wsUrl(path) {
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
  }

  function watch(figure) {
    var img = figure.querySelector("img.frame");
    var stateEl = figure.querySelector(".live-state");
    var fpsEl = figure.querySelector(".fps");
    var latencyEl = figure.querySelector(".latency");
    var dropsEl = figure.querySelector(".drops");
    var snapshot = figure.querySelector(".snapshot");
    var errorEl = figure.querySelector(".camera-error");
    var shown = [], latencies = [], lastSeq = null, drops = 0, lastBlob = null, url = null;
    var backoff = 500, socket = null, lastMessage = 0;

    function setState(text, cls) {
      stateEl.textContent = text;
      stateEl.className = "badge live-state " + cls;
      figure.dataset.state = cls;
    }

    function connect() {
      setState("connecting", "reconnecting");
      socket = new WebSocket(wsUrl(figure.dataset.cameraWs), ["controlpanel"]);
      socket.binaryType = "arraybuffer";
      socket.onopen = function () { backoff = 500; lastMessage = Date.now(); };
      socket.onmessage = function (event) {
        lastMessage = Date.now();
        if (typeof event.data === "string") {
          var msg = JSON.parse(event.data);
          if (msg.type === "status" && msg.status !== "live") {
            setState(msg.status, "reconnecting");
            // Say why, instead of a broken picture and "reconnecting" for ever.
            if (errorEl && msg.detail) { errorEl.textContent = msg.detail; errorEl.hidden = false; }
            if (msg.detail) img.removeAttribute("src");
          }
          return;
        }
        var view = new DataView(event.data);
        var seq = Number(view.getBigUint64(0));
        var captured = Number(view.getBigUint64(8));
        if (lastSeq !== null && seq > lastSeq + 1) drops += seq - lastSeq - 1;
        lastSeq = seq;
        lastBlob = new Blob([new Uint8Array(event.data, 16)], { type: "image/jpeg" });
        var next = URL.createObjectURL(lastBlob);
        img.onload = function () {
          if (url) URL.revokeObjectURL(url);
          url = next;
          var now = Date.now();
          shown.push(now);
          latencies.push(now - captured);
          if (latencies.length > 100) latencies.shift();
          img.dataset.captured = String(captured);
          img.dataset.seq = String(seq);
          socket.send(JSON.stringify({ type: "ack", seq: seq }));
        };
        img.src = next;
        setState("live", "live");
        if (errorEl) errorEl.hidden = true;
      };
      socket.onclose = function (event) {
        if (event.code === 4401 || event.code === 4403 || event.code === 4404) {
          setState(event.code === 4404 ? "gone" : "not allowed", "closed");
          return;
        }
        setState("reconnecting", "reconnecting");
        setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 10000);
      };
    }

    setInterval(function () {
      var now = Date.now();
      while (shown.length && shown[0] < now - 2000) shown.shift();
      fpsEl.textContent = (shown.length / 2).toFixed(1);
      if (latencies.length) {
        var sorted = latencies.slice().sort(function (a, b) { return a - b; });
        latencyEl.textContent = sorted[Math.floor(sorted.length / 2)] + " ms";
      }
      if (dropsEl) dropsEl.textContent = String(drops);
      // No frame for a while: say so instead of showing a frozen picture as live.
      if (figure.dataset.state === "live" && now - lastMessage > 3000) setState("stalled", "reconnecting");
    }, 500);

    if (snapshot) {
      snapshot.addEventListener("click", function () {
        if (!lastBlob) return;
        var a = document.createElement("a");
        a.href = URL.createObjectURL(lastBlob);
        a.download = (figure.dataset.cameraName || "camera") + "-" + (lastSeq || 0) + ".jpg";
        a.click();
      });
    }
    connect();
  }

  document.querySelectorAll("[data-camera-ws]").forEach(watch);
})();
