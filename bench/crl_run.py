#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Runs one command and prints "SECONDS MAXRSS_KB" for that child alone (os.wait4's rusage).
import os, subprocess, sys, time

t0 = time.monotonic()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, ru = os.wait4(p.pid, 0)
dt = time.monotonic() - t0
if os.waitstatus_to_exitcode(status) != 0:
    sys.exit("command failed: " + " ".join(sys.argv[1:]))
print(f"{dt:.3f} {ru.ru_maxrss}")
