"""The embeddable widget (W2) in headless Chromium, on both backends: a host
page served from a second loopback origin, with a strict Content Security
Policy that allows only the shiplog origin for scripts and connections (no
inline script or style at all), embeds the widget with one script tag. The
widget must render the published entries inside its shadow root, show the
unread count on its badge, clear it when opened and keep it cleared after a
reload (localStorage), count a newer entry again, set no cookie, and cause
no CSP violation or console error. A control page under the same policy
proves that a violation would be seen."""

import http.server
import secrets
import threading
import time

import pytest

from feed_util import create_tenant, seed
from test_browser import browser  # noqa: F401  (the headless Chromium fixture)

WAIT = 20


class HostPages:
    """A second origin: 127.0.0.1 on its own port, pages with a strict CSP."""

    def __init__(self, shiplog_origin, slug):
        self.csp = (f"default-src 'none'; script-src {shiplog_origin}; "
                    f"connect-src {shiplog_origin}; base-uri 'none'; form-action 'none'")
        pages = {
            "/": ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<title>Host</title></head><body><h1>Customer app</h1>"
                  f"<script src=\"{shiplog_origin}/widget.js\" data-feed=\"{slug}\" async>"
                  "</script></body></html>"),
            "/control": ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                         "<title>Control</title></head><body>"
                         "<script>document.title = 'inline ran';</script></body></html>"),
        }
        csp = self.csp

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                body = pages.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Security-Policy", csp)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def shiplog(module_server_factory):
    s = module_server_factory.start(env={"SHIPLOG_FEED_CACHE_TTL_MS": "200"})
    s.factory = module_server_factory
    return s


def problems(driver):
    return [e for e in driver.get_log("browser")
            if e["level"] in ("SEVERE", "WARNING") or "Content Security Policy" in e["message"]]


def widget_state(driver):
    """What the widget shows, read through its (open) shadow root."""
    return driver.execute_script("""
        const host = document.querySelector('[data-shiplog-widget]');
        if (!host || !host.shadowRoot) return null;
        const root = host.shadowRoot, badge = root.querySelector('.badge');
        return {
          state: host.getAttribute('data-state'),
          titles: [...root.querySelectorAll('li h3')].map(e => e.textContent),
          headings: [...root.querySelectorAll('li .cat')].map(e => e.textContent),
          badge: badge.hidden ? null : badge.textContent,
          open: !root.querySelector('.panel').hidden,
          sheets: root.adoptedStyleSheets.length,
          buttonColor: getComputedStyle(root.querySelector('.badge')).backgroundColor,
          lightDom: host.children.length,
          cookie: document.cookie,
        };""")


def load(driver, url):
    from selenium.webdriver.support.ui import WebDriverWait
    driver.get(url)
    WebDriverWait(driver, WAIT).until(
        lambda d: (widget_state(d) or {}).get("state") in ("ready", "error"))
    return widget_state(driver)


def test_widget_under_strict_csp(shiplog, browser):  # noqa: F811
    d, f = browser, shiplog.factory
    slug = f"widget-{secrets.token_hex(3)}"
    tid = create_tenant(f, shiplog, slug, "Widget Co")
    t = int(time.time()) - 3600
    seed(f, shiplog, tid, [
        {"title": "Dark mode", "category": "feature", "published_at": t + 1},
        {"title": "<img src=x onerror=alert(1)>", "category": "fix", "published_at": t + 2},
        {"title": "Faster search", "category": "performance", "published_at": t + 3},
        {"title": "HIDDEN internal", "audience": "internal", "published_at": t + 4},
        {"title": "HIDDEN draft", "status": "draft"},
    ])
    host = HostPages(shiplog.base_url, slug)
    try:
        d.delete_all_cookies()
        d.get(host.origin + "/control")  # the policy is enforced and a violation is logged
        assert d.title == "Control"
        logged = problems(d)
        assert any("Content Security Policy" in e["message"] for e in logged), logged

        s = load(d, host.origin + "/")
        assert s["state"] == "ready", (s, problems(d))
        assert s["titles"] == ["Faster search", "<img src=x onerror=alert(1)>", "Dark mode"]
        assert s["headings"] == ["Performance", "Fixes", "New features"]
        assert s["badge"] == "3" and not s["open"]
        assert s["sheets"] == 1 and s["buttonColor"] == "rgb(215, 0, 21)"  # the sheet applies
        assert s["lightDom"] == 0  # everything is inside the shadow root
        assert d.execute_script("return document.querySelectorAll('img').length") == 0

        d.execute_script("document.querySelector('[data-shiplog-widget]')"
                         ".shadowRoot.querySelector('button').click()")
        s = widget_state(d)
        assert s["open"] and s["badge"] is None
        assert d.execute_script(
            "return document.querySelector('[data-shiplog-widget]').shadowRoot"
            ".querySelector('button').getAttribute('aria-expanded')") == "true"

        s = load(d, host.origin + "/")  # seen is remembered
        assert s["state"] == "ready" and s["badge"] is None and len(s["titles"]) == 3

        # a newer entry counts as unread again (past the server's cache TTL,
        # with the browser's HTTP cache off so the fetch reaches the server)
        seed(f, shiplog, tid, [{"title": "Webhooks", "published_at": t + 10}])
        time.sleep(0.4)
        d.execute_cdp_cmd("Network.enable", {})
        d.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        s = load(d, host.origin + "/")
        assert s["titles"][0] == "Webhooks" and s["badge"] == "1", s
        d.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": False})

        assert s["cookie"] == ""
        assert d.get_cookies() == []
        assert problems(d) == []
    finally:
        host.close()
