#!/usr/bin/env python3
"""The one endpoint tierwatch's integration tests point every AWS SDK client at.

It sits in front of a moto server (see moto_standin.py) and serves these AWS APIs on one
loopback port:

* CloudWatch metrics. The Rust SDK speaks only Smithy RPCv2-CBOR to CloudWatch
  (`POST /service/GraniteServiceVersion20100801/operation/<Op>`), which moto does not. The body
  is decoded, sent to moto's AWS JSON 1.0 CloudWatch API, and the answer is encoded back to
  CBOR, member by member, using CloudWatch's service model as shipped in botocore (so
  timestamps become CBOR tag 1 and doubles stay doubles). GetMetricData is paged here because
  moto ignores MaxDatapoints. JSON 1.0 requests (boto3) are passed to moto as they are.
* CloudWatch Logs (AWS JSON 1.1, `X-Amz-Target: Logs_20140328.*`): passed to moto as is.
* Service Quotas (AWS JSON 1.1, `X-Amz-Target: ServiceQuotasV20190624.*`): moto has no
  `bedrock` quotas, so ListServiceQuotas is answered here from quotas seeded per region with
  `PUT /_standin/quotas/<region>`.
* Price List Query API (AWS JSON 1.1, `X-Amz-Target: AWSPriceListService.*`; moto has none):
  GetProducts and DescribeServices, answered here from product documents seeded per service
  code with `PUT /_standin/pricing/<ServiceCode>`. Each PriceList item is the seeded document
  serialized as a JSON string, as in AWS; pages follow the seeded order.
* Bedrock's control plane (REST-JSON; moto's `bedrock` has none of these): ListFoundationModels
  (`GET /foundation-models`), GetFoundationModel (`GET /foundation-models/{id or ARN}`),
  GetInferenceProfile (`GET /inference-profiles/{id or URL-encoded ARN}`) and
  ListInferenceProfiles (`GET /inference-profiles`), answered from models and profiles seeded
  per region; the region is the one the request is signed for. The model invocation logging
  configuration (GET, PUT and DELETE /logging/modelinvocations) is moto's: those requests are
  passed to moto as they are. A request is Bedrock's when it has one of those paths or is
  signed for service "bedrock"; other Bedrock operations get a 404 UnknownOperationException
  (they are not passed to moto).
* S3 and SQS (signed for "s3" or "sqs"): passed to moto as they are, so one endpoint serves
  every source a config names. Faults can be armed for S3's GetObject (delays, and errors in
  S3's XML shape).
* STS (AWS query protocol, `POST /` signed for service "sts", e.g. GetCallerIdentity): passed
  to moto as is; injected faults answer in the query protocol's XML error form.

For tests it also injects faults into any operation, in the protocol the SDK expects, and
counts calls per operation. Admin endpoints:

  POST /_standin/faults   {"operation": "FilterLogEvents", "status": 400,
                           "code": "ThrottlingException", "message": "Rate exceeded",
                           "times": 2, "delay_ms": 0, "service": "logs"}
                          status/code may be left out for a pure delay; times left out means
                          every call until reset; service ("logs", "cloudwatch",
                          "servicequotas", "pricing", "bedrock", "sts") only matters for operation
                          names several share. Errors take each protocol's form: JSON 1.x
                          {"__type", "message"} plus x-amzn-ErrorType, REST-JSON (Bedrock)
                          x-amzn-ErrorType plus {"message"}, CBOR for CloudWatch, an XML
                          ErrorResponse for STS.
  GET  /_standin/faults   the faults still armed
  GET  /_standin/calls    {"<Operation>": count} for every AWS call received, faulted or not
  PUT  /_standin/quotas/<region>   a JSON list of ServiceQuota items (API member names)
  PUT  /_standin/pricing/<ServiceCode>
                          a JSON list of product documents as JSON objects, e.g.
                          {"product": {"sku": "ABC", "productFamily": "...", "attributes":
                          {"regionCode": "us-east-1", ...}}, "serviceCode": "AmazonBedrock",
                          "terms": {"OnDemand": {...}}, "version": "...", "publicationDate":
                          "..."}; product.sku is required and unique, attributes are strings,
                          serviceCode is filled in when left out. Answers {"serviceCode",
                          "count"}.
  PUT  /_standin/bedrock/foundation-models/<region>
                          a JSON list of FoundationModelSummary objects (API member names);
                          only modelId is required. Left out: modelArn
                          arn:aws:bedrock:<region>::foundation-model/<modelId>, modelName =
                          modelId, providerName from the id's first segment ("anthropic" ->
                          "Anthropic"), TEXT in and out, streaming, no customizations,
                          ON_DEMAND, modelLifecycle {"status": "ACTIVE"}. Answers {"region",
                          "count"}.
  PUT  /_standin/bedrock/inference-profiles/<region>
                          a JSON list of inference profiles (GetInferenceProfile's members);
                          only inferenceProfileId is required, plus models for APPLICATION
                          ones. Left out: type SYSTEM_DEFINED, inferenceProfileArn
                          arn:aws:bedrock:<region>:123456789012:inference-profile/<id> (or
                          application-inference-profile/<id>), name = id, status ACTIVE, and
                          for a system-defined "<geo>.<modelId>" the models [{"modelArn": that
                          model in <region>}]. createdAt/updatedAt: epoch seconds or ISO-8601,
                          sent as ISO-8601 as the service model says. Answers {"region",
                          "count"}.
                          Each PUT replaces what was seeded under that key.
  POST /_standin/reset    clears faults, counts, all seeded data, paging state, and resets moto
  GET  /_standin/health   200 once the front answers

Where this differs from AWS (moto 5.2.5, checked; tests must not rely on these):
* GetMetricData: only Sum, Average, Minimum, Maximum and SampleCount; a percentile (p95, ...)
  or other extended statistic is answered with an InvalidParameterValue error that says so
  (moto would crash). With dimensions in a query, moto does not check its namespace. Periods
  start at StartTime, not at period boundaries: use aligned StartTimes.
* ListMetrics: RecentlyActive and the two-week window are ignored (every metric ever put is
  listed); pages hold 500 metrics, as in AWS.
* FilterLogEvents: JSON filter patterns and logStreamNamePrefix are ignored (term patterns
  work); pages are always full. The front adds `interleaved: true` to every FilterLogEvents
  request, because AWS always interleaves streams by time (the parameter is deprecated) and
  moto only does when asked.
* Service Quotas: only ListServiceQuotas; other operations get UnknownOperationException.
* Price List: only GetProducts and DescribeServices (not GetAttributeValues or the bulk
  price list files). TERM_MATCH, CONTAINS, ANY_OF and NONE_OF compare case-insensitively,
  EQUALS exactly; ANY_OF/NONE_OF values are split on commas and trimmed; a product without the
  filtered field matches only NONE_OF (AWS's handling of case and missing fields is not
  documented). Field "ServiceCode", "sku" and "productFamily" are read from the document, any
  other Field from product.attributes. An unknown ServiceCode gives an empty PriceList
  (DescribeServices: no Services). NextTokens are not opaque: they encode an offset and only
  fit the query (service code, filters) they came from; a bad one is InvalidNextTokenException.
* Bedrock: timestamps go out as ISO-8601 strings (the model's timestampFormat). Without
  `type`, ListInferenceProfiles lists only SYSTEM_DEFINED profiles, as AWS does; without
  maxResults its pages hold 100 (AWS does not document its default). byProvider matches
  providerName or the model id's first segment, case-insensitively. A system-defined
  profile's default models are only the seeded region's (AWS lists every region the profile
  routes to). A bad nextToken is a ValidationException. With logging never configured or
  deleted, GetModelInvocationLoggingConfiguration answers `{"loggingConfig": {}}` (moto);
  AWS leaves loggingConfig out.
* Request bodies the SDK gzips (PutMetricData from 10 KiB on) are decompressed here.

Usage: front.py --port 0 --moto-url http://127.0.0.1:PORT [--exit-on-stdin-eof] [--verbose]
Listens on 127.0.0.1 only and prints one "ready <url>" line on stdout once it accepts requests.
"""

