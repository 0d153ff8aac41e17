"""The tuned training loop of bench/README.md (anchor figures), standalone: the ceiling the reference
entrypoint is compared with by train_throughput.py (it is a measured program, not a benchmark).

What makes it "tuned" (anchor figures): the whole dataset is moved to the device once; each epoch draws
a permutation on the device and indexes batches from it; channels_last memory format for the model
and the data; bf16 autocast on CUDA; fused SGD (one kernel per step) where torch has it;
`zero_grad(set_to_none=True)`; the running loss stays on the device and is read back only at log
points and at the end of the epoch (no per-step host sync). On CUDA cuDNN autotuning and TF32
matmuls are on, as in the reference entrypoint.

The network is the reference entrypoint's CNN (entrypoints/networks.py ``build_cnn``), rebuilt here
layer by layer so this file imports nothing from the project: per block conv3x3 (no bias) -
BatchNorm - ReLU - max-pool 2x2, then global average pooling and a linear head. SGD with momentum,
constant learning rate, cross-entropy, every sample of the epoch (the last batch may be partial,
as in the entrypoint).

Output, one line per event, flushed: a header, then ``epoch=E step=S train_loss=L
samples_per_sec=X`` every ``--log-every`` optimizer steps and ``epoch=E step=S train_loss=L
epoch_time_s=T samples_per_sec=X`` at each epoch end (the entrypoint's format).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def build_cnn(input_shape: tuple[int, int, int], num_classes: int, channels: list[int]) -> nn.Module:
    in_channels, height, width = input_shape
    layers: list[nn.Module] = []
    for out_channels in channels:
        layers += [nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
                   nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]
        if height >= 2 and width >= 2:
            layers.append(nn.MaxPool2d(2))
            height, width = height // 2, width // 2
        in_channels = out_channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_channels, num_classes)]
    return nn.Sequential(*layers)


def load(directory: Path) -> tuple[np.ndarray, np.ndarray]:
    files = sorted(directory.rglob("*.npz"))
    if not files:
        raise SystemExit(f"no .npz files under {directory}")
    xs, ys = [], []
    for f in files:
        with np.load(f) as data:
            xs.append(np.asarray(data["x"], dtype=np.float32))
            ys.append(np.asarray(data["y"], dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="directory of .npz files (x, y)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--channels", default="64,128,256,512", help="CNN block widths, comma-separated")
    p.add_argument("--compile", action="store_true", help="wrap the model in torch.compile")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--amp", choices=("auto", "bf16", "off"), default="auto",
                   help="auto: bf16 autocast on CUDA GPUs that support it, fp32 elsewhere")
    p.add_argument("--channels-last", choices=("on", "off"), default="on",
                   help="channels_last memory format for the model and the resident data")
    p.add_argument("--log-every", type=int, default=50,
                   help="read the loss back every N optimizer steps (the entrypoint's default)")
    p.add_argument("--seed", type=int, default=42)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")
    torch.manual_seed(args.seed)

    x_np, y_np = load(args.data)
    samples = int(y_np.shape[0])
    num_classes = int(y_np.max()) + 1
    channels = [int(c) for c in args.channels.split(",") if c.strip()]
    channels_last = args.channels_last == "on"
    memory_format = torch.channels_last if channels_last else torch.contiguous_format

    # Resident data: one copy to the device, in the layout the convolutions want. Indexing with a
    # tensor (x[idx]) keeps channels_last, so the per-batch .contiguous() below copies nothing.
    x = torch.from_numpy(x_np).to(device).contiguous(memory_format=memory_format)
    y = torch.from_numpy(y_np).to(device)
    del x_np, y_np

    model = build_cnn(tuple(x.shape[1:]), num_classes, channels).to(device)  # type: ignore[arg-type]
    model = model.to(memory_format=memory_format)
    fused = None
    try:
        optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, fused=True)
        fused = True
    except (RuntimeError, TypeError, ValueError):  # a device/dtype without the fused kernel
        optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
        fused = False
    bf16 = cuda and args.amp != "off" and torch.cuda.is_bf16_supported()
    if args.amp == "bf16" and not cuda:
        bf16 = True  # explicit request on CPU: bf16 CPU autocast
    autocast_dtype = torch.bfloat16 if bf16 else None
    train_model = torch.compile(model) if args.compile else model
    parameters = sum(p.numel() for p in model.parameters())
    print(f"tuned_loop: device={device} precision={'bf16' if bf16 else 'fp32'} "
          f"channels_last={channels_last} fused_sgd={fused} compile={args.compile} "
          f"parameters={parameters} samples={samples} batch_size={args.batch_size} "
          f"channels={','.join(map(str, channels))}", flush=True)

    generator = torch.Generator(device=device)
    generator.manual_seed(args.seed)
    n_batches = -(-samples // args.batch_size)
    step = 0
    model.train()
    for epoch in range(1, args.epochs + 1):
        if cuda:
            torch.cuda.synchronize(device)
        t0 = window_t0 = time.perf_counter()
        order = torch.randperm(samples, device=device, generator=generator)
        running = torch.zeros((), dtype=torch.float32, device=device)
        window = torch.zeros((), dtype=torch.float32, device=device)
        window_samples = 0
        for i in range(n_batches):
            idx = order[i * args.batch_size:(i + 1) * args.batch_size]
            xb, yb = x[idx], y[idx]
            xb = xb.contiguous(memory_format=memory_format)  # a no-op when indexing kept the layout
            if autocast_dtype is not None:
                with torch.autocast(device_type=device.type, dtype=autocast_dtype):
                    loss = F.cross_entropy(train_model(xb), yb)
            else:
                loss = F.cross_entropy(train_model(xb), yb)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            n = int(yb.shape[0])  # shape metadata: no sync
            detached = loss.detach().float() * n
            running += detached
            window += detached
            window_samples += n
            step += 1
            if args.log_every and step % args.log_every == 0 and i + 1 < n_batches:
                mean = window.item() / window_samples  # the only host sync of a log point
                now = time.perf_counter()
                print(f"epoch={epoch} step={step} train_loss={mean:.6g} "
                      f"samples_per_sec={window_samples / max(now - window_t0, 1e-9):.1f}", flush=True)
                window.zero_()
                window_samples, window_t0 = 0, now
        total = running.item()  # waits for the epoch's last kernels
        elapsed = time.perf_counter() - t0
        print(f"epoch={epoch} step={step} train_loss={total / samples:.6g} epoch_time_s={elapsed:.3f} "
              f"samples_per_sec={samples / max(elapsed, 1e-9):.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
