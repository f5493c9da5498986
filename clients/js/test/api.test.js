// The API layer without a server: the device flow's polling and what it
// shows, and the event stream's decoding and resumption.

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";

import { Slipway, SlipwayError } from "../src/index.js";
import { messages } from "../src/events.js";
import { json, refusal, scriptedFetch, tempDir } from "../test-helpers/fakes.js";

const LATER = new Date(Date.now() + 3600_000).toISOString();
const session = {
  token: "user-token",
  login: "carol",
  level: "member",
  organizations: ["research"],
  expires_at: LATER,
};

/**
 * Runs `body` with the credentials under a new directory, and stderr
 * captured.
 * @param {(stderr: string[], file: string) => Promise<void>} body
 */
async function isolated(body) {
  const dir = tempDir();
  const previous = process.env.XDG_CONFIG_HOME;
  process.env.XDG_CONFIG_HOME = dir;
  /** @type {string[]} */
  const stderr = [];
  const write = process.stderr.write;
  process.stderr.write = /** @type {typeof write} */ (
    (/** @type {string | Uint8Array} */ chunk) => {
      stderr.push(String(chunk));
      return true;
    }
  );
  try {
    await body(stderr, path.join(dir, "slipway", "credentials.json"));
  } finally {
    process.stderr.write = write;
    if (previous === undefined) delete process.env.XDG_CONFIG_HOME;
    else process.env.XDG_CONFIG_HOME = previous;
  }
}

describe("the device flow", () => {
  test("prints the code and URL on stderr, polls through pending and slow_down, saves the session", async () => {
    await isolated(async (stderr, file) => {
      const polls = ["pending", "slow_down", "pending", "complete"];
      const f = scriptedFetch((sent) => {
        if (sent.url.pathname === "/v1/auth/device") {
          return json(200, {
            device_code: "dc",
            user_code: "ABCD-1234",
            verification_uri: "https://github.example/login/device",
            expires_in: 900,
            interval: 0,
          });
        }
        const status = polls.shift();
        return json(200, status === "complete" ? { status, session } : { status, interval: 0 });
      });
      const slipway = new Slipway({ server: "http://s.example", token: "ignored", fetch: f.fetch });
      const signed = await slipway.signIn();
      assert.equal(signed.login, "carol");
      assert.deepEqual(stderr, [
        "To sign in, open https://github.example/login/device and enter the code ABCD-1234\n",
      ]);
      assert.deepEqual(
        f.sent.map((s) => [s.method, s.url.pathname, s.body, s.authorization]),
        [
          ["POST", "/v1/auth/device", null, null],
          ...Array.from({ length: 4 }, () => [
            "POST",
            "/v1/auth/device/token",
            '{"device_code":"dc"}',
            null,
          ]),
        ],
      );
      assert.deepEqual(JSON.parse(fs.readFileSync(file, "utf8")), {
        servers: { "http://s.example": { token: "user-token", login: "carol", expires_at: LATER } },
      });
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      // The session is used from now on.
      f.sent.length = 0;
      await slipway.whoami().catch(() => {});
      assert.equal(f.sent[0].authorization, "Bearer user-token");
    });
  });

  test("hands the code to a callback instead, and a refusal is thrown with the server's message", async () => {
    await isolated(async (stderr) => {
      const f = scriptedFetch((sent) =>
        sent.url.pathname === "/v1/auth/device"
          ? json(200, {
              device_code: "dc",
              user_code: "WXYZ",
              verification_uri: "https://github.example/login/device",
              expires_in: 900,
              interval: 0,
            })
          : refusal(403, "access_denied", "the sign-in was denied on GitHub"),
      );
      /** @type {unknown[]} */
      const shown = [];
      const slipway = new Slipway({ server: "http://s.example", fetch: f.fetch });
      await assert.rejects(slipway.signIn({ onCode: (code) => void shown.push(code) }), {
        name: "SlipwayError",
        code: "access_denied",
        status: 403,
        message: "the sign-in was denied on GitHub",
      });
      assert.deepEqual(shown, [
        { user_code: "WXYZ", verification_uri: "https://github.example/login/device", expires_in: 900 },
      ]);
      assert.deepEqual(stderr, []);
    });
  });
});

/** @param {string[]} chunks */
function stream(chunks) {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
      controller.close();
    },
  });
}

describe("the event stream", () => {
  test("decodes messages split anywhere, skipping comments and empty data", async () => {
    const got = [];
    for await (const m of messages(
      stream([": keep-alive\n\nid: 1\nevent: a\nda", "ta: {\"x\":1}\r", "\n\r\ndata: li", "ne 1\ndata: line 2\n\n", "data:\n\n"]),
    )) {
      got.push(m);
    }
    assert.deepEqual(got, [
      { id: "1", event: "a", data: '{"x":1}' },
      { id: "1", event: undefined, data: "line 1\nline 2" },
    ]);
  });

  test("follow resumes after a broken connection where it left off, and ends with the operation", async () => {
    /** @param {number} seq @param {string} kind */
    const event = (seq, kind) =>
      `id: ${seq}\nevent: ${kind}\ndata: ${JSON.stringify({ seq, at: LATER, kind, level: "info", message: kind, data: null })}\n\n`;
    const answers = [
      () => new Response(stream([event(1, "operation_queued"), event(2, "operation_started")])),
      () => refusal(503, "unavailable", "restarting"),
      () =>
        new Response(
          stream([event(2, "operation_started"), event(3, "apply_complete"), event(4, "operation_finished")]),
        ),
    ];
    const f = scriptedFetch(() => /** @type {() => Response} */ (answers.shift())());
    const slipway = new Slipway({ server: "http://s.example", token: "t", fetch: f.fetch });
    const seen = [];
    for await (const e of slipway.follow("op_1")) {
      seen.push([e.seq, e.kind]);
    }
    assert.deepEqual(seen, [
      [1, "operation_queued"],
      [2, "operation_started"],
      [3, "apply_complete"],
      [4, "operation_finished"],
    ]);
    assert.equal(f.sent.length, 3);
    assert.equal(f.sent[0].url.pathname + f.sent[0].url.search, "/v1/operations/op_1/events?follow=true");
  });

  test("a refusal is not retried", async () => {
    const f = scriptedFetch(() => refusal(404, "not_found", "no operation op_2"));
    const slipway = new Slipway({ server: "http://s.example", token: "t", fetch: f.fetch });
    await assert.rejects(
      (async () => {
        for await (const _ of slipway.follow("op_2")) {
          // nothing comes
        }
      })(),
      (e) => e instanceof SlipwayError && e.code === "not_found" && e.message === "no operation op_2",
    );
    assert.equal(f.sent.length, 1);
  });
});