import argparse
import base64
import binascii
import copy
import dataclasses
import gzip
import hashlib
import http.client
import json
import os
import re
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from collections import Counter
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore
import cbor2

CBOR_CONTENT_TYPE = "application/cbor"
JSON_1_0_CONTENT_TYPE = "application/x-amz-json-1.0"
JSON_1_1_CONTENT_TYPE = "application/x-amz-json-1.1"
REST_JSON_CONTENT_TYPE = "application/json"
# The AWS query protocol (STS): form-encoded requests, XML answers and errors.
QUERY_CONTENT_TYPE = "text/xml"

CLOUDWATCH_TARGET_PREFIX = "GraniteServiceVersion20100801"
CLOUDWATCH_CBOR_PATH_PREFIX = f"/service/{CLOUDWATCH_TARGET_PREFIX}/operation/"
LOGS_TARGET_PREFIX = "Logs_20140328"
QUOTAS_TARGET_PREFIX = "ServiceQuotasV20190624"
PRICING_TARGET_PREFIX = "AWSPriceListService"

# moto's default account; quota ARNs filled in by the stand-in use it too.
ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"

# The statistics moto 5.2.5 computes; anything else (p95, tm99, ...) crashes moto's serializer.
MOTO_STATISTICS = {"Sum", "Average", "Minimum", "Maximum", "SampleCount"}
# AWS's default for GetMetricData's MaxDatapoints.
DEFAULT_MAX_DATAPOINTS = 100_800

QUOTA_MEMBERS = {
    "ServiceCode", "ServiceName", "QuotaArn", "QuotaCode", "QuotaName", "Value", "Unit",
    "Adjustable", "GlobalQuota", "UsageMetric", "Period", "ErrorReason",
    "QuotaAppliedAtLevel", "QuotaContext", "Description",
}
QUOTA_LEVELS = {"ACCOUNT", "RESOURCE", "ALL"}
SERVICE_NAMES = {"bedrock": "Amazon Bedrock"}
# The service names faults and the front's dispatch use.
FAULT_SERVICES = ("logs", "cloudwatch", "servicequotas", "pricing", "bedrock", "sts", "s3")

# Price List Query API. Its filter types, and the fields that are not product attributes.
PRICE_LIST_FORMAT = "aws_v1"
PRICING_MAX_RESULTS = 100
PRICE_FILTER_TYPES = {"TERM_MATCH", "EQUALS", "CONTAINS", "ANY_OF", "NONE_OF"}

# Bedrock control plane (REST-JSON): the collections served here, by path.
FOUNDATION_MODELS_PATH = "/foundation-models"
INFERENCE_PROFILES_PATH = "/inference-profiles"
# Bedrock operations moto serves itself, by method and path: passed to moto as they are.
LOGGING_PATH = "/logging/modelinvocations"
MOTO_BEDROCK_OPERATIONS = {
    ("GET", LOGGING_PATH): "GetModelInvocationLoggingConfiguration",
    ("PUT", LOGGING_PATH): "PutModelInvocationLoggingConfiguration",
    ("DELETE", LOGGING_PATH): "DeleteModelInvocationLoggingConfiguration",
}
FOUNDATION_MODEL_MEMBERS = {
    "modelArn", "modelId", "modelName", "providerName", "inputModalities", "outputModalities",
    "responseStreamingSupported", "customizationsSupported", "inferenceTypesSupported",
    "modelLifecycle",
}
INFERENCE_PROFILE_MEMBERS = {
    "inferenceProfileName", "description", "createdAt", "updatedAt", "inferenceProfileArn",
    "models", "inferenceProfileId", "status", "type",
}
INFERENCE_PROFILE_TYPES = {"SYSTEM_DEFINED", "APPLICATION"}
# The enums ListFoundationModels' query parameters take (AWS refuses other values).
MODEL_MODALITIES = {"TEXT", "IMAGE", "EMBEDDING"}
MODEL_CUSTOMIZATIONS = {"FINE_TUNING", "CONTINUED_PRE_TRAINING", "DISTILLATION"}
INFERENCE_TYPES = {"ON_DEMAND", "PROVISIONED"}
INFERENCE_PROFILES_MAX_RESULTS = 1000
# Page size when ListInferenceProfiles has no maxResults; AWS does not document its own.
INFERENCE_PROFILES_DEFAULT_PAGE = 100
# providerName for a model id's first segment, when a seeded model leaves it out.
PROVIDER_NAMES = {
    "ai21": "AI21 Labs", "amazon": "Amazon", "anthropic": "Anthropic", "cohere": "Cohere",
    "deepseek": "DeepSeek", "meta": "Meta", "mistral": "Mistral AI", "openai": "OpenAI",
    "stability": "Stability AI", "writer": "Writer",
}

# Admin paths that seed what the front serves itself; the last segment is the key.
PRICING_SEED_PATH = "/_standin/pricing/"
FOUNDATION_MODELS_SEED_PATH = "/_standin/bedrock/foundation-models/"
INFERENCE_PROFILES_SEED_PATH = "/_standin/bedrock/inference-profiles/"

# Credential scope in a SigV4 Authorization header: Credential=KEY/DATE/REGION/SERVICE/aws4_request
CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,]+/\d{8}/([^/,]+)/([^/,]+)/aws4_request")


def load_botocore_model(service: str, version: str) -> dict:
    path = os.path.join(
        os.path.dirname(botocore.__file__), "data", service, version, "service-2.json.gz"
    )
    with gzip.open(path, "rt", encoding="utf-8") as model_file:
        return json.load(model_file)


CLOUDWATCH_MODEL = load_botocore_model("cloudwatch", "2010-08-01")


