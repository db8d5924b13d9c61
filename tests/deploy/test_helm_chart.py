"""helm lint --strict and offline rendering of helm/appliance, and what the manifests promise."""

from __future__ import annotations

from typing import Any

import helm_python as helm
import pytest

from tests.deploy.render_manifests import CHART, NAMESPACE, documents, render, values

WORKLOADS = {"Deployment", "StatefulSet", "Job", "CronJob"}


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def component(doc: dict[str, Any]) -> str:
    return doc["metadata"]["labels"]["app.kubernetes.io/component"]


@pytest.fixture(scope="module", params=["default", "production"])
def value_set(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return request.param, values(request.param)


@pytest.fixture(scope="module")
def docs(value_set: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return documents(render(value_set[1]))


def test_lint_strict(value_set: tuple[str, dict[str, Any]]) -> None:
    report = helm.lint(CHART, value_set[1], strict=True, namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # warnings fail under --strict
    assert report["errors"] == [] and problems == [], report


def test_values_schema_accepts_sets_and_rejects_mistakes(value_set: tuple[str, dict[str, Any]]) -> None:
    with helm.Chart.load(CHART) as chart:
        assert chart.schema is not None
        chart.validate_schema(value_set[1])
        for bad in (
            {"workers": 0},
            {"replicaCount": "two"},
            {"unknownKey": True},
            {"config": {"APPLIANCE_DATABASE_URL": "postgresql://u:p@db/appliance"}},  # secret in values
            {"externalS3": {"endpoint": "https://s3.example.com"}},  # host:port, no scheme
            {"image": {"repository": "x", "digest": "latest"}},
        ):
            with pytest.raises(helm.HelmValuesError):
                chart.validate_schema(bad)


def test_every_object_is_namespaced_and_labelled(docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        meta = doc["metadata"]
        assert meta.get("namespace") == NAMESPACE, meta["name"]
        assert meta["labels"]["app.kubernetes.io/instance"] == "shop", meta["name"]


def test_workloads_non_root_hardened_with_resources(docs: list[dict[str, Any]]) -> None:
    workloads = [d for d in docs if d["kind"] in WORKLOADS]
    assert workloads
    for doc in workloads:
        spec = pod_spec(doc)
        name = doc["metadata"]["name"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert spec.get("automountServiceAccountToken") is False, name
        assert "hostNetwork" not in spec and "hostPID" not in spec, name
        for container in spec.get("initContainers", []) + spec["containers"]:
            ctx = container["securityContext"]
            assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] > 0, name
            assert ctx["allowPrivilegeEscalation"] is False, name
            assert ctx["readOnlyRootFilesystem"] is True, name
            assert ctx["capabilities"]["drop"] == ["ALL"], name
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), (name, bound)


def test_long_running_containers_have_probes(docs: list[dict[str, Any]]) -> None:
    for doc in by_kind(docs, "Deployment") + by_kind(docs, "StatefulSet"):
        for container in pod_spec(doc)["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert probe in container, (doc["metadata"]["name"], probe)
    (api,) = by_kind(docs, "Deployment")
    container = pod_spec(api)["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_api_scales_with_hpa_and_pdb(docs: list[dict[str, Any]]) -> None:
    (api,) = by_kind(docs, "Deployment")
    (hpa,) = by_kind(docs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": api["metadata"]["name"],
    }
    assert "replicas" not in api["spec"]  # the HPA owns the replica count
    assert by_kind(docs, "PodDisruptionBudget")


def test_api_gets_runtime_role_and_signing_key_never_owner_url(docs: list[dict[str, Any]]) -> None:
    (api,) = by_kind(docs, "Deployment")
    env = {e["name"]: e for e in pod_spec(api)["containers"][0]["env"]}
    assert "APPLIANCE_DATABASE_URL" not in env  # the owner connection stays in the Jobs
    assert "APPLIANCE_APP_DATABASE_URL" in env
    assert env["APPLIANCE_JWT_PRIVATE_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "jwt-private-key"
    for entry in env.values():  # secrets only by reference
        if any(word in entry["name"] for word in ("PASSWORD", "SECRET", "TOKEN", "PRIVATE_KEY")):
            assert "valueFrom" in entry, entry["name"]


def test_migrate_is_a_hook_job_and_purge_a_daily_cronjob(docs: list[dict[str, Any]]) -> None:
    (job,) = by_kind(docs, "Job")
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert "pre-upgrade" in hooks and ({"pre-install", "post-install"} & set(hooks))
    assert pod_spec(job)["containers"][0]["args"] == ["migrate"]
    env = {e["name"] for e in pod_spec(job)["containers"][0]["env"]}
    assert {"APPLIANCE_DATABASE_URL", "APPLIANCE_APP_DATABASE_PASSWORD"} <= env
    (cron,) = by_kind(docs, "CronJob")
    assert pod_spec(cron)["containers"][0]["args"][0] == "purge"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert len(cron["spec"]["schedule"].split()) == 5


def test_pre_install_hook_dependencies_are_hooks_too(docs: list[dict[str, Any]]) -> None:
    """The migrate Job runs before ordinary resources exist: its Secrets and policy must be hooks."""
    (job,) = by_kind(docs, "Job")
    if "pre-install" not in job["metadata"]["annotations"]["helm.sh/hook"]:
        return
    refs = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in pod_spec(job)["containers"][0]["env"]
        if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]
    }
    generated = {d["metadata"]["name"]: d for d in by_kind(docs, "Secret")}
    for name in refs & set(generated):
        assert "pre-install" in generated[name]["metadata"]["annotations"]["helm.sh/hook"]


def test_ingress_and_persistent_volumes(
    docs: list[dict[str, Any]], value_set: tuple[str, dict[str, Any]]
) -> None:
    (ingress,) = [i for i in by_kind(docs, "Ingress") if component(i) == "api"]
    host = ingress["spec"]["rules"][0]["host"]
    assert host == (value_set[1].get("ingress", {}).get("host") or "appliance.local")
    claims = [t for s in by_kind(docs, "StatefulSet") for t in s["spec"]["volumeClaimTemplates"]]
    if value_set[0] == "default":
        assert by_kind(docs, "PersistentVolumeClaim") and len(claims) == 2  # postgresql, minio
    else:
        assert not by_kind(docs, "StatefulSet")  # everything stateful is external in production


def _egress_targets(policy: dict[str, Any]) -> list[tuple[str, int]]:
    targets = []
    for rule in policy["spec"]["egress"]:
        ports = [p["port"] for p in rule["ports"]]
        for peer in rule["to"]:
            if "ipBlock" in peer:
                kind = "cidr:" + peer["ipBlock"]["cidr"]
            elif "namespaceSelector" in peer:
                kind = (
                    "dns"
                    if peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
                    else "other-namespace"
                )
            else:
                kind = "pod:" + peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
            targets += [(kind, port) for port in ports]
    return targets


def test_network_policies_restrict_api_egress_to_its_backends(
    docs: list[dict[str, Any]], value_set: tuple[str, dict[str, Any]]
) -> None:
    policies = {
        d["metadata"]["name"].removeprefix("shop-appliance-"): d for d in by_kind(docs, "NetworkPolicy")
    }
    deny = policies["default-deny"]["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in deny and "egress" not in deny
    targets = set(_egress_targets(policies["api"]))
    vals = value_set[1]
    if value_set[0] == "default":
        allowed = {("dns", 53), ("pod:postgresql", 5432), ("pod:minio", 9000)}
    else:
        allowed = {
            ("dns", 53),
            ("cidr:" + vals["externalDatabase"]["cidr"], vals["externalDatabase"]["port"]),
            ("cidr:" + vals["externalMilvus"]["cidr"], vals["externalMilvus"]["port"]),
            ("cidr:" + vals["externalS3"]["cidr"], vals["externalS3"]["port"]),
        }
    assert targets == allowed
    assert set(_egress_targets(policies["migrate"])) <= allowed
    for name, policy in policies.items():
        for rule in policy["spec"].get("ingress", []):
            assert rule["from"] and rule["ports"], name  # no allow-all ingress rule
    if "postgresql" in policies:
        sources = {
            p["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
            for p in policies["postgresql"]["spec"]["ingress"][0]["from"]
        }
        assert sources == {"api", "migrate", "purge"}


def test_optional_milvus_component_and_its_policy() -> None:
    docs = documents(render({"milvus": {"enabled": True}}))
    names = {d["metadata"]["name"] for d in by_kind(docs, "StatefulSet")}
    assert "shop-appliance-milvus" in names
    (api,) = by_kind(docs, "Deployment")
    env = {e["name"]: e.get("value") for e in pod_spec(api)["containers"][0]["env"]}
    assert env["APPLIANCE_MILVUS_URI"] == "http://shop-appliance-milvus:19530"
    (policy,) = [d for d in by_kind(docs, "NetworkPolicy") if d["metadata"]["name"] == "shop-appliance-api"]
    assert ("pod:milvus", 19530) in _egress_targets(policy)


def test_default_vector_index_is_embedded() -> None:
    (api,) = by_kind(documents(render({})), "Deployment")
    assert "APPLIANCE_MILVUS_URI" not in {e["name"] for e in pod_spec(api)["containers"][0]["env"]}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"postgresql": {"enabled": False}}, "externalDatabase.existingSecret"),
        ({"minio": {"enabled": False}, "externalS3": {"endpoint": "s3:9000"}}, "existingSecret"),
        ({"milvus": {"enabled": True}, "externalMilvus": {"uri": "http://m:19530"}}, "not both"),
        (
            {"postgresql": {"enabled": False}, "externalDatabase": {"existingSecret": "db"}},
            "externalDatabase.cidr",
        ),
    ],
)
def test_inconsistent_values_fail_to_render(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmError, match=message):
        render(overrides)


def test_notes_give_the_url() -> None:
    notes = render(values("production"))["appliance/templates/NOTES.txt"]
    assert "https://analytics.example.com" in notes
    assert "/healthz" in notes


def test_chart_packages(tmp_path: Any) -> None:
    archive = helm.package(CHART, destination=tmp_path)
    assert archive.endswith("appliance-0.1.0.tgz")
