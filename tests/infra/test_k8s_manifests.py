"""infra/k8s: a control plane with a lock on the door, checked on the manifests themselves.

Every manifest is parsed (PyYAML) and `problems` lists, one line each:
- a server (Prefect, MLflow, a Spark master or worker, a Spark driver on a cluster) that listens
  beyond loopback (`--host 0.0.0.0`, the pod's address, or no host) without that server's
  authentication turned on: Prefect basic auth (`PREFECT_SERVER_API_AUTH_STRING` from a Secret),
  MLflow's basic-auth app (`--app-name basic-auth`, admin password and CSRF key from a Secret, a
  default permission that grants no writes), Spark RPC authentication (`spark.authenticate true`
  and the shared secret from a Secret in the `spark-defaults.conf` of its `SPARK_CONF_DIR`);
  and Spark's web UIs, which have no authentication, on loopback only (daemons) or off (drivers);
- a Service whose pods no NetworkPolicy selects with ingress rules naming who may connect, and
  a namespace without a default-deny ingress policy;
- a secret value written in a manifest: a Secret object with data, a secret-named environment
  variable or ConfigMap key with a literal value, a password in a URI, a secret assigned in a
  configuration file or command line.

The checker is shown to catch each kind of problem on small manifests below, and on the
manifests as they were before authentication was added (kept here in their original form).
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "infra" / "k8s"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
SERVER_KINDS = {
    "prefect": re.compile(r"\bprefect server start\b"),
    "mlflow": re.compile(r"\bmlflow (?:server|ui)\b"),
    "spark-daemon": re.compile(r"deploy\.(?:master\.Master|worker\.Worker)\b"),
    # the CLI (`hydrawatch serve`, a Job's `hydrawatch retrain`): a Spark driver
    "spark-driver": re.compile(r"(?:^|[\s/])hydrawatch(?:\s|$)"),
}
SECRET_NAME = re.compile(
    r"(SECRET|PASSWORD|PASSWD|TOKEN|AUTH_STRING|API_KEY|CREDENTIAL|PRIVATE_KEY)", re.IGNORECASE
)
# `key = value`, `key value` (Spark properties) or `-Dkey=value` where the key names a secret
SECRET_ASSIGNMENT = re.compile(
    r"(?:^|[\s'\"]|-D)([\w.]*(?:secret|password|passwd|token|auth_string|api_key)"
    r"[\w.-]*)\s*(?:=|:|\s)\s*([^\s'\";]+)",
    re.IGNORECASE | re.MULTILINE,
)
PASSWORD_IN_URI = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@", re.IGNORECASE)


def load(paths) -> list[dict]:
    docs = []
    for path in paths:
        docs += [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
    return docs


def _pod_specs(docs):
    for doc in docs:
        spec = (doc.get("spec") or {}).get("template", {}).get("spec")
        if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job") and spec:
            yield doc, spec


def _command(container) -> str:
    return " ".join(
        str(x) for x in (container.get("command") or []) + (container.get("args") or [])
    )


def _env(container, docs) -> dict[str, dict]:
    """name -> the env entry ({"value": ...} or {"valueFrom": ...}), ConfigMaps resolved."""
    maps = {
        d["metadata"]["name"]: d.get("data") or {} for d in docs if d.get("kind") == "ConfigMap"
    }
    env: dict[str, dict] = {}
    for source in container.get("envFrom") or []:
        ref = (source.get("configMapRef") or {}).get("name")
        for key, value in maps.get(ref, {}).items():
            env[key] = {"value": str(value)}
    for entry in container.get("env") or []:
        env[entry["name"]] = entry
    return env


def _from_secret(entry: dict | None) -> bool:
    ref = ((entry or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
    return bool(ref.get("name") and ref.get("key"))


def _host(command: str, kind: str, env: dict) -> str | None:
    found = re.search(r"--host[ =]+\"?([^\s\"]+)", command)
    if found:
        return found.group(1)
    if kind == "prefect":
        return (env.get("PREFECT_SERVER_API_HOST") or {}).get("value")
    if kind == "mlflow":
        return (env.get("MLFLOW_HOST") or {}).get("value")
    return None


def _spark_auth_problems(who, spec, container, env) -> list[str]:
    """spark.authenticate on, with the secret from a Secret, in SPARK_CONF_DIR's defaults."""
    conf_dir = (env.get("SPARK_CONF_DIR") or {}).get("value")
    if not conf_dir:
        return [f"{who}: Spark without SPARK_CONF_DIR, so without spark.authenticate"]
    mounted = {m["mountPath"].rstrip("/"): m["name"] for m in container.get("volumeMounts") or []}
    volume = mounted.get(conf_dir.rstrip("/"))
    if volume is None:
        return [f"{who}: SPARK_CONF_DIR {conf_dir} is no mounted volume"]
    for init in spec.get("initContainers") or []:
        writes = {m["name"] for m in init.get("volumeMounts") or []}
        script = _command(init)
        if volume in writes and "spark-defaults.conf" in script:
            problems = []
            if not re.search(r"spark\.authenticate\s+true", script):
                problems.append(f"{who}: spark-defaults.conf without spark.authenticate true")
            uses = re.search(r"spark\.authenticate\.secret\s+%s.*\"\$(\w+)\"", script)
            if not (uses and _from_secret(_env(init, []).get(uses.group(1)))):
                problems.append(f"{who}: spark.authenticate.secret not taken from a Secret")
            return problems
    return [f"{who}: nothing writes spark-defaults.conf into {conf_dir}"]