class ProtocolError(Exception):
    """An error to answer in the caller's protocol: HTTP status, AWS error code, message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


# ---------------------------------------------------------------------------------------------
# CBOR <-> JSON for CloudWatch


def cbor_request_to_json(value):
    """A decoded RPCv2-CBOR input as the AWS JSON 1.0 document moto reads: timestamps (CBOR tag
    1, decoded by cbor2 as aware datetimes) become epoch seconds, blobs become base64."""
    if isinstance(value, dict):
        return {key: cbor_request_to_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [cbor_request_to_json(item) for item in value]
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, cbor2.CBORTag) and value.tag == 1:
        return value.value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def json_to_cbor_shape(value, shape_name: str):
    """Converts moto's JSON answer to the value RPCv2-CBOR needs for `shape_name`.

    JSON cannot tell a timestamp or a double from an integer, but the SDK's CBOR decoder can:
    a timestamp must be tag 1, a double must be a CBOR float (an integer is refused). So every
    member is converted by its type in CloudWatch's service model. Null members are left out
    (Smithy omits absent members); members the model does not know are kept as they are."""
    shape = CLOUDWATCH_MODEL["shapes"][shape_name]
    kind = shape["type"]
    if kind == "structure":
        members = shape.get("members", {})
        converted = {}
        for key, item in value.items():
            if item is None:
                continue
            member = members.get(key)
            converted[key] = json_to_cbor_shape(item, member["shape"]) if member else item
        return converted
    if kind == "list":
        return [json_to_cbor_shape(item, shape["member"]["shape"]) for item in value]
    if kind == "map":
        value_shape = shape["value"]["shape"]
        return {key: json_to_cbor_shape(item, value_shape) for key, item in value.items()}
    if kind == "timestamp":
        return cbor2.CBORTag(1, float(epoch_seconds(value)))
    if kind in ("double", "float"):
        return float(value)
    if kind in ("integer", "long", "short", "byte"):
        return int(value)
    if kind == "boolean":
        return bool(value)
    if kind == "blob":
        return base64.b64decode(value)
    return value


def epoch_seconds(value) -> float:
    if isinstance(value, (int, float)):
        return value
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def cloudwatch_output_shape(operation: str) -> str | None:
    output = CLOUDWATCH_MODEL["operations"].get(operation, {}).get("output")
    return output["shape"] if output else None


def cloudwatch_query_error(code: str, status: int) -> str:
    """The `x-amzn-query-error` header (`<code>;Sender|Receiver`) CloudWatch sends with errors.

    CloudWatch is `awsQueryCompatible`: the Rust SDK takes the error code from this header when
    it is present, so modelled errors carry their query-protocol code (InvalidParameterValue
    for InvalidParameterValueException), as real CloudWatch does."""
    shape = CLOUDWATCH_MODEL["shapes"].get(code.rsplit("#", 1)[-1], {})
    error = shape.get("error")
    if error and "code" in error:
        fault = "Sender" if error.get("senderFault") else "Receiver"
        return f"{error['code']};{fault}"
    return f"{code.rsplit('#', 1)[-1]};{'Sender' if status < 500 else 'Receiver'}"


def split_metric_data_pages(results: list, max_datapoints: int) -> list:
    """Splits GetMetricData results into pages of at most `max_datapoints` datapoints, as AWS
    pages them: a query whose datapoints continue on a later page says `PartialData`, its last
    part says `Complete`. Queries without datapoints appear on the first page."""
    pages = [[]]
    room = max_datapoints
    for result in results:
        timestamps = result.get("Timestamps") or []
        values = result.get("Values") or []
        if not timestamps:
            pages[0].append(dict(result, Timestamps=[], Values=[], StatusCode="Complete"))
            continue
        start = 0
        while start < len(timestamps):
            if room == 0:
                pages.append([])
                room = max_datapoints
            end = min(len(timestamps), start + room)
            status = "Complete" if end == len(timestamps) else "PartialData"
            pages[-1].append(
                dict(
                    result,
                    Timestamps=timestamps[start:end],
                    Values=values[start:end],
                    StatusCode=status,
                )
            )
            room -= end - start
            start = end
    return pages


# ---------------------------------------------------------------------------------------------
# Faults and shared state


@dataclasses.dataclass
class Fault:
    operation: str
    service: str | None
    status: int | None
    code: str | None
    message: str
    times: int | None  # None: every matching call until reset
    delay_ms: int

    @staticmethod
    def parse(spec) -> "Fault":
        if not isinstance(spec, dict):
            raise ValueError("a fault is a JSON object")
        unknown = set(spec) - {field.name for field in dataclasses.fields(Fault)}
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        operation = spec.get("operation")
        if not isinstance(operation, str) or not operation:
            raise ValueError("fault needs an 'operation' name, e.g. \"FilterLogEvents\"")
        service = spec.get("service")
        if service not in (None, *FAULT_SERVICES):
            raise ValueError(f"fault 'service' is one of {', '.join(FAULT_SERVICES)}")
        status = spec.get("status")
        code = spec.get("code")
        if status is not None:
            if not isinstance(status, int) or not 400 <= status <= 599:
                raise ValueError("fault 'status' is an HTTP error status, 400 to 599")
            if not isinstance(code, str) or not code:
                raise ValueError("a fault with a status needs an error 'code'")
        elif code is not None:
            raise ValueError("a fault with a 'code' needs a 'status'")
        times = spec.get("times")
        if times is not None and (not isinstance(times, int) or times < 1):
            raise ValueError("fault 'times' is a positive integer (leave it out for always)")
        delay_ms = spec.get("delay_ms", 0)
        if not isinstance(delay_ms, int) or delay_ms < 0:
            raise ValueError("fault 'delay_ms' is a non-negative integer")
        if status is None and delay_ms == 0:
            raise ValueError("a fault needs a 'status' and 'code', a 'delay_ms', or both")
        message = spec.get("message", "fault injected by the tierwatch test stand-in")
        if not isinstance(message, str):
            raise ValueError("fault 'message' is a string")
        return Fault(operation, service, status, code, message, times, delay_ms)

    def matches(self, service: str, operation: str) -> bool:
        return self.operation == operation and self.service in (None, service)


class StandInState:
    """Everything tests can change, shared by the request threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls = Counter()
        self.faults: list[Fault] = []
        self.quotas: dict[str, list[dict]] = {}
        # Seeded data the front serves itself. Each list is replaced whole by its seeding call
        # and never changed in place, so a request may read it after letting go of the lock.
        self.price_lists: dict[str, list[dict]] = {}  # by ServiceCode, in seeded order
        self.foundation_models: dict[str, list[dict]] = {}  # by region
        self.inference_profiles: dict[str, list[dict]] = {}  # by region
        # GetMetricData pages not served yet, by the NextToken that asks for them.
        self.metric_data_pages: dict[str, list] = {}

    def record_call(self, service: str, operation: str) -> Fault | None:
        """Counts the call and returns the first armed fault for it, using one of its times."""
        with self.lock:
            self.calls[operation] += 1
            for index, fault in enumerate(self.faults):
                if fault.matches(service, operation):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            del self.faults[index]
                    return copy.copy(fault)
        return None

    def clear(self):
        with self.lock:
            self.calls.clear()
            self.faults.clear()
            self.quotas.clear()
            self.price_lists.clear()
            self.foundation_models.clear()
            self.inference_profiles.clear()
            self.metric_data_pages.clear()

    def store_pages(self, pages: list) -> str:
        token = uuid.uuid4().hex
        with self.lock:
            self.metric_data_pages[token] = pages
        return token

    def take_pages(self, token: str) -> list | None:
        with self.lock:
            return self.metric_data_pages.pop(token, None)


