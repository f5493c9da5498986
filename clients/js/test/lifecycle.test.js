// A cluster's lifecycle against the real server: create, deploy with a TTL,
// call it, extend, destroy; a deploy that fails; an operation's log.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { OperationFailed } from "../src/index.js";
import { signedIn, skip, uniqueName, world } from "../test-helpers/world.js";

const HOUR = 3600_000;

/**
 * Removes a cluster's definition at the end of a test, whatever came of it.
 * @param {import("../src/index.js").Slipway} slipway
 * @param {string} name
 */
async function cleanUp(slipway, name) {
  await slipway.destroy(name).catch(() => {});
  await slipway.request("DELETE", `/v1/clusters/${name}`).catch(() => {});
}

describe("the lifecycle", { skip }, () => {
  test("create, deploy with a TTL, call it, extend, destroy", async (t) => {
    const alice = await signedIn("alice");
    const name = uniqueName("js-life");
    t.after(() => cleanUp(alice, name));

    const created = await alice.create({
      name,
      blueprint: world.blueprint,
      organization: world.organization,
    });
    assert.equal(created.state, "absent");

    /** @type {string[]} */
    const kinds = [];
    const asked = Date.now();
    const deployed = await alice.deploy(name, { ttl: "1h", onEvent: (e) => void kinds.push(e.kind) });
    assert.equal(deployed.operation?.state, "succeeded");
    assert.equal(deployed.operation?.kind, "deploy");
    assert.equal(deployed.cluster.state, "running");
    assert.match(String(deployed.cluster.endpoint), /^https?:\/\//);
    const destroyAt = Date.parse(String(deployed.cluster.destroy_at));
    assert.ok(
      destroyAt >= asked + HOUR - 5000 && destroyAt <= Date.now() + HOUR + 5000,
      `destroy at ${deployed.cluster.destroy_at}, an hour after the deploy`,
    );
    assert.equal(kinds.at(-1), "operation_finished");

    const cluster = await alice.cluster(name);
    const health = await cluster.fetch("/health");
    assert.equal(health.status, 200);
    assert.equal(/** @type {any} */ (await health.json()).cluster, name);

    const extended = await alice.extend(name, "2h");
    assert.equal(extended.result, "scheduled");
    const later = Date.parse(String(extended.cluster.destroy_at));
    assert.ok(later >= destroyAt + HOUR - 5000, `moved to ${extended.cluster.destroy_at}`);
    assert.equal((await alice.status(name)).destroy_at, extended.cluster.destroy_at);

    const destroyed = await alice.destroy(name);
    assert.equal(destroyed.operation?.kind, "destroy");
    assert.equal(destroyed.operation?.state, "succeeded");
    assert.equal(destroyed.cluster.state, "absent");
    assert.equal((await alice.status(name)).state, "absent");
  });

  test("a failed deploy throws OperationFailed carrying the operation's error", async (t) => {
    const alice = await signedIn("alice");
    const name = uniqueName("js-flaky");
    t.after(() => cleanUp(alice, name));
    await alice.create({
      name,
      blueprint: world.failing_blueprint,
      organization: world.organization,
      variables: { fail_apply: true },
    });

    const thrown = await alice.deploy(name, { ttl: "1h" }).then(
      () => assert.fail("the deploy of a failing cluster succeeded"),
      (e) => e,
    );
    assert.ok(thrown instanceof OperationFailed, String(thrown));
    assert.equal(thrown.code, "operation_failed");
    assert.equal(thrown.operation.state, "failed");
    assert.equal(thrown.operation.kind, "deploy");
    assert.match(String(thrown.operation.error), /boom: the cloud said no/);
    assert.ok(thrown.message.includes(String(thrown.operation.error)), thrown.message);
    assert.ok(thrown.message.includes(thrown.operation.id), thrown.message);
    // As the server keeps it.
    const operation = await alice.operation(thrown.operation.id);
    assert.equal(operation.state, "failed");
    assert.equal(operation.error, thrown.operation.error);
    assert.equal((await alice.status(name)).state, "failed");
    t.diagnostic(`thrown: ${thrown.message}`);
  });

  test("an operation's log is followed as it is written, to its end", async (t) => {
    const alice = await signedIn("alice");
    const name = uniqueName("js-log");
    t.after(() => cleanUp(alice, name));
    await alice.create({ name, blueprint: world.blueprint, organization: world.organization });

    const started = await alice.deploy(name, { ttl: "1h", wait: false });
    assert.equal(started.result, "queued");
    const operation = started.operation;
    assert.ok(operation, "a deploy to follow");
    assert.notEqual(operation.state, "succeeded", "followed while it runs");

    /** @type {import("../src/slipway.js").Event[]} */
    const events = [];
    for await (const event of alice.follow(operation)) {
      events.push(event);
    }
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_, i) => i + 1),
      "every event, in order, once",
    );
    assert.equal(events[0].kind, "operation_queued");
    assert.ok(events.some((e) => e.kind === "operation_started"));
    assert.equal(events.at(-1)?.kind, "operation_finished");
    // The operation ended with its log.
    assert.equal((await alice.wait(operation)).state, "succeeded");

    // Following again from the middle resumes after it.
    const middle = Math.floor(events.length / 2);
    const rest = [];
    for await (const event of alice.follow(operation.id, { after: middle })) {
      rest.push(event.seq);
    }
    assert.deepEqual(rest, events.slice(middle).map((e) => e.seq));
  });
});