def _mlflow_auth_problems(who, command, env, docs) -> list[str]:
    problems = []
    if not re.search(r"--app-name[ =]+basic-auth\b", command):
        problems.append(f"{who}: MLflow server without --app-name basic-auth")
    for name in ("MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY"):
        if not _from_secret(env.get(name)):
            problems.append(f"{who}: {name} not from a Secret")
    for doc in docs:
        for key, text in (
            (doc.get("data") or {}) if doc.get("kind") == "ConfigMap" else {}
        ).items():
            if str(key).endswith(".ini") and "[mlflow]" in str(text):
                parser = configparser.ConfigParser()
                parser.read_string(str(text))
                permission = parser["mlflow"].get("default_permission", "READ")
                if permission not in ("READ", "NO_PERMISSIONS"):
                    problems.append(f"{who}: MLflow default_permission {permission} grants writes")
    return problems


def _server_problems(docs) -> list[str]:
    problems = []
    for doc, spec in _pod_specs(docs):
        for container in spec.get("containers") or []:
            command, env = _command(container), _env(container, docs)
            who = f"{doc['kind']}/{doc['metadata']['name']}/{container['name']}"
            for kind, pattern in SERVER_KINDS.items():
                if not pattern.search(command):
                    continue
                if kind == "spark-driver":
                    master = (env.get("HYDRAWATCH_SPARK_MASTER") or {}).get("value", "local[*]")
                    if master.startswith("local"):
                        continue  # one pod: everything on loopback (hydrawatch/spark.py)
                    problems += _spark_auth_problems(who, spec, container, env)
                    ui = (env.get("HYDRAWATCH_SPARK_UI") or {}).get("value", "true")
                    if ui.lower() != "false":
                        problems.append(f"{who}: the driver's web UI (no authentication) is on")
                    continue
                if _host(command, kind, env) in LOOPBACK_HOSTS:
                    continue
                if kind == "prefect" and not _from_secret(
                    env.get("PREFECT_SERVER_API_AUTH_STRING")
                ):
                    problems.append(
                        f"{who}: Prefect server beyond loopback without "
                        "PREFECT_SERVER_API_AUTH_STRING from a Secret"
                    )
                if kind == "mlflow":
                    problems += _mlflow_auth_problems(who, command, env, docs)
                if kind == "spark-daemon":
                    problems += _spark_auth_problems(who, spec, container, env)
                    if (env.get("SPARK_LOCAL_IP") or {}).get("value") not in LOOPBACK_HOSTS:
                        problems.append(
                            f"{who}: Spark web UI (no authentication) beyond loopback; "
                            "set SPARK_LOCAL_IP=127.0.0.1"
                        )
    return problems


