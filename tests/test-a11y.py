#!/usr/bin/python3
# tests/test-a11y.py — the real Confab as a screen reader sees it, through AT-SPI
# SPDX-License-Identifier: GPL-3.0-or-later
#
# usage: test-a11y.py CONFAB PROTOCOL-PEER
#
# Starts Confab (under the Xvfb and D-Bus session the test runner provides),
# has a protocol peer send three messages, and checks the accessible tree:
# the window, the message entry, the send button, and three message rows
# named "<sender>, <time>: <text>".

import os
import re
import subprocess
import sys
import tempfile
import time

import pyatspi

CONFAB_PORT = 47302
PEER_PORT = 47301
TIMEOUT = 30


def walk(accessible, found):
    try:
        found.append((accessible.getRoleName(), accessible.name or ""))
        for i in range(accessible.childCount):
            child = accessible.getChildAtIndex(i)
            if child is not None:
                walk(child, found)
    except Exception:
        pass  # a node that went away while being read
    return found


def confab_tree():
    desktop = pyatspi.Registry.getDesktop(0)
    for app in desktop:
        if app is not None and app.name == "confab":
            return walk(app, [])
    return []


def missing(tree):
    wanted = {
        "the window": lambda r, n: r == "frame" and n == "Confab",
        "the message entry": lambda r, n: r == "text" and n == "Message",
        "the send button": lambda r, n: r == "push button" and n == "Send",
        "the main menu": lambda r, n: r == "push button" and n == "Main Menu",
    }
    for text in ("one", "two", "three"):
        pattern = re.compile(r"^Ada, \d\d:\d\d: %s$" % text)
        wanted["the row of “%s”" % text] = (lambda p: lambda r, n: p.match(n) is not None)(pattern)
    return [what for what, test in wanted.items()
            if not any(test(role, name) for role, name in tree)]


def main():
    confab, peer = sys.argv[1], sys.argv[2]
    env = dict(os.environ, XDG_DATA_HOME=tempfile.mkdtemp(prefix="confab-a11y-"))
    env.pop("GTK_A11Y", None)
    app = subprocess.Popen([confab, "--peer", "127.0.0.1:%d" % PEER_PORT,
                            "--port", str(CONFAB_PORT)], env=env)
    sender = None
    try:
        time.sleep(1)
        sender = subprocess.Popen([sys.executable, peer, str(PEER_PORT), str(CONFAB_PORT),
                                   "one", "two", "three"], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + TIMEOUT
        while True:
            left = missing(confab_tree())
            if not left or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        if sender is not None:
            sender.kill()
        app.terminate()
        app.wait()

    if left:
        print("not found in the accessible tree: " + ", ".join(left))
        for role, name in confab_tree():
            print("  %s %r" % (role, name))
        return 1
    print("the window, the entry, the send button, the menu and three rows are named")
    return 0


if __name__ == "__main__":
    sys.exit(main())
