"""Schemathesis against the running local cloud, from the API's own /api/openapi.json: every operation with a
bounded number of generated requests, valid and invalid, signed in as the dev user. No answer may be a server
error, carry a status code the document does not list, or differ from its documented schema."""

from __future__ import annotations

from urllib.parse import urlsplit

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.e2e.conftest import Cloud, User

#: Generated requests per operation and mode (valid, invalid): about a minute on two cores.
EXAMPLES = 25
#: Not "schema-valid data is accepted": a valid-looking cursor, date or provider/type pair may still be refused
#: (400/422), which the document says.
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def test_generated_requests_get_documented_answers(cloud: Cloud, alice: User) -> None:
    schema = schemathesis.openapi.from_url(f"{cloud.api}/openapi.json")
    origin = urlsplit(cloud.api)
    schema.config.update(base_url=f"{origin.scheme}://{origin.netloc}", request_timeout=30,
                         headers={"Authorization": f"Bearer {alice.token}"})
    failures: list[str] = []
    answered: set[tuple[str, int]] = set()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            # Not shrunk: a failure is reported as found, which keeps the run bounded.
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            def run(case: schemathesis.Case) -> None:
                answered.add((case.operation.label, case.call_and_validate(checks=CHECKS).status_code))

            try:
                run()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # no parameter or body to make invalid
            except (Exception, BaseExceptionGroup) as exc:  # collected: every operation is tried
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    for provider in ("openai", "anthropic", "gemini"):  # the fuzzed keys and endpoints of the dev user go
        alice.call("DELETE", f"/settings/{provider}")  # so later tests run with the operator's key again
    assert not failures, "\n\n".join(failures)
    # Signed in for real: authorized operations answered, not only the gateway's 401 (creates too, from the
    # document's example body).
    expected = {("GET /api/tasks", 200), ("POST /api/tasks", 201), ("GET /api/auth/me", 200)}
    assert expected <= answered, str(sorted(answered))
