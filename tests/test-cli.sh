#!/bin/sh
# tests/test-cli.sh — confab --version, --help and bad options, as typed in a terminal
# SPDX-License-Identifier: GPL-3.0-or-later
set -u
confab=${1:?usage: test-cli.sh CONFAB VERSION}
version=${2:?usage: test-cli.sh CONFAB VERSION}
n=0
failed=0

check () {
  n=$((n + 1))
  if [ "$1" = 0 ]; then echo "ok $n $2"; else echo "not ok $n $2"; failed=1; fi
}

echo "1..6"

out=$("$confab" --version 2>&1)
[ "$out" = "confab $version" ]; check $? "--version prints the version ($out)"

out=$("$confab" --help 2>&1)
echo "$out" | grep -q -- "--peer=HOST\[:PORT\]" && echo "$out" | grep -q -- "--port=N"
check $? "--help lists --peer and --port"

out=$("$confab" --peer "host:99999" 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "is not a peer"; check $? "--peer with a bad port is refused ($rc)"

out=$("$confab" --peer "[::1" 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "is not a peer"; check $? "--peer with a broken IPv6 literal is refused ($rc)"

out=$("$confab" --port 70000 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "is not a port"; check $? "--port 70000 is refused ($rc)"

out=$("$confab" --no-such-option 2>&1); rc=$?
[ $rc != 0 ]; check $? "an unknown option is refused ($rc)"

exit $failed
