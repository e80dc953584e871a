"""Run every benchmark script and collect their figures into one table (Markdown + JSON).

    python benchmarks/run_all.py [--output_path benchmark_results] [--only NAME[,NAME...]] [--quick]

Each script prints its figures, with PASS/FAIL where it has a target; this runner keeps those lines
(the verdict lines and the headline figures listed in ``BENCHMARKS``), the script's exit code and its
wall time, and writes OUTPUT_PATH/benchmarks.md and OUTPUT_PATH/benchmarks.json. ``--quick`` runs
the smaller settings (minutes instead of an hour on a 2-core CPU); the table says which were used.
Run it on an otherwise idle machine: every figure is a time.
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VERDICT = re.compile(r"\b(PASS|FAIL)\b")


@dataclass(frozen=True)
class Benchmark:
    """A run of a benchmark script: its arguments (full and quick) and the prefixes of its headline lines."""

    name: str
    script: str
    args: tuple
    quick_args: tuple
    figures: tuple
    timeout_s: int = 3600


SEARCH_FULL = ("--layers", "12", "--filter_multiplier", "8", "--crop", "161", "--iterations", "2")
SEARCH_QUICK = ("--layers", "4", "--filter_multiplier", "4", "--blocks", "2", "--crop", "65")
BENCHMARKS = (
    Benchmark("data_pipeline", "data_pipeline", ("--num_images", "16"), ("--num_images", "4", "--epochs", "1"),
              ("conversion", "train pipeline")),
    Benchmark("model_speed", "model_speed", (), ("--crops", "321", "--repeats", "1"),
              ("matmul", "best matmul", "inference", "train_step")),
    Benchmark("conv_kernels", "conv_kernels", (), ("--quick", "--repeats", "2"), ("conv", "picked")),
    Benchmark("train_step", "train_step", ("--steps", "5"), ("--steps", "2"),
              ("first step", "train step", "peak memory")),
    Benchmark("inference", "inference", ("--output_path", "{output}/inference"),
              ("--output_path", "{output}/inference", "--repeats", "1"),
              ("matmul", "best matmul", "network", "checkpoint", "mindir", "onnx", "cpp", "ONNX Runtime")),
) + tuple(
    Benchmark("search_step" + ("" if mode == "none" else "_" + mode), "search_step",
              SEARCH_FULL + ("--memory_mode", mode), SEARCH_QUICK + ("--memory_mode", mode),
              ("config", "iteration"))
    for mode in ("none", "recompute", "partial_channel"))


def headline_lines(stdout, prefixes):
    """The lines of ``stdout`` with a verdict or starting with one of ``prefixes``."""
    return [line.strip() for line in stdout.splitlines()
            if VERDICT.search(line) or line.strip().startswith(prefixes)]


def run_benchmark(benchmark, quick, output_path):
    args = [arg.format(output=output_path) for arg in (benchmark.quick_args if quick else benchmark.args)]
    command = [sys.executable, os.path.join(HERE, benchmark.script + ".py")] + args
    print("=== %s: %s" % (benchmark.name, " ".join(command[1:])), flush=True)
    start = time.time()
    try:
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=benchmark.timeout_s)
        returncode, stdout, stderr = result.returncode, result.stdout, result.stderr
    except subprocess.TimeoutExpired as expired:
        returncode, stdout, stderr = None, expired.stdout or "", "timed out after %d s" % benchmark.timeout_s
        stdout = stdout if isinstance(stdout, str) else stdout.decode(errors="replace")
    lines = headline_lines(stdout, benchmark.figures)
    for line in lines:
        print("  " + line, flush=True)
    verdicts = [match.group(1) for line in lines for match in VERDICT.finditer(line)]
    return {"benchmark": benchmark.name, "command": " ".join(command[1:]), "returncode": returncode,
            "seconds": round(time.time() - start, 1), "figures": lines,
            "verdict": "ERROR" if returncode != 0 else ("FAIL" if "FAIL" in verdicts else
                                                        "PASS" if verdicts else "-"),
            "stderr_tail": stderr.strip().splitlines()[-5:] if returncode != 0 else []}


def markdown(results, quick):
    lines = ["# Benchmarks\n",
             "%s, %d CPU cores, Python %s; %s settings; load average at the end %.1f.\n" % (
                 platform.machine(), os.cpu_count() or 0, platform.python_version(),
                 "quick" if quick else "full", os.getloadavg()[0]),
             "| benchmark | verdict | figures | wall time |", "|---|---|---|---:|"]
    for result in results:
        figures = "<br>".join(line.replace("|", "/") for line in result["figures"]) or \
            "<br>".join(result["stderr_tail"]).replace("|", "/")
        lines.append("| %s | %s | %s | %.0f s |" % (result["benchmark"], result["verdict"], figures,
                                                    result["seconds"]))
    return "\n".join(lines) + "\n"


def write_atomic(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output_path", default="benchmark_results")
    parser.add_argument("--only", default="", help="comma-separated benchmark names (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller settings of every benchmark")
    args = parser.parse_args(argv)
    names = [name for name in args.only.split(",") if name]
    known = [benchmark.name for benchmark in BENCHMARKS]
    unknown = sorted(set(names) - set(known))
    if unknown:
        parser.error("unknown benchmark(s) %s; choose from %s" % (", ".join(unknown), ", ".join(known)))
    os.makedirs(args.output_path, exist_ok=True)
    output = os.path.abspath(args.output_path)
    results = [run_benchmark(benchmark, args.quick, output) for benchmark in BENCHMARKS
               if not names or benchmark.name in names]
    write_atomic(os.path.join(output, "benchmarks.json"), json.dumps(results, indent=2))
    write_atomic(os.path.join(output, "benchmarks.md"), markdown(results, args.quick))
    print("wrote %s and %s" % (os.path.join(output, "benchmarks.md"), os.path.join(output, "benchmarks.json")))
    return 0 if all(result["returncode"] == 0 for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