def validate_quota(item, region: str) -> dict:
    """One seeded quota, completed with the members AWS always returns."""
    if not isinstance(item, dict):
        raise ValueError("each quota is a JSON object with ServiceQuota member names")
    unknown = set(item) - QUOTA_MEMBERS
    if unknown:
        raise ValueError(f"unknown ServiceQuota members {sorted(unknown)} in {item}")
    for required in ("ServiceCode", "QuotaCode", "QuotaName"):
        if not isinstance(item.get(required), str) or not item[required]:
            raise ValueError(f"quota needs a string {required}: {item}")
    value = item.get("Value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"quota needs a numeric Value: {item}")
    level = item.get("QuotaAppliedAtLevel", "ACCOUNT")
    if level not in ("ACCOUNT", "RESOURCE"):
        raise ValueError(f"QuotaAppliedAtLevel is ACCOUNT or RESOURCE: {item}")
    quota = {
        "ServiceName": SERVICE_NAMES.get(item["ServiceCode"], item["ServiceCode"]),
        "QuotaArn": f"arn:aws:servicequotas:{region}:{ACCOUNT_ID}:"
        f"{item['ServiceCode']}/{item['QuotaCode']}",
        "Unit": "None",
        "Adjustable": False,
        "GlobalQuota": False,
        "QuotaAppliedAtLevel": level,
    }
    quota.update(item)
    quota["Value"] = float(value)
    return quota


def encode_page_token(scope: str, offset: int) -> str:
    """A stateless paging token: the offset of the next page in the list `scope` names. The
    scope (service code, filters, region...) makes a token from another query invalid."""
    return base64.urlsafe_b64encode(f"{scope}:{offset}".encode()).decode("ascii")


def decode_page_token(token, scope: str, invalid: ProtocolError) -> int:
    """The offset in a token from encode_page_token for the same scope; else raises `invalid`,
    the error the service answers for a bad token."""
    try:
        decoded = base64.urlsafe_b64decode(token.encode("ascii")).decode()
        token_scope, offset = decoded.rsplit(":", 1)
        if token_scope == scope and int(offset) > 0:
            return int(offset)
    except (AttributeError, ValueError, UnicodeError, binascii.Error):
        pass
    raise invalid


def list_service_quotas(quotas: list, request: dict) -> dict:
    service_code = request.get("ServiceCode")
    if not isinstance(service_code, str) or not service_code:
        raise ProtocolError(400, "IllegalArgumentException", "ServiceCode is required.")
    max_results = request.get("MaxResults", 100)
    if type(max_results) is not int or not 1 <= max_results <= 100:
        raise ProtocolError(
            400, "IllegalArgumentException", "MaxResults must be between 1 and 100."
        )
    level = request.get("QuotaAppliedAtLevel", "ACCOUNT")
    if level not in QUOTA_LEVELS:
        raise ProtocolError(
            400, "IllegalArgumentException", "QuotaAppliedAtLevel must be ACCOUNT, RESOURCE or ALL."
        )
    quota_code = request.get("QuotaCode")
    selected = [
        quota
        for quota in quotas
        if quota["ServiceCode"] == service_code
        and (level == "ALL" or quota["QuotaAppliedAtLevel"] == level)
        and (quota_code is None or quota["QuotaCode"] == quota_code)
    ]
    token = request.get("NextToken")
    invalid = ProtocolError(400, "InvalidPaginationTokenException", "Invalid pagination token.")
    offset = decode_page_token(token, service_code, invalid) if token is not None else 0
    end = offset + max_results
    answer = {"Quotas": selected[offset:end]}
    if end < len(selected):
        answer["NextToken"] = encode_page_token(service_code, end)
    return answer


def take_page(items: list, offset: int, size: int) -> tuple[list, int | None]:
    """The page of `size` items at `offset`, and the offset of the next page if there is one."""
    end = offset + size
    return items[offset:end], (end if end < len(items) else None)


def validate_seed(items, validate, key, what: str) -> list:
    """A seeded JSON list, validated item by item; two items with the same key(item) are
    refused because the API could not tell them apart either."""
    if not isinstance(items, list):
        raise ValueError(f"the body is a JSON list of {what}")
    validated = [validate(item) for item in items]
    keys = Counter(key(item) for item in validated)
    repeated = sorted(name for name, count in keys.items() if count > 1)
    if repeated:
        raise ValueError(f"{what} seeded twice: {repeated}")
    return validated


# ---------------------------------------------------------------------------------------------
# Price List Query API (service "pricing")


def validate_price_list_product(item, service_code: str) -> dict:
    """One seeded product document (what each PriceList string holds), with its serviceCode
    filled in when left out."""
    if not isinstance(item, dict):
        raise ValueError('each product is a JSON object like {"product": {"sku": ...}, ...}')
    product = item.get("product")
    sku = product.get("sku") if isinstance(product, dict) else None
    if not isinstance(sku, str) or not sku:
        raise ValueError(f"a product document needs a string product.sku: {item}")
    attributes = product.get("attributes", {})
    if not isinstance(attributes, dict) or not all(isinstance(v, str) for v in attributes.values()):
        raise ValueError(f"product.attributes is an object of strings: {item}")
    document_code = item.get("serviceCode", service_code)
    if document_code != service_code:
        raise ValueError(f"serviceCode {document_code!r} in a {service_code} price list: {item}")
    return dict(item, serviceCode=service_code)


def invalid_pricing_parameter(detail: str) -> ProtocolError:
    return ProtocolError(
        400, "InvalidParameterException", f"Input Parameters are invalid. {detail}"
    )


def pricing_page_size(request: dict) -> int:
    max_results = request.get("MaxResults", PRICING_MAX_RESULTS)
    if type(max_results) is not int or not 1 <= max_results <= PRICING_MAX_RESULTS:
        raise invalid_pricing_parameter(f"MaxResults must be between 1 and {PRICING_MAX_RESULTS}.")
    return max_results


def check_format_version(request: dict) -> None:
    if request.get("FormatVersion", PRICE_LIST_FORMAT) != PRICE_LIST_FORMAT:
        raise invalid_pricing_parameter(f"FormatVersion must be {PRICE_LIST_FORMAT}.")


def parse_price_filters(filters) -> list[tuple[str, str, str]]:
    """GetProducts' Filters as (Type, Field, Value) triples, checked as AWS checks them."""
    if not isinstance(filters, list) or len(filters) > 50:
        raise invalid_pricing_parameter("Filters is a list of at most 50 filters.")
    parsed = []
    for item in filters:
        if not isinstance(item, dict):
            raise invalid_pricing_parameter("each filter is an object with Type, Field and Value.")
        kind, field, value = item.get("Type"), item.get("Field"), item.get("Value")
        if kind not in PRICE_FILTER_TYPES:
            raise invalid_pricing_parameter(
                f"filter Type {kind!r} is not one of {sorted(PRICE_FILTER_TYPES)}."
            )
        if not isinstance(field, str) or not field or not isinstance(value, str):
            raise invalid_pricing_parameter(f"a filter needs a string Field and Value: {item}")
        parsed.append((kind, field, value))
    return parsed


def product_field(document: dict, field: str) -> str | None:
    """The value a filter's Field names: the service code, sku and product family are on the
    document itself, everything else is a product attribute."""
    product = document["product"]
    if field.lower() == "servicecode":
        return document["serviceCode"]
    if field in ("sku", "productFamily") and field in product:
        return product[field]
    return product.get("attributes", {}).get(field)


def price_filter_matches(kind: str, expected: str, actual: str | None) -> bool:
    if actual is None:
        # A product without the field is "none of" anything, and matches nothing else.
        return kind == "NONE_OF"
    if kind == "EQUALS":
        return actual == expected
    if kind == "TERM_MATCH":
        return actual.casefold() == expected.casefold()
    if kind == "CONTAINS":
        return expected.casefold() in actual.casefold()
    choices = {choice.strip().casefold() for choice in expected.split(",")}
    return (actual.casefold() in choices) == (kind == "ANY_OF")


def get_products(price_lists: dict, request: dict) -> dict:
    service_code = request.get("ServiceCode")
    if not isinstance(service_code, str) or not service_code:
        raise invalid_pricing_parameter("serviceCode cannot be null or empty")
    check_format_version(request)
    page_size = pricing_page_size(request)
    filters = parse_price_filters(request.get("Filters", []))
    selected = [
        document
        for document in price_lists.get(service_code, [])
        if all(price_filter_matches(k, v, product_field(document, f)) for k, f, v in filters)
    ]
    # A token is only good for the query that made it, as in AWS.
    digest = hashlib.sha256(json.dumps(filters).encode()).hexdigest()[:16]
    scope = f"products/{service_code}/{digest}"
    token = request.get("NextToken")
    invalid = ProtocolError(
        400, "InvalidNextTokenException", "The pagination token is invalid. Try again without it."
    )
    offset = decode_page_token(token, scope, invalid) if token is not None else 0
    page, next_offset = take_page(selected, offset, page_size)
    answer = {
        "FormatVersion": PRICE_LIST_FORMAT,
        # Each product goes out as a JSON string, not an object: that is the API's shape.
        "PriceList": [json.dumps(document, separators=(",", ":")) for document in page],
    }
    if next_offset is not None:
        answer["NextToken"] = encode_page_token(scope, next_offset)
    return answer


def describe_services(price_lists: dict, request: dict) -> dict:
    """The seeded service codes, each with the attribute names its products use."""
    service_code = request.get("ServiceCode")
    if service_code is not None and not isinstance(service_code, str):
        raise invalid_pricing_parameter("ServiceCode is a string.")
    check_format_version(request)
    page_size = pricing_page_size(request)
    codes = sorted(code for code in price_lists if service_code in (None, code))
    services = [
        {
            "ServiceCode": code,
            "AttributeNames": sorted(
                {name for doc in price_lists[code] for name in doc["product"].get("attributes", {})}
            ),
        }
        for code in codes
    ]
    scope = f"services/{service_code or ''}"
    token = request.get("NextToken")
    invalid = ProtocolError(
        400, "InvalidNextTokenException", "The pagination token is invalid. Try again without it."
    )
    offset = decode_page_token(token, scope, invalid) if token is not None else 0
    page, next_offset = take_page(services, offset, page_size)
    answer = {"Services": page, "FormatVersion": PRICE_LIST_FORMAT}
    if next_offset is not None:
        answer["NextToken"] = encode_page_token(scope, next_offset)
    return answer


# ---------------------------------------------------------------------------------------------
# Bedrock control plane (service "bedrock", REST-JSON)


def iso8601(value, what: str) -> str:
    """A seeded timestamp (epoch seconds or ISO-8601) as Bedrock sends it: its service model
    gives every timestamp `timestampFormat: iso8601`, so they are strings like
    2024-08-27T12:00:00Z (milliseconds only when there are some)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{what} is epoch seconds or an ISO-8601 string, not {value!r}")
    try:
        moment = datetime.fromtimestamp(epoch_seconds(value), timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"{what} is not a timestamp: {value!r}")
    text = moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def check_types(item: dict, types: dict, what: str) -> None:
    """Refuses a seeded member of the wrong JSON type, which would otherwise only fail later,
    inside a request."""
    for name, kind in types.items():
        if name in item and type(item[name]) is not kind:
            raise ValueError(f"{what} {name} is a {kind.__name__}, not {item[name]!r}")


def check_string_list(value, what: str) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"{what} is a list of strings, not {value!r}")


def validate_foundation_model(item, region: str) -> dict:
    """One seeded FoundationModelSummary, completed with AWS-like defaults: an on-demand,
    streaming, text-to-text, active model of the provider its id starts with."""
    if not isinstance(item, dict):
        raise ValueError("each foundation model is a JSON object with API member names")
    unknown = set(item) - FOUNDATION_MODEL_MEMBERS
    if unknown:
        raise ValueError(f"unknown FoundationModelSummary members {sorted(unknown)} in {item}")
    model_id = item.get("modelId")
    if not isinstance(model_id, str) or not model_id:
        raise ValueError(f"a foundation model needs a string modelId: {item}")
    provider = model_id.split(".", 1)[0]
    model = {
        "modelArn": f"arn:aws:bedrock:{region}::foundation-model/{model_id}",
        "modelId": model_id,
        "modelName": model_id,
        "providerName": PROVIDER_NAMES.get(provider, provider.title()),
        "inputModalities": ["TEXT"],
        "outputModalities": ["TEXT"],
        "responseStreamingSupported": True,
        "customizationsSupported": [],
        "inferenceTypesSupported": ["ON_DEMAND"],
        "modelLifecycle": {"status": "ACTIVE"},
    }
    model.update(item)
    check_types(model, {"modelArn": str, "modelName": str, "providerName": str,
                        "responseStreamingSupported": bool}, model_id)
    for name in ("inputModalities", "outputModalities", "customizationsSupported",
                 "inferenceTypesSupported"):
        check_string_list(model[name], f"{model_id} {name}")
    model["modelLifecycle"] = validate_lifecycle(model["modelLifecycle"], model_id)
    return model


def validate_lifecycle(lifecycle, model_id: str) -> dict:
    if not isinstance(lifecycle, dict) or not isinstance(lifecycle.get("status"), str):
        raise ValueError(f"{model_id} modelLifecycle is an object with a status: {lifecycle!r}")
    # The other members (startOfLifeTime, legacyTime, ...) are timestamps.
    return {
        name: value if name == "status" else iso8601(value, f"{model_id} modelLifecycle.{name}")
        for name, value in lifecycle.items()
    }


def validate_inference_profile(item, region: str) -> dict:
    """One seeded inference profile (GetInferenceProfile's members), completed: type
    SYSTEM_DEFINED, the ARN AWS gives that type, name = id, status ACTIVE, and for a
    system-defined profile whose id is <geo>.<model id>, that model in `region`."""
    if not isinstance(item, dict):
        raise ValueError("each inference profile is a JSON object with API member names")
    unknown = set(item) - INFERENCE_PROFILE_MEMBERS
    if unknown:
        raise ValueError(f"unknown inference profile members {sorted(unknown)} in {item}")
    profile_id = item.get("inferenceProfileId")
    if not isinstance(profile_id, str) or not profile_id:
        raise ValueError(f"an inference profile needs a string inferenceProfileId: {item}")
    kind = item.get("type", "SYSTEM_DEFINED")
    if kind not in INFERENCE_PROFILE_TYPES:
        raise ValueError(f"inference profile type is SYSTEM_DEFINED or APPLICATION: {item}")
    resource = "inference-profile" if kind == "SYSTEM_DEFINED" else "application-inference-profile"
    profile = {
        "inferenceProfileName": profile_id,
        "inferenceProfileArn": f"arn:aws:bedrock:{region}:{ACCOUNT_ID}:{resource}/{profile_id}",
        "models": default_profile_models(profile_id, kind, region),
        "inferenceProfileId": profile_id,
        "status": "ACTIVE",
        "type": kind,
    }
    profile.update(item)
    check_types(profile, {"inferenceProfileName": str, "inferenceProfileArn": str,
                          "description": str, "status": str}, profile_id)
    models = profile["models"]
    if (not isinstance(models, list) or not models
            or not all(isinstance(m, dict) and isinstance(m.get("modelArn"), str) for m in models)):
        raise ValueError(f"{profile_id} needs models, a non-empty list of {{\"modelArn\": ...}}")
    for name in ("createdAt", "updatedAt"):
        if name in profile:
            profile[name] = iso8601(profile[name], f"{profile_id} {name}")
    return profile


def default_profile_models(profile_id: str, kind: str, region: str) -> list:
    """A system-defined profile "us.anthropic.claude-..." routes to "anthropic.claude-...";
    application profiles have no such naming, so they must list their models."""
    if kind != "SYSTEM_DEFINED" or "." not in profile_id:
        return []
    model_id = profile_id.split(".", 1)[1]
    return [{"modelArn": f"arn:aws:bedrock:{region}::foundation-model/{model_id}"}]


def bedrock_operation(method: str, path: str) -> tuple[str, str | None] | None:
    """The Bedrock operation a REST request asks for and its URL-decoded path label (a model or
    inference profile id or ARN), or None for a request that is not one of those served here
    or passed to moto. The label is one path segment: the SDKs percent-encode the `/` and `:`
    of an ARN."""
    if (method, path) in MOTO_BEDROCK_OPERATIONS:
        return MOTO_BEDROCK_OPERATIONS[method, path], None
    if method != "GET":
        return None
    collections = (
        (FOUNDATION_MODELS_PATH, "ListFoundationModels", "GetFoundationModel"),
        (INFERENCE_PROFILES_PATH, "ListInferenceProfiles", "GetInferenceProfile"),
    )
    for collection, list_operation, get_operation in collections:
        if path == collection:
            return list_operation, None
        label = path[len(collection) + 1:] if path.startswith(collection + "/") else ""
        if label and "/" not in label:
            return get_operation, urllib.parse.unquote(label)
    return None


def bedrock_validation_error(name: str, value: str, constraint: str) -> ProtocolError:
    return ProtocolError(
        400,
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{name}' failed to satisfy "
        f"constraint: {constraint}",
    )


def enum_query(query: dict, name: str, allowed: set) -> str | None:
    value = query.get(name)
    if value is not None and value not in allowed:
        raise bedrock_validation_error(
            name, value, f"Member must satisfy enum value set: [{', '.join(sorted(allowed))}]"
        )
    return value


def list_foundation_models(models: list, query: dict) -> dict:
    """ListFoundationModels with its four filters (all must match). byProvider is compared
    case-insensitively with providerName and with the model id's first segment, so both
    "Mistral AI" and "mistral" select Mistral's models."""
    provider = query.get("byProvider")
    output = enum_query(query, "byOutputModality", MODEL_MODALITIES)
    customization = enum_query(query, "byCustomizationType", MODEL_CUSTOMIZATIONS)
    inference = enum_query(query, "byInferenceType", INFERENCE_TYPES)

    def provided_by(model: dict) -> bool:
        names = {model.get("providerName", ""), model["modelId"].split(".", 1)[0]}
        return provider.casefold() in {name.casefold() for name in names}

    selected = [
        model
        for model in models
        if (provider is None or provided_by(model))
        and (output is None or output in model["outputModalities"])
        and (customization is None or customization in model["customizationsSupported"])
        and (inference is None or inference in model["inferenceTypesSupported"])
    ]
    return {"modelSummaries": selected}


def get_foundation_model(models: list, identifier: str) -> dict:
    for model in models:
        if identifier in (model["modelId"], model["modelArn"]):
            return {"modelDetails": model}
    raise ProtocolError(
        404, "ResourceNotFoundException", f"Could not find foundation model {identifier}."
    )


def get_inference_profile(profiles: list, identifier: str) -> dict:
    for profile in profiles:
        if identifier in (profile["inferenceProfileId"], profile["inferenceProfileArn"]):
            return profile
    raise ProtocolError(
        404,
        "ResourceNotFoundException",
        f"The inference profile {identifier} couldn't be found. Check the ID or ARN and retry.",
    )


def list_inference_profiles(profiles: list, query: dict, region: str) -> dict:
    """ListInferenceProfiles. Without `type`, AWS lists only SYSTEM_DEFINED profiles
    (aws/aws-cli#9728, confirmed by AWS): so does the stand-in."""
    kind = enum_query(query, "type", INFERENCE_PROFILE_TYPES) or "SYSTEM_DEFINED"
    page_size = INFERENCE_PROFILES_DEFAULT_PAGE
    if "maxResults" in query:
        text = query["maxResults"]
        if not text.isdigit() or not 1 <= int(text) <= INFERENCE_PROFILES_MAX_RESULTS:
            raise bedrock_validation_error(
                "maxResults", text,
                f"Member must have value between 1 and {INFERENCE_PROFILES_MAX_RESULTS}",
            )
        page_size = int(text)
    selected = [profile for profile in profiles if profile["type"] == kind]
    scope = f"profiles/{region}/{kind}"
    token = query.get("nextToken")
    invalid = ProtocolError(400, "ValidationException", "The provided pagination token is invalid.")
    offset = decode_page_token(token, scope, invalid) if token is not None else 0
    page, next_offset = take_page(selected, offset, page_size)
    answer = {"inferenceProfileSummaries": page}
    if next_offset is not None:
        answer["nextToken"] = encode_page_token(scope, next_offset)
    return answer


# ---------------------------------------------------------------------------------------------
# HTTP


class StandInServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, moto_url: str, verbose: bool):
        super().__init__(("127.0.0.1", port), FrontHandler)
        parsed = urllib.parse.urlsplit(moto_url)
        self.moto_host = parsed.hostname
        self.moto_port = parsed.port
        self.verbose = verbose
        self.state = StandInState()


class FrontHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 keeps the SDK's connections alive; every answer carries a Content-Length.
    protocol_version = "HTTP/1.1"
    server: StandInServer

    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)

    # --- entry points ---

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method: str):
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith(CLOUDWATCH_CBOR_PATH_PREFIX):
            protocol = CBOR_CONTENT_TYPE
        elif self.is_bedrock_request(method, path):
            protocol = REST_JSON_CONTENT_TYPE
        elif self.signing_service() == "sts":
            protocol = QUERY_CONTENT_TYPE
        else:
            protocol = JSON_1_1_CONTENT_TYPE
        try:
            body = self.read_body()
        except (ValueError, OSError, EOFError) as error:
            self.send_aws_error(
                protocol, ProtocolError(400, "SerializationException", str(error)), "unknown"
            )
            return
        try:
            self.route(method, path, body)
        except Exception as error:  # a bug in the stand-in: answer it rather than drop the line
            traceback.print_exc()
            self.send_aws_error(
                protocol,
                ProtocolError(500, "InternalFailure", f"stand-in failure: {error!r}"),
                "unknown",
            )

    def route(self, method: str, path: str, body: bytes):
        if path.startswith("/_standin/"):
            self.handle_admin(method, path, body)
        elif path.startswith("/moto-api/"):
            self.relay(*self.call_moto(method, self.path, dict(self.headers), body))
        elif method == "POST" and path.startswith(CLOUDWATCH_CBOR_PATH_PREFIX):
            operation = path[len(CLOUDWATCH_CBOR_PATH_PREFIX):]
            self.handle_aws("cloudwatch", operation, CBOR_CONTENT_TYPE, body)
        elif self.is_bedrock_request(method, path):
            self.route_bedrock(method, path, body)
        elif self.signing_service() == "sts":
            self.handle_aws("sts", query_action(body), QUERY_CONTENT_TYPE, body)
        elif self.signing_service() in ("s3", "sqs"):
            # Sources written by `tierwatch discover` use this one endpoint for everything.
            if self.s3_fault(method, path):
                return
            self.relay(*self.call_moto(method, self.path, dict(self.headers), body))
        else:
            self.handle_json_target(body)

    def s3_fault(self, method: str, path: str) -> bool:
        """Counts S3 GetObject calls (GET /bucket/key, path style) and applies an armed fault:
        a delay, then an S3 XML error when it has a status. True when the error was sent."""
        if self.signing_service() != "s3" or method != "GET" or path.count("/") < 2:
            return False
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if query and query.get("x-id") != ["GetObject"]:
            return False  # a listing or another sub-resource (the SDK marks GetObject x-id)
        fault = self.server.state.record_call("s3", "GetObject")
        if fault is None:
            return False
        time.sleep(fault.delay_ms / 1000)
        if fault.status is None:
            return False
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{fault.code}</Code><Message>{fault.message}</Message>"
            f"<RequestId>{uuid.uuid4()}</RequestId></Error>"
        ).encode()
        self.send_body(fault.status, body, "application/xml", {})
        return True

    def is_bedrock_request(self, method: str, path: str) -> bool:
        """Bedrock's control plane is REST: its requests are told apart by path, or by being
        signed for "bedrock" (so that operations not served here get a REST-JSON error). The
        other services served here all POST to / with an X-Amz-Target."""
        return bedrock_operation(method, path) is not None or self.signing_service() == "bedrock"

    def route_bedrock(self, method: str, path: str, body: bytes):
        found = bedrock_operation(method, path)
        if found is None:
            self.send_aws_error(
                REST_JSON_CONTENT_TYPE,
                ProtocolError(
                    404,
                    "UnknownOperationException",
                    "the Bedrock stand-in serves GET /foundation-models[/{id}], "
                    "GET /inference-profiles[/{id}] and GET, PUT and DELETE "
                    f"{LOGGING_PATH}; got {method} {self.path}",
                ),
                "bedrock",
            )
            return
        self.handle_aws("bedrock", found[0], REST_JSON_CONTENT_TYPE, body)

    def handle_json_target(self, body: bytes):
        prefix, _, operation = self.headers.get("X-Amz-Target", "").partition(".")
        if prefix == LOGS_TARGET_PREFIX:
            self.handle_aws("logs", operation, JSON_1_1_CONTENT_TYPE, body)
        elif prefix == QUOTAS_TARGET_PREFIX:
            self.handle_aws("servicequotas", operation, JSON_1_1_CONTENT_TYPE, body)
        elif prefix == PRICING_TARGET_PREFIX:
            self.handle_aws("pricing", operation, JSON_1_1_CONTENT_TYPE, body)
        elif prefix == CLOUDWATCH_TARGET_PREFIX:
            self.handle_aws("cloudwatch", operation, JSON_1_0_CONTENT_TYPE, body)
        else:
            self.send_aws_error(
                JSON_1_1_CONTENT_TYPE,
                ProtocolError(
                    400,
                    "UnknownOperationException",
                    f"the stand-in serves CloudWatch, CloudWatch Logs, Service Quotas, the "
                    f"Price List Query API and part of Bedrock; "
                    f"got {self.command} {self.path} with X-Amz-Target "
                    f"{self.headers.get('X-Amz-Target')!r}",
                ),
                "unknown",
            )

    def handle_aws(self, service: str, operation: str, protocol: str, body: bytes):
        fault = self.server.state.record_call(service, operation)
        if fault is not None:
            time.sleep(fault.delay_ms / 1000)
            if fault.status is not None:
                self.send_aws_error(
                    protocol, ProtocolError(fault.status, fault.code, fault.message), service
                )
                return
        try:
            if service == "logs" and operation == "FilterLogEvents":
                body = interleaved_filter_request(body)
            passed_to_moto = (
                service in ("logs", "sts")
                or protocol == JSON_1_0_CONTENT_TYPE
                or operation in MOTO_BEDROCK_OPERATIONS.values()
            )
            if passed_to_moto:
                self.relay(*self.call_moto(self.command, self.path, dict(self.headers), body))
            elif service == "servicequotas":
                self.handle_service_quotas(operation, body)
            elif service == "pricing":
                self.handle_pricing(operation, body)
            elif service == "bedrock":
                self.handle_bedrock(operation)
            else:
                self.handle_cloudwatch_cbor(operation, body)
        except ProtocolError as error:
            self.send_aws_error(protocol, error, service)

    # --- CloudWatch over RPCv2-CBOR ---

    def handle_cloudwatch_cbor(self, operation: str, body: bytes):
        if operation not in CLOUDWATCH_MODEL["operations"]:
            raise ProtocolError(
                404, "UnknownOperationException", f"no CloudWatch operation {operation}"
            )
        try:
            request = cbor_request_to_json(cbor2.loads(body)) if body else {}
        except (cbor2.CBORDecodeError, ValueError) as error:
            raise ProtocolError(400, "SerializationException", f"body is not CBOR: {error}")
        if not isinstance(request, dict):
            raise ProtocolError(400, "SerializationException", "the CBOR body is not a map")
        if operation == "GetMetricData":
            answer = self.get_metric_data(request)
        else:
            answer = self.call_moto_cloudwatch(operation, request)
        output_shape = cloudwatch_output_shape(operation)
        encoded = json_to_cbor_shape(answer, output_shape) if output_shape else {}
        self.send_body(
            200, cbor2.dumps(encoded), CBOR_CONTENT_TYPE, {"smithy-protocol": "rpc-v2-cbor"}
        )

    def get_metric_data(self, request: dict) -> dict:
        """GetMetricData with AWS's paging: moto answers every datapoint at once (it ignores
        MaxDatapoints), so the front splits the answer and keeps the rest for the NextToken."""
        token = request.pop("NextToken", None)
        if token is not None:
            pages = self.server.state.take_pages(token)
            if pages is None:
                raise ProtocolError(
                    400, "InvalidNextToken", "The service cannot find the NextToken."
                )
            return self.metric_data_page(pages)
        for query in request.get("MetricDataQueries", []):
            statistic = query.get("MetricStat", {}).get("Stat")
            if statistic is not None and statistic not in MOTO_STATISTICS:
                raise ProtocolError(
                    400,
                    "InvalidParameterValue",
                    f"stand-in limitation: moto computes only {sorted(MOTO_STATISTICS)}; "
                    f"query {query.get('Id')!r} asks for {statistic!r}",
                )
        max_datapoints = request.pop("MaxDatapoints", None) or DEFAULT_MAX_DATAPOINTS
        answer = self.call_moto_cloudwatch("GetMetricData", request)
        pages = split_metric_data_pages(answer.get("MetricDataResults", []), max_datapoints)
        return self.metric_data_page(pages, answer.get("Messages"))

    def metric_data_page(self, pages: list, messages=None) -> dict:
        answer = {"MetricDataResults": pages[0]}
        if messages:
            answer["Messages"] = messages
        if len(pages) > 1:
            answer["NextToken"] = self.server.state.store_pages(pages[1:])
        return answer

    def call_moto_cloudwatch(self, operation: str, request: dict) -> dict:
        headers = {
            "Content-Type": JSON_1_0_CONTENT_TYPE,
            "X-Amz-Target": f"{CLOUDWATCH_TARGET_PREFIX}.{operation}",
            # moto picks the service and region from the SigV4 credential scope.
            "Authorization": self.headers.get("Authorization", ""),
        }
        status, moto_headers, body = self.call_moto(
            "POST", "/", headers, json.dumps(request).encode()
        )
        if 200 <= status < 300:
            return json.loads(body) if body.strip() else {}
        raise moto_error(status, body)

    # --- Service Quotas ---

    def handle_service_quotas(self, operation: str, body: bytes):
        if operation != "ListServiceQuotas":
            raise ProtocolError(
                400,
                "UnknownOperationException",
                f"the Service Quotas stand-in answers only ListServiceQuotas, not {operation}",
            )
        try:
            request = json.loads(body) if body.strip() else {}
        except ValueError as error:
            raise ProtocolError(400, "SerializationException", f"body is not JSON: {error}")
        region = self.signing_region()
        with self.server.state.lock:
            quotas = list(self.server.state.quotas.get(region, []))
        answer = list_service_quotas(quotas, request)
        self.send_body(200, json.dumps(answer).encode(), JSON_1_1_CONTENT_TYPE, {})

    def signing_region(self) -> str:
        match = CREDENTIAL_SCOPE.search(self.headers.get("Authorization", ""))
        return match.group(1) if match else DEFAULT_REGION

    def signing_service(self) -> str | None:
        match = CREDENTIAL_SCOPE.search(self.headers.get("Authorization", ""))
        return match.group(2) if match else None

    # --- Price List Query API ---

    def handle_pricing(self, operation: str, body: bytes):
        """GetProducts and DescribeServices from the seeded price lists. Price lists are global
        in AWS (the API lives in a few regions but serves all prices), so the signing region
        does not matter here."""
        answerers = {"GetProducts": get_products, "DescribeServices": describe_services}
        if operation not in answerers:
            raise ProtocolError(
                400,
                "UnknownOperationException",
                f"the Price List stand-in answers only {sorted(answerers)}, not {operation}",
            )
        request = json_request(body)
        with self.server.state.lock:
            price_lists = dict(self.server.state.price_lists)
        answer = answerers[operation](price_lists, request)
        self.send_body(200, json.dumps(answer).encode(), JSON_1_1_CONTENT_TYPE, {})

    # --- Bedrock control plane ---

    def handle_bedrock(self, operation: str):
        """The Bedrock operation `route_bedrock` found, from what is seeded for the region the
        request was signed for."""
        parts = urllib.parse.urlsplit(self.path)
        _, identifier = bedrock_operation("GET", parts.path)
        query = {name: values[0] for name, values in urllib.parse.parse_qs(parts.query).items()}
        region = self.signing_region()
        state = self.server.state
        with state.lock:
            models = state.foundation_models.get(region, [])
            profiles = state.inference_profiles.get(region, [])
        if operation == "ListFoundationModels":
            answer = list_foundation_models(models, query)
        elif operation == "GetFoundationModel":
            answer = get_foundation_model(models, identifier)
        elif operation == "GetInferenceProfile":
            answer = get_inference_profile(profiles, identifier)
        else:
            answer = list_inference_profiles(profiles, query, region)
        self.send_body(200, json.dumps(answer).encode(), REST_JSON_CONTENT_TYPE, {})

    # --- admin ---

    def handle_admin(self, method: str, path: str, body: bytes):
        state = self.server.state
        try:
            if method == "GET" and path == "/_standin/health":
                self.send_json(200, {"status": "ok"})
            elif method == "GET" and path == "/_standin/calls":
                with state.lock:
                    calls = dict(state.calls)
                self.send_json(200, calls)
            elif method == "GET" and path == "/_standin/faults":
                with state.lock:
                    faults = [dataclasses.asdict(fault) for fault in state.faults]
                self.send_json(200, faults)
            elif method == "POST" and path == "/_standin/faults":
                fault = Fault.parse(json.loads(body))
                with state.lock:
                    state.faults.append(fault)
                self.send_json(200, dataclasses.asdict(fault))
            elif method == "PUT" and path.startswith("/_standin/quotas/"):
                region = path[len("/_standin/quotas/"):]
                items = json.loads(body)
                if not region or not isinstance(items, list):
                    raise ValueError("PUT /_standin/quotas/<region> with a JSON list of quotas")
                quotas = [validate_quota(item, region) for item in items]
                with state.lock:
                    state.quotas[region] = quotas
                self.send_json(200, {"region": region, "count": len(quotas)})
            elif method == "PUT" and path.startswith(PRICING_SEED_PATH):
                self.seed_price_list(path, body)
            elif method == "PUT" and path.startswith(FOUNDATION_MODELS_SEED_PATH):
                self.seed_foundation_models(path, body)
            elif method == "PUT" and path.startswith(INFERENCE_PROFILES_SEED_PATH):
                self.seed_inference_profiles(path, body)
            elif method == "POST" and path == "/_standin/reset":
                state.clear()
                status, _, moto_body = self.call_moto("POST", "/moto-api/reset", {}, b"")
                if status != 200:
                    raise ValueError(f"moto reset answered {status}: {moto_body[:200]!r}")
                self.send_json(200, {"status": "reset"})
            else:
                self.send_json(404, {"error": f"no admin endpoint {method} {path}"})
        except (ValueError, ProtocolError) as error:
            self.send_json(400, {"error": str(error)})

    def seed_price_list(self, path: str, body: bytes):
        service_code = seed_path_key(path, PRICING_SEED_PATH, "ServiceCode")
        products = validate_seed(
            json.loads(body),
            lambda item: validate_price_list_product(item, service_code),
            lambda document: document["product"]["sku"],
            "product documents (by product.sku)",
        )
        with self.server.state.lock:
            self.server.state.price_lists[service_code] = products
        self.send_json(200, {"serviceCode": service_code, "count": len(products)})

    def seed_foundation_models(self, path: str, body: bytes):
        region = seed_path_key(path, FOUNDATION_MODELS_SEED_PATH, "region")
        models = validate_seed(
            json.loads(body),
            lambda item: validate_foundation_model(item, region),
            lambda model: model["modelId"],
            "foundation models (by modelId)",
        )
        with self.server.state.lock:
            self.server.state.foundation_models[region] = models
        self.send_json(200, {"region": region, "count": len(models)})

    def seed_inference_profiles(self, path: str, body: bytes):
        region = seed_path_key(path, INFERENCE_PROFILES_SEED_PATH, "region")
        profiles = validate_seed(
            json.loads(body),
            lambda item: validate_inference_profile(item, region),
            lambda profile: profile["inferenceProfileId"],
            "inference profiles (by inferenceProfileId)",
        )
        with self.server.state.lock:
            self.server.state.inference_profiles[region] = profiles
        self.send_json(200, {"region": region, "count": len(profiles)})

    # --- plumbing ---

    def read_body(self) -> bytes:
        """The request body, un-chunked and un-gzipped: the SDK gzips large request bodies of
        operations with Smithy's requestCompression trait (PutMetricData from 10 KiB on)."""
        body = self.read_raw_body()
        encoding = self.headers.get("Content-Encoding", "").strip().lower()
        if encoding == "gzip":
            body = gzip.decompress(body)
            del self.headers["Content-Encoding"]
        elif encoding not in ("", "identity"):
            raise ValueError(f"unsupported Content-Encoding {encoding!r}")
        return body

    def read_raw_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def call_moto(self, method: str, path: str, headers: dict, body: bytes):
        """One request to moto: (status, lower-cased headers, body)."""
        forwarded = {
            name: value
            for name, value in headers.items()
            if name.lower() not in ("host", "content-length", "connection", "transfer-encoding")
        }
        forwarded["Content-Length"] = str(len(body))
        connection = http.client.HTTPConnection(
            self.server.moto_host, self.server.moto_port, timeout=60
        )
        try:
            connection.request(method, path, body=body, headers=forwarded)
            response = connection.getresponse()
            return (
                response.status,
                {name.lower(): value for name, value in response.getheaders()},
                response.read(),
            )
        except OSError as error:
            raise ProtocolError(500, "InternalFailure", f"the stand-in cannot reach moto: {error}")
        finally:
            connection.close()

    def relay(self, status: int, headers: dict, body: bytes):
        """Sends moto's answer on, minus the headers that belong to moto's own connection."""
        dropped = {
            "content-length", "connection", "transfer-encoding", "server", "date",
            "access-control-allow-origin", "keep-alive",
        }
        kept = {name: value for name, value in headers.items() if name not in dropped}
        content_type = kept.pop("content-type", "application/octet-stream")
        self.send_body(status, body, content_type, kept)

    def send_aws_error(self, protocol: str, error: ProtocolError, service: str):
        body = {"__type": error.code, "message": error.message}
        headers = {}
        if protocol == CBOR_CONTENT_TYPE:
            encoded = cbor2.dumps(body)
            headers["smithy-protocol"] = "rpc-v2-cbor"
        elif protocol == QUERY_CONTENT_TYPE:
            encoded = query_error_document(error).encode()
        elif protocol == REST_JSON_CONTENT_TYPE:
            # REST-JSON names the error in this header; the body holds only the error's
            # members, and Bedrock's errors have just `message`.
            encoded = json.dumps({"message": error.message}).encode()
            headers["x-amzn-ErrorType"] = error.code
        else:
            encoded = json.dumps(body).encode()
            headers["x-amzn-ErrorType"] = error.code
        if service == "cloudwatch":
            headers["x-amzn-query-error"] = cloudwatch_query_error(error.code, error.status)
        self.send_body(error.status, encoded, protocol, headers)

    def send_json(self, status: int, value):
        self.send_body(status, json.dumps(value).encode(), "application/json", {})

    def send_body(self, status: int, body: bytes, content_type: str, headers: dict):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if not any(name.lower() == "x-amzn-requestid" for name in headers):
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def query_action(body: bytes) -> str:
    """The operation of an AWS query protocol request: its form's Action."""
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
    return form.get("Action", ["UnknownOperation"])[0]


