// The run form warns before a Kubernetes run without a volume: its outputs would go to the
// pod's emptyDir and be lost when the pod ends (the local cluster keeps them).
(function () {
  "use strict";
  var warning = document.getElementById("no-volume-warning");
  var form = warning && warning.closest("form");
  if (!form) return;
  var cluster = form.elements.cluster;
  var volume = form.elements.volume;
  var local = (cluster.dataset.local || "").split(",");
  function update() {
    warning.hidden = local.indexOf(cluster.value) !== -1 || (volume && volume.value.trim() !== "");
  }
  cluster.addEventListener("change", update);
  if (volume) volume.addEventListener("input", update);
  update();
})();
