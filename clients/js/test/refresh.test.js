// The refresh rule of cluster tokens, without a server: a scripted gateway
// and API behind an injected `fetch`, and a clock the tests move.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { Cluster, SlipwayError, TokenKeeper, isDue } from "../src/index.js";
import { Clock, json, refusal, scriptedFetch } from "../test-helpers/fakes.js";

const MINUTE = 60_000;

describe("when a token is due", () => {
  test("margin = min(300 s, lifetime / 5) before expiry, lifetime counted from receipt", () => {
    const t0 = Date.parse("2026-12-07T12:00:00Z");
    const hour = { token: "h", receivedAt: t0, expiresAt: t0 + 60 * MINUTE };
    assert.equal(isDue(hour, t0 + 55 * MINUTE - 1), false);
    assert.equal(isDue(hour, t0 + 55 * MINUTE), true, "an hour's token: 5 minutes before");
    const tenMinutes = { token: "m", receivedAt: t0, expiresAt: t0 + 10 * MINUTE };
    assert.equal(isDue(tenMinutes, t0 + 8 * MINUTE - 1), false);
    assert.equal(isDue(tenMinutes, t0 + 8 * MINUTE), true, "ten minutes: a fifth, 2 minutes");
    const six = { token: "s", receivedAt: t0, expiresAt: t0 + 6000 };
    assert.equal(isDue(six, t0 + 4799), false);
    assert.equal(isDue(six, t0 + 4800), true, "six seconds: 1.2 s before");
    // Received late (a slow answer): the lifetime is what is left.
    const late = { token: "l", receivedAt: t0 + 3000, expiresAt: t0 + 6000 };
    assert.equal(isDue(late, t0 + 5399), false);
    assert.equal(isDue(late, t0 + 5400), true);
  });
});

/**
 * A cluster token issuer: tokens t1, t2, … living `lifetime` ms on `clock`.
 * @param {Clock} clock
 * @param {number} lifetime
 */
function issuer(clock, lifetime) {
  let issued = 0;
  return {
    get count() {
      return issued;
    },
    issue: async () => {
      issued += 1;
      const n = issued;
      return {
        token: `t${n}`,
        audience: "demo",
        level: /** @type {const} */ ("org_member"),
        expires_at: new Date(clock.now + lifetime).toISOString(),
      };
    },
  };
}

describe("the token keeper", () => {
  test("renews only when due", async () => {
    const clock = new Clock();
    const api = issuer(clock, 60 * MINUTE);
    const keeper = new TokenKeeper(api.issue, clock.read);
    assert.equal(await keeper.token(), "t1");
    clock.advance(54 * MINUTE);
    assert.equal(await keeper.token(), "t1");
    clock.advance(MINUTE);
    assert.equal(await keeper.token(), "t2");
    assert.equal(api.count, 2);
  });

  test("concurrent callers share one renewal", async () => {
    const clock = new Clock();
    let issued = 0;
    /** @type {(value: void) => void} */
    let release = () => {};
    const held = new Promise((resolve) => {
      release = resolve;
    });
    const keeper = new TokenKeeper(async () => {
      issued += 1;
      await held;
      return {
        token: `t${issued}`,
        audience: "demo",
        level: "org_member",
        expires_at: new Date(clock.now + 6000).toISOString(),
      };
    }, clock.read);
    const waiting = Array.from({ length: 20 }, () => keeper.token());
    release();
    assert.deepEqual(new Set(await Promise.all(waiting)), new Set(["t1"]));
    assert.equal(issued, 1);
    clock.advance(5000);
    const again = await Promise.all(Array.from({ length: 20 }, () => keeper.token()));
    assert.deepEqual(new Set(again), new Set(["t2"]));
    assert.equal(issued, 2);
  });

  test("a failed renewal fails every waiter, and the next call tries again", async () => {
    const clock = new Clock();
    let calls = 0;
    const keeper = new TokenKeeper(async () => {
      calls += 1;
      if (calls === 1) {
        throw new SlipwayError({ code: "forbidden", message: "no", status: 403 });
      }
      return {
        token: "ok",
        audience: "demo",
        level: "org_member",
        expires_at: new Date(clock.now + 6000).toISOString(),
      };
    }, clock.read);
    const results = await Promise.allSettled([keeper.token(), keeper.token()]);
    assert.deepEqual(
      results.map((r) => r.status),
      ["rejected", "rejected"],
    );
    assert.equal(calls, 1);
    assert.equal(await keeper.token(), "ok");
  });
});

/**
 * A cluster whose gateway answers with `gateway` (given the token sent),
 * its tokens issued by `api`.
 * @param {(sent: import("../test-helpers/fakes.js").Sent, token: string) => Response} gateway
 * @param {{clock?: Clock, lifetime?: number, access?: () => Response}} [options]
 */
function cluster(gateway, { clock = new Clock(), lifetime = 60 * MINUTE, access } = {}) {
  const api = issuer(clock, lifetime);
  let accessCalls = 0;
  const f = scriptedFetch((sent) => gateway(sent, (sent.authorization ?? "").replace(/^Bearer /, "")));
  const tokens = new TokenKeeper(async () => {
    accessCalls += 1;
    if (access) {
      const answer = access();
      if (!answer.ok) {
        const body = /** @type {any} */ (await answer.json());
        throw new SlipwayError({ ...body.error, status: answer.status });
      }
    }
    return api.issue();
  }, clock.read);
  const c = new Cluster({ name: "demo", endpoint: "http://gw.example:8080/base/", tokens, fetch: f.fetch });
  return {
    c,
    sent: f.sent,
    clock,
    get accessCalls() {
      return accessCalls;
    },
  };
}

