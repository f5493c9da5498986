// The world the Rust harness prepares (crates/cli/tests/black_box/clients.rs)
// and writes to the file named by SLIPWAY_CLIENT_TEST_CONFIG: the real
// server, the fake GitHub behind it, people, running private clusters.

import * as fs from "node:fs";
import { randomBytes } from "node:crypto";

import { Slipway } from "../src/index.js";
import { tempDir } from "./fakes.js";

/**
 * @typedef {object} World
 * @property {string} server
 * @property {string} admin_token
 * @property {string} slipway the CLI binary
 * @property {Record<string, string>} users login → GitHub token
 * @property {string} device_user
 * @property {string} organization
 * @property {string} cluster
 * @property {string} other_cluster
 * @property {number} cluster_token_ttl_seconds
 * @property {string} blueprint
 * @property {string} failing_blueprint
 */

const file = process.env.SLIPWAY_CLIENT_TEST_CONFIG;

/** The world, when a harness made one. */
export const world = /** @type {World} */ (
  file ? JSON.parse(fs.readFileSync(file, "utf8")) : undefined
);

/** For `describe(…, {skip})`: why these tests cannot run here. */
export const skip = file
  ? false
  : "SLIPWAY_CLIENT_TEST_CONFIG is not set: these tests run against the world the Rust harness makes";

// Nothing of whoever runs the suite: the harness removes these too.
delete process.env.SLIPWAY_URL;
delete process.env.SLIPWAY_TOKEN;

/**
 * Gives the test credentials of its own: `XDG_CONFIG_HOME` is a new
 * directory from now on. Returns it.
 */
export function ownCredentials() {
  const dir = tempDir();
  process.env.XDG_CONFIG_HOME = dir;
  return dir;
}

/**
 * What a `fetch` sent and got back.
 * @typedef {object} Exchange
 * @property {string} method
 * @property {URL} url
 * @property {string | null} authorization
 * @property {number} at when it was sent (ms)
 * @property {number} [status]
 * @property {Promise<any>} [body] the answer's JSON, if it is JSON
 */

/** A `fetch` that records every exchange (the answers' bodies are read from copies). */
export function recordingFetch() {
  /** @type {Exchange[]} */
  const exchanges = [];
  /** @type {typeof fetch} */
  const send = async (input, init = {}) => {
    const request = new Request(input, init);
    /** @type {Exchange} */
    const exchange = {
      method: request.method,
      url: new URL(request.url),
      authorization: request.headers.get("authorization"),
      at: Date.now(),
    };
    exchanges.push(exchange);
    const response = await fetch(input, init);
    exchange.status = response.status;
    if ((response.headers.get("content-type") ?? "").includes("application/json")) {
      exchange.body = response.clone().json().catch(() => undefined);
    }
    return response;
  };
  return { fetch: send, exchanges };
}

/** The administrator's client. */
export function admin() {
  return new Slipway({ server: world.server, token: world.admin_token });
}

/**
 * A person signed in with their GitHub token, with credentials of their own
 * (a new `XDG_CONFIG_HOME`).
 * @param {string} login
 * @param {typeof fetch} [send]
 */
export async function signedIn(login, send) {
  ownCredentials();
  const slipway = new Slipway({ server: world.server, fetch: send });
  await slipway.signInWithGitHubToken(world.users[login]);
  return slipway;
}

/**
 * A cluster name of this run's own.
 * @param {string} prefix
 */
export function uniqueName(prefix) {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}

/**
 * A deadline `seconds` from now: `left()` is how long remains, `passed()`
 * whether it has.
 * @param {number} seconds
 */
export function deadline(seconds) {
  const end = Date.now() + seconds * 1000;
  return { passed: () => Date.now() > end, left: () => end - Date.now() };
}