def _selects(policy_selector: dict, labels: dict) -> bool:
    wanted = policy_selector.get("matchLabels") or {}
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def _network_problems(docs) -> list[str]:
    policies = [d for d in docs if d.get("kind") == "NetworkPolicy"]
    problems = []
    default_deny = any(
        p["spec"].get("podSelector") in ({}, None)
        and "Ingress" in (p["spec"].get("policyTypes") or [])
        and not p["spec"].get("ingress")
        for p in policies
    )
    if not default_deny:
        problems.append("no default-deny ingress NetworkPolicy (podSelector {}, no ingress rule)")
    for service in (d for d in docs if d.get("kind") == "Service"):
        labels = (service.get("spec") or {}).get("selector") or {}
        name = service["metadata"]["name"]
        guarding = [
            p
            for p in policies
            if _selects(p["spec"].get("podSelector") or {}, labels)
            and "Ingress" in (p["spec"].get("policyTypes") or ["Ingress"])
        ]
        if not guarding:
            problems.append(f"Service/{name}: no NetworkPolicy selects its pods")
        for policy in guarding:
            for rule in policy["spec"].get("ingress") or []:
                sources = rule.get("from") or []
                if not sources or any(
                    "ipBlock" in s or not (s.get("podSelector") or {}).get("matchLabels")
                    for s in sources
                ):
                    problems.append(
                        f"Service/{name}: NetworkPolicy/{policy['metadata']['name']} lets "
                        "in more than named pods"
                    )
    return problems


def _strings(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


def _is_reference(value: str) -> bool:
    """A shell, Kubernetes or printf reference to a value held elsewhere, not the value."""
    return value.startswith(("$", "%s", "{{", "/")) or value.lower() in ("true", "false")


def _plain_secret_problems(docs) -> list[str]:
    problems = []
    for doc in docs:
        who = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
        if doc.get("kind") == "Secret" and (doc.get("data") or doc.get("stringData")):
            problems.append(f"{who}: a Secret with its values in the repository")
            continue
        if doc.get("kind") == "ConfigMap":
            for key in doc.get("data") or {}:
                if SECRET_NAME.search(str(key)):
                    problems.append(f"{who}: secret-named key {key} in a ConfigMap")
        for _, spec in _pod_specs([doc]):
            for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
                for entry in container.get("env") or []:
                    if SECRET_NAME.search(entry["name"]) and "value" in entry:
                        problems.append(f"{who}: {entry['name']} written in the manifest")
        for path, text in _strings(doc):
            if PASSWORD_IN_URI.search(text):
                problems.append(f"{who}{path}: a password in a URI")
            for key, value in SECRET_ASSIGNMENT.findall(text):
                if not _is_reference(value):
                    problems.append(f"{who}{path}: {key} assigned in plain text")
    return problems


def problems(docs) -> list[str]:
    return _server_problems(docs) + _network_problems(docs) + _plain_secret_problems(docs)


# --- the manifests of this repository -----------------------------------------------------------


def test_every_manifest_parses_and_none_has_a_problem():
    paths = sorted(K8S.glob("*.yaml"))
    docs = load(paths)
    assert len(paths) >= 4 and len(docs) >= 15
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "ConfigMap", "NetworkPolicy"} <= kinds
    assert problems(docs) == []


def test_each_server_is_found_and_its_auth_seen():
    docs = load(sorted(K8S.glob("*.yaml")))
    seen = {
        kind
        for _, spec in _pod_specs(docs)
        for container in spec["containers"]
        for kind, pattern in SERVER_KINDS.items()
        if pattern.search(_command(container))
    }
    # all four kinds are present, so the checks above ran on each of them
    assert seen == set(SERVER_KINDS)
    services = {d["metadata"]["name"] for d in docs if d["kind"] == "Service"}
    assert services == {"prefect-server", "mlflow", "spark-master"}


# --- the checker catches each kind of problem ----------------------------------------------------

# infra/k8s as it was before this check (commit 7b8ec64), reduced to what the check reads.
OLD_MANIFESTS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: mlflow}
spec:
  template:
    metadata: {labels: {app: mlflow}}
    spec:
      containers:
        - name: mlflow
          command: ["mlflow", "server", "--host", "0.0.0.0", "--port", "5000",
                    "--backend-store-uri", "$(MLFLOW_BACKEND_STORE_URI)"]
          env:
            - name: MLFLOW_BACKEND_STORE_URI
              valueFrom: {secretKeyRef: {name: mlflow-db, key: uri}}
