"""The cluster examples of ../shared/examples against a 3-node cluster on 127.0.0.1-3 started by
scripts/cluster-up.sh (the same script users run), with qdrant-client 1.15.1. seed_08 (6 shards,
replication factor 2, every node answering the same) and seed_09 (custom sharding with shard
keys on writes and reads) must pass."""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from _harness import REPO_ROOT, port_is_free, quiver_binary, selftest

EXAMPLES_DIR = Path(os.environ.get("QUIVER_EXAMPLES_DIR",
                                   REPO_ROOT / ".." / "shared" / "examples")).resolve()
PYTHON = os.environ.get("QUIVER_EXAMPLES_PYTHON",
                        str(REPO_ROOT / ".venv-examples" / "bin" / "python"))
SCRIPT = REPO_ROOT / "scripts" / "cluster-up.sh"


@pytest.fixture(scope="module")
def cluster():
    if selftest():
        pytest.skip("local mode has no cluster")
    if not port_is_free(6333):
        pytest.skip("127.0.0.1:6333 is busy: the cluster examples need Qdrant's ports on 127.0.0.1-3")
    data = tempfile.mkdtemp(prefix="quiver-cluster-")
    env = dict(os.environ, DATA=data, N="3", QUIVER_BIN=str(quiver_binary()), QUIVER_LOG="warn")
    up = subprocess.run(["bash", str(SCRIPT), "up"], env=env, capture_output=True, text=True,
                        timeout=180)
    try:
        if up.returncode != 0:
            pytest.fail(f"cluster-up.sh failed:\n{up.stdout}\n{up.stderr}", pytrace=False)
        yield data
    finally:
        subprocess.run(["bash", str(SCRIPT), "down"], env=env, capture_output=True, timeout=60)
        shutil.rmtree(data, ignore_errors=True)


def _logs(data: str) -> str:
    out = []
    for log in sorted(Path(data).glob("node-*/stderr.log")):
        out.append(f"--- {log.parent.name} ---\n" + log.read_text()[-3000:])
    return "\n".join(out)


@pytest.mark.parametrize("seed", ["seed_08", "seed_09"])
def test_cluster_example(cluster, seed):
    scripts = sorted(EXAMPLES_DIR.glob(f"{seed}_*.py"))
    if not scripts:
        pytest.skip(f"{seed} not found in {EXAMPLES_DIR}")
    proc = subprocess.run([PYTHON, scripts[0].name], cwd=EXAMPLES_DIR, capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        pytest.fail(f"{scripts[0].name} exited with {proc.returncode}\n--- stdout ---\n{proc.stdout}\n"
                    f"--- stderr ---\n{proc.stderr}\n{_logs(cluster)}", pytrace=False)
    assert f"{seed} ok" in proc.stdout
