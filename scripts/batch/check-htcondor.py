#!/usr/bin/env python3
"""The HTCondor campaign template, parsed by HTCondor's own submit parser
(the `htcondor2` bindings, PyPI `htcondor`): its defaults hold without
settings, and the README's command-line settings take effect (condor_submit
reads `name=value` arguments as if at the top of the file, so the file must
not assign them). Exit 1 with the setting that did not hold."""
import pathlib
import sys

import htcondor2

SUB = pathlib.Path(__file__).with_name("htcondor-campaign.sub").read_text()
# What `condor_submit FILE nodes=64 site_db=... shared=... run_args=...` sets.
CLI = {
    "nodes": "64",
    "site_db": "postgres://bench@db.site/hetbench",
    "shared": "/data/hetbench",
    "hetbench": "/data/bin/hetbench",
    "run_args": "-k gemm,nbody --size all",
}


def parsed(settings):
    head = "".join(f"{k} = {v}\n" for k, v in settings.items())
    # A probe key, before the queue statement (which ends the description),
    # expands the queue count as that statement does.
    probe = SUB.replace("\nqueue ", "\nhetbench_check_count = $(nodes:1)\nqueue ", 1)
    return htcondor2.Submit(head + probe)


def check(settings, want):
    sub = parsed(settings)
    env = sub.expand("environment")
    count = sub.expand("hetbench_check_count")
    failures = [f"{k}: environment lacks {v!r}: {env}" for k, v in want.items() if v not in env]
    expected = settings.get("nodes", "1")
    if count != expected:
        failures.append(f"queue count is {count}, not {expected}")
    if "$(nodes:1)" not in sub.getQArgs():
        failures.append(f"queue statement is {sub.getQArgs()!r}")
    return failures


failures = check({}, {"shared": "HETBENCH_SHARED=/shared/hetbench", "db": "HETBENCH_SITE_DB= "})
failures += check(
    CLI,
    {
        "site_db": "HETBENCH_SITE_DB=postgres://bench@db.site/hetbench",
        "shared": "HETBENCH_SHARED=/data/hetbench",
        "hetbench": "HETBENCH=/data/bin/hetbench",
        "run_args": "HETBENCH_RUN_ARGS='-k gemm,nbody --size all'",
        "job": "HETBENCH_JOB_ID=",
    },
)
if failures:
    print("check-htcondor: " + "\n  ".join(failures), file=sys.stderr)
    sys.exit(1)
print("check-htcondor: the template's defaults and the README's command-line settings hold")
