#!/usr/bin/env python3
"""A configuration commit under a running TCP stream that the commit does not concern (issue 16).

Runs on a lab that is already up (`./fabric lab up --name NAME`, hocon/lab.conf): PAIRS pairs of iperf3 runs
eng1 -> bulk1 (through br1 and dc1), one without a commit and one with `fabric config commit` COMMIT_AT seconds in.
The commits alternate between hocon/lab.conf with guest added to db's access list and hocon/lab.conf itself, so
each one changes who may reach what and every router re-evaluates every live session; eng1 -> bulk stays allowed.
For each run it prints the throughput, iperf3's retransmissions (total and in the seconds around the commit) and,
from the sender's TCP counters the segments really lost (retransmitted and not reported back as duplicates by the
receiver's D-SACK), from the routers on the path the frames the kernel dropped at their packet sockets (PACKET_STATISTICS), the
pipeline's drops and the sessions revoked. Run it as root on a quiet machine; it takes about PAIRS x 25 s.

usage: scripts/commit-under-load.py [--lab NAME] [--pairs N] [--seconds S] [--commit-at S] [--json]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FABRIC = os.path.join(ROOT, "fabric")
PATH_NODES = ["br1a", "dc1a"]


def run(*args, check=True):
    return subprocess.run([FABRIC, *args], cwd=ROOT, capture_output=True, text=True, check=check)


def counters(lab, node):
    sock = f"/var/lib/fabric/lab/{lab}/{node}.sock"
    out = run("router", "counters", "--node", node, "--admin-socket", sock).stdout
    c = json.loads(out)
    return {
        "kernel_drops": sum(c["kernel_drops"].values()),
        "dropped": c["dropped"],
        "revoked": c["sessions_revoked"],
        "resets": c["session_resets"],
    }


def path_counters(lab):
    total = {"kernel_drops": 0, "dropped": 0, "revoked": 0, "resets": 0}
    for node in PATH_NODES:
        for k, v in counters(lab, node).items():
            total[k] += v
    return total


def documents():
    with open(os.path.join(ROOT, "hocon", "lab.conf")) as f:
        original = f.read()
    marker = "access = [finance]"
    if original.count(marker) != 1:
        sys.exit("hocon/lab.conf: expected one 'access = [finance]' (db's access list)")
    opened = original.replace(marker, "access = [finance, guest]")
    d = tempfile.mkdtemp(prefix="commit-under-load-")
    paths = []
    for name, text in (("guest-on-db.conf", opened), ("lab.conf", original)):
        p = os.path.join(d, name)
        with open(p, "w") as f:
            f.write(text)
        paths.append(p)
    return paths


def sender_tcp(lab):
    """The sender's TCP counters (eng1's namespace): retransmitted segments, and those the receiver reported as
    duplicates (D-SACK: the original had arrived, so the retransmission was spurious, caused by reordering)."""
    out = subprocess.run([FABRIC, "lab", "exec", "--name", lab, "eng1", "--", "nstat", "-az", "TcpRetransSegs",
                          "TcpExtTCPDSACKRecvSegs"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    values = dict(line.split()[:2] for line in out.splitlines() if line and not line.startswith("#"))
    return int(values["TcpRetransSegs"]), int(values["TcpExtTCPDSACKRecvSegs"])


def iperf(lab, seconds):
    r = subprocess.run([FABRIC, "lab", "exec", "--name", lab, "eng1", "--", "iperf3", "-c", "10.10.1.30", "-p", "5201",
                        "-t", str(seconds), "-i", "1", "-J"], cwd=ROOT, capture_output=True, text=True)
    data = json.loads(r.stdout)
    if "error" in data:
        raise RuntimeError(data["error"])
    per_second = [i["sum"].get("retransmits", 0) for i in data["intervals"]]
    end = data["end"]["sum_sent"]
    return {"mbps": end["bits_per_second"] / 1e6, "retransmits": end.get("retransmits", 0), "per_second": per_second}


def one_run(lab, seconds, commit_at, document):
    before = path_counters(lab)
    retrans_before, dsack_before = sender_tcp(lab)
    commit = {}

    def committer():
        time.sleep(commit_at)
        t = time.monotonic()
        r = run("config", "commit", document, "-m", "commit under load", "--lab", lab, check=False)
        commit["seconds"] = time.monotonic() - t
        commit["ok"] = r.returncode == 0
        if r.returncode != 0:
            commit["error"] = (r.stderr or r.stdout).strip()[-400:]

    thread = threading.Thread(target=committer) if document else None
    if thread:
        thread.start()
    result = iperf(lab, seconds)
    if thread:
        thread.join()
    after = path_counters(lab)
    retrans_after, dsack_after = sender_tcp(lab)
    # Segments retransmitted that the receiver had not already got: what was really lost on the way.
    result["lost"] = (retrans_after - retrans_before) - (dsack_after - dsack_before)
    result.update({k: after[k] - before[k] for k in before})
    # The commit starts at commit_at and is applied within about a second: count the two seconds from it.
    window = result["per_second"][commit_at:commit_at + 2]
    result["window_retransmits"] = sum(window)
    if document:
        result["commit"] = commit
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lab", default="lab")
    ap.add_argument("--pairs", type=int, default=10)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--commit-at", type=int, default=4)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    docs = documents()
    runs = []
    for i in range(a.pairs):
        plain = one_run(a.lab, a.seconds, a.commit_at, None)
        time.sleep(1)
        committed = one_run(a.lab, a.seconds, a.commit_at, docs[i % 2])
        time.sleep(1)
        runs.append({"pair": i + 1, "plain": plain, "commit": committed})
        if not a.json:
            for kind in ("plain", "commit"):
                r = runs[-1][kind]
                c = r.get("commit", {})
                note = f" commit {c.get('seconds', 0):.2f}s{'' if c.get('ok', True) else ' FAILED: ' + c.get('error', '')}" if c else ""
                print(f"pair {i + 1:2} {kind:6} {r['mbps']:8.0f} Mbit/s  retrans {r['retransmits']:5} "
                      f"(s{a.commit_at}-{a.commit_at + 2}: {r['window_retransmits']:4})  kernel drops {r['kernel_drops']:5}  "
                      f"lost {r['lost']:4}  pipeline drops {r['dropped']:4}  revoked {r['revoked']}  resets {r['resets']}{note}", flush=True)
    if a.json:
        print(json.dumps(runs))
        return

    def total(kind, key):
        return sum(r[kind][key] for r in runs)

    print(f"{a.pairs} pairs: retransmissions without commit {total('plain', 'retransmits')}, with {total('commit', 'retransmits')}; "
          f"in the commit's two seconds {total('plain', 'window_retransmits')} vs {total('commit', 'window_retransmits')}; "
          f"kernel drops {total('plain', 'kernel_drops')} vs {total('commit', 'kernel_drops')}; "
          f"lost (retransmitted, not reported duplicate) {total('plain', 'lost')} vs {total('commit', 'lost')}; "
          f"revoked {total('commit', 'revoked')}; resets {total('commit', 'resets')}")


if __name__ == "__main__":
    main()
