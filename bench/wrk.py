"""Drive a server with wrk (Debian's package) and read its report."""

import os
import re
import shutil
import subprocess

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def ensure_wrk():
    """The path of wrk, installing Debian's package when it is missing."""
    path = shutil.which("wrk")
    if path:
        return path
    print("wrk is missing: installing it with apt-get", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "wrk"],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    return shutil.which("wrk")


def milliseconds(text):
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * UNITS[unit]


def run_wrk(url, *, connections, seconds, threads=2, script=None, env=None, timeout="10s"):
    """Run wrk against url; return requests/s, p50 and p99 in ms, and error counts."""
    command = [
        ensure_wrk(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        f"--timeout={timeout}",
        "--latency",
    ]
    if script:
        command += ["-s", script]
    output = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, env={**os.environ, **(env or {})}
    ).stdout
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": milliseconds(re.search(r"\s50%\s+([\d.]+\w+)", output).group(1)),
        "p99": milliseconds(re.search(r"\s99%\s+([\d.]+\w+)", output).group(1)),
        "socket_errors": sum(int(n) for n in socket_errors.groups()) if socket_errors else 0,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "output": output,
    }
