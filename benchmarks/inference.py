"""Inference speed of the deployment backends on this CPU, against a large fp32 matmul.

    python benchmarks/inference.py [--config_path config/autodeeplab_s.yaml] [--height 1024 --width 2048]
        [--filter_multiplier F] [--repeats 3] [--backends checkpoint,mindir,onnx,cpp] [--output_path DIR]

Per backend: ms/image (median of --repeats runs after one warm-up run, whose time includes graph
compile / session set-up) of batch-1 inference with logits output, and the achieved
GFLOP/s = 2 * MACs / time, where MACs are the conv/dense multiply-accumulates of the network
(src.tools.model_stats; the export's MatMul resizes are not counted, so the ONNX/C++ figures are
conservative). The reference is the better of numpy and ONNX Runtime on a 4096^2 fp32 matmul,
measured in the same run. Target: ONNX Runtime >= 80% of it. Weights are random (speed does not
depend on them) unless --ckpt_path is given. Results: printed and saved as
OUTPUT_PATH/inference_benchmark.json.
"""
import argparse
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


def main(argv=None):
    from src.config import CONFIG_DIR, load_config

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config_path", default=os.path.join(CONFIG_DIR, "autodeeplab_s.yaml"))
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--filter_multiplier", type=int)
    parser.add_argument("--ckpt_path")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--output_path", default="output")
    args = parser.parse_args(argv)
    backends = [b for b in args.backends.split(",") if b]
    unknown = set(backends) - set(BACKENDS)
    if unknown:
        parser.error("unknown backends %s; choose from %s" % (sorted(unknown), ",".join(BACKENDS)))

    import mindspore as ms
    from src.deploy.export import export_network
    from src.eval.results import save_json
    from src.model import build_model
    from src.model.weights import load_weights
    from src.tools.model_stats import count_multi_adds

    overrides = {"height": args.height, "width": args.width}
    if args.filter_multiplier:
        overrides["filter_multiplier"] = args.filter_multiplier
    cfg = load_config(args.config_path, overrides)
    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")

    reference = matmul_reference(args.repeats)
    peak = max(reference.values())
    print("matmul %d^2 fp32: numpy %.1f GFLOP/s, onnxruntime %.1f GFLOP/s" % (
        MATMUL_SIZE, reference["numpy"], reference["onnxruntime"]), flush=True)
    net = build_model(cfg)
    if args.ckpt_path:
        load_weights(net, args.ckpt_path, strict=True)
    net.set_train(False)
    macs = count_multi_adds(net, cfg.height, cfg.width)
    print("network F=%d at %dx%d: %.2f GMACs" % (cfg.filter_multiplier, cfg.height, cfg.width, macs / 1e9),
          flush=True)
    batch = np.random.default_rng(0).standard_normal((1, 3, cfg.height, cfg.width), np.float32)
    results = {"height": cfg.height, "width": cfg.width, "filter_multiplier": cfg.filter_multiplier,
               "gmacs": macs / 1e9, "matmul_gflops": reference, "backends": {}}

    work_dir = tempfile.mkdtemp(prefix="inference_benchmark_")

    def exported(file_format):
        return export_network(net, os.path.join(work_dir, "model." + file_format.lower()), file_format,
                              cfg.height, cfg.width, "logits")

    def runner(backend):
        if backend == "checkpoint":
            tensor = ms.Tensor(batch)
            return lambda: net(tensor).asnumpy()
        if backend == "mindir":
            graph = ms.nn.GraphCell(ms.load(exported("MINDIR")))
            tensor = ms.Tensor(batch)
            return lambda: graph(tensor).asnumpy()
        import onnxruntime as ort

        session = ort.InferenceSession(exported("ONNX"), providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda: session.run(None, {name: batch})

    def measure(backend):
        start = time.perf_counter()
        if backend == "cpp":
            model_path = os.path.join(work_dir, "model.onnx")
            if not os.path.isfile(model_path):
                exported("ONNX")
            setup = time.perf_counter() - start
            seconds, warmup = cpp_app_seconds(model_path, work_dir, batch, args.repeats)
        else:
            run = runner(backend)
            setup = time.perf_counter() - start
            seconds, warmup = time_runs(run, args.repeats)
        gflops = 2.0 * macs / seconds / 1e9
        results["backends"][backend] = {"ms_per_image": 1000 * seconds, "first_run_seconds": warmup,
                                        "setup_seconds": setup, "gflops": gflops, "fraction_of_matmul": gflops / peak}
        print("%-10s %9.1f ms/image  %6.1f GFLOP/s = %5.1f%% of matmul  (set-up %.1f s, first run %.1f s)" % (
            backend, 1000 * seconds, gflops, 100 * gflops / peak, setup, warmup), flush=True)
    try:
        for backend in backends:
            measure(backend)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    if "onnx" in results["backends"]:
        fraction = results["backends"]["onnx"]["fraction_of_matmul"]
        results["onnx_target_met"] = fraction >= ONNX_TARGET
        print("ONNX Runtime: %.1f%% of matmul (target %d%%): %s" % (
            100 * fraction, 100 * ONNX_TARGET, "PASS" if fraction >= ONNX_TARGET else "FAIL"))
    print("saved %s" % save_json(os.path.join(args.output_path, "inference_benchmark.json"), results))


if __name__ == "__main__":
    main()
