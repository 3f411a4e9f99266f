"""``make demo``: two daemons on 127.0.0.1 (DMS-1 and DMS-2) with a development PKI and a
simulated device (``dmdelegation device simulate``), three processes that share no file, running
every kind of process through the ``dmdelegation`` command:

1. DMAcc delegation started by DMS-1 (partial: ./Vendor/Enterprise), then asked revocation;
2. Bootstrap Server URL delegation started by DMS-2 (partial), then requested revocation;
3. a new delegation, then forced revocation;
4. a dry run, then a timed delegation (``--for 5s``) that expires: DMS-1 revokes it by itself,
   the audit trail (``history``) says so, and the revocation is drawn with ``trace``.

It prints each message exchanged and the device's ACLs after each process, checks every end
state (both registries, no open session, no trace of DMS-2 on the device after a revocation),
stops both daemons and exits 0 only if everything held. ``--keep DIR`` leaves the lab there.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from dmdelegation.lab.devlab import DEVICE, DMS1, DMS2, SUBTREE, Daemon, Lab

failures: list[str] = []
baseline: list[list[str]] = []  # the device's dump before any delegation (device process only)


def check(what: str, holds: bool) -> None:
    print(f"  {'ok ' if holds else 'FAILED'} {what}")
    if not holds:
        failures.append(what)


def run(daemon: Daemon, *args: str) -> bool:
    print(f"\n$ dmdelegation {' '.join(args)}    # on {daemon.server_id}")
    result = daemon.cli(*args)
    sys.stdout.write(result.stdout)
    if result.stderr:
        sys.stdout.write(result.stderr)
    return result.returncode == 0


def output(daemon: Daemon, *args: str) -> str:
    """``run``, returning what the command printed (and recording a failure)."""
    print(f"\n$ dmdelegation {' '.join(args)}    # on {daemon.server_id}")
    result = daemon.cli(*args)
    sys.stdout.write(result.stdout)
    if result.stderr:
        sys.stdout.write(result.stderr)
    check(f"dmdelegation {args[0]} succeeds", result.returncode == 0)
    return result.stdout


def acls(lab: Lab) -> list[str]:
    lines = [line for line in lab.tree() if "ACL:" in line and "(inherited)" not in line]
    print("  device ACLs (own ACLs only; others inherit):")
    for line in lines:
        print("   ", line.split(" [", 1)[0], "ACL:", line.split("ACL: ", 1)[1])
    return lines


def delegated(lab: Lab, full: bool) -> None:
    one, two = lab.dms1.status(), lab.dms2.status()
    check("no open session on either side", not one["open_sessions"] and not two["open_sessions"])
    check(
        "DMS-1 records the delegation to DMS-2",
        [(d["peer"], d["subtree"], d["full"]) for d in one["delegations"]]
        == [(DMS2, SUBTREE if not full else ".", full)],
    )
    check(
        "DMS-2 records the delegation from DMS-1",
        [(d["peer"], d["full"]) for d in two["delegations"]] == [(DMS1, full)],
    )
    lines = acls(lab)
    check("DMS-2 is named in the ACLs", any(DMS2 in line for line in lines))
    tree = "\n".join(lab.tree("./DMAcc"))
    check("DMS-2 has an account on the device", f'ServerID [chr] = "{DMS2}"' in tree)
    check(
        "DMS-1's account is gone exactly when the delegation is full",
        (f'ServerID [chr] = "{DMS1}"' in tree) is not full,
    )


def revoked(lab: Lab) -> None:
    one, two = lab.dms1.status(), lab.dms2.status()
    check("no open session on either side", not one["open_sessions"] and not two["open_sessions"])
    check("neither side records a delegation", not one["delegations"] and not two["delegations"])
    tree = lab.tree()
    acls(lab)
    check("no trace of DMS-2 on the device", not any(DMS2 in line for line in tree))
    if baseline:
        check("the device's stored tree is byte-identical to before", lab.dump() == baseline[0])


def scenario(lab: Lab) -> None:
    step: Callable[[str], None] = lambda title: print(f"\n=== {title}")  # noqa: E731
    if lab.sim is not None:
        baseline.append(lab.dump())
    step("1. DMAcc delegation started by DMS-1 (partial), then asked revocation")
    check(
        "delegation",
        run(lab.dms1, "delegate", DEVICE, "--to", DMS2, "--subtree", SUBTREE, "--wait"),
    )
    delegated(lab, full=False)
    check(
        "asked revocation",
        run(lab.dms1, "revoke", DEVICE, "--subtree", SUBTREE, "--mode", "asked", "--wait"),
    )
    revoked(lab)

    # Partial: a full delegation deletes DMS-1's account, and a device reached over DM sessions
    # then has no way to DMS-1 for the revocation (docs/dm-sessions.md, "Limits").
    step("2. Bootstrap Server URL delegation started by DMS-2 (partial), then requested revocation")
    check(
        "delegation",
        run(
            lab.dms2,
            "request",
            DEVICE,
            "--from",
            DMS1,
            "--method",
            "bootstrap-url",
            "--subtree",
            SUBTREE,
            "--wait",
        ),
    )
    delegated(lab, full=False)
    check(
        "requested revocation",
        run(lab.dms2, "give-back", DEVICE, "--subtree", SUBTREE, "--wait"),
    )
    revoked(lab)

    step("3. A new delegation, then forced revocation")
    check(
        "delegation",
        run(lab.dms1, "delegate", DEVICE, "--to", DMS2, "--subtree", SUBTREE, "--wait"),
    )
    delegated(lab, full=False)
    check(
        "forced revocation",
        run(lab.dms1, "revoke", DEVICE, "--subtree", SUBTREE, "--mode", "forced", "--wait"),
    )
    revoked(lab)

    step("4. A dry run, then a timed delegation (5 s) that expires")
    plan = output(lab.dms1, "delegate", DEVICE, "--to", DMS2, "--subtree", SUBTREE, "--dry-run")
    check("the dry run names DMS-2's new account", "+ ./DMAcc/" in plan)
    check("the dry run changed nothing", not lab.dms1.status()["delegations"])
    check(
        "timed delegation",
        run(
            lab.dms1,
            "delegate",
            DEVICE,
            "--to",
            DMS2,
            "--subtree",
            SUBTREE,
            "--for",
            "5s",
            "--wait",
        ),
    )
    delegated(lab, full=False)
    print("  waiting for the expiry (DMS-1 revokes by itself, asked first) ...")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        one, two = lab.dms1.status(), lab.dms2.status()
        if not (one["delegations"] or one["open_sessions"] or two["open_sessions"]):
            break
        time.sleep(0.5)
    revoked(lab)
    history = output(lab.dms1, "history", DEVICE)
    check("the audit trail says the timed delegation expired", "cause expired;" in history)
    sessions = json.loads(lab.dms1.cli("sessions", "--device", DEVICE, "--json", check=True).stdout)
    last = sessions["sessions"][-1]
    check(
        "the last process is the expiry's asked revocation",
        (last["process"], last["outcome"]) == ("revocation-asked", "revoked"),
    )
    drawn = output(lab.dms1, "trace", last["session"])
    check("the trace shows DELEGATION_REVOKED", "DELEGATION_REVOKED" in drawn)
    port = lab.dms1.admin.split(":")[1]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        metrics = response.read().decode()
    print("\n  /metrics on DMS-1 (processes):")
    for line in metrics.splitlines():
        if line.startswith("dmdelegation_processes_total"):
            print("   ", line)
    check(
        "/metrics counts DMS-1's three DMAcc delegations",
        'dmdelegation_processes_total{kind="delegation-dmacc",outcome="delegated",role="dms1"} 3.0'
        in metrics,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dmdelegation-demo")
    parser.add_argument("--keep", metavar="DIR", help="build the lab in DIR and keep it")
    parser.add_argument(
        "--device",
        choices=("process", "embedded"),
        default="process",
        help="the device: a process of its own (default) or the daemons' shared embedded store",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="dmdelegation-demo-") as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        print(f"lab: {root} (development PKI, two configurations, one device)")
        lab = Lab(root, device=args.device)
        lab.start()
        print(f"DMS-1 {DMS1} and DMS-2 {DMS2} are running")
        if lab.sim is not None:
            print(f"the device runs as a process of its own (state {lab.sim.state})")
        try:
            scenario(lab)
        finally:
            lab.stop()
            print("\nthe daemons and the device stopped")
    if failures:
        print(f"\n{len(failures)} check(s) FAILED: " + "; ".join(failures))
        return 1
    print("\nevery end state held")
    return 0


if __name__ == "__main__":
    sys.exit(main())
