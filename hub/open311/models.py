"""The shapes of GeoReport v2 answers (http://wiki.open311.org/GeoReport_v2), as the spec names their
fields; the web side renders each as JSON or XML."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Attribute",
    "AttributeValue",
    "Discovery",
    "Endpoint",
    "Open311Error",
    "RequestCreated",
    "Service",
    "ServiceDefinition",
    "ServiceRequest",
]


@dataclass(frozen=True, slots=True)
class Endpoint:
    specification: str
    url: str
    changeset: str
    type: str
    formats: list[str]


@dataclass(frozen=True, slots=True)
class Discovery:
    changeset: str
    contact: str
    key_service: str
    endpoints: list[Endpoint]


@dataclass(frozen=True, slots=True)
class Service:
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


@dataclass(frozen=True, slots=True)
class AttributeValue:
    key: str
    name: str


@dataclass(frozen=True, slots=True)
class Attribute:
    variable: bool
    code: str
    datatype: str
    required: bool
    datatype_description: str
    order: int
    description: str
    values: list[AttributeValue] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ServiceDefinition:
    service_code: str
    attributes: list[Attribute]


@dataclass(frozen=True, slots=True)
class ServiceRequest:
    """A request as GET answers it. ``description`` and ``address`` are the caller's words: only the
    partner that created the request sees them; anyone else gets them empty."""

    service_request_id: str
    status: str
    status_notes: str
    service_name: str
    service_code: str
    description: str
    agency_responsible: str
    service_notice: str
    requested_datetime: str
    updated_datetime: str
    expected_datetime: str | None
    address: str
    address_id: str
    zipcode: str
    lat: float | None
    long: float | None
    media_url: str


@dataclass(frozen=True, slots=True)
class RequestCreated:
    service_request_id: str
    service_notice: str
    account_id: str | None


@dataclass(frozen=True, slots=True)
class Open311Error:
    code: int
    description: str
