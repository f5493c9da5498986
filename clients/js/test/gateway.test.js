// Calling private clusters through their gateways with the cluster's
// `fetch`: tokens sent, refreshed before they expire, renewed once when
// revoked, and the refusals the server words.

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as pause } from "node:timers/promises";

import { SlipwayError } from "../src/index.js";
import { admin, deadline, recordingFetch, signedIn, skip, world } from "../test-helpers/world.js";

/** Between two requests of a loop, so as not to flood the gateway's rate limit. */
const PACE_MS = 50;

/**
 * The exchanges with the API's access route.
 * @param {import("../test-helpers/world.js").Exchange[]} exchanges
 */
function accessCalls(exchanges) {
  return exchanges.filter((e) => e.url.pathname.endsWith("/access"));
}

describe("a private cluster through its gateway", { skip }, () => {
  test("is called with the cluster's fetch, which sends the cluster token", async () => {
    const slipway = await signedIn("alice");
    const cluster = await slipway.cluster(world.cluster);
    assert.match(cluster.endpoint, /^https?:\/\//);

    const health = await cluster.fetch("/health");
    assert.equal(health.status, 200);
    const answered = /** @type {any} */ (await health.json());
    assert.deepEqual(
      { status: answered.status, cluster: answered.cluster, node: answered.node },
      { status: "ok", cluster: world.cluster, node: 0 },
    );

    const echo = await cluster.fetch("/v1/items?limit=2", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ item: 1 }),
    });
    assert.equal(echo.status, 200);
    const seen = /** @type {any} */ (await echo.json());
    assert.equal(seen.method, "POST");
    assert.equal(seen.path, "/v1/items");
    assert.equal(seen.headers["x-slipway-level"], "org_member");
    assert.ok(seen.headers["x-slipway-orgs"].split(",").includes(world.organization), seen.headers["x-slipway-orgs"]);

    // Without the token, the same gateway refuses.
    const bare = await fetch(new URL("/health", cluster.endpoint));
    assert.equal(bare.status, 401);
    assert.equal(/** @type {any} */ (await bare.json()).error.code, "unauthenticated");
  });

  test("its token is refreshed before it expires: three tokens in a row, no request failing", async (t) => {
    const recorded = recordingFetch();
    const slipway = await signedIn("alice", recorded.fetch);
    const cluster = await slipway.cluster(world.cluster);
    const gateway = new URL(cluster.endpoint).origin;
    const ttl = world.cluster_token_ttl_seconds;
    const time = deadline(4 * ttl + 20);
    /** @type {Set<string>} */
    const used = new Set();
    let requests = 0;
    while (used.size < 3) {
      assert.ok(!time.passed(), `only ${used.size} token(s) used after ${requests} requests`);
      const response = await cluster.fetch("/health");
      requests += 1;
      if (response.status !== 200) {
        assert.fail(`request ${requests}: ${response.status} ${await response.text()}`);
      }
      await response.body?.cancel();
      const sent = recorded.exchanges.filter((e) => e.url.origin === gateway).at(-1);
      used.add(String(sent?.authorization));
      await pause(PACE_MS);
    }
    // Every gateway request carried a token that had not expired, and the
    // tokens got were all used: one access call per token.
    const access = accessCalls(recorded.exchanges);
    assert.equal(access.length, used.size);
    const expiries = await Promise.all(
      access.map(async (a) => ({
        token: `Bearer ${(await a.body).token}`,
        expires: Date.parse((await a.body).expires_at),
      })),
    );
    for (const e of recorded.exchanges.filter((x) => x.url.origin === gateway)) {
      const token = expiries.find((x) => x.token === e.authorization);
      assert.ok(token, "a token the client got");
      assert.ok(e.at < token.expires, `sent ${token.expires - e.at} ms after its token expired`);
      assert.equal(e.status, 200);
    }
    t.diagnostic(`${requests} requests, all 200, with ${used.size} tokens living ${ttl} s each`);
  });

  test("a revoked token is answered by exactly one renewal, then a clear error: the user's access is gone", async (t) => {
    const recorded = recordingFetch();
    const dave = await signedIn("dave", recorded.fetch);
    const cluster = await dave.cluster(world.cluster);
    const gateway = new URL(cluster.endpoint).origin;
    assert.equal((await cluster.fetch("/health")).status, 200);

    // A fresh token, then dave leaves research: the gateway learns that his
    // tokens are revoked within seconds, well before this one is due.
    const before = accessCalls(recorded.exchanges).length;
    await admin().request("DELETE", `/v1/orgs/${world.organization}/members/dave`);

    const time = deadline(30);
    /** @type {unknown} */
    let thrown;
    while (!thrown) {
      assert.ok(!time.passed(), "the gateway never refused the revoked token");
      try {
        const response = await cluster.fetch("/health");
        assert.equal(response.status, 200, "before the refusal, every answer is 200");
        await response.body?.cancel();
        await pause(PACE_MS);
      } catch (e) {
        thrown = e;
      }
    }
    const renewals = accessCalls(recorded.exchanges).slice(before);
    assert.equal(renewals.length, 1, "exactly one renewal");
    const refusal = (await renewals[0].body).error;
    assert.ok(thrown instanceof SlipwayError, String(thrown));
    assert.equal(thrown.status, renewals[0].status);
    assert.ok(thrown.status === 403 || thrown.status === 404, `status ${thrown.status}`);
    assert.equal(thrown.code, refusal.code);
    assert.equal(thrown.message, refusal.message);
    assert.match(thrown.message, /\S/);
    // What the renewal answered: the gateway's 401 token_revoked.
    const last = recorded.exchanges.filter((e) => e.url.origin === gateway).at(-1);
    assert.equal(last?.status, 401);
    assert.equal((await last?.body).error.code, "token_revoked");
    assert.ok(/** @type {number} */ (last?.at) < renewals[0].at);
    t.diagnostic(`thrown: ${thrown.status} ${thrown.code}: ${thrown.message}`);
  });

  test("another organization's cluster is refused with the server's message", async (t) => {
    const recorded = recordingFetch();
    const alice = await signedIn("alice", recorded.fetch);
    for (const attempt of [() => alice.cluster(world.other_cluster), () => alice.clusterToken(world.other_cluster)]) {
      const before = recorded.exchanges.length;
      const thrown = await attempt().then(
        () => assert.fail("alice got into another organization's cluster"),
        (e) => e,
      );
      const answer = recorded.exchanges[before];
      const server = (await answer.body).error;
      assert.ok(thrown instanceof SlipwayError);
      assert.ok(thrown.status === 403 || thrown.status === 404, `status ${thrown.status}`);
      assert.equal(thrown.status, answer.status);
      assert.equal(thrown.code, server.code);
      assert.equal(thrown.message, server.message);
      t.diagnostic(`thrown: ${thrown.status} ${thrown.code}: ${thrown.message}`);
    }
  });
});
