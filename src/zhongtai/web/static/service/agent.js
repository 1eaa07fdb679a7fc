// The agent desk: keeps the queue and the open conversation live (polls the agent API every 3 s
// with the console session) and sends the agent's verbs with the session's CSRF header.
// No framework, no CDN. The server renders the page first; this renders what arrives later with
// the same markup (templates/service/agent_macros.html).
(function () {
  "use strict";

  var desk = document.getElementById("desk");
  if (!desk) {
    return;
  }
  var API = "/api/v1/service/agent";
  var POLL_MS = 3000;
  var selected = desk.getAttribute("data-selected") || "";
  var status = desk.getAttribute("data-status") || "";
  var afterSeq = parseInt(desk.getAttribute("data-after-seq") || "0", 10);
  var csrf = desk.getAttribute("data-csrf") || "";
  var me = parseInt(desk.getAttribute("data-me") || "0", 10) || null;
  var english = desk.getAttribute("data-locale") === "en";
  var labels = JSON.parse(desk.getAttribute("data-labels") || "{}");
  var channels = JSON.parse(desk.getAttribute("data-channels") || "{}");
  var clock = new Intl.DateTimeFormat(desk.getAttribute("data-locale") || "zh-CN", {
    timeZone: desk.getAttribute("data-tz") || "Asia/Shanghai",
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
  });
  var stamp = new Intl.DateTimeFormat(desk.getAttribute("data-locale") || "zh-CN", {
    timeZone: desk.getAttribute("data-tz") || "Asia/Shanghai",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hour12: false,
  });
  var thread = document.getElementById("thread");
  var queueBox = document.getElementById("queue");
  var errorBox = document.getElementById("desk-error");
  var replyText = document.getElementById("reply-text");

  // ------------------------------------------------------------------ helpers

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) {
      node.className = cls;
    }
    if (text !== undefined && text !== null && text !== "") {
      node.textContent = String(text);
    }
    return node;
  }

  function label(group, key) {
    var table = labels[group] || {};
    return table[key] || key || "";
  }

  function money(fen, currency) {
    var sign = fen < 0 ? "-" : "";
    var abs = Math.abs(fen);
    var whole = Math.floor(abs / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    var frac = ("0" + (abs % 100)).slice(-2);
    return sign + (currency && currency !== "CNY" ? currency + " " : "¥") + whole + "." + frac;
  }

  function waitText(seconds) {
    if (seconds >= 60) {
      return Math.floor(seconds / 60) + labels.minutes + (seconds % 60) + labels.seconds;
    }
    return seconds + labels.seconds;
  }

  function showError(text) {
    // The alert takes room from the desk: a conversation read to its end stays at its end.
    var pinned = thread && thread.scrollHeight - thread.scrollTop - thread.clientHeight < 8;
    errorBox.textContent = text;
    errorBox.hidden = !text;
    if (pinned) {
      thread.scrollTop = thread.scrollHeight;
    }
  }

  function api(method, path, body) {
    var headers = { Accept: "application/json" };
    if (method !== "GET") {
      headers["Content-Type"] = "application/json";
      headers["X-CSRF-Token"] = csrf;
    }
    return fetch(API + path, {
      method: method,
      credentials: "same-origin",
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (resp) {
      return resp.text().then(function (raw) {
        var data = raw ? JSON.parse(raw) : null;
        if (!resp.ok) {
          var err = new Error((data && (data.detail || data.title)) || "HTTP " + resp.status);
          err.status = resp.status;
          throw err;
        }
        return data;
      });
    });
  }

  // ------------------------------------------------------------------ rendering

  function labelOf(item) {
    if (item && typeof item === "object") {
      return item.label || item.text || item.title || "";
    }
    return String(item);
  }

  function when(value) {
    var date = new Date(value);
    return isNaN(date.getTime()) ? String(value || "").slice(0, 16).replace("T", " ") : stamp.format(date);
  }

  function payloadView(bubble, payload) {
    var order = payload.order;
    if (order && typeof order === "object" && order.number) {
      var head = bubble.appendChild(el("div", "b-order"));
      head.appendChild(el("span", "mono", order.number));
      head.appendChild(
        document.createTextNode(" · " + (order.status_text || order.status || "") + (order.total ? " · " + order.total : ""))
      );
    }
    (payload.cards || []).forEach(function (card, i) {
      if (!card || typeof card !== "object") {
        return;
      }
      var box = bubble.querySelector(".b-cards") || bubble.appendChild(el("div", "b-cards"));
      var row = box.appendChild(el("div", "b-card"));
      row.appendChild(el("b", "", card.name || card.title || card.sku || ""));
      if (typeof card.price_fen === "number") {
        row.appendChild(el("span", "b-price", money(card.price_fen, card.currency)));
      } else if (card.price) {
        row.appendChild(el("span", "b-price", card.price));
      }
      if (card.url) {
        var a = row.appendChild(el("a", "", card.sku || "↗"));
        a.href = card.url;
        a.target = "_blank";
        a.rel = "noopener";
      } else if (card.sku) {
        row.appendChild(el("span", "mono small", card.sku));
      }
      return i;
    });
    var links = (payload.links || []).filter(function (l) { return l && l.url; });
    if (links.length) {
      var lbox = bubble.appendChild(el("div", "b-links"));
      links.forEach(function (l) {
        var a = lbox.appendChild(el("a", "", l.title || l.url));
        a.href = l.url;
        a.target = "_blank";
        a.rel = "noopener";
      });
    }
    var steps = (payload.timeline || []).filter(function (s) { return s && typeof s === "object"; });
    if (steps.length) {
      var ol = bubble.appendChild(el("ol", "b-timeline"));
      steps.forEach(function (s) {
        var li = ol.appendChild(el("li"));
        li.appendChild(el("span", "b-t", when(s.at || s.time || "")));
        li.appendChild(document.createTextNode(" " + (s.text || s.label || s.message || s.status || "")));
      });
    }
    if ((payload.quick_replies || []).length) {
      var q = bubble.appendChild(el("div", "b-quick"));
      payload.quick_replies.forEach(function (item) { q.appendChild(el("span", "", labelOf(item))); });
    }
    if (payload.survey) {
      bubble.appendChild(el("div", "b-survey", "★★★★★ " + labels.survey));
    }
  }

  function bubble(m) {
    var payload = m.payload || {};
    var time = clock.format(new Date(m.created_at));
    var row;
    if (m.sender === "system") {
      row = el("div", "b-row b-system");
      var span = row.appendChild(el("span"));
      var text = m.text;
      if (!text && payload.event === "rating") {
        text = labels.rated + " " + "★".repeat(payload.score || 0) + (payload.comment ? " · " + payload.comment : "");
      } else if (!text && payload.event) {
        text = label("event", payload.event) + (payload.reason ? " · " + label("reason", payload.reason) : "");
      }
      span.appendChild(document.createTextNode(text || ""));
      span.appendChild(el("time", "", time));
    } else {
      row = el("div", "b-row b-" + m.sender);
      var who = label("sender", m.sender) + (m.sender === "agent" && payload.agent ? " · " + payload.agent : "");
      var head = row.appendChild(el("div", "b-who", who + " "));
      head.appendChild(el("time", "", time));
      var body = row.appendChild(el("div", "bubble"));
      if (m.text) {
        body.appendChild(el("div", "b-text", m.text));
      }
      payloadView(body, payload);
      if (m.sender === "customer" && (m.intent || m.outcome)) {
        var parts = [];
        if (m.intent) {
          parts.push(m.intent);
        }
        if (m.confidence !== null && m.confidence !== undefined) {
          parts.push(Math.round(m.confidence * 100) + "%");
        }
        if (m.outcome) {
          parts.push(label("outcome", m.outcome));
        }
        row.appendChild(el("div", "b-nlu", parts.join(" · ")));
      }
    }
    row.setAttribute("data-seq", String(m.seq));
    return row;
  }

  function queueItem(item) {
    var breach = item.sla_breached && item.status === "queued";
    var a = el("a", "q-item" + (item.public_id === selected ? " on" : "") + (breach ? " breach" : ""));
    a.href = "/service/agent?c=" + encodeURIComponent(item.public_id);
    a.setAttribute("data-id", item.public_id);
    var top = a.appendChild(el("div", "q-top"));
    top.appendChild(el("b", "", item.customer_name || labels.visitor));
    if (item.vip) {
      top.appendChild(el("span", "q-vip", labels.vip));
    }
    var wait = top.appendChild(el("span", "q-wait" + (breach ? " bad" : ""), waitText(item.wait_s)));
    wait.title = labels.sla_breached + " > " + item.sla_wait_s + labels.seconds;
    var meta = a.appendChild(el("div", "q-meta"));
    meta.appendChild(el("span", "q-chan", channels[item.channel_code] || item.channel_code));
    if (item.handoff_reason) {
      meta.appendChild(el("span", "q-reason", label("reason", item.handoff_reason)));
    }
    if (item.status === "agent" && item.assigned_to) {
      meta.appendChild(el("span", "q-who", labels["with"] + " " + item.assigned_to));
    }
    if (item.last_message) {
      a.appendChild(el("div", "q-last", item.last_message));
    }
    return a;
  }

  function group(title, items, always) {
    if (!items.length && !always) {
      return;
    }
    var head = queueBox.appendChild(el("div", "q-group", title + " "));
    head.appendChild(el("span", "", items.length));
    items.forEach(function (item) { queueBox.appendChild(queueItem(item)); });
    if (!items.length) {
      queueBox.appendChild(el("div", "q-empty", labels.empty_queue));
    }
  }

  function setCount(id, value, bad) {
    var node = document.getElementById(id);
    if (!node) {
      return;
    }
    node.querySelector("b").textContent = String(value);
    if (bad !== undefined) {
      node.classList.toggle("bad", bad);
    }
  }

  function renderQueue(data) {
    var items = data.items || [];
    queueBox.textContent = "";
    group(labels.waiting, items.filter(function (i) { return i.status === "queued"; }), true);
    group(labels.mine, items.filter(function (i) { return i.status === "agent" && i.assigned_user_id === me; }));
    group(labels.others, items.filter(function (i) { return i.status === "agent" && i.assigned_user_id !== me; }));
    setCount("count-queued", data.counts.queued || 0);
    setCount("count-breached", data.breached || 0, (data.breached || 0) > 0);
    setCount("count-agent", data.counts.agent || 0);
    setCount("count-bot", data.counts.bot || 0);
  }

  // A suggestion's text in pieces: the {placeholders} still to fill (``missing``) apart.
  function textParts(text, missing) {
    var parts = [];
    var rest = text;
    while (missing.length) {
      var at = -1;
      var name = "";
      missing.forEach(function (m) {
        var i = rest.indexOf("{" + m + "}");
        if (i >= 0 && (at < 0 || i < at)) {
          at = i;
          name = m;
        }
      });
      if (at < 0) {
        break;
      }
      if (at > 0) {
        parts.push({ text: rest.slice(0, at), slot: false });
      }
      parts.push({ text: "{" + name + "}", slot: true });
      rest = rest.slice(at + name.length + 2);
    }
    if (rest) {
      parts.push({ text: rest, slot: false });
    }
    return parts;
  }

  // The placeholders a reply still holds ({eta}): never sent as they are.
  var SLOT = /\{[a-z_]+\}/g;

  function unfilled(text) {
    return text.match(SLOT) || [];
  }

  function renderSuggestions(list) {
    var box = document.getElementById("suggestions");
    if (!box) {
      return;
    }
    box.textContent = "";
    if (!list.length) {
      box.appendChild(el("p", "muted small", labels.no_suggestions));
      return;
    }
    list.forEach(function (s) {
      var b = box.appendChild(el("button", "sugg"));
      b.type = "button";
      var missing = s.missing || [];
      b.setAttribute("data-text", s.text);
      b.setAttribute("data-missing", missing.join(","));
      if (missing.length) {
        b.classList.add("partial");
      }
      var head = b.appendChild(el("span", "sugg-head", s.kind === "product" ? s.sku_code : english && s.subintent_name_en ? s.subintent_name_en : s.subintent_name));
      if (s.confidence !== null && s.confidence !== undefined) {
        head.appendChild(el("em", "", Math.round(s.confidence * 100) + "%"));
      }
      var body = b.appendChild(el("span", "sugg-text"));
      textParts(s.text, missing).forEach(function (part) {
        body.appendChild(part.slot ? el("mark", "sugg-slot", part.text) : document.createTextNode(part.text));
      });
      if (missing.length) {
        b.appendChild(el("span", "sugg-miss", labels.missing + " " + missing.join(", ")));
      }
    });
  }

  // ------------------------------------------------------------------ polling

  function scrollDown() {
    if (thread) {
      thread.scrollTop = thread.scrollHeight;
    }
  }

  function pollQueue() {
    api("GET", "/queue")
      .then(renderQueue)
      .catch(function () { /* the next poll retries */ })
      .then(function () { window.setTimeout(pollQueue, POLL_MS); });
  }

  function refreshThread() {
    return api("GET", "/conversations/" + encodeURIComponent(selected) + "/messages?after_seq=" + afterSeq).then(
      function (data) {
        var customerSpoke = false;
        (data.messages || []).forEach(function (m) {
          if (m.seq <= afterSeq) {
            return;
          }
          thread.appendChild(bubble(m));
          afterSeq = m.seq;
          customerSpoke = customerSpoke || m.sender === "customer";
        });
        if ((data.messages || []).length) {
          scrollDown();
        }
        if (data.status !== status) {
          // Accepted elsewhere, closed, released: the actions and side panels change with it.
          window.location.reload();
          return;
        }
        if (customerSpoke && status !== "closed") {
          api("GET", "/conversations/" + encodeURIComponent(selected) + "/suggestions").then(renderSuggestions);
        }
      }
    );
  }

  function pollThread() {
    if (!selected || !thread || status === "closed") {
      return;
    }
    refreshThread()
      .catch(function () { /* the next poll retries */ })
      .then(function () { window.setTimeout(pollThread, POLL_MS); });
  }

  // ------------------------------------------------------------------ verbs

  function act(action) {
    var path = "/conversations/" + encodeURIComponent(selected) + "/" + action;
    var body = {};
    if (action === "transfer") {
      body = { user_id: parseInt(document.getElementById("transfer-to").value, 10) };
    }
    showError("");
    return api("POST", path, body)
      .then(function () {
        window.location.href = "/service/agent?c=" + encodeURIComponent(selected);
      })
      .catch(function (err) {
        showError((err.status === 409 ? labels.conflict + " " : labels.failed + " ") + err.message);
        if (err.status === 409) {
          window.setTimeout(function () { window.location.reload(); }, 2500);
        }
      });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-action]") : null;
    if (button) {
      var question = button.getAttribute("data-confirm");
      if (question && !window.confirm(question)) {
        return;
      }
      button.disabled = true;
      act(button.getAttribute("data-action")).then(function () { button.disabled = false; });
      return;
    }
    var sugg = event.target.closest ? event.target.closest(".sugg") : null;
    if (sugg && replyText) {
      var text = sugg.getAttribute("data-text") || "";
      replyText.value = text;
      replyText.focus();
      // An incomplete suggestion: its first placeholder is selected, typing replaces it.
      var first = text.search(SLOT);
      if (first >= 0) {
        replyText.setSelectionRange(first, first + unfilled(text)[0].length);
      }
    }
  });

  var form = document.getElementById("reply-form");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var text = replyText.value.trim();
      if (!text) {
        return;
      }
      var left = unfilled(text);
      if (left.length) {
        showError(labels.missing + " " + left.join(", "));
        var at = replyText.value.indexOf(left[0]);
        replyText.focus();
        replyText.setSelectionRange(at, at + left[0].length);
        return;
      }
      var send = document.getElementById("btn-send");
      send.disabled = true;
      showError("");
      api("POST", "/conversations/" + encodeURIComponent(selected) + "/messages", { text: text })
        .then(function () {
          replyText.value = "";
          return refreshThread();
        })
        .catch(function (err) { showError(labels.failed + " " + err.message); })
        .then(function () { send.disabled = false; });
    });
    replyText.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        form.requestSubmit();
      }
    });
  }

  scrollDown();
  window.setTimeout(pollQueue, POLL_MS);
  window.setTimeout(pollThread, POLL_MS);
})();
