"""The seven figures of issue 9 (and issue 4's conference figures), a module per
figure or pair of figures; ``bench.run`` runs them."""

from bench.figures.calls import call_setup, transfers
from bench.figures.common import Samples
from bench.figures.cpu import cpu_share
from bench.figures.delay import delay
from bench.figures.responsiveness import responsiveness
from bench.figures.startup import startup_and_memory

__all__ = ["Samples", "call_setup", "cpu_share", "delay", "responsiveness", "startup_and_memory",
           "transfers"]
