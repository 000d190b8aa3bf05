/*
 * shiplog widget (W2): a "What's new" button with an unread badge and a panel
 * listing the latest published changelog entries of one feed.
 *
 *   <script src="https://shiplog.example/widget.js" data-feed="acme" async></script>
 *
 * It reads /feed/<data-feed>.json from the origin it was loaded from, renders
 * inside a Shadow DOM with a constructed stylesheet (no inline style; no
 * HTML is ever parsed: feed text only goes through textContent), so it works
 * under a host page CSP that allows just this origin in script-src and
 * connect-src. No cookies: what was last seen is kept in localStorage.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src || typeof fetch !== "function" || !window.CSSStyleSheet) return;
  var slug = script.getAttribute("data-feed") || "";
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(slug)) return;
  var origin = new URL(script.src).origin;
  var seenKey = "shiplog:" + origin + ":" + slug + ":seen";

  var CSS =
    ":host{all:initial;font:14px/1.4 system-ui,sans-serif;color:#1d1d1f}" +
    "button{font:inherit;cursor:pointer;border:1px solid #c7c7cc;border-radius:6px;" +
    "background:#fff;padding:4px 10px;color:inherit}" +
    "button:focus-visible{outline:2px solid #0a66c2;outline-offset:2px}" +
    ".badge{display:inline-block;min-width:1.2em;margin-left:6px;padding:0 5px;border-radius:9px;" +
    "background:#d70015;color:#fff;font-size:12px;text-align:center}" +
    ".badge[hidden],.panel[hidden]{display:none}" +
    ".panel{margin-top:6px;max-width:420px;max-height:420px;overflow:auto;border:1px solid #c7c7cc;" +
    "border-radius:8px;background:#fff;padding:4px 12px}" +
    "ol{list-style:none;margin:0;padding:0}li{padding:8px 0;border-bottom:1px solid #eee}" +
    "li:last-child{border-bottom:0}.cat{font-size:11px;text-transform:uppercase;color:#6e6e73}" +
    "h3{font-size:14px;margin:2px 0}p{margin:2px 0;white-space:pre-line}" +
    "time{font-size:12px;color:#6e6e73}";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    return e;
  }
  function when(item) {
    var t = Date.parse(item && item.date_published);
    return isNaN(t) ? 0 : t;
  }
  function seen() {
    try { return Number(localStorage.getItem(seenKey)) || 0; } catch (e) { return 0; }
  }
  function markSeen(t) {
    try { localStorage.setItem(seenKey, String(t)); } catch (e) { /* storage refused */ }
  }

  var host = el("div");
  host.setAttribute("data-shiplog-widget", slug);
  var parent = script.parentNode;
  if (parent && parent !== document.head) parent.insertBefore(host, script.nextSibling);
  else if (document.body) document.body.appendChild(host);
  else document.addEventListener("DOMContentLoaded", function () { document.body.appendChild(host); });
  var root = host.attachShadow({ mode: "open" });
  var sheet = new CSSStyleSheet();
  sheet.replaceSync(CSS);
  root.adoptedStyleSheets = [sheet];

  var button = el("button", "open", "What\u2019s new");
  button.type = "button";
  button.setAttribute("aria-expanded", "false");
  var badge = el("span", "badge");
  badge.hidden = true;
  button.appendChild(badge);
  var panel = el("div", "panel");
  panel.hidden = true;
  panel.id = "shiplog-panel";
  panel.setAttribute("role", "region");
  panel.setAttribute("aria-label", "Changelog");
  button.setAttribute("aria-controls", panel.id);
  var list = el("ol");
  panel.appendChild(list);
  root.appendChild(button);
  root.appendChild(panel);

  var newest = 0;
  function showBadge(n) {
    badge.textContent = n ? String(n) : "";
    badge.hidden = !n;
    badge.setAttribute("aria-label", n + " unread");
  }
  button.addEventListener("click", function () {
    var open = panel.hidden;
    panel.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    if (open && newest) {
      markSeen(newest);
      showBadge(0);
    }
  });

  fetch(origin + "/feed/" + encodeURIComponent(slug) + ".json", { credentials: "omit" })
    .then(function (r) { if (!r.ok) throw new Error("feed " + r.status); return r.json(); })
    .then(function (feed) {
      var items = Array.isArray(feed && feed.items) ? feed.items : [];
      var last = seen(), unread = 0;
      items.forEach(function (item) {
        var t = when(item), ext = item._shiplog || {};
        if (t > newest) newest = t;
        if (t > last) unread++;
        var li = el("li");
        li.appendChild(el("div", "cat", String(ext.category_heading || "")));
        li.appendChild(el("h3", "", String(item.title || "")));
        if (item.content_text) li.appendChild(el("p", "", String(item.content_text)));
        if (t) {
          var time = el("time", "", new Date(t).toLocaleDateString());
          time.dateTime = new Date(t).toISOString();
          li.appendChild(time);
        }
        list.appendChild(li);
      });
      if (!items.length) list.appendChild(el("li", "", "Nothing new yet."));
      showBadge(unread);
      host.setAttribute("data-state", "ready");
    })
    .catch(function () { host.setAttribute("data-state", "error"); });
})();