def query_error_document(error: ProtocolError) -> str:
    """An AWS query protocol error (STS): the SDKs read Code and Message from this XML."""
    kind = "Sender" if error.status < 500 else "Receiver"
    return (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<Error><Type>{kind}</Type><Code>{xml_escape(error.code)}</Code>"
        f"<Message>{xml_escape(error.message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )


def xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def moto_error(status: int, body: bytes) -> ProtocolError:
    """moto's JSON error as a ProtocolError; a crash page (HTML 500) as InternalFailure."""
    try:
        error = json.loads(body)
        code = error["__type"].rsplit("#", 1)[-1]
        message = error.get("message") or error.get("Message") or ""
        return ProtocolError(status, code, message)
    except (ValueError, KeyError, TypeError, AttributeError):
        excerpt = body[:300].decode("utf-8", "replace")
        return ProtocolError(500, "InternalFailure", f"moto failed with {status}: {excerpt}")


def json_request(body: bytes) -> dict:
    """A JSON-protocol request body as an object; an empty body is an empty request."""
    try:
        request = json.loads(body) if body.strip() else {}
    except ValueError as error:
        raise ProtocolError(400, "SerializationException", f"body is not JSON: {error}")
    if not isinstance(request, dict):
        raise ProtocolError(400, "SerializationException", "the JSON body is not an object")
    return request


def seed_path_key(path: str, prefix: str, what: str) -> str:
    """The last segment of a seeding path (a region or a service code)."""
    key = path[len(prefix):]
    if not key or "/" in key:
        raise ValueError(f"PUT {prefix}<{what}> with a JSON list")
    return key


def interleaved_filter_request(body: bytes) -> bytes:
    """A FilterLogEvents request asking moto to merge streams by time, as AWS always does."""
    try:
        request = json.loads(body) if body.strip() else {}
    except ValueError as error:
        raise ProtocolError(400, "SerializationException", f"body is not JSON: {error}")
    if not isinstance(request, dict):
        raise ProtocolError(400, "SerializationException", "the JSON body is not an object")
    request.setdefault("interleaved", True)
    return json.dumps(request).encode()


def exit_when_stdin_closes() -> None:
    """Ends this process when the test process that started it goes away, even by SIGKILL."""
    sys.stdin.buffer.read()
    os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    parser.add_argument("--moto-url", required=True, help="e.g. http://127.0.0.1:5000")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args()

    server = StandInServer(args.port, args.moto_url, args.verbose)
    if args.exit_on_stdin_eof:
        threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    print(f"ready http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
