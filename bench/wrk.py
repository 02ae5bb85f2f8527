"""Driving a server with wrk (the Debian package) and reading its report."""

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent / "scripts"
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class Result:
    """One wrk run: throughput, latency percentiles in ms, and what went wrong."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors and non-2xx/3xx answers

    def as_dict(self):
        return dict(self.__dict__)


def require_wrk():
    """The path of wrk, or a clear error (make bench installs it with apt-get)."""
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench does it).")
    return path


def milliseconds(text):
    if text == "nan":
        return float("nan")
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * UNITS[unit]


def parse(output):
    """A Result from wrk --latency's report."""
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.MULTILINE))  # wrk pads "2.15s "
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    # No answer at all in the run (a server too slow or too busy): no percentiles, which no target meets.
    missing = "nan"
    return Result(
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        p50_ms=milliseconds(percentiles.get("50", missing)),
        p99_ms=milliseconds(percentiles.get("99", missing)),
        requests=int(re.search(r"(\d+) requests in", output).group(1)),
        errors=errors + (int(non_2xx.group(1)) if non_2xx else 0),
    )


def run(url, script, seconds, connections, threads, env=None):
    """Drive url with script (a file in bench/scripts) for seconds at a fixed number of connections."""
    command = [
        require_wrk(), "--latency", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
        "-s", str(SCRIPTS / script), url,
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return parse(completed.stdout)
