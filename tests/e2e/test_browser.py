"""The console in a real browser: headless Debian Chromium driven by
chromedriver (python3-selenium), against the real server on loopback with mail
delivered to a real SMTP sink, on both storage backends.

One journey: sign up, follow the verification mail, sign in with the password,
check the session cookie's attributes as the browser stored them, sign out,
sign in with a magic link, sign out. Along the way the browser must report no
Content-Security-Policy violation and no console error: the pages need no
script and no inline style.
"""

import re
import secrets as pysecrets
import shutil
import tempfile
import time

import pytest

from e2e_util import wait_mail

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def site(module_server_factory, sink):
    url, mail_dir = sink
    srv = module_server_factory.start(env={"SHIPLOG_SMTP_URL": url, "SHIPLOG_BCRYPT_COST": "10"})
    srv.mail_dir = mail_dir
    return srv


@pytest.fixture(scope="module")
def browser():
    for p in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(p):
            pytest.fail(f"{p} is missing: run scripts/deps check", pytrace=False)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("python3-selenium is missing: run scripts/deps check", pytrace=False)
    profile = tempfile.mkdtemp(prefix="shiplog-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              f"--user-data-dir={profile}", "--no-proxy-server", "--no-first-run",
              "--disable-background-networking", "--disable-sync"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def by(driver, css):
    from selenium.webdriver.common.by import By
    return driver.find_element(By.CSS_SELECTOR, css)


def gone(element):
    """True once element belongs to a page that was replaced. chromedriver says
    so with StaleElementReferenceException or, for a node of a document that
    has just been swapped, with "does not belong to the document"."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    try:
        element.is_enabled()
        return False
    except StaleElementReferenceException:
        return True
    except WebDriverException as e:
        if "does not belong to the document" in str(e):
            return True
        raise


def click(driver, css):
    """Clicks a submit button and waits for the next page (a click returns before
    the navigation it starts has finished). chromedriver sometimes refuses a
    node of a page that has just loaded ("does not belong to the document"):
    the click is then retried with a fresh lookup, at most a few times."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait
    for attempt in range(5):
        try:
            old = by(driver, "html")
            by(driver, css).click()
            break
        except (StaleElementReferenceException, WebDriverException) as e:
            if attempt == 4 or not ("does not belong to the document" in str(e) or
                                    isinstance(e, StaleElementReferenceException)):
                raise
            time.sleep(0.2)
    WebDriverWait(driver, 30).until(lambda d: gone(old))
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.readyState") == "complete")


def fill(driver, fields, submit_form):
    for name, value in fields.items():
        el = by(driver, f'form[action="{submit_form}"] input[name="{name}"]')
        el.clear()
        el.send_keys(value)
    click(driver, f'form[action="{submit_form}"] button[type="submit"]')


def heading(driver):
    return by(driver, "h1").text


def link_in(text, base, page):
    m = re.search(re.escape(base) + "/" + page + r"\?token=[A-Za-z0-9._-]+", text)
    assert m, text
    return m.group(0)


def session_cookie(driver):
    return next((c for c in driver.get_cookies() if c["name"] == "__Host-shiplog_session"), None)


def test_signup_verify_signin_magic_link_in_chromium(site, browser):
    d, base = browser, site.base_url
    addr = f"browser-{pysecrets.token_hex(6)}@example.com"
    d.delete_all_cookies()

    d.get(base + "/signup")
    assert heading(d) == "Create your shiplog account"
    fill(d, {"organization": "Browser Org", "email": addr, "password": PASSWORD}, "/signup")
    assert heading(d) == "Check your mailbox"

    d.get(link_in(wait_mail(site.mail_dir, addr, "Confirm your e-mail"), base, "verify"))
    assert heading(d) == "Confirm your e-mail address"
    click(d, 'form[action="/verify"] button')
    assert heading(d) == "Address confirmed"

    d.get(base + "/login")
    fill(d, {"email": addr, "password": PASSWORD}, "/login")
    assert d.current_url == base + "/account/sessions", d.page_source[:2000]
    assert heading(d) == "Your sessions"
    assert "This browser" in d.page_source

    c = session_cookie(d)
    assert c, d.get_cookies()
    assert c["httpOnly"] is True and c["secure"] is True and c["sameSite"] == "Lax"
    assert c["path"] == "/" and not c["domain"].startswith(".")  # host-only (__Host-)
    assert "expiry" in c  # Max-Age: the session's absolute lifetime

    click(d, 'form[action="/logout"] button')  # the header's sign-out button
    assert d.current_url == base + "/login"
    assert session_cookie(d) is None
    d.get(base + "/account/sessions")
    assert d.current_url == base + "/login"  # signed out: the console sends us to sign in

    d.get(base + "/magic")
    fill(d, {"email": addr}, "/magic")
    assert heading(d) == "Check your mailbox"
    d.get(link_in(wait_mail(site.mail_dir, addr, "sign-in link"), base, "magic"))
    assert heading(d) == "Sign in with a link"
    click(d, 'form[action="/magic/consume"] button')
    assert d.current_url == base + "/account/sessions"
    assert session_cookie(d) is not None
    click(d, 'form[action="/logout"] button')
    assert session_cookie(d) is None

    problems = [e for e in d.get_log("browser")
                if e["level"] in ("SEVERE", "WARNING") or "Content Security Policy" in e["message"]]
    assert problems == [], problems


def test_review_an_entry_in_chromium(site, browser):
    """The changelog editor's controls as Chromium submits them (a textarea's
    line breaks, a select, a checkbox), then the review's buttons, without a
    CSP violation."""
    from selenium.webdriver.support.ui import Select
    from test_drafts import draft_from_webhook
    from test_members import owner
    d, base = browser, site.base_url
    boss = owner(site)
    entry = draft_from_webhook(site, boss, 31)
    path = f"/drafts/{entry['id']}"
    d.delete_all_cookies()
    d.get(base + "/login")
    fill(d, {"email": boss.email, "password": PASSWORD}, "/login")
    d.get(base + "/drafts?status=draft")
    assert heading(d) == "Changelog"
    click(d, f'a[href="{path}"]')
    assert d.current_url == base + path and heading(d) == "Changelog entry"

    title = by(d, f'form[action="{path}"] input[name="title"]')
    title.clear()
    title.send_keys("Dark mode everywhere")
    body = by(d, f'form[action="{path}"] textarea[name="body"]')
    body.clear()
    body.send_keys("First line.\nSecond line.")
    Select(by(d, 'select[name="category"]')).select_by_value("improvement")
    box = by(d, f'form[action="{path}"] input[type="checkbox"][value="{boss.user_id}"]')
    by(d, f'label[for="{box.get_attribute("id")}"]').click()  # the label toggles the box
    click(d, f'form[action="{path}"] button[type="submit"]')
    assert d.current_url == base + path + "?done=saved", d.page_source[:2000]
    got = boss.call("GET", f"/api/v1/drafts/{entry['id']}").json()
    assert got["title"] == "Dark mode everywhere" and got["body"] == "First line.\nSecond line."
    assert got["category"] == "improvement" and got["reviewers"] == [boss.user_id], got

    for step, done in (("submit", "submitted"), ("approve", "approved"),
                       ("publish", "published")):
        click(d, f'form[action="{path}/{step}"] button[type="submit"]')
        assert d.current_url == base + path + "?done=" + done, d.page_source[:2000]
    assert boss.call("GET", f"/api/v1/drafts/{entry['id']}").json()["status"] == "published"
    d.get(base + path + "/history")
    assert heading(d) == "Version history" and "Dark mode everywhere" in d.page_source

    problems = [e for e in d.get_log("browser")
                if e["level"] in ("SEVERE", "WARNING") or "Content Security Policy" in e["message"]]
    assert problems == [], problems
