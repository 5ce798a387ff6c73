#!/usr/bin/env python3
"""Checks front.py's Price List and Bedrock stand-ins with boto3, end to end over HTTP.

Runnable by hand from the repository root, with the stand-ins' venv:

    .venv/bin/python tests/support/aws/check_pricing_bedrock.py [--verbose]

It starts moto_standin.py and front.py on free loopback ports (as tests/it/aws.rs does), seeds
300 products and some foundation models and inference profiles through the admin endpoints,
and calls the APIs with boto3's `pricing` and `bedrock` clients. Besides the asserted answers,
every successful response body is checked against the operation's output shape in botocore's
service model: no unknown members, required members present, types and enums right, Bedrock
timestamps as ISO-8601 strings. (boto3's own parser silently drops members it does not know,
so this catches what it would not.) Exits 0 and prints "ok" when everything holds.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

SUPPORT_DIR = Path(__file__).resolve().parent
SERVICE_CODE = "AmazonBedrock"
ACCOUNT_ID = "123456789012"
REGIONS = {
    "us-east-1": "US East (N. Virginia)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
}
PRICED_MODELS = [
    ("Claude 3 Haiku", "Anthropic"), ("Claude 3.5 Sonnet", "Anthropic"),
    ("Claude 3 Opus", "Anthropic"), ("Titan Text Express", "Amazon"),
    ("Titan Embeddings G1", "Amazon"), ("Llama 3 70B", "Meta"), ("Llama 3 8B", "Meta"),
    ("Mistral Large", "Mistral AI"), ("Command R", "Cohere"), ("Jamba 1.5 Mini", "AI21 Labs"),
]
USAGES = [
    "input-tokens", "output-tokens", "batch-input-tokens", "batch-output-tokens",
    "cache-read-input-tokens", "cache-write-input-tokens", "provisioned-1month",
    "provisioned-6month", "provisioned-hourly", "customization-storage",
]


def expect(condition, message: str) -> None:
    """An assert that `python -O` keeps."""
    if not condition:
        raise AssertionError(message)


def expect_error(call, code: str, status: int) -> ClientError:
    try:
        call()
    except ClientError as error:
        metadata = error.response["ResponseMetadata"]
        got = (error.response["Error"]["Code"], metadata["HTTPStatusCode"])
        expect(got == (code, status), f"expected {code} {status}, got {got}: {error}")
        return error
    raise AssertionError(f"expected {code} {status}, but the call succeeded")


# --- processes and admin calls ---------------------------------------------------------------


class StandIn:
    """One Python server child, stopped when the check ends (and by itself if we die, because
    its stdin closes)."""

    def __init__(self, name: str, args: list[str]):
        self.name = name
        self.stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, *args, "--exit-on-stdin-eof"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        line = self.process.stdout.readline()
        if not line.startswith("ready "):
            raise RuntimeError(f"{name} did not start: {line!r}\n{self.stderr_text()}")
        self.url = line.split(" ", 1)[1].strip()

    def stderr_text(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


def admin(front_url: str, method: str, path: str, body=None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(front_url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def admin_ok(front_url: str, method: str, path: str, body=None):
    status, answer = admin(front_url, method, path, body)
    expect(status == 200, f"{method} {path} answered {status}: {answer}")
    return answer


# --- strict response shapes --------------------------------------------------------------------


def check_shape(value, shape, where: str) -> None:
    """Raw JSON `value` against a botocore shape, strictly."""
    kind = shape.type_name
    if kind == "structure":
        expect(isinstance(value, dict), f"{where}: not an object: {value!r}")
        body_members = {
            name for name, member in shape.members.items()
            if member.serialization.get("location") in (None, "body")
        }
        unknown = set(value) - body_members
        expect(not unknown, f"{where}: members not in the model: {sorted(unknown)}")
        missing = [name for name in shape.required_members if name not in value]
        expect(not missing, f"{where}: required members missing: {missing}")
        for name, item in value.items():
            check_shape(item, shape.members[name], f"{where}.{name}")
    elif kind == "list":
        expect(isinstance(value, list), f"{where}: not a list: {value!r}")
        for index, item in enumerate(value):
            check_shape(item, shape.member, f"{where}[{index}]")
    elif kind == "map":
        expect(isinstance(value, dict), f"{where}: not a map: {value!r}")
        for key, item in value.items():
            check_shape(item, shape.value, f"{where}[{key!r}]")
    elif kind == "string":
        expect(isinstance(value, str), f"{where}: not a string: {value!r}")
        expect(not shape.enum or value in shape.enum, f"{where}: {value!r} not in {shape.enum}")
    elif kind in ("integer", "long"):
        expect(type(value) is int, f"{where}: not an integer: {value!r}")
    elif kind == "boolean":
        expect(type(value) is bool, f"{where}: not a boolean: {value!r}")
    elif kind in ("double", "float"):
        expect(type(value) in (int, float), f"{where}: not a number: {value!r}")
    elif kind == "timestamp":
        check_timestamp(value, shape, where)
    else:
        raise AssertionError(f"{where}: the check does not know shape type {kind}")


def check_timestamp(value, shape, where: str) -> None:
    if shape.serialization.get("timestampFormat") == "iso8601":
        expect(isinstance(value, str), f"{where}: an iso8601 timestamp must be a string")
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        expect(type(value) in (int, float), f"{where}: not epoch seconds: {value!r}")


def validate_responses(client) -> None:
    """Checks every successful response body the client receives against the model."""

    def after_call(http_response, model, **_):
        if http_response.status_code == 200 and model.output_shape is not None:
            body = json.loads(http_response.content) if http_response.content else {}
            check_shape(body, model.output_shape, model.name)

    client.meta.events.register("after-call", after_call)


def client(service: str, region: str, front_url: str, strict: bool = True):
    """A boto3 client for the front. `strict` checks every answer against the model; only for
    the services the front answers itself (moto's own answers have nulls the model lacks)."""
    made = boto3.client(
        service,
        region_name=region,
        endpoint_url=front_url,
        aws_access_key_id="AKIDTIERWATCHTEST",
        aws_secret_access_key="tierwatch-test-secret",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    if strict:
        validate_responses(made)
    return made


# --- Price List --------------------------------------------------------------------------------


def price_documents() -> list[dict]:
    """300 Bedrock-like product documents: 10 models x 3 regions x 10 usages."""
    documents = []
    for model_index, (model, provider) in enumerate(PRICED_MODELS):
        for region, location in REGIONS.items():
            for usage in USAGES:
                sku = f"SKU{len(documents):04d}"
                family = "Provisioned Throughput" if "provisioned" in usage else "Inference"
                documents.append({
                    "product": {
                        "sku": sku,
                        "productFamily": family,
                        "attributes": {
                            "servicecode": SERVICE_CODE,
                            "servicename": "Amazon Bedrock",
                            "location": location,
                            "regionCode": region,
                            "model": model,
                            "provider": provider,
                            "usagetype": f"{region.upper()}-{model.replace(' ', '')}-{usage}",
                            "feature": usage,
                        },
                    },
                    "terms": {"OnDemand": {f"{sku}.JRTCKXETXF": {
                        "sku": sku,
                        "offerTermCode": "JRTCKXETXF",
                        "effectiveDate": "2025-01-01T00:00:00Z",
                        "priceDimensions": {f"{sku}.JRTCKXETXF.6YS6EN2CT7": {
                            "unit": "1K tokens",
                            "pricePerUnit": {"USD": f"{0.00025 * (model_index + 1):.7f}"},
                            "description": f"{model} {usage}",
                            "rateCode": f"{sku}.JRTCKXETXF.6YS6EN2CT7",
                            "beginRange": "0", "endRange": "Inf", "appliesTo": [],
                        }},
                        "termAttributes": {},
                    }}},
                    "version": "20250101000000",
                    "publicationDate": "2025-01-01T00:00:00Z",
                })
    return documents


def all_products(pricing, max_results=None, **request) -> tuple[list[dict], int]:
    """Every product of a GetProducts query, following NextToken; and the number of pages."""
    documents, pages, token = [], 0, None
    while True:
        page_request = dict(request, ServiceCode=request.get("ServiceCode", SERVICE_CODE))
        if max_results is not None:
            page_request["MaxResults"] = max_results
        if token is not None:
            page_request["NextToken"] = token
        answer = pricing.get_products(FormatVersion="aws_v1", **page_request)
        expect(answer["FormatVersion"] == "aws_v1", f"FormatVersion {answer['FormatVersion']}")
        for item in answer["PriceList"]:
            expect(isinstance(item, str), f"a PriceList item is not a JSON string: {item!r}")
            documents.append(json.loads(item))
        pages += 1
        token = answer.get("NextToken")
        if token is None:
            return documents, pages


def term(kind: str, field: str, value: str) -> dict:
    return {"Type": kind, "Field": field, "Value": value}


def check_price_list(front_url: str, pricing) -> None:
    seeded = price_documents()
    without_code = [seeded[0]] + [dict(doc, serviceCode=SERVICE_CODE) for doc in seeded[1:]]
    answer = admin_ok(front_url, "PUT", f"/_standin/pricing/{SERVICE_CODE}", without_code)
    expect(answer == {"serviceCode": SERVICE_CODE, "count": 300}, f"seed answer {answer}")
    ec2 = [{"product": {"sku": "EC2SKU", "attributes": {"instanceType": "m5.large"}}}]
    admin_ok(front_url, "PUT", "/_standin/pricing/AmazonEC2", ec2)

    expected = [dict(doc, serviceCode=SERVICE_CODE) for doc in seeded]
    documents, pages = all_products(pricing)
    expect(pages == 3, f"300 products in pages of 100 should be 3 pages, got {pages}")
    expect(documents == expected, "GetProducts pages are not the seeded documents in order")
    documents, pages = all_products(pricing, max_results=40)
    expect(pages == 8 and documents == expected, f"MaxResults 40: {pages} pages")

    paginator = pricing.get_paginator("get_products")
    pages = list(paginator.paginate(ServiceCode=SERVICE_CODE, PaginationConfig={"PageSize": 100}))
    expect(len(pages) == 3, f"boto3's paginator saw {len(pages)} pages")
    expect("NextToken" not in pages[-1], "the last page has a NextToken")

    check_price_filters(pricing, expected)
    check_price_errors(pricing)

    services = pricing.describe_services(FormatVersion="aws_v1")["Services"]
    expect([s["ServiceCode"] for s in services] == ["AmazonBedrock", "AmazonEC2"], f"{services}")
    expect("regionCode" in services[0]["AttributeNames"], f"{services[0]}")
    one = pricing.describe_services(ServiceCode="AmazonEC2")["Services"]
    expect(one == [{"ServiceCode": "AmazonEC2", "AttributeNames": ["instanceType"]}], f"{one}")
    expect(pricing.describe_services(ServiceCode="Nope")["Services"] == [], "unknown service")


def check_price_filters(pricing, expected: list[dict]) -> None:
    def count(*filters, service=SERVICE_CODE) -> int:
        return len(all_products(pricing, ServiceCode=service, Filters=list(filters))[0])

    expect(count(term("TERM_MATCH", "regionCode", "US-EAST-1")) == 100, "TERM_MATCH ignores case")
    expect(count(term("EQUALS", "regionCode", "US-EAST-1")) == 0, "EQUALS is exact")
    expect(count(term("EQUALS", "regionCode", "us-east-1")) == 100, "EQUALS us-east-1")
    expect(count(term("CONTAINS", "model", "claude")) == 90, "CONTAINS claude")
    expect(count(term("ANY_OF", "regionCode", "us-east-1, EU-WEST-1")) == 200, "ANY_OF")
    expect(count(term("NONE_OF", "regionCode", "us-east-1,eu-west-1")) == 100, "NONE_OF")
    expect(count(term("NONE_OF", "noSuchAttribute", "x")) == 300, "NONE_OF, field missing")
    expect(count(term("TERM_MATCH", "noSuchAttribute", "x")) == 0, "TERM_MATCH, field missing")
    expect(count(term("TERM_MATCH", "ServiceCode", "amazonbedrock")) == 300, "ServiceCode field")
    expect(count(term("TERM_MATCH", "ServiceCode", "AmazonEC2")) == 0, "other ServiceCode")
    expect(count(term("TERM_MATCH", "productFamily", "provisioned throughput")) == 90, "family")
    expect(count(term("EQUALS", "model", "Claude 3 Haiku"),
                 term("TERM_MATCH", "regionCode", "us-west-2"),
                 term("CONTAINS", "usagetype", "INPUT-TOKENS")) == 4, "filters combine with AND")
    only = all_products(pricing, Filters=[term("TERM_MATCH", "sku", "SKU0042")])[0]
    expect(only == [doc for doc in expected if doc["product"]["sku"] == "SKU0042"], f"{only}")
    # Paging a filtered query keeps the filter.
    documents, pages = all_products(
        pricing, max_results=25, Filters=[term("CONTAINS", "model", "llama")]
    )
    expect(pages == 3 and len(documents) == 60, f"filtered paging: {pages} pages")
    expect(all("Llama" in doc["product"]["attributes"]["model"] for doc in documents), "llama")
    expect(all_products(pricing, ServiceCode="NoSuchService") == ([], 1), "unknown ServiceCode")


def check_price_errors(pricing) -> None:
    expect_error(
        lambda: pricing.get_products(ServiceCode=SERVICE_CODE, NextToken="not-a-token"),
        "InvalidNextTokenException", 400,
    )
    first = pricing.get_products(ServiceCode=SERVICE_CODE, MaxResults=10)
    other_filters = [term("TERM_MATCH", "regionCode", "us-east-1")]
    expect_error(
        lambda: pricing.get_products(
            ServiceCode=SERVICE_CODE, Filters=other_filters, NextToken=first["NextToken"]
        ),
        "InvalidNextTokenException", 400,
    )
    expect_error(
        lambda: pricing.get_products(ServiceCode=SERVICE_CODE, MaxResults=101),
        "InvalidParameterException", 400,
    )
    expect_error(
        lambda: pricing.get_products(ServiceCode=SERVICE_CODE, FormatVersion="aws_v2"),
        "InvalidParameterException", 400,
    )
    expect_error(lambda: pricing.get_attribute_values(ServiceCode="x", AttributeName="y"),
                 "UnknownOperationException", 400)


# --- Bedrock -----------------------------------------------------------------------------------


FOUNDATION_MODELS = [
    {"modelId": "anthropic.claude-3-haiku-20240307-v1:0", "modelName": "Claude 3 Haiku",
     "inputModalities": ["TEXT", "IMAGE"],
     "inferenceTypesSupported": ["ON_DEMAND", "PROVISIONED"],
     "customizationsSupported": ["FINE_TUNING"]},
    {"modelId": "anthropic.claude-3-5-sonnet-20240620-v1:0", "modelName": "Claude 3.5 Sonnet",
     "modelLifecycle": {"status": "LEGACY", "legacyTime": 1767225600}},
    {"modelId": "amazon.titan-embed-text-v2:0", "modelName": "Titan Text Embeddings V2",
     "outputModalities": ["EMBEDDING"], "responseStreamingSupported": False},
    {"modelId": "stability.sd3-5-large-v1:0", "modelName": "Stable Diffusion 3.5 Large",
     "outputModalities": ["IMAGE"], "responseStreamingSupported": False},
    {"modelId": "mistral.mistral-large-2402-v1:0", "modelName": "Mistral Large (24.02)"},
    {"modelId": "meta.llama3-70b-instruct-v1:0", "modelName": "Llama 3 70B Instruct",
     "inferenceTypesSupported": ["PROVISIONED"]},
]
SYSTEM_PROFILES = [
    "us.anthropic.claude-3-haiku-20240307-v1:0",
    "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
    "us.meta.llama3-2-1b-instruct-v1:0",
    "us.meta.llama3-2-3b-instruct-v1:0",
    "us.amazon.nova-lite-v1:0",
    "us.amazon.nova-pro-v1:0",
    "us.mistral.pixtral-large-2502-v1:0",
]
HAIKU_ARN = "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
APPLICATION_PROFILES = [
    {"inferenceProfileId": f"app{index:09d}", "type": "APPLICATION",
     "inferenceProfileName": f"team-{index}", "description": f"Team {index} Haiku",
     "models": [{"modelArn": HAIKU_ARN}],
     "createdAt": 1735689600 + index, "updatedAt": "2025-02-01T10:00:00.250Z"}
    for index in range(3)
]


def check_bedrock(front_url: str, bedrock, bedrock_eu) -> None:
    admin_ok(front_url, "PUT", "/_standin/bedrock/foundation-models/us-east-1", FOUNDATION_MODELS)
    admin_ok(front_url, "PUT", "/_standin/bedrock/foundation-models/eu-west-1",
             [{"modelId": "anthropic.claude-3-haiku-20240307-v1:0"}])
    profiles = [{"inferenceProfileId": pid} for pid in SYSTEM_PROFILES] + APPLICATION_PROFILES
    answer = admin_ok(front_url, "PUT", "/_standin/bedrock/inference-profiles/us-east-1", profiles)
    expect(answer == {"region": "us-east-1", "count": 10}, f"seed answer {answer}")
    check_foundation_models(bedrock, bedrock_eu)
    check_inference_profiles(bedrock, bedrock_eu)
    expect_error(lambda: bedrock.list_custom_models(), "UnknownOperationException", 404)


def model_ids(answer: dict) -> list[str]:
    return [model["modelId"] for model in answer["modelSummaries"]]


def check_foundation_models(bedrock, bedrock_eu) -> None:
    every = bedrock.list_foundation_models()["modelSummaries"]
    expect([m["modelId"] for m in every] == [m["modelId"] for m in FOUNDATION_MODELS], "order")
    haiku = every[0]
    expect(haiku["modelArn"] == HAIKU_ARN, f"default modelArn {haiku['modelArn']}")
    expect(haiku["providerName"] == "Anthropic", f"default providerName {haiku}")
    expect(haiku["outputModalities"] == ["TEXT"], f"default outputModalities {haiku}")
    expect(haiku["responseStreamingSupported"] is True, f"default streaming {haiku}")
    expect(haiku["modelLifecycle"] == {"status": "ACTIVE"}, f"{haiku['modelLifecycle']}")
    legacy = every[1]["modelLifecycle"]
    expect(legacy["legacyTime"] == datetime(2026, 1, 1, tzinfo=timezone.utc), f"{legacy}")

    by = bedrock.list_foundation_models
    expect(len(model_ids(by(byProvider="anthropic"))) == 2, "byProvider anthropic")
    expect(len(model_ids(by(byProvider="ANTHROPIC"))) == 2, "byProvider is case-insensitive")
    expect(model_ids(by(byProvider="Mistral AI")) == model_ids(by(byProvider="mistral")), "mistral")
    expect(model_ids(by(byOutputModality="EMBEDDING")) == ["amazon.titan-embed-text-v2:0"], "embed")
    expect(len(model_ids(by(byInferenceType="PROVISIONED"))) == 2, "byInferenceType PROVISIONED")
    expect(len(model_ids(by(byInferenceType="ON_DEMAND"))) == 5, "byInferenceType ON_DEMAND")
    expect(model_ids(by(byCustomizationType="FINE_TUNING")) == [haiku["modelId"]], "fine-tuning")
    expect(model_ids(by(byProvider="anthropic", byOutputModality="IMAGE")) == [], "AND")
    expect_error(lambda: by(byOutputModality="SMELL"), "ValidationException", 400)

    eu = bedrock_eu.list_foundation_models()["modelSummaries"]
    expect([m["modelArn"] for m in eu] == [HAIKU_ARN.replace("us-east-1", "eu-west-1")], f"{eu}")

    details = bedrock.get_foundation_model(modelIdentifier=HAIKU_ARN)["modelDetails"]
    expect(details == haiku, "GetFoundationModel by ARN")
    by_id = bedrock.get_foundation_model(modelIdentifier=haiku["modelId"])["modelDetails"]
    expect(by_id == haiku, "GetFoundationModel by id")
    expect_error(lambda: bedrock.get_foundation_model(modelIdentifier="anthropic.nope-v1:0"),
                 "ResourceNotFoundException", 404)


def check_inference_profiles(bedrock, bedrock_eu) -> None:
    system_id = SYSTEM_PROFILES[0]
    system_arn = f"arn:aws:bedrock:us-east-1:{ACCOUNT_ID}:inference-profile/{system_id}"
    by_id = bedrock.get_inference_profile(inferenceProfileIdentifier=system_id)
    by_arn = bedrock.get_inference_profile(inferenceProfileIdentifier=system_arn)
    by_id.pop("ResponseMetadata"), by_arn.pop("ResponseMetadata")
    expect(by_id == by_arn, "a profile by id and by ARN differ")
    expect(by_id == {
        "inferenceProfileName": system_id, "inferenceProfileArn": system_arn,
        "models": [{"modelArn": HAIKU_ARN}], "inferenceProfileId": system_id,
        "status": "ACTIVE", "type": "SYSTEM_DEFINED",
    }, f"system-defined profile defaults: {by_id}")

    app_arn = f"arn:aws:bedrock:us-east-1:{ACCOUNT_ID}:application-inference-profile/app000000001"
    app = bedrock.get_inference_profile(inferenceProfileIdentifier=app_arn)
    expect(app["inferenceProfileName"] == "team-1" and app["type"] == "APPLICATION", f"{app}")
    expect(app["createdAt"] == datetime(2025, 1, 1, 0, 0, 1, tzinfo=timezone.utc), "createdAt")
    expect(app["updatedAt"] == datetime(2025, 2, 1, 10, 0, 0, 250000, tzinfo=timezone.utc),
           "updatedAt")

    missing = expect_error(
        lambda: bedrock.get_inference_profile(inferenceProfileIdentifier="us.nope.model-v1:0"),
        "ResourceNotFoundException", 404,
    )
    headers = missing.response["ResponseMetadata"]["HTTPHeaders"]
    expect(headers.get("x-amzn-errortype") == "ResourceNotFoundException", f"{headers}")
    expect("us.nope.model-v1:0" in missing.response["Error"]["Message"], "error message")
    expect_error(lambda: bedrock_eu.get_inference_profile(inferenceProfileIdentifier=system_id),
                 "ResourceNotFoundException", 404)

    listed = bedrock.list_inference_profiles()["inferenceProfileSummaries"]
    expect([p["inferenceProfileId"] for p in listed] == SYSTEM_PROFILES, "no type: SYSTEM_DEFINED")
    apps = bedrock.list_inference_profiles(typeEquals="APPLICATION")["inferenceProfileSummaries"]
    expect([p["inferenceProfileName"] for p in apps] == ["team-0", "team-1", "team-2"], f"{apps}")
    pages = list(bedrock.get_paginator("list_inference_profiles").paginate(
        typeEquals="SYSTEM_DEFINED", PaginationConfig={"PageSize": 3}))
    sizes = [len(page["inferenceProfileSummaries"]) for page in pages]
    expect(sizes == [3, 3, 1], f"pages of 3: {sizes}")
    paged = [p["inferenceProfileId"] for page in pages for p in page["inferenceProfileSummaries"]]
    expect(paged == SYSTEM_PROFILES, "paged profiles in seeded order")
    first = bedrock.list_inference_profiles(maxResults=2)
    expect_error(
        lambda: bedrock.list_inference_profiles(typeEquals="APPLICATION",
                                                nextToken=first["nextToken"]),
        "ValidationException", 400,
    )
    expect_error(lambda: bedrock.list_inference_profiles(maxResults=1001),
                 "ValidationException", 400)
    expect(bedrock_eu.list_inference_profiles()["inferenceProfileSummaries"] == [], "eu empty")


# --- faults, counts, seeding errors, reset, and the older services -----------------------------


def check_faults(front_url: str, pricing, bedrock) -> None:
    admin_ok(front_url, "POST", "/_standin/faults", {
        "operation": "GetProducts", "service": "pricing", "status": 400,
        "code": "ThrottlingException", "message": "Rate exceeded", "times": 1})
    error = expect_error(lambda: pricing.get_products(ServiceCode=SERVICE_CODE),
                         "ThrottlingException", 400)
    expect(error.response["Error"]["Message"] == "Rate exceeded", f"{error.response['Error']}")
    pricing.get_products(ServiceCode=SERVICE_CODE)  # the fault was for one call only

    admin_ok(front_url, "POST", "/_standin/faults", {
        "operation": "GetInferenceProfile", "status": 429, "code": "ThrottlingException",
        "times": 2})
    for _ in range(2):
        expect_error(
            lambda: bedrock.get_inference_profile(inferenceProfileIdentifier=SYSTEM_PROFILES[0]),
            "ThrottlingException", 429,
        )
    bedrock.get_inference_profile(inferenceProfileIdentifier=SYSTEM_PROFILES[0])

    # A fault for another service's operation of the same name does not fire.
    admin_ok(front_url, "POST", "/_standin/faults", {
        "operation": "ListFoundationModels", "service": "pricing", "status": 500,
        "code": "InternalFailure"})
    bedrock.list_foundation_models()
    admin_ok(front_url, "POST", "/_standin/faults", {
        "operation": "ListInferenceProfiles", "service": "bedrock", "status": 503,
        "code": "ServiceUnavailableException"})
    expect_error(lambda: bedrock.list_inference_profiles(), "ServiceUnavailableException", 503)
    status, answer = admin(front_url, "POST", "/_standin/faults", {
        "operation": "GetProducts", "service": "ec2", "status": 400, "code": "X"})
    expect(status == 400, f"a fault for an unknown service was accepted: {answer}")


def check_calls(front_url: str) -> None:
    """Every call is counted, faulted or not; GetProducts' count is dominated by paging."""
    calls = admin_ok(front_url, "GET", "/_standin/calls")
    for operation in ("GetProducts", "DescribeServices", "ListFoundationModels",
                      "GetFoundationModel", "GetInferenceProfile", "ListInferenceProfiles"):
        expect(calls.get(operation, 0) > 0, f"no calls counted for {operation}: {calls}")
    # check_inference_profiles makes 5 GetInferenceProfile calls, check_faults 3.
    expect(calls["GetInferenceProfile"] == 8, f"GetInferenceProfile counted {calls}")


def check_bad_seeds(front_url: str) -> None:
    bad = [
        ("/_standin/pricing/AmazonBedrock", [{"product": {"sku": "A"}}, {"product": {"sku": "A"}}]),
        ("/_standin/pricing/AmazonBedrock", [{"product": {"attributes": {}}}]),
        ("/_standin/pricing/AmazonBedrock", [{"product": {"sku": "A"}, "serviceCode": "X"}]),
        ("/_standin/pricing/", []),
        ("/_standin/bedrock/foundation-models/us-east-1", [{"modelName": "no id"}]),
        ("/_standin/bedrock/foundation-models/us-east-1", [{"modelId": "a.b", "bogus": 1}]),
        ("/_standin/bedrock/foundation-models/us-east-1", [{"modelId": "a.b", "providerName": 7}]),
        ("/_standin/bedrock/inference-profiles/us-east-1",
         [{"inferenceProfileId": "app1", "type": "APPLICATION"}]),
        ("/_standin/bedrock/inference-profiles/us-east-1",
         [{"inferenceProfileId": "us.a.b", "createdAt": "yesterday"}]),
        ("/_standin/bedrock/inference-profiles/us-east-1", {"not": "a list"}),
    ]
    for path, body in bad:
        status, answer = admin(front_url, "PUT", path, body)
        expect(status == 400, f"PUT {path} {body} answered {status} {answer}")


def check_other_services(front_url: str) -> None:
    """The older services still route as before (Service Quotas' paging token changed code)."""
    quotas = [{"ServiceCode": "bedrock", "QuotaCode": f"L-{i}", "QuotaName": f"q{i}", "Value": i}
              for i in range(3)]
    admin_ok(front_url, "PUT", "/_standin/quotas/us-east-1", quotas)
    service_quotas = client("service-quotas", "us-east-1", front_url, strict=False)
    first = service_quotas.list_service_quotas(ServiceCode="bedrock", MaxResults=2)
    second = service_quotas.list_service_quotas(
        ServiceCode="bedrock", MaxResults=2, NextToken=first["NextToken"])
    expect(len(first["Quotas"]) == 2 and len(second["Quotas"]) == 1, "quota paging")
    expect("NextToken" not in second, "quota last page")
    expect_error(lambda: service_quotas.list_service_quotas(ServiceCode="bedrock", NextToken="x"),
                 "InvalidPaginationTokenException", 400)
    logs = client("logs", "us-east-1", front_url, strict=False)
    logs.create_log_group(logGroupName="/check/pricing-bedrock")
    groups = logs.describe_log_groups()["logGroups"]
    expect([g["logGroupName"] for g in groups] == ["/check/pricing-bedrock"], f"{groups}")


def check_reset(front_url: str, pricing, bedrock) -> None:
    admin_ok(front_url, "POST", "/_standin/reset")
    expect(pricing.get_products(ServiceCode=SERVICE_CODE)["PriceList"] == [], "products reset")
    expect(bedrock.list_foundation_models()["modelSummaries"] == [], "models reset")
    expect(bedrock.list_inference_profiles()["inferenceProfileSummaries"] == [], "profiles reset")
    expect(admin_ok(front_url, "GET", "/_standin/faults") == [], "faults reset")
    expect(set(admin_ok(front_url, "GET", "/_standin/calls")) == {
        "GetProducts", "ListFoundationModels", "ListInferenceProfiles"}, "calls reset")


def run_checks(front_url: str) -> None:
    pricing = client("pricing", "us-east-1", front_url)
    bedrock = client("bedrock", "us-east-1", front_url)
    bedrock_eu = client("bedrock", "eu-west-1", front_url)
    check_price_list(front_url, pricing)
    check_bedrock(front_url, bedrock, bedrock_eu)
    check_faults(front_url, pricing, bedrock)
    check_calls(front_url)
    check_bad_seeds(front_url)
    check_other_services(front_url)
    check_reset(front_url, pricing, bedrock)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="let the servers log requests")
    args = parser.parse_args()
    verbose = ["--verbose"] if args.verbose else []

    moto = StandIn("moto", [str(SUPPORT_DIR / "moto_standin.py"), "--port", "0", *verbose])
    front = None
    try:
        front = StandIn("front", [str(SUPPORT_DIR / "front.py"), "--port", "0",
                                  "--moto-url", moto.url, *verbose])
        run_checks(front.url)
    except Exception:
        for process in (front, moto):
            if process is not None:
                print(f"--- {process.name} stderr ---\n{process.stderr_text()}", file=sys.stderr)
        raise
    finally:
        for process in (front, moto):
            if process is not None:
                process.stop()
    print("ok")


if __name__ == "__main__":
    main()
