"""The demo's reader of the audit log (outside the captured cgroup): the records matching a
test, waited for, since the audit writer is a thread of its own and a line may be half
written when read."""
import json
import time


def wait_records(path, match, want, tries=50):
    """The records of PATH for which MATCH(record) holds, once there are WANT of them (or
    after TRIES tenths of a second, what there is)."""
    for _ in range(tries):
        out = []
        for line in open(path):
            try:
                r = json.loads(line)
            except ValueError:  # a line being written
                continue
            if match(r):
                out.append(r)
        if len(out) >= want:
            break
        time.sleep(0.1)
    return out
