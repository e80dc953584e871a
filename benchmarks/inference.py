"""Inference speed of the deployment backends on this CPU, against a large fp32 matmul.

    python benchmarks/inference.py [--config_path config/autodeeplab_s.yaml] [--height 1024 --width 2048]
        [--filter_multiplier F] [--repeats 3] [--backends checkpoint,mindir,onnx,cpp] [--output_path DIR]

Per backend: ms/image (median of --repeats runs after one warm-up run, whose time includes graph
compile / session set-up) of batch-1 inference with logits output, and the achieved
GFLOP/s = 2 * MACs / time, where MACs are the conv/dense multiply-accumulates of the network
(src.tools.model_stats; the export's MatMul resizes are not counted, so the ONNX/C++ figures are
conservative). The reference is the better of numpy and ONNX Runtime on a 4096^2 fp32 matmul,
measured at the start and again before every backend; every backend is compared with the best of
those (a neighbour slowing one matmul down cannot flatter a backend). Target: ONNX Runtime >= 80%
of it. Weights are random (speed does not
depend on them) unless --ckpt_path is given. Results: printed and saved as
OUTPUT_PATH/inference_benchmark.json.

The export, the matmul and every backend run in their own process (this script with --worker), so
no backend shares threads, memory or libraries with another, and this process stays small while
they run. Both matter for ONNX Runtime on the 2-core test machine: run in the process where
MindSpore had just run the network it took 3.04 s against 2.20 s on its own, and while this process
still held the memory of a MINDIR export it took 3.0-3.2 s against 2.4 s.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import src  # noqa: F401,E402  (ISA cap before mindspore)
import numpy as np  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MATMUL_SIZE = 4096
ONNX_TARGET = 0.80
BACKENDS = ("checkpoint", "mindir", "onnx", "cpp")
MODEL_FILES = {"checkpoint": "model.ckpt", "mindir": "model.mindir", "onnx": "model.onnx", "cpp": "model.onnx"}


def time_runs(run, repeats):
    """(median seconds of `repeats` runs, seconds of the warm-up run before them)."""
    start = time.perf_counter()
    run()
    warmup = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), warmup


def matmul_reference(repeats):
    """{"numpy": GFLOP/s, "onnxruntime": GFLOP/s} of a MATMUL_SIZE^2 fp32 matmul."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    n = MATMUL_SIZE
    a = np.random.default_rng(0).standard_normal((n, n), np.float32)
    b = np.random.default_rng(1).standard_normal((n, n), np.float32)
    flops = 2.0 * n ** 3
    numpy_time, _ = time_runs(lambda: a @ b, repeats)
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "matmul",
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [n, n]) for x in "ab"],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    onnx.checker.check_model(model)
    ort_time, _ = time_runs(lambda: session.run(None, {"a": a, "b": b}), repeats)
    return {"numpy": flops / numpy_time / 1e9, "onnxruntime": flops / ort_time / 1e9}


def cpp_app_seconds(model_path, work_dir, batch, repeats):
    """(median, first) seconds per image of the C++ app (OpenCV DNN backend) from its timing file."""
    build = subprocess.run(["bash", os.path.join(REPO, "ascend310_infer", "build.sh")], capture_output=True, text=True)
    if build.returncode != 0:
        raise RuntimeError("building the C++ app failed:\n" + build.stdout[-2000:] + build.stderr[-2000:])
    inputs = os.path.join(work_dir, "cpp_inputs")
    os.makedirs(inputs, exist_ok=True)
    for i in range(repeats + 1):
        batch.tofile(os.path.join(inputs, "input_%02d.bin" % i))
    outputs = os.path.join(work_dir, "cpp_outputs")
    _, _, height, width = batch.shape
    subprocess.run([os.path.join(REPO, "ascend310_infer", "out", "main"), "--model_path", model_path,
                    "--input_path", inputs, "--output_path", outputs, "--backend", "opencv",
                    "--height", str(height), "--width", str(width)], check=True, capture_output=True)
    with open(os.path.join(outputs, "inference_time.txt")) as f:
        lines = [line.split() for line in f if line.startswith("input_")]
    times = [float(ms) / 1000.0 for _, ms in lines]
    return statistics.median(times[1:]), times[0]


def backend_runner(backend, model_path, cfg, batch):
    """A no-argument function running one batch-1 inference of ``backend``'s model file."""
    if backend == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda: session.run(None, {name: batch})
    import mindspore as ms

    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
    if backend == "mindir":
        net = ms.nn.GraphCell(ms.load(model_path))
    else:
        from src.model import build_model
        from src.model.weights import load_weights

        net = build_model(cfg)
        load_weights(net, model_path, strict=True)
        net.set_train(False)
    tensor = ms.Tensor(batch)
    return lambda: net(tensor).asnumpy()


