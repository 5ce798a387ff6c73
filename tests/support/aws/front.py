#!/usr/bin/env python3
"""The one endpoint tierwatch's integration tests point every AWS SDK client at.

It sits in front of a moto server (see moto_standin.py) and serves three AWS services on one
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

For tests it also injects faults into any operation, in the protocol the SDK expects, and
counts calls per operation. Admin endpoints:

  POST /_standin/faults   {"operation": "FilterLogEvents", "status": 400,
                           "code": "ThrottlingException", "message": "Rate exceeded",
                           "times": 2, "delay_ms": 0, "service": "logs"}
                          status/code may be left out for a pure delay; times left out means
                          every call until reset; service ("logs", "cloudwatch",
                          "servicequotas") only matters for operation names several share.
  GET  /_standin/faults   the faults still armed
  GET  /_standin/calls    {"<Operation>": count} for every AWS call received, faulted or not
  PUT  /_standin/quotas/<region>   a JSON list of ServiceQuota items (API member names)
  POST /_standin/reset    clears faults, counts, quotas, paging state, and resets moto
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

CLOUDWATCH_TARGET_PREFIX = "GraniteServiceVersion20100801"
CLOUDWATCH_CBOR_PATH_PREFIX = f"/service/{CLOUDWATCH_TARGET_PREFIX}/operation/"
LOGS_TARGET_PREFIX = "Logs_20140328"
QUOTAS_TARGET_PREFIX = "ServiceQuotasV20190624"

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
        if service not in (None, "logs", "cloudwatch", "servicequotas"):
            raise ValueError("fault 'service' is one of logs, cloudwatch, servicequotas")
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


def encode_quota_token(service_code: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{service_code}:{offset}".encode()).decode("ascii")


def decode_quota_token(token, service_code: str) -> int:
    try:
        code, offset = base64.urlsafe_b64decode(token.encode("ascii")).decode().rsplit(":", 1)
        if code == service_code and int(offset) > 0:
            return int(offset)
    except (AttributeError, ValueError, UnicodeError, binascii.Error):
        pass
    raise ProtocolError(400, "InvalidPaginationTokenException", "Invalid pagination token.")


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
    offset = decode_quota_token(token, service_code) if token is not None else 0
    end = offset + max_results
    answer = {"Quotas": selected[offset:end]}
    if end < len(selected):
        answer["NextToken"] = encode_quota_token(service_code, end)
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

    def dispatch(self, method: str):
        path = urllib.parse.urlsplit(self.path).path
        is_cbor = path.startswith(CLOUDWATCH_CBOR_PATH_PREFIX)
        protocol = CBOR_CONTENT_TYPE if is_cbor else JSON_1_1_CONTENT_TYPE
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
        else:
            self.handle_json_target(body)

    def handle_json_target(self, body: bytes):
        prefix, _, operation = self.headers.get("X-Amz-Target", "").partition(".")
        if prefix == LOGS_TARGET_PREFIX:
            self.handle_aws("logs", operation, JSON_1_1_CONTENT_TYPE, body)
        elif prefix == QUOTAS_TARGET_PREFIX:
            self.handle_aws("servicequotas", operation, JSON_1_1_CONTENT_TYPE, body)
        elif prefix == CLOUDWATCH_TARGET_PREFIX:
            self.handle_aws("cloudwatch", operation, JSON_1_0_CONTENT_TYPE, body)
        else:
            self.send_aws_error(
                JSON_1_1_CONTENT_TYPE,
                ProtocolError(
                    400,
                    "UnknownOperationException",
                    f"the stand-in serves CloudWatch, CloudWatch Logs and Service Quotas; "
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
            if service == "logs" or protocol == JSON_1_0_CONTENT_TYPE:
                self.relay(*self.call_moto("POST", self.path, dict(self.headers), body))
            elif service == "servicequotas":
                self.handle_service_quotas(operation, body)
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
