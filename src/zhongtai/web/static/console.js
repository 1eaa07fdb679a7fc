// Zhongtai console: the little JavaScript the pages need. No framework, no CDN.
(function () {
  "use strict";

  // Forms that ask before they act (revoke a key, deactivate a user).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form && form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // A job page polls its job until it is done, then reloads to show the server-rendered report.
  var box = document.querySelector("[data-job-poll]");
  if (!box) {
    return;
  }
  var url = box.getAttribute("data-job-poll");
  var bar = box.querySelector(".progress");
  var fill = box.querySelector(".progress > span");
  var counts = box.querySelector("[data-job-counts]");
  var message = box.querySelector("[data-job-message]");
  var status = document.querySelector("[data-job-status]");
  var labels = JSON.parse(box.getAttribute("data-status-labels") || "{}");
  var delay = 800;

  function render(job) {
    var pct = job.total > 0 ? Math.min(100, Math.round((job.progress * 100) / job.total)) : 0;
    if (job.status === "succeeded") {
      pct = 100;
    }
    fill.style.width = pct + "%";
    bar.setAttribute("aria-valuenow", String(pct));
    counts.textContent = job.total > 0 ? job.progress + " / " + job.total + " (" + pct + "%)" : "";
    message.textContent = job.message || "";
    if (status) {
      status.className = "badge badge-" + job.status;
      status.textContent = labels[job.status] || job.status;
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (resp) {
        if (!resp.ok) {
          throw new Error("HTTP " + resp.status);
        }
        return resp.json();
      })
      .then(function (job) {
        render(job);
        if (job.status === "succeeded" || job.status === "failed") {
          window.setTimeout(function () { window.location.reload(); }, 500);
          return;
        }
        delay = Math.min(delay * 1.3, 4000);
        window.setTimeout(poll, delay);
      })
      .catch(function () {
        delay = Math.min(delay * 2, 10000);
        window.setTimeout(poll, delay);
      });
  }

  poll();
})();
