// The public gRPC API walked from Node.js, as a user of @grpc/grpc-js and @grpc/proto-loader would,
// straight from proto/ (tests/e2e/test_node_client.py runs it against a running stack): health on
// all five services, the services BOS lists through reflection v1, RegisterBatch, client-streaming UploadFiles, server-streaming WatchBatch to
// the end, GetBatch, the corrected text through GetContent, and one bad RegisterBatch whose
// structured details (google.rpc.Status in grpc-status-details-bin: ErrorInfo, BadRequest) are
// checked.
//
// Environment: PROTO_DIR (our proto/), GOOGLE_PROTO_DIR (a directory holding google/rpc/*.proto,
// e.g. googleapis-common-protos), ESSAYS_DIR (.txt essays to upload), and the services'
// *_ADDR of all five; HULEEDU_TOKEN, when set, is sent as the bearer token of every call (a stack
// with authentication on, e.g. docker compose). Prints one JSON line with
// what it saw; exits non-zero on the first thing that is not as documented.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import protobuf from "protobufjs";

const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `${name} is not set`);
  return value;
};
const includeDirs = [env("PROTO_DIR"), env("GOOGLE_PROTO_DIR")];
const DEADLINE_MS = 120_000;
const TERMINAL = new Set([
  "BATCH_STATUS_COMPLETED",
  "BATCH_STATUS_COMPLETED_WITH_FAILURES",
  "BATCH_STATUS_FAILED",
]);

// keepCase: the field names as in the .proto files (snake_case, as the docs write them);
// enums as their full names; includeDirs so that the protos' imports resolve.
const definition = protoLoader.loadSync(
  [
    "huleedu/batch/v1/batch_service.proto",
    "huleedu/file/v1/file_service.proto",
    "huleedu/content/v1/content_service.proto",
  ],
  { keepCase: true, enums: String, longs: String, defaults: true, oneofs: true, includeDirs },
);
const api = grpc.loadPackageDefinition(definition).huleedu;
const insecure = grpc.credentials.createInsecure();
// The bearer token as the `authorization` header of every call: grpc-js takes call credentials
// only on TLS channels, so an interceptor adds it on a plain-text one.
const token = process.env.HULEEDU_TOKEN?.trim();
const bearer = (options, nextCall) =>
  new grpc.InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      if (token) metadata.add("authorization", `Bearer ${token}`);
      next(metadata, listener);
    },
  });
const withToken = { interceptors: [bearer] };
const bos = new api.batch.v1.BatchOrchestratorService(
  env("BATCH_ORCHESTRATOR_ADDR"),
  insecure,
  withToken,
);
const files = new api.file.v1.FileService(env("FILE_SERVICE_ADDR"), insecure, withToken);
const content = new api.content.v1.ContentService(
  env("CONTENT_SERVICE_ADDR"),
  insecure,
  withToken,
);