---
apiVersion: v1
kind: Service
metadata: {name: mlflow}
spec: {selector: {app: mlflow}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: prefect-server}
spec:
  template:
    metadata: {labels: {app: prefect-server}}
    spec:
      containers:
        - name: server
          command: ["prefect", "server", "start", "--host", "0.0.0.0", "--port", "4200"]
---
apiVersion: v1
kind: Service
metadata: {name: prefect-server}
spec: {selector: {app: prefect-server}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: hydrawatch-worker}
spec:
  template:
    metadata: {labels: {app: hydrawatch-worker}}
    spec:
      containers:
        - name: worker
          command: ["hydrawatch", "serve"]
          envFrom: [{configMapRef: {name: hydrawatch-settings}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: hydrawatch-settings}
data:
  HYDRAWATCH_SPARK_MASTER: spark://spark-master:7077
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: spark-master}
spec:
  template:
    metadata: {labels: {app: spark-master}}
    spec:
      containers:
        - name: master
          command: ["sh", "-c", "exec spark-class org.apache.spark.deploy.master.Master --host 0.0.0.0 --port 7077"]
---
apiVersion: v1
kind: Service
metadata: {name: spark-master}
spec: {selector: {app: spark-master}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: spark-worker}
spec:
  template:
    metadata: {labels: {app: spark-worker}}
    spec:
      containers:
        - name: worker
          command: ["sh", "-c", "exec spark-class org.apache.spark.deploy.worker.Worker spark://spark-master:7077"]
"""


def test_the_manifests_before_auth_fail_the_check():
    found = problems(list(yaml.safe_load_all(OLD_MANIFESTS)))
    assert found == [
        "Deployment/mlflow/mlflow: MLflow server without --app-name basic-auth",
        "Deployment/mlflow/mlflow: MLFLOW_AUTH_ADMIN_PASSWORD not from a Secret",
        "Deployment/mlflow/mlflow: MLFLOW_FLASK_SERVER_SECRET_KEY not from a Secret",
        "Deployment/prefect-server/server: Prefect server beyond loopback without "
        "PREFECT_SERVER_API_AUTH_STRING from a Secret",
        "Deployment/hydrawatch-worker/worker: Spark without SPARK_CONF_DIR, so without "
        "spark.authenticate",
        "Deployment/hydrawatch-worker/worker: the driver's web UI (no authentication) is on",
        "Deployment/spark-master/master: Spark without SPARK_CONF_DIR, so without "
        "spark.authenticate",
        "Deployment/spark-master/master: Spark web UI (no authentication) beyond loopback; "
        "set SPARK_LOCAL_IP=127.0.0.1",
        "Deployment/spark-worker/worker: Spark without SPARK_CONF_DIR, so without "
        "spark.authenticate",
        "Deployment/spark-worker/worker: Spark web UI (no authentication) beyond loopback; "
        "set SPARK_LOCAL_IP=127.0.0.1",
        "no default-deny ingress NetworkPolicy (podSelector {}, no ingress rule)",
        "Service/mlflow: no NetworkPolicy selects its pods",
        "Service/prefect-server: no NetworkPolicy selects its pods",
        "Service/spark-master: no NetworkPolicy selects its pods",
    ]


def _current_with(change) -> list[str]:
    docs = load(sorted(K8S.glob("*.yaml")))
    change(docs)
    return problems(docs)


def _pod(docs, deployment: str) -> dict:
    doc = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == deployment)
    return doc["spec"]["template"]["spec"]


def _container(docs, deployment: str) -> dict:
    return _pod(docs, deployment)["containers"][0]


def test_a_server_on_loopback_needs_no_auth_but_one_beyond_does():
    def prefect_on_loopback_without_auth(docs):
        c = _container(docs, "prefect-server")
        c["command"] = ["prefect", "server", "start", "--host", "127.0.0.1"]
        c["env"] = [e for e in c["env"] if e["name"] != "PREFECT_SERVER_API_AUTH_STRING"]

    assert _current_with(prefect_on_loopback_without_auth) == []

    def prefect_without_host_nor_auth(docs):
        c = _container(docs, "prefect-server")
        c["command"] = ["prefect", "server", "start"]
        c["env"] = [e for e in c["env"] if e["name"] != "PREFECT_SERVER_API_AUTH_STRING"]
        c["env"].append({"name": "PREFECT_SERVER_API_HOST", "value": "0.0.0.0"})

    assert _current_with(prefect_without_host_nor_auth) == [
        "Deployment/prefect-server/server: Prefect server beyond loopback without "
        "PREFECT_SERVER_API_AUTH_STRING from a Secret"
    ]


def test_spark_auth_must_be_on_and_its_secret_from_a_secret():
    def auth_off(docs):
        init = _pod(docs, "spark-worker")["initContainers"][0]
        init["command"][2] = init["command"][2].replace("spark.authenticate true", "")

    assert _current_with(auth_off) == [
        "Deployment/spark-worker/worker: spark-defaults.conf without spark.authenticate true"
    ]

    def secret_literal(docs):
        init = _pod(docs, "spark-master")["initContainers"][0]
        init["env"] = [{"name": "SPARK_AUTH_SECRET", "value": "hunter2hunter2"}]

    assert _current_with(secret_literal) == [
        "Deployment/spark-master/master: spark.authenticate.secret not taken from a Secret",
        "Deployment/spark-master: SPARK_AUTH_SECRET written in the manifest",
    ]


def test_a_service_without_its_network_policy_or_with_an_open_one_fails():
    def drop_mlflow_policy(docs):
        docs[:] = [
            d
            for d in docs
            if not (d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "mlflow")
        ]

    assert _current_with(drop_mlflow_policy) == [
        "Service/mlflow: no NetworkPolicy selects its pods"
    ]

    def open_prefect_to_all(docs):
        policy = next(
            d
            for d in docs
            if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "prefect-server"
        )
        policy["spec"]["ingress"][0]["from"] = [{"ipBlock": {"cidr": "0.0.0.0/0"}}]

    assert _current_with(open_prefect_to_all) == [
        "Service/prefect-server: NetworkPolicy/prefect-server lets in more than named pods"
    ]

    def no_default_deny(docs):
        docs[:] = [d for d in docs if d["metadata"]["name"] != "default-deny-ingress"]

    assert _current_with(no_default_deny) == [
        "no default-deny ingress NetworkPolicy (podSelector {}, no ingress rule)"
    ]


def test_secret_values_written_in_plain_text_are_found():
    leaky = """
