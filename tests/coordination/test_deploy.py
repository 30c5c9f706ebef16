"""docker-compose.ha.yaml: a ZooKeeper and two replicas that share one configuration (spec 11)."""

from __future__ import annotations

from pathlib import Path

import yaml

from ds_monitor.config import load_config

REPO = Path(__file__).resolve().parents[2]


def test_ha_compose_runs_two_replicas_of_one_configuration_on_zookeeper():
    services = yaml.safe_load((REPO / "docker-compose.ha.yaml").read_text(encoding="utf-8"))["services"]
    replicas = [s for name, s in services.items() if name.startswith("ds-monitor")]
    assert len(replicas) == 2 and "zookeeper" in services
    environments = [r["environment"] for r in replicas]
    assert environments[0] == environments[1]
    config = load_config(None, environ=environments[0], dotenv_path=None).config.coordination
    assert (config.backend, config.zookeeper.hosts) == ("zookeeper", "zookeeper:2181")
    assert all(".env" in r["env_file"] and r["build"] == "." for r in replicas)
    # Each replica its own log volume and host port; only localhost can reach the endpoints.
    logs = [next(v for v in r["volumes"] if v.endswith(":/app/logs")) for r in replicas]
    ports = [r["ports"][0] for r in replicas]
    assert len(set(logs)) == 2 and len(set(ports)) == 2
    assert all(port.startswith("127.0.0.1:") for port in ports)
