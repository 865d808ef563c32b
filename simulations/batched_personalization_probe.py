"""How much faster could personalization run if a node fine-tuned its devices together?

A feasibility probe for issue 20's next step, not part of the protocol. On the scale workload a
device's personalization is 2 Adam steps on about 2 tweets: about 28 ms a step, almost all of it
the per-operation overhead of a packed BiGRU's forward and backward over up to 40 time steps.
This script times, on random data of the scale student's shapes (embedding 48, hidden 48, 3
classes), the same 2 steps

- device by device: torch.nn.GRU on packed sequences, attention pooling, a linear head, Adam (what
  fedrobust does today), and
- for K devices at once: each device's own weights stacked along a first dimension and one
  hand-written GRU whose every time step is a batched matrix product over the K devices (texts
  past their length keep their state), the per-device losses summed (each device's gradient is
  its own), Adam on the stacked weights (element-wise, so each device's update is its own).

    .venv/bin/python simulations/batched_personalization_probe.py [--texts 2] [--max-length 28]

It prints one JSON line: ms per device for each way (median of --repeats runs). The two ways do
not compute bit-identical numbers (different kernels), which is what an engine built on this must
settle before it can replace the per-device path.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

EMBEDDING, HIDDEN, CLASSES, STEPS = 48, 48, 3, 2


class DeviceModel(nn.Module):
    """The scale student's layers after the embedding: BiGRU on packed sequences, attention, head."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(EMBEDDING, HIDDEN, batch_first=True, bidirectional=True)
        self.attention = nn.Linear(2 * HIDDEN, 1)
        self.head = nn.Linear(2 * HIDDEN, CLASSES)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        states, _ = self.gru(packed)
        states, _ = nn.utils.rnn.pad_packed_sequence(states, batch_first=True, total_length=x.shape[1])
        mask = torch.arange(x.shape[1])[None] < lengths[:, None]
        weights = self.attention(states).squeeze(-1).masked_fill(~mask, -1e9).softmax(-1)
        return self.head((weights[..., None] * states).sum(1))


def device_by_device(x: torch.Tensor, lengths: torch.Tensor, y: torch.Tensor) -> float:
    started = time.perf_counter()
    for k in range(x.shape[0]):
        model = DeviceModel()
        optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
        for _ in range(STEPS):
            loss = F.cross_entropy(model(x[k], lengths[k]), y[k])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return (time.perf_counter() - started) / x.shape[0] * 1000


def _gru(x: torch.Tensor, mask: torch.Tensor, w_in: torch.Tensor, w_state: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """One GRU direction for K devices at once: x (K, B, L, E) -> states (K, B, L, H)."""
    k, b, length, _ = x.shape
    gates_in = torch.baddbmm(bias, x.reshape(k, b * length, EMBEDDING), w_in).reshape(k, b, length, 3 * HIDDEN)
    state, states = torch.zeros(k, b, HIDDEN), []
    for t in range(length):
        gates = torch.bmm(state, w_state)
        reset = torch.sigmoid(gates_in[:, :, t, :HIDDEN] + gates[..., :HIDDEN])
        update = torch.sigmoid(gates_in[:, :, t, HIDDEN:2 * HIDDEN] + gates[..., HIDDEN:2 * HIDDEN])
        candidate = torch.tanh(gates_in[:, :, t, 2 * HIDDEN:] + reset * gates[..., 2 * HIDDEN:])
        state = torch.where(mask[:, :, t, None], (1 - update) * candidate + update * state, state)
        states.append(state)
    return torch.stack(states, 2)


def stacked(x: torch.Tensor, lengths: torch.Tensor, y: torch.Tensor) -> float:
    started = time.perf_counter()
    k, b, length, _ = x.shape
    shapes = {"in_f": (EMBEDDING, 3 * HIDDEN), "state_f": (HIDDEN, 3 * HIDDEN), "bias_f": (1, 3 * HIDDEN),
              "in_b": (EMBEDDING, 3 * HIDDEN), "state_b": (HIDDEN, 3 * HIDDEN), "bias_b": (1, 3 * HIDDEN),
              "attention": (2 * HIDDEN, 1), "head": (2 * HIDDEN, CLASSES)}
    weights = {name: (torch.randn(k, *shape) * 0.1).requires_grad_() for name, shape in shapes.items()}
    optimizer = torch.optim.Adam(weights.values(), lr=2e-3)
    mask = torch.arange(length)[None, None] < lengths[..., None]
    steps = torch.arange(length)[None, None].expand(k, b, length)
    reverse = torch.where(steps < lengths[..., None], lengths[..., None] - 1 - steps, steps)  # each text within its length
    x_reversed = torch.gather(x, 2, reverse[..., None].expand(-1, -1, -1, EMBEDDING))
    for _ in range(STEPS):
        forward = _gru(x, mask, weights["in_f"], weights["state_f"], weights["bias_f"])
        backward = _gru(x_reversed, mask, weights["in_b"], weights["state_b"], weights["bias_b"])
        backward = torch.gather(backward, 2, reverse[..., None].expand(-1, -1, -1, HIDDEN))
        states = torch.cat([forward, backward], -1)
        scores = torch.bmm(states.reshape(k, b * length, 2 * HIDDEN), weights["attention"]).reshape(k, b, length)
        attention = scores.masked_fill(~mask, -1e9).softmax(-1)
        logits = torch.bmm((attention[..., None] * states).sum(2), weights["head"])
        loss = F.cross_entropy(logits.reshape(k * b, CLASSES), y.reshape(-1), reduction="none").reshape(k, b).mean(1).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - started) / k * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=50, help="devices timed one by one")
    parser.add_argument("--together", type=int, nargs="+", default=[1, 10, 50, 200], help="K devices at once")
    parser.add_argument("--texts", type=int, default=2, help="training texts per device (one batch)")
    parser.add_argument("--max-length", type=int, default=28, help="tokens; lengths drawn from 6 to this")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in a simulation worker
    generator = torch.Generator().manual_seed(0)
    k = max([args.devices, *args.together])
    x = torch.randn(k, args.texts, args.max_length, EMBEDDING, generator=generator)
    lengths = torch.randint(6, args.max_length + 1, (k, args.texts), generator=generator)
    y = torch.randint(0, CLASSES, (k, args.texts), generator=generator)
    device_by_device(x[:5], lengths[:5], y[:5])  # warm-up
    result = {"texts": args.texts, "max_length": args.max_length,
              "device_by_device_ms": round(statistics.median(
                  device_by_device(x[:args.devices], lengths[:args.devices], y[:args.devices]) for _ in range(args.repeats)), 2)}
    for together in args.together:
        stacked(x[:together], lengths[:together], y[:together])  # warm-up
        result[f"stacked_{together}_ms"] = round(statistics.median(
            stacked(x[:together], lengths[:together], y[:together]) for _ in range(args.repeats)), 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
