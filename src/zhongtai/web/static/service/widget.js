// Zhongtai chat widget (智能客服挂件). Embed on any page:
//
//   <script src="https://<zhongtai>/static/service/widget.js"
//           data-key="<chat_widget key>" data-channel="<channel code>" async></script>
//
// Optional: data-lang="en" (default: the page's language, else Chinese), data-scene="instant",
// data-title="…". Without data-key (Zhongtai's own preview page) it uses the console session and
// sends the page's CSRF token (data-csrf). It keeps the conversation id and its token in
// localStorage, so a reload continues the same conversation. No framework, no CDN, no cookies
// across origins.
(function () {
  "use strict";

  var script = document.currentScript || document.querySelector("script[src*='/service/widget.js']");
  if (!script || window.__ztChatWidget) {
    return;
  }
  window.__ztChatWidget = true;

  var BASE = new URL(script.src, window.location.href).origin;
  var API = BASE + "/api/v1/service/conversations";
  var KEY = script.getAttribute("data-key") || "";
  var CHANNEL = script.getAttribute("data-channel") || "";
  var CSRF = script.getAttribute("data-csrf") || "";
  var SCENE = script.getAttribute("data-scene") || "";
  var LANG = (script.getAttribute("data-lang") || document.documentElement.lang || "zh").toLowerCase().indexOf("en") === 0 ? "en" : "zh";
  var POLL_MS = 3000;
  var STORE = "zt-chat:" + BASE + ":" + CHANNEL;

  var TEXT = {
    zh: {
      launcher: "客服", title: "在线客服", bot: "智能助手", agent: "人工客服", queued: "正在为您转接人工客服…",
      closed: "会话已结束", human: "转人工", send: "发送", placeholder: "请输入您的问题，Enter 发送",
      offline: "网络连接中断，正在重连…", failed: "发送失败，请重试", close: "收起", survey: "请为本次服务打分",
      thanks: "感谢您的评价！", view: "查看", eta: "预计送达", newChat: "有新问题？直接输入即可开始新的咨询。",
      you: "我", typing: "正在输入",
    },
    en: {
      launcher: "Help", title: "Customer service", bot: "Assistant", agent: "Agent", queued: "Connecting you to an agent…",
      closed: "Conversation ended", human: "Agent", send: "Send", placeholder: "Type your question, Enter to send",
      offline: "Connection lost, reconnecting…", failed: "Not sent, please retry", close: "Minimise",
      survey: "How did we do?", thanks: "Thank you for your rating!", view: "View", eta: "Estimated delivery",
      newChat: "Anything else? Just type to start a new conversation.", you: "Me", typing: "typing",
    },
  }[LANG];

  // ------------------------------------------------------------------ state

  var state = load();
  var lastSeq = 0;
  var status = "";
  var rated = false;
  var pending = [];
  var polling = null;
  var backoff = POLL_MS;

  function load() {
    try {
      return JSON.parse(window.localStorage.getItem(STORE) || "{}");
    } catch (e) {
      return {};
    }
  }

  function save() {
    try {
      window.localStorage.setItem(STORE, JSON.stringify(state));
    } catch (e) {
      /* private mode: the conversation lasts as long as the page */
    }
  }

  function randomId() {
    var bytes = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  if (!state.visitor) {
    state.visitor = "v-" + randomId();
    save();
  }

  // ------------------------------------------------------------------ the API

  function request(method, path, body) {
    var headers = { Accept: "application/json" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
    }
    if (KEY) {
      headers.Authorization = "Bearer " + KEY;
    } else if (CSRF && method !== "GET") {
      headers["X-CSRF-Token"] = CSRF;
    }
    if (state.token) {
      headers["X-Conversation-Token"] = state.token;
    }
    return fetch(API + path, {
      method: method,
      headers: headers,
      credentials: KEY ? "omit" : "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (resp) {
      return resp.text().then(function (raw) {
        var data = null;
        try {
          data = raw ? JSON.parse(raw) : null;
        } catch (e) {
          data = null;
        }
        if (!resp.ok) {
          var err = new Error((data && (data.detail || data.title)) || "HTTP " + resp.status);
          err.status = resp.status;
          err.code = data && data.code;
          throw err;
        }
        online();
        return data;
      });
    }, function (err) {
      offline();
      throw err;
    });
  }

  function start() {
    var body = { channel_code: CHANNEL, customer_ref: state.visitor };
    if (SCENE) {
      body.scene = SCENE;
    }
    return request("POST", "", body).then(function (started) {
      if (started.token) {
        state.token = started.token;
      }
      state.id = started.public_id;
      save();
      status = started.status;
      lastSeq = 0;
      rated = false;
      render(started.messages || []);
      setStatus(status);
    });
  }

  function ensureConversation() {
    if (state.id && status && status !== "closed") {
      return Promise.resolve();
    }
    if (state.id && !status) {
      return refresh().then(function () {
        return status === "closed" ? start() : undefined;
      }, function (err) {
        if (err.status === 404) {
          state.id = null;
          state.token = null;
          save();
          return start();
        }
        throw err;
      });
    }
    return start();
  }

  function refresh() {
    return request("GET", "/" + encodeURIComponent(state.id)).then(function (conv) {
      rated = rated || (conv.satisfaction !== null && conv.satisfaction !== undefined);
      render(conv.messages || []);
      setStatus(conv.status);
      return conv;
    });
  }

  // ------------------------------------------------------------------ the panel

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

  var css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = BASE + "/static/service/widget.css";
  document.head.appendChild(css);

  var root = el("div", "ztw");
  root.setAttribute("lang", LANG === "en" ? "en" : "zh-CN");
  var launcher = root.appendChild(el("button", "ztw-launcher"));
  launcher.type = "button";
  launcher.innerHTML = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 5h16v11H9l-5 4z"/></svg>';
  launcher.appendChild(el("span", "", TEXT.launcher));
  var badge = launcher.appendChild(el("i", "ztw-dot"));
  badge.hidden = true;

  var panel = root.appendChild(el("section", "ztw-panel"));
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", script.getAttribute("data-title") || TEXT.title);
  panel.hidden = true;
  var head = panel.appendChild(el("header", "ztw-head"));
  var titles = head.appendChild(el("div", "ztw-titles"));
  titles.appendChild(el("b", "", script.getAttribute("data-title") || TEXT.title));
  var statusLine = titles.appendChild(el("small", "", TEXT.bot));
  var human = head.appendChild(el("button", "ztw-human", TEXT.human));
  human.type = "button";
  var minimise = head.appendChild(el("button", "ztw-min", "×"));
  minimise.type = "button";
  minimise.setAttribute("aria-label", TEXT.close);
  var banner = panel.appendChild(el("div", "ztw-banner", TEXT.offline));
  banner.hidden = true;
  var log = panel.appendChild(el("div", "ztw-log"));
  log.setAttribute("aria-live", "polite");
  var typing = panel.appendChild(el("div", "ztw-typing"));
  typing.setAttribute("aria-label", TEXT.typing);
  typing.innerHTML = "<span></span><span></span><span></span>";
  typing.hidden = true;
  var form = panel.appendChild(el("form", "ztw-form"));
  var input = form.appendChild(el("textarea"));
  input.rows = 1;
  input.maxLength = 1000;
  input.placeholder = TEXT.placeholder;
  var sendButton = form.appendChild(el("button", "ztw-send", TEXT.send));
  sendButton.type = "submit";

  function mount() {
    document.body.appendChild(root);
  }
  if (document.body) {
    mount();
  } else {
    document.addEventListener("DOMContentLoaded", mount);
  }

  function setStatus(next) {
    status = next;
    statusLine.textContent = next === "queued" ? TEXT.queued : next === "agent" ? TEXT.agent : next === "closed" ? TEXT.closed : TEXT.bot;
    panel.setAttribute("data-status", next || "");
    human.hidden = next !== "bot";
    schedulePoll();
  }

  function online() {
    banner.hidden = true;
    backoff = POLL_MS;
  }

  function offline() {
    banner.hidden = false;
  }

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  // ------------------------------------------------------------------ messages

  function money(fen, currency) {
    var whole = Math.floor(Math.abs(fen) / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (fen < 0 ? "-" : "") + (currency && currency !== "CNY" ? currency + " " : "¥") + whole + "." + ("0" + (Math.abs(fen) % 100)).slice(-2);
  }

  function labelOf(item) {
    return item && typeof item === "object" ? item.label || item.text || item.title || "" : String(item);
  }

  function card(c) {
    var box = el(c.url ? "a" : "div", "ztw-card");
    if (c.url) {
      box.href = c.url;
      box.target = "_blank";
      box.rel = "noopener";
    }
    var pic = box.appendChild(el("span", "ztw-pic", (c.name || c.sku || "?").slice(0, 1)));
    pic.setAttribute("aria-hidden", "true");
    var info = box.appendChild(el("span", "ztw-info"));
    info.appendChild(el("b", "", c.name || c.title || c.sku || ""));
    var price = info.appendChild(el("span", "ztw-price"));
    if (typeof c.price_fen === "number") {
      price.appendChild(el("em", "", money(c.price_fen, c.currency)));
    } else if (c.price) {
      price.appendChild(el("em", "", c.price));
    }
    if (c.list_price) {
      price.appendChild(el("s", "", c.list_price));
    }
    var points = c.points || c.selling_points || [];
    if (points.length) {
      info.appendChild(el("small", "", [].concat(points).slice(0, 2).join(" · ")));
    }
    if (c.url) {
      info.appendChild(el("u", "", TEXT.view + " ›"));
    }
    return box;
  }

  function when(value) {
    var date = new Date(value);
    if (isNaN(date.getTime())) {
      return String(value || "").slice(0, 16).replace("T", " ");
    }
    return date.toLocaleString(LANG === "en" ? "en" : "zh-CN", {
      month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false,
    });
  }

  function orderCard(order) {
    var box = el("div", "ztw-order");
    var top = box.appendChild(el("div", "ztw-order-top"));
    top.appendChild(el("b", "", order.number));
    top.appendChild(el("span", "", order.status_text || order.status || ""));
    (order.lines || []).slice(0, 3).forEach(function (line) {
      box.appendChild(el("small", "", (line.name || line.sku) + " × " + line.quantity));
    });
    if (order.total) {
      box.appendChild(el("em", "", order.total));
    }
    return box;
  }

  function timeline(data) {
    var steps = Array.isArray(data) ? data : data.steps || data.events || [];
    var box = el("div", "ztw-timeline");
    if (!Array.isArray(data) && (data.title || data.order_number)) {
      box.appendChild(el("b", "", data.title || data.order_number));
    }
    var list = box.appendChild(el("ol"));
    steps.forEach(function (s, i) {
      if (!s || typeof s !== "object") {
        return;
      }
      var li = list.appendChild(el("li", i === steps.length - 1 ? "now" : ""));
      li.appendChild(el("span", "", s.text || s.label || s.message || s.status || ""));
      var at = s.at || s.time;
      if (at) {
        li.appendChild(el("time", "", when(at)));
      }
    });
    if (!Array.isArray(data) && data.eta) {
      box.appendChild(el("small", "ztw-eta", TEXT.eta + " " + when(data.eta)));
    }
    return box;
  }

  function survey() {
    var box = el("div", "ztw-survey");
    box.appendChild(el("span", "", TEXT.survey));
    var stars = box.appendChild(el("span", "ztw-stars"));
    [1, 2, 3, 4, 5].forEach(function (score) {
      var star = stars.appendChild(el("button", "", "★"));
      star.type = "button";
      star.setAttribute("aria-label", String(score));
      star.addEventListener("mouseenter", function () { light(stars, score); });
      star.addEventListener("click", function () { rate(score, box); });
    });
    stars.addEventListener("mouseleave", function () { light(stars, 0); });
    return box;
  }

  function light(stars, score) {
    Array.prototype.forEach.call(stars.children, function (s, i) { s.classList.toggle("on", i < score); });
  }

  function rate(score, box) {
    request("POST", "/" + encodeURIComponent(state.id) + "/rating", { score: score }).then(function () {
      rated = true;
      box.textContent = "";
      box.appendChild(el("span", "ztw-thanks", "★".repeat(score) + " " + TEXT.thanks));
      log.appendChild(el("div", "ztw-note", TEXT.newChat));
      scrollDown();
    }, function () {
      box.appendChild(el("small", "ztw-error", TEXT.failed));
    });
  }

  function bubble(m) {
    var payload = m.payload || {};
    if (m.sender === "system") {
      if (!m.text) {
        return null; // hand-off and rating bookkeeping: nothing for the customer to read
      }
      return el("div", "ztw-note", m.text);
    }
    var row = el("div", "ztw-row ztw-" + m.sender);
    if (m.sender !== "customer") {
      row.appendChild(el("span", "ztw-who", m.sender === "agent" ? TEXT.agent + (payload.agent ? " · " + payload.agent : "") : TEXT.bot));
    }
    var b = row.appendChild(el("div", "ztw-bubble"));
    if (m.text) {
      b.appendChild(el("p", "", m.text));
    }
    (payload.cards || []).forEach(function (c) {
      if (c && typeof c === "object") {
        b.appendChild(card(c));
      }
    });
    (payload.links || []).forEach(function (l) {
      if (l && l.url) {
        var a = b.appendChild(el("a", "ztw-link", l.title || l.url));
        a.href = l.url;
        a.target = "_blank";
        a.rel = "noopener";
      }
    });
    if (payload.order && payload.order.number) {
      b.appendChild(orderCard(payload.order));
    }
    if (payload.timeline) {
      b.appendChild(timeline(payload.timeline));
    }
    if ((payload.quick_replies || []).length) {
      var quick = row.appendChild(el("div", "ztw-quick"));
      payload.quick_replies.forEach(function (item) {
        var q = quick.appendChild(el("button", "", labelOf(item)));
        q.type = "button";
        q.addEventListener("click", function () {
          send(item && typeof item === "object" ? item.text || item.value || item.label : String(item));
        });
      });
    }
    if (payload.survey && !rated) {
      row.appendChild(survey());
    }
    return row;
  }

  function render(messages) {
    messages.forEach(function (m) {
      if (m.seq <= lastSeq) {
        return;
      }
      lastSeq = m.seq;
      if (m.sender === "customer") {
        var i = pending.indexOf(m.text);
        if (i >= 0) {
          pending.splice(i, 1); // shown already, when it was sent
          return;
        }
      }
      var node = bubble(m);
      if (node) {
        log.appendChild(node);
        if (panel.hidden && m.sender !== "customer") {
          badge.hidden = false;
        }
      }
    });
    scrollDown();
  }

  function showOwn(text) {
    var row = el("div", "ztw-row ztw-customer");
    row.appendChild(el("div", "ztw-bubble")).appendChild(el("p", "", text));
    log.appendChild(row);
    scrollDown();
    return row;
  }

  function send(text) {
    text = (text || "").trim();
    if (!text) {
      return;
    }
    var row = showOwn(text);
    pending.push(text);
    typing.hidden = false;
    scrollDown();
    var messageId = "w-" + randomId();
    var attempt = function () {
      return request("POST", "/" + encodeURIComponent(state.id) + "/messages", { text: text, client_message_id: messageId });
    };
    ensureConversation()
      .then(attempt)
      .catch(function (err) {
        if (err.status === 409 || err.status === 404) {
          // Closed (or forgotten) meanwhile: a new conversation takes the question.
          state.id = null;
          save();
          status = "";
          return start().then(attempt);
        }
        if (!err.status) {
          // Offline: one retry after the connection comes back (same message id: answered once).
          return new Promise(function (resolve) { window.setTimeout(resolve, 2000); }).then(attempt);
        }
        throw err;
      })
      .then(function (replies) {
        render(replies.messages || []);
        setStatus(replies.status);
      })
      .catch(function () {
        var i = pending.indexOf(text);
        if (i >= 0) {
          pending.splice(i, 1);
        }
        row.classList.add("ztw-failed");
        row.appendChild(el("small", "ztw-error", TEXT.failed));
        input.value = input.value || text;
      })
      .then(function () {
        typing.hidden = true;
        scrollDown();
      });
  }

  // ------------------------------------------------------------------ polling while a person answers

  function schedulePoll() {
    window.clearTimeout(polling);
    if (panel.hidden || !state.id || (status !== "queued" && status !== "agent")) {
      return;
    }
    polling = window.setTimeout(function () {
      refresh().then(schedulePoll, function () {
        backoff = Math.min(backoff * 2, 30000);
        polling = window.setTimeout(schedulePoll, backoff);
      });
    }, backoff);
  }

  // ------------------------------------------------------------------ events

  var opened = false;
  launcher.addEventListener("click", function () {
    panel.hidden = !panel.hidden;
    root.classList.toggle("open", !panel.hidden);
    badge.hidden = true;
    if (!panel.hidden) {
      input.focus();
      if (!opened) {
        opened = true;
        ensureConversation().catch(function () { offline(); });
      } else {
        schedulePoll();
      }
    }
  });
  minimise.addEventListener("click", function () {
    panel.hidden = true;
    root.classList.remove("open");
  });
  human.addEventListener("click", function () { send("转人工"); });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    input.value = "";
    send(text);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit ? form.requestSubmit() : sendButton.click();
    }
  });
  window.addEventListener("online", function () {
    online();
    schedulePoll();
  });
})();
