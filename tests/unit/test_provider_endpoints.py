"""Which endpoint URLs a user may give a provider: https to public hosts only, unless the operator allows a host."""

from __future__ import annotations

import pytest
from spoonfeeder.models.provider_settings import KeyedProvider
from spoonfeeder.providers.endpoints import EndpointRefused, allowed_hosts, check_resolved, check_url
from spoonfeeder.tasks.routing import CLOUD_PROVIDERS

NONE: frozenset[str] = frozenset()


@pytest.mark.parametrize("url", [
    "https://api.openai.com/v1", "https://gateway.example.com:8443/openai/v1", "https://8.8.8.8/v1",
    "https://[2606:4700::1111]/v1",
])
def test_public_https_endpoints_are_allowed(url: str) -> None:
    assert check_url(url, NONE) == url


@pytest.mark.parametrize("url", [
    "http://api.openai.com/v1",  # not https
    "https://169.254.169.254/latest/meta-data/",  # instance metadata
    "https://[fd00:ec2::254]/", "https://[::ffff:169.254.169.254]/",  # IPv6 metadata, IPv4-mapped
    "https://127.0.0.1:9001/2018-06-01/runtime/invocation/next",  # the Lambda runtime API
    "https://10.0.0.5/v1", "https://192.168.1.1/", "https://172.16.0.1/", "https://100.64.0.1/", "https://0.0.0.0/",
    "https://[::1]/", "https://[fe80::1]/", "https://224.0.0.1/",
    "https://localhost/v1", "https://api.localhost/", "https://metadata.google.internal/", "https://printer.local/",
    "https://intranet/", "https://127.1/", "https://2130706433/", "https://0x7f000001/",
    "https://user:pass@api.openai.com/v1", "https://api.openai.com/v1?x=1", "https://api.openai.com/v1#frag",
    "ftp://api.openai.com/", "file:///etc/passwd", "api.openai.com/v1", "https://", "https://api.openai.com:99999/",
    "https://api.openai.com/v1\n", "https://api.openai.com/ v1", "https://bücher.example/v1", "https://a_b.example/",
    "https://-bad.example/", "https://xn--.example/x\u00e9",
])
def test_private_local_or_malformed_endpoints_are_refused(url: str) -> None:
    with pytest.raises(EndpointRefused) as refused:
        check_url(url, NONE)
    assert refused.value.status == 400 and refused.value.code == "ENDPOINT_NOT_ALLOWED"


def test_the_operators_allow_list_admits_its_hosts_over_http() -> None:
    allowed = allowed_hosts(" 127.0.0.1, LocalHost ,")
    assert allowed == {"127.0.0.1", "localhost"}
    assert check_url("http://127.0.0.1:8787/v1", allowed) == "http://127.0.0.1:8787/v1"
    assert check_url("http://localhost:8787/v1", allowed)
    with pytest.raises(EndpointRefused):
        check_url("http://10.0.0.1/v1", allowed)  # only the hosts it names


def test_a_name_is_refused_where_it_is_used_when_it_resolves_to_a_private_address() -> None:
    url = "https://rebind.example.com/v1"
    assert check_url(url, NONE) == url  # the form is fine: names are resolved where they are used
    assert check_resolved(url, NONE, resolve=lambda host: ["93.184.216.34"]) == url
    with pytest.raises(EndpointRefused, match="resolves to a private"):
        check_resolved(url, NONE, resolve=lambda host: ["93.184.216.34", "169.254.169.254"])
    with pytest.raises(EndpointRefused):
        check_resolved(url, NONE, resolve=lambda host: ["::1"])
    assert check_resolved(url, frozenset({"rebind.example.com"}), resolve=lambda host: ["10.0.0.1"]) == url


def test_a_name_that_does_not_resolve_is_left_to_the_call() -> None:
    def unknown(host: str) -> list[str]:
        raise OSError("Name or service not known")

    assert check_resolved("https://gone.example.com/v1", NONE, resolve=unknown)


def test_every_cloud_provider_takes_a_key_and_no_other() -> None:
    assert {str(p) for p in KeyedProvider} == {str(p) for p in CLOUD_PROVIDERS}
