"""The Kubernetes manifests: rendered with ``kubectl kustomize`` (base and
the example overlay), then checked: two replicas, probes on /healthz and
/readyz, a non-root read-only container, a PodDisruptionBudget, no secret
written into any file, and a configuration Tactful accepts.

Without kubectl the base is read with PyYAML instead (it has no patches),
and the overlay test is skipped with the reason.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxy.app.config_check import Level, check_text

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
KUBECTL = shutil.which("kubectl")
SECRET_NAME = re.compile(r"(KEY|PASSWORD|SECRET|TOKEN|PGPASS)", re.IGNORECASE)


def render(folder: Path) -> list[dict[str, Any]]:
    if KUBECTL is not None:
        done = subprocess.run(
            [KUBECTL, "kustomize", str(folder)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    if folder != K8S / "base":
        pytest.skip("kubectl is not installed: the overlay's patches cannot be applied")
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for name in kustomization["resources"]:
        docs += [doc for doc in yaml.safe_load_all((folder / name).read_text()) if doc]
    for generator in kustomization.get("configMapGenerator", ()):
        files = {Path(f).name: (folder / f).read_text() for f in generator["files"]}
        docs.append({"kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": files})
    return docs


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [doc for doc in docs if doc["kind"] == kind]
    assert len(found) == 1, [d["kind"] for d in docs]
    return found[0]


@pytest.fixture(params=["base", "overlays/example"])
def docs(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(K8S / request.param)


def test_two_replicas_probes_and_a_disruption_budget(docs: list[dict[str, Any]]) -> None:
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"smtp": 2525, "http": 8025}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"]["memory"]
    assert container["resources"]["limits"]["memory"]
    # The same image migrates first: the two processes, db upgrade then serve.
    (migrate,) = pod["spec"]["initContainers"]
    assert migrate["args"] == ["db", "upgrade"] and container["args"] == ["serve"]
    budget = one(docs, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    labels = pod["metadata"]["labels"]
    for selector in (
        budget["spec"]["selector"]["matchLabels"],
        one(docs, "Service")["spec"]["selector"],
    ):
        assert selector.items() <= labels.items()


def test_every_container_runs_as_non_root_on_a_read_only_root(docs: list[dict[str, Any]]) -> None:
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    for container in pod["containers"] + pod["initContainers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, container["name"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["runAsNonRoot"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/var/lib/tactful", "/tmp"} <= mounts  # where it may write


def test_no_secret_is_written_into_the_manifests(docs: list[dict[str, Any]]) -> None:
    assert not [d for d in docs if d["kind"] == "Secret"], "Secrets are created, not committed"
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    for container in pod["containers"] + pod["initContainers"]:
        for variable in container.get("env", ()):
            if SECRET_NAME.search(variable["name"]):
                assert "value" not in variable, variable["name"]
                assert "secretKeyRef" in variable["valueFrom"]
    secret_volumes = {v["name"] for v in pod["volumes"] if "secret" in v}
    assert {"keys", "users", "tls"} <= secret_volumes
    config = one(docs, "ConfigMap")["data"]["tactful.yaml"]
    url = yaml.safe_load(config)["database"]["url"]
    assert ":" not in url.split("://", 1)[1].split("@", 1)[0], "no password in the URL"


def test_the_configuration_is_one_tactful_accepts(docs: list[dict[str, Any]]) -> None:
    text = one(docs, "ConfigMap")["data"]["tactful.yaml"]
    report = check_text(text, "tactful.yaml")
    # Files that exist only inside the pod (mounted Secrets) are expected to
    # be missing here; anything else would be a real error.
    real = [
        p
        for p in report.problems
        if p.level is Level.ERROR and "does not exist or cannot be read" not in p.message
    ]
    assert real == [], real
    settings = yaml.safe_load(text)
    assert settings["review"]["listen"] == "0.0.0.0:8025"
    assert settings["smtp"]["listen"] == "0.0.0.0:2525"


def test_the_overlay_sets_image_namespace_and_the_gateway_path() -> None:
    docs = render(K8S / "overlays" / "example")
    deployment = one(docs, "Deployment")
    assert deployment["metadata"]["namespace"] == "tactful"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.lakeside.org/tactful:1.0.0"
    service = one(docs, "Service")
    assert service["spec"]["externalTrafficPolicy"] == "Local"
    sources = service["spec"]["loadBalancerSourceRanges"]
    config = yaml.safe_load(one(docs, "ConfigMap")["data"]["tactful.yaml"])
    assert sources == config["smtp"]["gateway"]["networks"]
    assert (
        one(docs, "Namespace")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        == "restricted"
    )