def run_worker(backend, work_dir, cfg, args, backends):
    """Measure one backend (or the matmul reference, or write the model files of ``backends``) in
    this process; prints a JSON line."""
    repeats = args.repeats
    if backend == "matmul":
        print(json.dumps(matmul_reference(repeats)))
        return
    if backend == "export":
        print(json.dumps({"macs": write_model_files(cfg, backends, args.ckpt_path, work_dir)}))
        return
    batch = np.random.default_rng(0).standard_normal((1, 3, cfg.height, cfg.width), np.float32)
    model_path = os.path.join(work_dir, MODEL_FILES[backend])
    start = time.perf_counter()
    if backend == "cpp":
        seconds, warmup = cpp_app_seconds(model_path, work_dir, batch, repeats)
        setup = 0.0
    else:
        run = backend_runner(backend, model_path, cfg, batch)
        setup = time.perf_counter() - start
        seconds, warmup = time_runs(run, repeats)
    print(json.dumps({"seconds": seconds, "first_run_seconds": warmup, "setup_seconds": setup}))


def measure_in_worker(backend, argv, work_dir):
    """Run this script with --worker ``backend`` and return its JSON result."""
    worker = subprocess.run([sys.executable, os.path.abspath(__file__), *argv, "--worker", backend,
                             "--work_dir", work_dir], capture_output=True, text=True)
    if worker.returncode != 0:
        raise RuntimeError("measuring %s failed:\n%s" % (backend, worker.stderr[-3000:]))
    return json.loads(worker.stdout.strip().splitlines()[-1])


def write_model_files(cfg, backends, ckpt_path, work_dir):
    """Build the network (random or ``ckpt_path`` weights) and write the files ``backends`` read;
    returns its MACs at cfg's size."""
    import mindspore as ms
    from src.deploy.export import export_network
    from src.model import build_model
    from src.model.weights import load_weights
    from src.tools.model_stats import count_multi_adds

    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
    net = build_model(cfg)
    if ckpt_path:
        load_weights(net, ckpt_path, strict=True)
    net.set_train(False)
    for backend in backends:
        path = os.path.join(work_dir, MODEL_FILES[backend])
        if os.path.exists(path):
            continue
        if backend == "checkpoint":
            ms.save_checkpoint(net, path)
        else:
            export_network(net, path, MODEL_FILES[backend].split(".")[1].upper(), cfg.height, cfg.width, "logits")
    return count_multi_adds(net, cfg.height, cfg.width)


def main(argv=None):
    from src.config import CONFIG_DIR, load_config

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config_path", default=os.path.join(CONFIG_DIR, "autodeeplab_s.yaml"))
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--filter_multiplier", type=int)
    parser.add_argument("--ckpt_path")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--output_path", default="output")
    parser.add_argument("--worker", choices=("matmul", "export") + BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--work_dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    backends = [b for b in args.backends.split(",") if b]
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        parser.error("unknown backends %s; choose from %s" % (sorted(unknown), ",".join(BACKENDS)))
    overrides = {"height": args.height, "width": args.width}
    if args.filter_multiplier:
        overrides["filter_multiplier"] = args.filter_multiplier
    cfg = load_config(args.config_path, overrides)
    if args.worker:
        run_worker(args.worker, args.work_dir, cfg, args, backends)
        return

    from src.eval.results import save_json

    work_dir = tempfile.mkdtemp(prefix="inference_benchmark_")
    try:
        reference = measure_in_worker("matmul", argv, work_dir)
        print("matmul %d^2 fp32: numpy %.1f GFLOP/s, onnxruntime %.1f GFLOP/s" % (
            MATMUL_SIZE, reference["numpy"], reference["onnxruntime"]), flush=True)
        best = max(reference.values())
        macs = measure_in_worker("export", argv, work_dir)["macs"]
        print("network F=%d at %dx%d: %.2f GMACs" % (cfg.filter_multiplier, cfg.height, cfg.width, macs / 1e9),
              flush=True)
        results = {"height": cfg.height, "width": cfg.width, "filter_multiplier": cfg.filter_multiplier,
                   "gmacs": macs / 1e9, "matmul_gflops": [reference], "backends": {}}
        for backend in backends:
            reference = measure_in_worker("matmul", argv, work_dir)
            results["matmul_gflops"].append(reference)
            best = max(best, *reference.values())
            timing = measure_in_worker(backend, argv, work_dir)
            gflops = 2.0 * macs / timing["seconds"] / 1e9
            results["backends"][backend] = {"ms_per_image": 1000 * timing["seconds"],
                                            "first_run_seconds": timing["first_run_seconds"],
                                            "setup_seconds": timing["setup_seconds"], "gflops": gflops}
            print("%-10s %9.1f ms/image  %6.1f GFLOP/s  (set-up %.1f s, first run %.1f s)" % (
                backend, 1000 * timing["seconds"], gflops, timing["setup_seconds"],
                timing["first_run_seconds"]), flush=True)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    results["matmul_gflops_best"] = best
    print("best matmul rate of the run: %.1f GFLOP/s" % best)
    for backend, figures in results["backends"].items():
        figures["fraction_of_matmul"] = figures["gflops"] / best
        print("%-10s %5.1f%% of matmul" % (backend, 100 * figures["fraction_of_matmul"]))
    if "onnx" in results["backends"]:
        fraction = results["backends"]["onnx"]["fraction_of_matmul"]
        results["onnx_target_met"] = fraction >= ONNX_TARGET
        print("ONNX Runtime: %.1f%% of matmul (target %d%%): %s" % (
            100 * fraction, 100 * ONNX_TARGET, "PASS" if fraction >= ONNX_TARGET else "FAIL"))
    print("saved %s" % save_json(os.path.join(args.output_path, "inference_benchmark.json"), results))


if __name__ == "__main__":
    main()
