"""The Helm chart and the example resources, checked without a cluster: the chart lints and
renders with Helm's own library; every rendered object and every CRD validates against the
Kubernetes 1.32 schemas (strict: unknown fields fail); the example custom resources validate
against the CRDs' own schemas; the RBAC grants only what the operator uses; and the Argo CD health
script maps statuses to the right health."""

import json
import pathlib

import helm_python as helm
import jsonschema
import kubernetes_validate
import lupa
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "quiver"
KUBE = "1.32.0"


def render(values=None):
    with helm.Chart.load(str(CHART)) as chart:
        manifests = chart.render(values or {}, name="quiver", namespace="quiver-system")
    objects = []
    for path, text in manifests.items():
        if path.endswith(".tpl") or path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                objects.append(doc)
    return objects


def test_the_chart_lints_clean():
    report = helm.lint(str(CHART), strict=True, kube_version="v1.32.0")
    problems = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    assert not problems and not report.get("errors"), report


@pytest.mark.parametrize("values", [{}, {"watchNamespace": "team-a", "metrics": {"service": {"enabled": False}}}])
def test_rendered_objects_validate_against_kubernetes(values):
    objects = render(values)
    kinds = sorted(o["kind"] for o in objects)
    assert "Deployment" in kinds and "ServiceAccount" in kinds, kinds
    for o in objects:
        kubernetes_validate.validate(o, KUBE, strict=True)
    rbac = [o["kind"] for o in objects if o["apiVersion"].startswith("rbac")]
    if values.get("watchNamespace"):
        assert sorted(rbac) == ["Role", "RoleBinding"], "one namespace: no cluster-wide grant"
        assert "Service" not in kinds
    else:
        assert sorted(rbac) == ["ClusterRole", "ClusterRoleBinding"]


def test_rbac_is_least_privilege():
    role = next(o for o in render() if o["kind"] == "ClusterRole")
    verbs = {}
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for res in rule["resources"]:
                verbs[(group, res)] = set(rule["verbs"])
    assert all("*" not in v for v in verbs.values())
    assert verbs[("", "secrets")] == {"get"}, "secrets are read one by one, never listed"
    assert "delete" not in verbs[("quiver.dev", "vectorclusters")], "the operator never deletes a user's cluster"
    assert ("", "nodes") not in verbs


def crds():
    return [yaml.safe_load(p.read_text()) for p in sorted((CHART / "crds").glob("*.yaml"))]


def test_the_chart_ships_the_generated_crds():
    for p in sorted((CHART / "crds").glob("*.yaml")):
        assert p.read_text() == (ROOT / "crds" / p.name).read_text(), f"{p.name} differs from crds/"
    for crd in crds():
        kubernetes_validate.validate(crd, KUBE, strict=True)


def crd_schema(kind):
    crd = next(c for c in crds() if c["spec"]["names"]["kind"] == kind)
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


@pytest.mark.parametrize("path", sorted((ROOT / "operator" / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_example_resources_validate_against_their_crds(path):
    obj = yaml.safe_load(path.read_text())
    jsonschema.Draft7Validator(crd_schema(obj["kind"])).validate(obj)


def test_a_bad_resource_is_refused_by_the_crd_schema():
    obj = yaml.safe_load((ROOT / "operator" / "examples" / "vectorcluster.yaml").read_text())
    obj["spec"]["nodes"] = "three"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(crd_schema("VectorCluster")).validate(obj)


def health(obj):
    lua = lupa.LuaRuntime(unpack_returned_tuples=True)
    script = (CHART / "argocd" / "health.lua").read_text()
    fn = lua.eval("function(obj) " + script + " end")
    hs = fn(lua.table_from(json.loads(json.dumps(obj)), recursive=True))
    return hs["status"], hs["message"]


def cond(t, s, msg=""):
    return {"type": t, "status": s, "message": msg}


def test_argocd_health_follows_the_status():
    meta = {"name": "v", "generation": 2}
    assert health({"metadata": meta})[0] == "Progressing"
    stale = {"metadata": meta, "status": {"observedGeneration": 1, "phase": "Ready", "conditions": [cond("Ready", "True")]}}
    assert health(stale)[0] == "Progressing", "an old status says nothing about the new spec"
    ok = {"metadata": meta, "status": {"observedGeneration": 2, "phase": "Ready", "conditions": [cond("Ready", "True", "3 of 3")]}}
    assert health(ok) == ("Healthy", "3 of 3")
    stalled = {"metadata": meta, "status": {"observedGeneration": 2, "phase": "Stalled",
               "conditions": [cond("Ready", "False"), cond("Stalled", "True", "cannot remove node 2")]}}
    assert health(stalled) == ("Degraded", "cannot remove node 2")
    moving = {"metadata": meta, "status": {"observedGeneration": 2, "phase": "Upgrading",
              "conditions": [cond("Ready", "False", "restarting pod 1"), cond("Reconciling", "True")]}}
    assert health(moving) == ("Progressing", "restarting pod 1")
    paused = {"metadata": meta, "status": {"observedGeneration": 2, "phase": "Paused"}}
    assert health(paused)[0] == "Suspended"
    failed = {"metadata": meta, "status": {"observedGeneration": 2, "phase": "Failed", "message": "bucket missing"}}
    assert health(failed) == ("Degraded", "bucket missing")
