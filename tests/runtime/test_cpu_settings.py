"""CPU process settings. keep_host_memory: with glibc's thresholds raised, a population's stacked forward reuses
freed heap memory instead of page-faulting its multi-MiB activations in again on every op (each case in a fresh
process: the setting is process-wide). The control holds glibc's initial thresholds fixed: its adaptive defaults
usually return this memory too (25,000-50,000 faults per 20 forwards here) but depend on the process's history (one
run in ~6 kept it), so they cannot be a reliable control. torch_threads=auto:
one thread for one agent, every core for a population."""

import os
import subprocess
import sys

import pytest

from isaac_rl.app.config import resolve
from isaac_rl.app.run import cpu_threads
from isaac_rl.core.errors import ConfigError
from tests.conftest import compose_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FORWARD_FAULTS = """
import resource, sys, torch
from isaac_rl.runtime import host_memory
if sys.argv[1] == "keep":
    assert host_memory.keep_freed_memory()
else:  # glibc's initial thresholds (128 KiB), held fixed: its adaptive defaults depend on the process's history
    import ctypes
    libc = ctypes.CDLL("libc.so.6")
    assert libc.mallopt(host_memory.M_MMAP_THRESHOLD, 128 << 10) and libc.mallopt(host_memory.M_TRIM_THRESHOLD,
                                                                                   128 << 10)
from isaac_rl.algorithms.networks import mlp
torch.set_num_threads(1)
net = mlp(4, [128, 128], 2, torch.device("cpu"), [torch.Generator().manual_seed(k) for k in range(5)],
          layer_norm=True)
x = torch.ones(5, 1024, 4)  # 5 agents x 1024 envs: each hidden activation is 2.5 MiB
with torch.no_grad():
    for _ in range(5):
        net(x)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        net(x)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", FORWARD_FAULTS, mode], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt (Linux)")
def test_kept_memory_removes_the_page_faults_of_a_population_forward():
    returned, kept = page_faults("return"), page_faults("keep")
    assert returned > 5000  # freed memory handed back: ~2,500 fresh pages per forward on this machine
    assert kept < 200  # the 20 forwards reuse the heap


def test_keep_host_memory_is_a_checked_boolean():
    with pytest.raises(ConfigError, match="keep_host_memory"):
        resolve(compose_config(["task=CartPole-v1", "sim_device=cpu", "keep_host_memory=yes"]))


def test_torch_threads_auto_is_one_thread_for_one_agent_and_every_core_for_a_population():
    assert cpu_threads(resolve(compose_config(["task=CartPole-v1", "sim_device=cpu"]))) == 1
    assert cpu_threads(resolve(compose_config(["task=CartPole-v1", "sim_device=cpu", "population=3"]))) == 0
    assert cpu_threads(resolve(compose_config(["task=CartPole-v1", "sim_device=cpu", "population=3",
                                               "torch_threads=1"]))) == 1
    for bad in ("-1", "many"):
        with pytest.raises(ConfigError, match=f"torch_threads.*{bad}.*auto or an integer"):
            resolve(compose_config(["task=CartPole-v1", "sim_device=cpu", f"torch_threads={bad}"]))
