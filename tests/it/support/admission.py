"""Admission by ValidatingAdmissionPolicies, as the API server decides it, for tests/it/admission.rs.

Reads JSON on stdin: {"manifests": "<multi-document YAML of policies and bindings>",
"requests": [{"user": ..., "namespace": ..., "operation": "CREATE"|"UPDATE",
"subResource": "status" or "" (the object itself), "object": {...},
"oldObject": {...} or null}]}. Prints JSON: for each request, the list of refusals (empty: admitted),
each "<policy>: <message>".

The CEL is evaluated by cel-python (PyPI `cel-python`), the policy's structure as the API
server reads it: a binding with `Deny` applies its policy; the policy matches a request by
its namespaceSelector (`matchLabels` on the namespace's `kubernetes.io/metadata.name`, the
only label a namespace is sure to have) and its resourceRules; then every matchCondition
must be true, the variables are computed in order, and every validation must be true.
An expression that fails to evaluate refuses (failurePolicy: Fail), as does anything in a
policy this evaluator does not know (so a test cannot pass on what it skipped).
"""

import json
import sys

import celpy
import yaml

RESOURCES = {
    "Pod": ("", "v1", "pods"),
    "Job": ("batch", "v1", "jobs"),
    "Secret": ("", "v1", "secrets"),
    "AgentRun": ("agentpods.dev", "v1alpha1", "agentruns"),
    "AgentApproval": ("agentpods.dev", "v1alpha1", "agentapprovals"),
}
KNOWN_SPEC = {
    "failurePolicy",
    "matchConstraints",
    "matchConditions",
    "variables",
    "validations",
}
KNOWN_CONSTRAINTS = {"namespaceSelector", "resourceRules"}


class Unknown(Exception):
    pass


def matches_rules(rules, request):
    group, version, resource = RESOURCES[request["object"]["kind"]]
    # A rule names a subresource as `<resource>/<subresource>`; `<resource>` alone matches
    # the object itself, not its subresources.
    if request.get("subResource"):
        resource = f"{resource}/{request['subResource']}"
    for rule in rules:
        if set(rule) - {"apiGroups", "apiVersions", "resources", "operations"}:
            raise Unknown(f"resource rule keys {sorted(rule)}")
        ok = (
            group in rule["apiGroups"] or "*" in rule["apiGroups"]
        ) and (
            version in rule["apiVersions"] or "*" in rule["apiVersions"]
        ) and (
            resource in rule["resources"] or ("*" in rule["resources"] and "/" not in resource)
        ) and (
            request["operation"] in rule["operations"] or "*" in rule["operations"]
        )
        if ok:
            return True
    return False


def matches_namespace(selector, namespace):
    if set(selector) - {"matchLabels"}:
        raise Unknown(f"namespaceSelector keys {sorted(selector)}")
    labels = {"kubernetes.io/metadata.name": namespace}
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def evaluate(env, expression, activation):
    program = env.program(env.compile(expression))
    return program.evaluate(activation)


def admit(env, policy, request):
    spec = policy["spec"]
    if set(spec) - KNOWN_SPEC:
        raise Unknown(f"policy keys {sorted(spec)}")
    if spec.get("failurePolicy", "Fail") != "Fail":
        raise Unknown("failurePolicy other than Fail")
    constraints = spec["matchConstraints"]
    if set(constraints) - KNOWN_CONSTRAINTS:
        raise Unknown(f"matchConstraints keys {sorted(constraints)}")
    if not matches_namespace(constraints.get("namespaceSelector", {}), request["namespace"]):
        return []
    if not matches_rules(constraints["resourceRules"], request):
        return []
    activation = {
        "object": celpy.json_to_cel(request["object"]),
        # What an UPDATE changes; null for a CREATE, as the API server gives it.
        "oldObject": celpy.json_to_cel(request.get("oldObject")),
        "request": celpy.json_to_cel(
            {
                "userInfo": {"username": request["user"]},
                "namespace": request["namespace"],
                "operation": request["operation"],
                "subResource": request.get("subResource", ""),
            }
        ),
    }
    name = policy["metadata"]["name"]
    try:
        for condition in spec.get("matchConditions", []):
            result = evaluate(env, condition["expression"], activation)
            if not isinstance(result, celpy.celtypes.BoolType):
                raise Unknown(f"matchCondition {condition['name']} gave {result!r}")
            if not result:
                return []
        variables = {}
        for variable in spec.get("variables", []):
            activation["variables"] = celpy.celtypes.MapType(
                {celpy.celtypes.StringType(k): v for k, v in variables.items()}
            )
            variables[variable["name"]] = evaluate(env, variable["expression"], activation)
        activation["variables"] = celpy.celtypes.MapType(
            {celpy.celtypes.StringType(k): v for k, v in variables.items()}
        )
    except Exception as e:  # an error here refuses, with failurePolicy: Fail
        return [f"{name}: error: {e}"]
    refusals = []
    for validation in spec["validations"]:
        try:
            result = evaluate(env, validation["expression"], activation)
            ok = isinstance(result, celpy.celtypes.BoolType) and bool(result)
            if not ok:
                refusals.append(f"{name}: {validation['message']}")
        except Exception as e:
            refusals.append(f"{name}: error: {validation['message']}: {e}")
    return refusals


def main():
    data = json.load(sys.stdin)
    docs = [d for d in yaml.safe_load_all(data["manifests"]) if d]
    policies = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ValidatingAdmissionPolicy"}
    bindings = [d for d in docs if d["kind"] == "ValidatingAdmissionPolicyBinding"]
    env = celpy.Environment()
    out = []
    for request in data["requests"]:
        refusals = []
        for binding in bindings:
            bspec = binding["spec"]
            if set(bspec) - {"policyName", "validationActions"}:
                raise Unknown(f"binding keys {sorted(bspec)}")
            if "Deny" not in bspec["validationActions"]:
                continue
            refusals += admit(env, policies[bspec["policyName"]], request)
        out.append(refusals)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
