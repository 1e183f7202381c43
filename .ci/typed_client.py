"""The typed contract, from a platform's side: calls the demo server through a client that
openapi-python-client generated from /openapi.json (see .ci/run), and checks that every
engine answer parsed into the generated models with no field left over, so the document
types each answer exactly rather than as a generic object.

Usage: python typed_client.py BASE_URL API_KEY (with the generated `nextbest_client`
installed)."""
import sys

import attrs

from nextbest_client import AuthenticatedClient
from nextbest_client.api.decisions import (
    benchmark,
    fit,
    next_best_actions,
    prediction,
    similar,
    what_if,
)
from nextbest_client.api.portfolio import attention, forecast
from nextbest_client.models import (
    Attention,
    Benchmark,
    Fit,
    FitRequest,
    Forecast,
    PartnerDoc,
    PlannedAction,
    PlanPrediction,
    Recommendations,
    SimilarPartner,
    WhatIf,
    WhatIfRequest,
)


def undeclared(value, where="answer"):
    """Paths of the fields that a parsed model kept in `additional_properties`: keys the
    answer carried that the document does not declare."""
    found = []
    if attrs.has(type(value)):
        for key in getattr(value, "additional_properties", {}):
            found.append(f"{where}.{key}")
        for field in attrs.fields(type(value)):
            if field.name != "additional_properties":
                found += undeclared(getattr(value, field.name), f"{where}.{field.name}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += undeclared(item, f"{where}[{i}]")
    return found


def typed(answer, model, what):
    assert isinstance(answer, model), f"{what}: expected {model.__name__}, got {answer!r}"
    extra = undeclared(answer, what)
    assert not extra, f"{what}: fields the document does not declare: {extra}"
    return answer


def main(base_url, key):
    client = AuthenticatedClient(base_url=base_url, token=key, raise_on_unexpected_status=True)
    with client as c:
        # The newcomer's first call, as the demo prints it.
        recs = typed(next_best_actions.sync("p0001.4", client=c, k=3), Recommendations,
                     "next-best-actions")
        first = recs.actions[0]
        assert isinstance(first.kind, str) and first.kind, first
        assert isinstance(first.explanation.why_now, str) and first.explanation.why_now, first
        assert isinstance(first.expected_effect, float), first
        print("typed client: next best actions:", [a.kind for a in recs.actions],
              "- why now:", first.explanation.why_now)

        typed(prediction.sync("p0001.4", client=c), PlanPrediction, "prediction")
        partners = similar.sync("p0001", client=c, k=3)
        assert isinstance(partners, list) and partners, partners
        for i, p in enumerate(partners):
            typed(p, SimilarPartner, f"similar[{i}]")
        typed(benchmark.sync("p0001", client=c), Benchmark, "benchmark")
        prospect = FitRequest(partner=PartnerDoc.from_dict({"region": "EMEA"}), k=5)
        typed(fit.sync(client=c, body=prospect), Fit, "fit")
        plan = WhatIfRequest(add=[PlannedAction(kind=first.kind, quantity=1.0)])
        typed(what_if.sync("p0001.4", client=c, body=plan), WhatIf, "what-if")
        typed(forecast.sync(client=c, group_by="tier"), Forecast, "forecast")
        typed(attention.sync("m005", client=c, limit=5), Attention, "attention")
    print("typed client: every engine answer parsed into its generated model")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
