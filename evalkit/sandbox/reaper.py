"""pid 1 of a sandbox's PID namespace (stdlib only; exec'd as `python -I -S -c <this file> ARGV...`).

It runs ARGV as its child and reaps every process that gets orphaned in the namespace, so
zombies never pile up against the program's process limit. When the program exits, so does
the reaper, with the program's status (a death by signal N as 128 + N, since pid 1 cannot
kill itself); the kernel then kills whatever the program left running in the namespace.
"""

import os
import sys


def main() -> None:
    argv = sys.argv[1:]
    child = os.fork()
    if child == 0:
        try:
            os.execv(argv[0], argv)
        except OSError as e:
            os.write(2, f"cannot run {argv[0]}: {e}\n".encode())
        os._exit(127)
    # Hold nothing of the program's: its channel must see EOF when the program is gone.
    os.closerange(0, 1 << 16)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(255)
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)


main()