// grpc.health.v1, the standard health protocol, declared here: no npm package ships its .proto
// alone.
const health = grpc.loadPackageDefinition(
  protoLoader.fromJSON(
    {
      nested: {
        grpc: {
          nested: {
            health: {
              nested: {
                v1: {
                  nested: {
                    HealthCheckRequest: { fields: { service: { type: "string", id: 1 } } },
                    HealthCheckResponse: {
                      fields: { status: { type: "ServingStatus", id: 1 } },
                      nested: {
                        ServingStatus: {
                          values: { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 },
                        },
                      },
                    },
                    Health: {
                      methods: {
                        Check: { requestType: "HealthCheckRequest", responseType: "HealthCheckResponse" },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
    { enums: String },
  ),
).grpc.health.v1;
// grpc.reflection.v1's listing, declared here (the subset of its messages this walk reads):
// what a tool that speaks only the stable reflection asks first.
const reflection = grpc.loadPackageDefinition(
  protoLoader.fromJSON(
    {
      nested: {
        grpc: {
          nested: {
            reflection: {
              nested: {
                v1: {
                  nested: {
                    ServerReflectionRequest: {
                      fields: { host: { type: "string", id: 1 }, list_services: { type: "string", id: 7 } },
                    },
                    ServiceResponse: { fields: { name: { type: "string", id: 1 } } },
                    ListServiceResponse: {
                      fields: { service: { rule: "repeated", type: "ServiceResponse", id: 1 } },
                    },
                    ServerReflectionResponse: {
                      fields: { list_services_response: { type: "ListServiceResponse", id: 6 } },
                    },
                    ServerReflection: {
                      methods: {
                        ServerReflectionInfo: {
                          requestType: "ServerReflectionRequest",
                          requestStream: true,
                          responseType: "ServerReflectionResponse",
                          responseStream: true,
                        },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
    { keepCase: true },
  ),
).grpc.reflection.v1;

function listServices(addr) {
  return new Promise((resolve, reject) => {
    const client = new reflection.ServerReflection(addr, insecure);
    const call = client.ServerReflectionInfo({ deadline: deadline() });
    call.on("data", (reply) => {
      resolve(reply.list_services_response.service.map((service) => service.name).sort());
      call.end();
      client.close();
    });
    call.on("error", reject);
    call.write({ list_services: "" });
  });
}

const SERVICES = [
  "CONTENT_SERVICE_ADDR",
  "FILE_SERVICE_ADDR",
  "BATCH_ORCHESTRATOR_ADDR",
  "ESSAY_LIFECYCLE_ADDR",
  "SPELL_CHECKER_ADDR",
];

const deadline = () => new Date(Date.now() + DEADLINE_MS);
const unary = (client, method, request) =>
  new Promise((resolve, reject) => {
    client[method](request, { deadline: deadline() }, (error, reply) =>
      error ? reject(error) : resolve(reply),
    );
  });

function uploadFiles(batchId, paths) {
  return new Promise((resolve, reject) => {
    const call = files.UploadFiles({ deadline: deadline() }, (error, reply) =>
      error ? reject(error) : resolve(reply),
    );
    for (const file of paths) {
      call.write({ batch_id: batchId, file_name: path.basename(file), content: readFileSync(file) });
    }
    call.end();
  });
}

function watchToTheEnd(batchId) {
  return new Promise((resolve, reject) => {
    const seen = [];
    const call = bos.WatchBatch({ batch_id: batchId }, { deadline: deadline() });
    call.on("data", (reply) => seen.push(reply.batch.status));
    call.on("error", reject);
    call.on("end", () => resolve(seen));
  });
}

// google.rpc.Status and its details, decoded with protobufjs from googleapis' protos.
const googleRoot = new protobuf.Root();
googleRoot.resolvePath = (_origin, target) =>
  includeDirs.map((dir) => path.join(dir, target)).find((file) => {
    try {
      readFileSync(file);
      return true;
    } catch {
      return false;
    }
  }) ?? target;
googleRoot.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"], {
  keepCase: true,
});

function statusDetails(error) {
  const [raw] = error.metadata.get("grpc-status-details-bin");
  assert.ok(raw, "the error has no grpc-status-details-bin trailer");
  const status = googleRoot.lookupType("google.rpc.Status").decode(raw);
  const details = {};
  for (const detail of status.details) {
    const typeName = detail.type_url.split("/").pop();
    details[typeName] = googleRoot.lookupType(typeName).decode(detail.value);
  }
  return { status, details };
}

async function main() {
  const serving = {};
  for (const variable of SERVICES) {
    const client = new health.Health(env(variable), insecure);
    serving[variable] = (await unary(client, "Check", { service: "" })).status;
    client.close();
  }
  assert.ok(Object.values(serving).every((status) => status === "SERVING"), JSON.stringify(serving));
  const listed = await listServices(env("BATCH_ORCHESTRATOR_ADDR"));
  assert.ok(listed.includes("huleedu.batch.v1.BatchOrchestratorService"), listed.join(" "));
  assert.ok(listed.includes("grpc.reflection.v1.ServerReflection"), listed.join(" "));

  const essays = readdirSync(env("ESSAYS_DIR"))
    .filter((name) => name.endsWith(".txt"))
    .sort()
    .map((name) => path.join(env("ESSAYS_DIR"), name));
  assert.ok(essays.length >= 2, "ESSAYS_DIR holds fewer than two .txt essays");

  const registered = await unary(bos, "RegisterBatch", {
    expected_essay_count: essays.length,
    course_code: "ENG5",
    language: "en",
    title: "node client e2e",
    phases: ["PHASE_SPELLCHECK"],
  });
  assert.equal(registered.essay_ids.length, essays.length);

  const watched = watchToTheEnd(registered.batch_id);
  const uploaded = await uploadFiles(registered.batch_id, essays);
  assert.equal(uploaded.receipts.length, essays.length);
  for (const receipt of uploaded.receipts) {
    assert.equal(receipt.status, "UPLOAD_STATUS_ACCEPTED", JSON.stringify(receipt));
  }
  const statuses = await watched;
  assert.equal(statuses.at(-1), "BATCH_STATUS_COMPLETED", statuses.join(" > "));
  assert.ok(statuses.every((status, i) => i === statuses.length - 1 || !TERMINAL.has(status)));

  const { batch } = await unary(bos, "GetBatch", { batch_id: registered.batch_id });
  const [spellcheck] = batch.phase_states;
  assert.equal(spellcheck.phase, "PHASE_SPELLCHECK");
  assert.equal(spellcheck.processed_essays.length, essays.length);
  const corrected = await unary(content, "GetContent", {
    storage_id: spellcheck.processed_essays[0].text_storage_id,
  });
  assert.ok(corrected.content.length > 0);

  let refused;
  try {
    await unary(bos, "RegisterBatch", { expected_essay_count: 0, course_code: "", language: "en" });
  } catch (error) {
    refused = error;
  }
  assert.ok(refused, "a RegisterBatch with bad fields was accepted");
  assert.equal(refused.code, grpc.status.INVALID_ARGUMENT);
  const { status, details } = statusDetails(refused);
  assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
  assert.equal(details["google.rpc.ErrorInfo"].reason, "INVALID_REQUEST");
  assert.equal(details["google.rpc.ErrorInfo"].domain, "huleedu.mesh");
  const badFields = details["google.rpc.BadRequest"].field_violations.map((v) => v.field).sort();
  assert.deepEqual(badFields, ["course_code", "expected_essay_count"]);

  console.log(
    JSON.stringify({
      batch_id: registered.batch_id,
      serving,
      listed,
      statuses,
      essays: essays.length,
      corrected_bytes: corrected.content.length,
      corrected_kind: corrected.kind,
      bad_request: { code: refused.code, reason: details["google.rpc.ErrorInfo"].reason, fields: badFields },
    }),
  );
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error.stack ?? String(error));
    process.exit(1);
  },
);
