#!/usr/bin/env python3
"""Loads a lab node's dashboard in headless Chromium (DevTools protocol over a pipe, no
extra packages), checks that the DOM shows the group's owner, kills the owner's agent, and
checks that the open page shows the new owner, live (no reload). Screenshots before and
after go to ARTIFACTS. Exit status 0 only when every check passed.

usage: check.py URL GROUP OWNER_BEFORE OWNER_AFTER KILL_COMMAND...
"""
import base64, json, os, subprocess, sys, tempfile, time

url, group, before, after = sys.argv[1:5]
kill = sys.argv[5:]
artifacts = os.environ.get("ARTIFACTS", ".build/artifacts")
os.makedirs(artifacts, exist_ok=True)

to_chrome_r, to_chrome_w = os.pipe()
from_chrome_r, from_chrome_w = os.pipe()
profile = tempfile.mkdtemp(prefix="tandem-chromium-")


def place(read_end, write_end):
    """In the child: the pipe ends at fds 3 and 4, inheritable (a pipe end already at 3 or 4
    would keep its close-on-exec flag through dup2 onto itself, so copy them away first)."""
    a, b = os.dup(read_end), os.dup(write_end)
    os.dup2(a, 3)
    os.dup2(b, 4)


chrome = subprocess.Popen(
    ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
     "--user-data-dir=" + profile, "--window-size=1280,1000", "--no-first-run"],
    # Chromium reads commands on fd 3 and writes answers on fd 4 (close_fds would close
    # the descriptors dup2'd there).
    close_fds=False,
    preexec_fn=lambda: place(to_chrome_r, from_chrome_w),
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
os.close(to_chrome_r)
os.close(from_chrome_w)
writer = os.fdopen(to_chrome_w, "wb", buffering=0)
reader = os.fdopen(from_chrome_r, "rb", buffering=0)
buffer = b""
next_id = 0
exceptions = []


def receive():
    global buffer
    while b"\0" not in buffer:
        chunk = reader.read(65536)
        if not chunk:
            raise SystemExit("chromium closed the DevTools pipe")
        buffer += chunk
    message, buffer = buffer.split(b"\0", 1)
    return json.loads(message)


def call(method, params=None, session=None):
    global next_id
    next_id += 1
    request = {"id": next_id, "method": method, "params": params or {}}
    if session:
        request["sessionId"] = session
    writer.write(json.dumps(request).encode() + b"\0")
    while True:
        message = receive()
        if message.get("method") == "Runtime.exceptionThrown":
            exceptions.append(message["params"]["exceptionDetails"])
        if message.get("id") == next_id:
            if "error" in message:
                raise SystemExit(f"{method}: {message['error']}")
            return message["result"]


def evaluate(session, expression):
    result = call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
    return result["result"].get("value")


def wait_for(session, expression, expected, seconds):
    end = time.time() + seconds
    value = None
    while time.time() < end:
        value = evaluate(session, expression)
        if value == expected:
            return True, value
        time.sleep(0.1)
    return False, value


def screenshot(session, name):
    data = call("Page.captureScreenshot", {"format": "png"}, session)["data"]
    path = os.path.join(artifacts, name)
    with open(path, "wb") as f:
        f.write(base64.b64decode(data))
    print(f"screenshot: {path}")


failures = []
try:
    target = call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    call("Runtime.enable", session=session)
    call("Page.enable", session=session)
    call("Page.navigate", {"url": url}, session)
    owner = f'(document.querySelector(\'tr[data-group="{group}"]\') || {{dataset: {{}}}}).dataset.owner'
    ok, seen = wait_for(session, owner, before, 20)
    print(f"before: owner of {group} in the DOM: {seen!r} (expected {before!r})")
    if not ok:
        failures.append(f"the page did not show {before} as the owner of {group} (saw {seen!r})")
    loaded = evaluate(session, "document.body.dataset.loaded")
    if loaded != "1":
        failures.append("the page never drew a status (body[data-loaded] unset)")
    leader = evaluate(session, "document.querySelector('#leader').textContent")
    links = evaluate(session, "document.querySelectorAll('#picture .link-label').length")
    print(f"before: leader {leader!r}, {links} link labels in the picture")
    if not links:
        failures.append("the picture shows no links")
    screenshot(session, "dashboard-before.png")

    started = time.time()
    subprocess.run(kill, check=True)
    ok, seen = wait_for(session, owner, after, 20)
    print(f"after: owner of {group} in the DOM: {seen!r} (expected {after!r}), {time.time() - started:.1f} s after the kill, without a reload")
    if not ok:
        failures.append(f"the open page did not show {after} as the new owner (saw {seen!r})")
    reason = evaluate(session, f"document.querySelector('tr[data-group=\"{group}\"]').textContent")
    if "failover" not in (reason or ""):
        failures.append(f"the group's row does not say why it moved: {reason!r}")
    # The page's node records the link going down (it arrives on the event stream).
    link_down = "Array.from(document.querySelectorAll('#events li')).some(e => e.textContent.includes('link_down'))"
    ok, _ = wait_for(session, link_down, True, 10)
    if not ok:
        failures.append("the timeline shows no link going down")
    screenshot(session, "dashboard-after.png")
    if exceptions:
        failures.append(f"JavaScript exceptions: {exceptions[:3]}")
finally:
    chrome.kill()
    chrome.wait()

if failures:
    print("FAIL:\n  " + "\n  ".join(failures))
    sys.exit(1)
print("dashboard: ok")