apiVersion: v1
kind: Secret
metadata: {name: prefect-auth}
stringData: {auth-string: "admin:hunter2"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data:
  MLFLOW_TRACKING_PASSWORD: hunter2
  MLFLOW_TRACKING_URI: http://pipeline:hunter2@mlflow:5000
  spark-defaults.conf: |
    spark.authenticate true
    spark.authenticate.secret hunter2hunter2
  basic_auth.ini: |
    [mlflow]
    admin_password = hunter2
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: worker}
spec:
  template:
    spec:
      containers:
        - name: worker
          command: ["java", "-Dspark.authenticate.secret=hunter2hunter2", "Main"]
          env:
            - {name: PREFECT_API_AUTH_STRING, value: "admin:hunter2"}
            - {name: HYDRAWATCH_WEBHOOK_SECRET, valueFrom: {secretKeyRef: {name: w, key: s}}}
"""
    found = _plain_secret_problems(list(yaml.safe_load_all(leaky)))
    assert found == [
        "Secret/prefect-auth: a Secret with its values in the repository",
        "ConfigMap/settings: secret-named key MLFLOW_TRACKING_PASSWORD in a ConfigMap",
        "ConfigMap/settings.data.MLFLOW_TRACKING_URI: a password in a URI",
        "ConfigMap/settings.data.spark-defaults.conf: spark.authenticate.secret assigned in "
        "plain text",
        "ConfigMap/settings.data.basic_auth.ini: admin_password assigned in plain text",
        "Deployment/worker: PREFECT_API_AUTH_STRING written in the manifest",
        "Deployment/worker.spec.template.spec.containers[0].command[1]: "
        "spark.authenticate.secret assigned in plain text",
    ]
