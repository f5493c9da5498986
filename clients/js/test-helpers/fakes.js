// Test helpers that need no server: a scripted `fetch`, a clock, private
// temporary directories.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/**
 * A JSON answer.
 * @param {number} status
 * @param {unknown} body
 */
export function json(status, body) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/**
 * An API error answer.
 * @param {number} status
 * @param {string} code
 * @param {string} message
 */
export function refusal(status, code, message) {
  return json(status, { error: { code, message } });
}

/**
 * @typedef {{method: string, url: URL, authorization: string | null, body: string | null}} Sent
 */

/**
 * A `fetch` that answers with `route` and records what was sent.
 * @param {(sent: Sent) => Response | Promise<Response>} route
 */
export function scriptedFetch(route) {
  /** @type {Sent[]} */
  const sent = [];
  /** @type {typeof fetch} */
  const send = async (input, init = {}) => {
    const request = new Request(input, init);
    const body = init.body === undefined || init.body === null ? null : await request.text();
    const entry = {
      method: request.method,
      url: new URL(request.url),
      authorization: request.headers.get("authorization"),
      body,
    };
    sent.push(entry);
    return route(entry);
  };
  return { fetch: send, sent };
}

/** A clock the test moves. */
export class Clock {
  now = Date.parse("2026-12-07T12:00:00Z");
  read = () => this.now;
  /** @param {number} ms */
  advance(ms) {
    this.now += ms;
  }
}

/** A new private temporary directory, removed when the process ends. */
export function tempDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "slipway-js-"));
  process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}
