"""What the local gateway needs from the template's API Gateway v2 resources (HTTP API and WebSocket)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .template import Resolver, references

__all__ = ["ApiSpec", "HttpRoute", "extract_apis"]

log = logging.getLogger(__name__)
_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@dataclass(frozen=True)
class HttpRoute:
    method: str  # upper case, or "ANY"
    path: str  # OpenAPI style: /api/tasks/{id}, /api/{proxy+}
    function: str  # logical id of the Lambda function
    authorized: bool  # whether the JWT authorizer guards it


@dataclass
class ApiSpec:
    http_api: str | None = None  # logical id
    http_routes: list[HttpRoute] | None = None
    jwt_issuer: str | None = None
    jwt_audience: list[str] | None = None
    throttle: tuple[float, int] | None = None
    ws_api: str | None = None  # logical id
    ws_stage: str | None = None
    ws_function: str | None = None


def _function_in(node: Any, resources: dict[str, dict[str, Any]]) -> str | None:
    for name in sorted(references(node)):
        if resources.get(name, {}).get("Type") == "AWS::Lambda::Function":
            return name
    return None


def _targets(node: Any, logical_id: str) -> bool:
    return logical_id in references(node)


def _http_routes(body: dict[str, Any], resources: dict[str, dict[str, Any]]) -> list[HttpRoute]:
    routes: list[HttpRoute] = []
    default_security = body.get("security") or []
    for path, operations in (body.get("paths") or {}).items():
        for key, operation in operations.items():
            method = "ANY" if key == "x-amazon-apigateway-any-method" else key.upper()
            if key != "x-amazon-apigateway-any-method" and key not in _METHODS:
                continue
            integration = operation.get("x-amazon-apigateway-integration") or {}
            function = _function_in(integration.get("uri"), resources)
            if function is None:
                log.warning("route %s %s has no Lambda integration; skipped", method, path)
                continue
            security = operation.get("security", default_security) or []
            # SAM writes Auth: NONE as a requirement named NONE; no requirement at all is also open.
            authorized = any(name != "NONE" for requirement in security for name in requirement)
            routes.append(HttpRoute(method, path, function, authorized))
    return routes


def _jwt(body: dict[str, Any], resolver: Resolver) -> tuple[str | None, list[str] | None]:
    schemes = ((body.get("components") or {}).get("securitySchemes") or {}).values()
    for scheme in schemes:
        authorizer = scheme.get("x-amazon-apigateway-authorizer") or {}
        if authorizer.get("type") == "jwt":
            config = resolver.resolve(authorizer.get("jwtConfiguration") or {})
            audience = config.get("audience") or []
            return config.get("issuer"), [str(a) for a in audience]
    return None, None


def _stages(resources: dict[str, dict[str, Any]], api: str) -> list[dict[str, Any]]:
    return [r.get("Properties") or {} for r in resources.values()
            if r.get("Type") == "AWS::ApiGatewayV2::Stage"
            and _targets((r.get("Properties") or {}).get("ApiId"), api)]


def _throttle(stage: dict[str, Any], resolver: Resolver) -> tuple[float, int] | None:
    settings = resolver.resolve(stage.get("DefaultRouteSettings") or {})
    rate, burst = settings.get("ThrottlingRateLimit"), settings.get("ThrottlingBurstLimit")
    if rate is None and burst is None:
        return None
    return float(rate if rate is not None else 10000), int(float(burst if burst is not None else 5000))


def _ws_function(resources: dict[str, dict[str, Any]], api: str) -> str | None:
    routes = {(r.get("Properties") or {}).get("RouteKey"): r.get("Properties") or {}
              for r in resources.values()
              if r.get("Type") == "AWS::ApiGatewayV2::Route"
              and _targets((r.get("Properties") or {}).get("ApiId"), api)}
    for key in ("$connect", "$default", "$disconnect"):
        if key not in routes:
            continue
        for integration in references(routes[key].get("Target")):
            props = resources.get(integration, {}).get("Properties") or {}
            if (function := _function_in(props.get("IntegrationUri"), resources)) is not None:
                return function
    return None


def extract_apis(resources: dict[str, dict[str, Any]], resolver: Resolver) -> ApiSpec:
    """Read routes, authorizer, throttling and the WebSocket target from the transformed template."""
    spec = ApiSpec()
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::ApiGatewayV2::Api":
            continue
        props = resource.get("Properties") or {}
        stages = _stages(resources, logical_id)
        if props.get("ProtocolType") == "WEBSOCKET":
            if spec.ws_api is not None:
                log.warning("more than one WebSocket API; serving %s only", spec.ws_api)
                continue
            spec.ws_api = logical_id
            spec.ws_stage = str(resolver.resolve(stages[0].get("StageName"))) if stages else None
            spec.ws_function = _ws_function(resources, logical_id)
        elif isinstance(props.get("Body"), dict):
            if spec.http_api is not None:
                log.warning("more than one HTTP API; serving %s only", spec.http_api)
                continue
            spec.http_api = logical_id
            spec.http_routes = _http_routes(props["Body"], resources)
            spec.jwt_issuer, spec.jwt_audience = _jwt(props["Body"], resolver)
            spec.throttle = next((t for s in stages if (t := _throttle(s, resolver))), None)
    return spec
