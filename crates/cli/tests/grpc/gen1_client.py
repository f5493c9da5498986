"""A first-generation gRPC client, generated from Slipway's ps_server.proto by
grpcio-tools (gRPC's own toolkit), for the black-box tests.

    gen1_client.py PROTO_DIR TARGET SERVICE METHOD REQUEST_JSON

Calls SERVICE.METHOD (Control or Account) on TARGET with the request given
as JSON and prints each answer as a JSON line as it arrives (a streaming
method's messages live), then a last line {"status": CODE, "details": ...}.
A METHOD the .proto does not have is called anyway (the server's answer
to it is the point). SERVICE `health` checks the service METHOD with the
standard health service; SERVICE `reflection` lists the services by server
reflection. The bearer token, if any, comes from SLIPWAY_TOKEN; an
X-Forwarded-For address from GEN1_FORWARDED_FOR.
"""

import importlib
import json
import os
import sys
import tempfile

import grpc
from google.protobuf import json_format
from grpc_tools import protoc


def generate(proto_dir):
    out = tempfile.mkdtemp(prefix="ps-server-py-")
    status = protoc.main([
        "grpc_tools.protoc",
        f"-I{proto_dir}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        os.path.join(proto_dir, "ps_server.proto"),
    ])
    if status != 0:
        sys.exit(f"protoc failed with {status}")
    sys.path.insert(0, out)
    return importlib.import_module("ps_server_pb2"), importlib.import_module("ps_server_pb2_grpc")


def emit(document):
    print(json.dumps(document), flush=True)


def as_dict(message):
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def call(channel, pb2, pb2_grpc, service, method, request_json, metadata):
    methods = pb2.DESCRIPTOR.services_by_name[service].methods_by_name
    if method not in methods:
        unknown = channel.unary_unary(f"/ps_server.{service}/{method}")
        unknown(b"", metadata=metadata, timeout=60)
        return
    descriptor = methods[method]
    request = json_format.Parse(request_json, getattr(pb2, descriptor.input_type.name)())
    stub_call = getattr(getattr(pb2_grpc, f"{service}Stub")(channel), method)
    if descriptor.server_streaming:
        for message in stub_call(request, metadata=metadata, timeout=300):
            emit(as_dict(message))
    else:
        emit(as_dict(stub_call(request, metadata=metadata, timeout=60)))


def health(channel, service):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    answer = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=60
    )
    emit({"serving": health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)})


def reflection(channel):
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
        ProtoReflectionDescriptorDatabase,
    )

    emit({"services": sorted(ProtoReflectionDescriptorDatabase(channel).get_services())})


def main():
    proto_dir, target, service, method, request_json = sys.argv[1:6]
    token = os.environ.get("SLIPWAY_TOKEN")
    metadata = [("authorization", f"Bearer {token}")] if token else []
    forwarded_for = os.environ.get("GEN1_FORWARDED_FOR")
    if forwarded_for:
        metadata.append(("x-forwarded-for", forwarded_for))
    with grpc.insecure_channel(target) as channel:
        try:
            if service == "health":
                health(channel, method)
            elif service == "reflection":
                reflection(channel)
            else:
                pb2, pb2_grpc = generate(proto_dir)
                call(channel, pb2, pb2_grpc, service, method, request_json, metadata)
            emit({"status": "OK", "details": ""})
        except grpc.RpcError as e:
            emit({"status": e.code().name, "details": e.details()})


if __name__ == "__main__":
    main()
