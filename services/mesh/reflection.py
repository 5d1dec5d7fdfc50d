"""Server reflection in both versions clients speak: `grpc.reflection.v1alpha.ServerReflection`
(grpcio-reflection, what grpcurl 1.8 and older tools ask for) and `grpc.reflection.v1`, the
stable one newer tools ask for first (and some ask for only).

grpcio-reflection serves v1alpha alone. v1 is the same protocol under another package: every
message and field is the same on the wire. So the v1 service here is the library's own servicer
behind a handler registered under the v1 name, and the v1 proto file is the v1alpha one renamed,
added to the descriptor pool so that reflection describes the v1 service too.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_reflection.v1alpha import reflection as v1alpha
from grpc_reflection.v1alpha import reflection_pb2 as v1alpha_pb2
from grpc_reflection.v1alpha import reflection_pb2_grpc as v1alpha_pb2_grpc

V1ALPHA_SERVICE_NAME: str = v1alpha.SERVICE_NAME
V1_PACKAGE = "grpc.reflection.v1"
V1_SERVICE_NAME = f"{V1_PACKAGE}.ServerReflection"
V1_FILE = "grpc/reflection/v1/reflection.proto"
_METHOD = "ServerReflectionInfo"


def enable_reflection(server: grpc.aio.Server, service_names: Sequence[str]) -> None:
    """Serve reflection (v1 and v1alpha) of `service_names` and of both reflection services."""
    _add_v1_file(descriptor_pool.Default())
    names = [*service_names, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME]
    # `reflection.aio` is the library's public name for its asyncio servicer (set at import).
    servicer = v1alpha.aio.ReflectionServicer(names)  # type: ignore[attr-defined]
    v1alpha_pb2_grpc.add_ServerReflectionServicer_to_server(servicer, server)
    handler = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=v1alpha_pb2.ServerReflectionRequest.FromString,
        response_serializer=v1alpha_pb2.ServerReflectionResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(V1_SERVICE_NAME, {_METHOD: handler}),)
    )


def _add_v1_file(pool: descriptor_pool.DescriptorPool) -> None:
    """grpc/reflection/v1/reflection.proto in the pool (once): v1alpha's file, renamed."""
    try:
        pool.FindFileByName(V1_FILE)
        return
    except KeyError:
        pass
    proto = descriptor_pb2.FileDescriptorProto()
    v1alpha_pb2.DESCRIPTOR.CopyToProto(proto)
    old_prefix = f".{proto.package}."

    def renamed(type_name: str) -> str:
        if type_name.startswith(old_prefix):
            return f".{V1_PACKAGE}.{type_name[len(old_prefix) :]}"
        return type_name

    proto.name = V1_FILE
    proto.package = V1_PACKAGE
    proto.ClearField("options")  # v1alpha's java/objc/csharp package names
    for message in proto.message_type:
        for message_field in message.field:
            if message_field.HasField("type_name"):  # scalars have none: setting one breaks them
                message_field.type_name = renamed(message_field.type_name)
    for method in proto.service[0].method:
        method.input_type = renamed(method.input_type)
        method.output_type = renamed(method.output_type)
    pool.Add(proto)