describe("a cluster's fetch", () => {
  test("signs every request, under the endpoint, keeping the caller's method, headers and body", async () => {
    const { c, sent } = cluster(() => json(200, { ok: true }));
    const r = await c.fetch("/items?x=1", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer not-this" },
      body: JSON.stringify({ a: 1 }),
    });
    assert.equal(r.status, 200);
    assert.equal(sent[0].url.href, "http://gw.example:8080/base/items?x=1");
    assert.equal(sent[0].method, "POST");
    assert.equal(sent[0].authorization, "Bearer t1");
    assert.equal(sent[0].body, '{"a":1}');
    await c.fetch("health");
    await c.fetch(new URL("http://gw.example:8080/base/other"));
    assert.deepEqual(
      sent.map((s) => s.url.pathname),
      ["/base/items", "/base/health", "/base/other"],
    );
    assert.deepEqual(new Set(sent.map((s) => s.authorization)), new Set(["Bearer t1"]));
  });

  test("never sends the token to another origin", async () => {
    const { c, sent } = cluster(() => json(200, {}));
    await assert.rejects(c.fetch("http://elsewhere.example/x"), {
      name: "SlipwayError",
      code: "invalid_request",
    });
    assert.equal(sent.length, 0);
  });

  test("renews before expiry: no request ever carries a due token", async () => {
    const h = cluster(() => json(200, {}), { lifetime: 6000 });
    for (let i = 0; i < 30; i += 1) {
      await h.c.fetch("/x");
      h.clock.advance(500);
    }
    const used = [...new Set(h.sent.map((s) => s.authorization))];
    // 15 s in 0.5 s steps, renewed at 4.8 s of age: every 5 s.
    assert.deepEqual(used, ["Bearer t1", "Bearer t2", "Bearer t3"]);
    assert.equal(h.accessCalls, 3);
  });

  for (const code of ["token_expired", "token_revoked"]) {
    test(`a 401 ${code}: one new token, the request sent again once`, async () => {
      const h = cluster((sent, token) =>
        token === "t1" ? refusal(401, code, `the token is ${code}`) : json(200, { body: sent.body }),
      );
      const r = await h.c.fetch("/x", { method: "PUT", body: "payload" });
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { body: "payload" });
      assert.deepEqual(
        h.sent.map((s) => [s.authorization, s.body]),
        [
          ["Bearer t1", "payload"],
          ["Bearer t2", "payload"],
        ],
      );
      assert.equal(h.accessCalls, 2);
    });
  }

  test("a 401 again after the new token is returned, not retried", async () => {
    const h = cluster(() => refusal(401, "token_revoked", "revoked"));
    const r = await h.c.fetch("/x");
    assert.equal(r.status, 401);
    assert.equal(/** @type {any} */ (await r.json()).error.code, "token_revoked");
    assert.equal(h.sent.length, 2);
    assert.equal(h.accessCalls, 2);
  });

  test("other 401s are returned as they are, with no new token", async () => {
    for (const code of ["invalid_token", "unauthenticated"]) {
      const h = cluster(() => refusal(401, code, "no"));
      const r = await h.c.fetch("/x");
      assert.equal(r.status, 401);
      assert.equal(/** @type {any} */ (await r.json()).error.code, code);
      assert.equal(h.sent.length, 1);
      assert.equal(h.accessCalls, 1);
    }
  });

  test("access gone: the new token's refusal is thrown, with the server's code and message", async () => {
    let revoked = false;
    const h = cluster(() => (revoked ? refusal(401, "token_revoked", "revoked") : json(200, {})), {
      access: () =>
        revoked ? refusal(403, "forbidden", "dave is not a member of research") : json(200, {}),
    });
    assert.equal((await h.c.fetch("/x")).status, 200);
    revoked = true;
    await assert.rejects(h.c.fetch("/x"), {
      name: "SlipwayError",
      code: "forbidden",
      status: 403,
      message: "dave is not a member of research",
    });
    assert.equal(h.sent.length, 2, "not sent again");
    assert.equal(h.accessCalls, 2, "exactly one renewal after the refusal");
  });

  test("a body that cannot be replayed is not sent again: the 401 is returned", async () => {
    const h = cluster((_, token) =>
      token === "t1" ? refusal(401, "token_expired", "expired") : json(200, {}),
    );
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("once"));
        controller.close();
      },
    });
    const r = await h.c.fetch("/x", { method: "POST", body, duplex: "half" });
    assert.equal(r.status, 401);
    assert.equal(h.sent.length, 1);
    // The next request carries the new token.
    assert.equal((await h.c.fetch("/y")).status, 200);
    assert.equal(h.sent[1].authorization, "Bearer t2");
  });

  test("concurrent requests refused together share one renewal", async () => {
    const h = cluster((_, token) =>
      token === "t1" ? refusal(401, "token_expired", "expired") : json(200, {}),
    );
    await h.c.fetch("/warm").catch(() => {});
    const answers = await Promise.all(Array.from({ length: 10 }, () => h.c.fetch("/x")));
    assert.deepEqual(new Set(answers.map((r) => r.status)), new Set([200]));
    assert.equal(h.accessCalls, 2, "t1, then one t2 for all");
  });
});
