// The Slipway API: signing in, clusters' lifecycle, and a cluster's
// endpoint with its tokens.

import { setTimeout as sleep } from "node:timers/promises";

import { Cluster, TokenKeeper } from "./cluster.js";
import { forgetSession, saveSession, savedSession, serverKey } from "./credentials.js";
import { OperationFailed, SlipwayError, errorFrom } from "./errors.js";
import { messages } from "./events.js";

/** @typedef {import("./api.js").components["schemas"]} Schemas */
/** @typedef {Schemas["ActionResponse"]} ActionResponse */
/** @typedef {Schemas["ClusterStatus"]} ClusterStatus */
/** @typedef {Schemas["ClusterToken"]} ClusterToken */
/** @typedef {Schemas["CreateCluster"]} CreateCluster */
/** @typedef {Schemas["DeployCluster"]} DeployCluster */
/** @typedef {Schemas["DestroyCluster"]} DestroyCluster */
/** @typedef {Schemas["DevicePollResponse"]} DevicePollResponse */
/** @typedef {Schemas["DeviceStart"]} DeviceStart */
/** @typedef {Schemas["Event"]} Event */
/** @typedef {Schemas["OperationView"]} OperationView */
/** @typedef {Schemas["ScheduleDestroy"]} ScheduleDestroy */
/** @typedef {Schemas["Session"]} Session */
/** @typedef {Schemas["WhoAmI"]} WhoAmI */

/**
 * What to show a person so they approve the sign-in: open
 * `verification_uri` and enter `user_code`.
 * @typedef {{user_code: string, verification_uri: string, expires_in: number}} DeviceCode
 */

/**
 * How to wait for an operation.
 * @typedef {object} WaitOptions
 * @property {boolean} [wait] wait for the operation to end (default `true`)
 * @property {number} [timeout] wait at most this long, in ms (default 10 minutes, as the CLI)
 * @property {(event: Event) => void} [onEvent] called with each event of the operation's log
 * @property {AbortSignal} [signal] stops waiting
 */

/** The server when neither an argument nor `SLIPWAY_URL` names one. */
export const DEFAULT_SERVER = "http://127.0.0.1:7878";

/** How long a lifecycle call waits by default, as the CLI: 10 minutes. */
const DEFAULT_WAIT_MS = 600_000;

/** How long following a log keeps reconnecting through failures in a row. */
const FOLLOW_PATIENCE_MS = 60_000;

const TERMINAL = new Set(["succeeded", "failed", "cancelled", "interrupted"]);

/**
 * A connection to a Slipway server, as one user.
 *
 * The server is the `server` option, else `SLIPWAY_URL`, else
 * `http://127.0.0.1:7878`; the API token is the `token` option, else
 * `SLIPWAY_TOKEN`, else the unexpired session saved for the server in the
 * credentials file (`slipway login`, or {@link Slipway#signIn}) — as the
 * CLI reads them.
 */
export class Slipway {
  /** @type {string | undefined} */
  #token;
  /** @type {typeof fetch} */
  #fetch;
  /** @type {((code: DeviceCode) => void | Promise<void>) | undefined} */
  #onCode;

  /**
   * @param {object} [options]
   * @param {string} [options.server] the server's URL
   * @param {string} [options.token] an API token or user token
   * @param {(code: DeviceCode) => void | Promise<void>} [options.onCode] shows the device flow's code (default: printed on stderr)
   * @param {typeof fetch} [options.fetch] the `fetch` to send with (default: the global one)
   */
  constructor({ server, token, onCode, fetch: send } = {}) {
    const url = server ?? (process.env.SLIPWAY_URL || DEFAULT_SERVER);
    if (!/^https?:\/\//.test(url)) {
      throw new SlipwayError({
        code: "invalid_request",
        message: `server: must be an http:// or https:// URL (got ${JSON.stringify(url)})`,
      });
    }
    /** The server's URL, without trailing `/`. */
    this.server = serverKey(url);
    this.#token = token ?? (process.env.SLIPWAY_TOKEN || undefined);
    this.#onCode = onCode;
    const base = send ?? globalThis.fetch;
    this.#fetch = (input, init) => base(input, init);
  }

  /**
   * The server and token from the environment, exactly as the CLI reads
   * them (`SLIPWAY_URL`, `SLIPWAY_TOKEN`, else the session saved by `slipway
   * login`). Throws at once when there is no token: `not_signed_in`, or a
   * {@link CredentialsError} for a credentials file it must not read.
   * @param {{onCode?: (code: DeviceCode) => void | Promise<void>, fetch?: typeof fetch}} [options]
   */
  static fromEnvironment(options = {}) {
    const slipway = new Slipway(options);
    if (!slipway.#apiToken()) {
      throw new SlipwayError({
        code: "not_signed_in",
        message: `not signed in to ${slipway.server}: run slipway login, set SLIPWAY_TOKEN, or sign in with signIn()`,
      });
    }
    return slipway;
  }

  // ---- signing in ----

  /**
   * Signs in with GitHub's device flow: shows the code and URL (on stderr,
   * or through `onCode`), waits for the person to approve, and saves the
   * session in the credentials file.
   * @param {{onCode?: (code: DeviceCode) => void | Promise<void>, signal?: AbortSignal}} [options]
   * @returns {Promise<Session>}
   */
  async signIn({ onCode, signal } = {}) {
    /** @type {DeviceStart} */
    const start = await this.#call("POST", "/v1/auth/device", { auth: false, signal });
    const show = onCode ?? this.#onCode ?? printCode;
    await show({
      user_code: start.user_code,
      verification_uri: start.verification_uri,
      expires_in: start.expires_in,
    });
    const deadline = Date.now() + start.expires_in * 1000;
    let interval = start.interval;
    for (;;) {
      await sleep(interval * 1000, undefined, { signal });
      if (Date.now() > deadline) {
        throw new SlipwayError({
          code: "device_code_expired",
          message: "the code expired before it was approved; sign in again",
        });
      }
      /** @type {DevicePollResponse} */
      const poll = await this.#call("POST", "/v1/auth/device/token", {
        auth: false,
        body: { device_code: start.device_code },
        signal,
      });
      if (poll.status === "slow_down") {
        interval = poll.interval ?? interval + 5;
      } else if (poll.status === "complete") {
        if (!poll.session) {
          throw new SlipwayError({
            code: "protocol",
            message: "the server completed the sign-in without a session",
          });
        }
        return this.#keep(poll.session);
      } else if (poll.interval !== undefined && poll.interval !== null) {
        interval = poll.interval;
      }
    }
  }

  /**
   * Signs in with a GitHub token (a personal access token, or CI's), and
   * saves the session in the credentials file.
   * @param {string} githubToken
   * @returns {Promise<Session>}
   */
  async signInWithGitHubToken(githubToken) {
    /** @type {Session} */
    const session = await this.#call("POST", "/v1/auth/github-token", {
      auth: false,
      body: { token: githubToken },
    });
    return this.#keep(session);
  }

  /**
   * Signs out: the token is revoked (if it still works) and the server's
   * entry removed from the credentials file.
   */
  async signOut() {
    try {
      await this.#call("POST", "/v1/auth/logout");
    } catch (e) {
      // Already expired or revoked: signed out all the same.
      if (!(e instanceof SlipwayError) || e.status === undefined) {
        forgetSession(this.server);
        throw e;
      }
    }
    forgetSession(this.server);
    this.#token = undefined;
  }

  /** @returns {Promise<WhoAmI>} who the token is for */
  whoami() {
    return this.#call("GET", "/v1/whoami");
  }

  // ---- a cluster and its tokens ----

  /**
   * A running cluster: its `endpoint`, and a `fetch` that signs requests to
   * it with cluster tokens kept fresh.
   * @param {string} name
   * @returns {Promise<Cluster>}
   */
  async cluster(name) {
    const status = await this.status(name);
    if (!status.endpoint) {
      throw new SlipwayError({
        code: "no_endpoint",
        message: `${name} is ${status.state} and has no endpoint: deploy it first`,
      });
    }
    return new Cluster({
      name,
      endpoint: status.endpoint,
      tokens: new TokenKeeper(() => this.clusterToken(name)),
      fetch: this.#fetch,
    });
  }

  /**
   * A new cluster token: audience exactly the cluster.
   * @param {string} name
   * @returns {Promise<ClusterToken>}
   */
  clusterToken(name) {
    return this.#call("POST", `/v1/clusters/${enc(name)}/access`);
  }

  // ---- lifecycle ----

  /**
   * Defines a cluster (deploy it next).
   * @param {CreateCluster} cluster
   * @returns {Promise<ClusterStatus>}
   */
  create(cluster) {
    return this.#call("POST", "/v1/clusters", { body: cluster });
  }

  /**
   * Deploys a cluster (or updates a running one), e.g. with a `ttl` (`2h`)
   * after which it is destroyed. Waits for the operation unless `wait` is
   * false, and throws {@link OperationFailed} if it did not leave the
   * cluster running.
   * @param {string} name
   * @param {DeployCluster & WaitOptions} [options]
   * @returns {Promise<ActionResponse>}
   */
  async deploy(name, options = {}) {
    const { wait, timeout, onEvent, signal, ...body } = options;
    /** @type {ActionResponse} */
    const response = await this.#call("POST", `/v1/clusters/${enc(name)}/deploy`, { body });
    return this.#finish(response, (c) => c.state === "running", {
      wait,
      timeout,
      onEvent,
      signal,
    });
  }

  /**
   * Destroys a cluster. Waits for the operation unless `wait` is false, and
   * throws {@link OperationFailed} if it did not leave the cluster absent.
   * @param {string} name
   * @param {DestroyCluster & WaitOptions} [options]
   * @returns {Promise<ActionResponse>}
   */
  async destroy(name, options = {}) {
    const { wait, timeout, onEvent, signal, ...body } = options;
    /** @type {ActionResponse} */
    const response = await this.#call("POST", `/v1/clusters/${enc(name)}/destroy`, {
      // Without force, no body: the plain destroy.
      body: body.force ? body : undefined,
    });
    return this.#finish(response, (c) => c.state === "absent", {
      wait,
      timeout,
      onEvent,
      signal,
    });
  }

  /**
   * Moves the cluster's scheduled destroy: `"2h"` (from now), or
   * `{in: "2h"}`, or `{at: "2026-12-24T18:00:00Z"}`.
   * @param {string} name
   * @param {string | ScheduleDestroy} schedule
   * @returns {Promise<ActionResponse>}
   */
  extend(name, schedule) {
    const body = typeof schedule === "string" ? { in: schedule } : schedule;
    return this.#call("PUT", `/v1/clusters/${enc(name)}/schedule`, { body });
  }

  /**
   * @param {string} name
   * @returns {Promise<ClusterStatus>}
   */
  status(name) {
    return this.#call("GET", `/v1/clusters/${enc(name)}`);
  }

  /**
   * @param {string} id
   * @returns {Promise<OperationView>}
   */
  operation(id) {
    return this.#call("GET", `/v1/operations/${enc(id)}`);
  }

  /**
   * Waits for an operation to end; throws {@link OperationFailed} if it did
   * not succeed, and `still_running` if the wait ended first.
   * @param {string | OperationView} operation
   * @param {Omit<WaitOptions, "wait">} [options]
   * @returns {Promise<OperationView>}
   */
  async wait(operation, { timeout, onEvent, signal } = {}) {
    const id = typeof operation === "string" ? operation : operation.id;
    const timedOut = await this.#watch(id, timeout ?? DEFAULT_WAIT_MS, onEvent, signal);
    const ended = await this.operation(id);
    if (timedOut && !TERMINAL.has(ended.state)) {
      throw stillRunning(ended);
    }
    if (ended.state !== "succeeded") {
      throw new OperationFailed(ended, `the ${ended.kind} of ${ended.cluster} did not succeed`);
    }
    return ended;
  }

  /**
   * An operation's log as it is written: its events from the first (or
   * after `after`) to the last (`operation_finished`), then the iteration
   * ends. A broken connection is resumed where it left off.
   * @param {string | OperationView} operation
   * @param {{after?: number, signal?: AbortSignal}} [options]
   * @returns {AsyncGenerator<Event, void, undefined>}
   */
  async *follow(operation, { after = 0, signal } = {}) {
    const id = typeof operation === "string" ? operation : operation.id;
    let last = after;
    /** @type {number | undefined} */
    let failingSince;
    let failures = 0;
    for (;;) {
      /** @type {unknown} */
      let failure;
      try {
        const response = await this.#send("GET", `/v1/operations/${enc(id)}/events?follow=true`, {
          headers: { accept: "text/event-stream", "last-event-id": String(last) },
          signal,
        });
        if (!response.ok) {
          throw await errorFrom(response);
        }
        if (!response.body) {
          throw new SlipwayError({ code: "unexpected_answer", message: "an event stream without a body" });
        }
        for await (const message of messages(response.body)) {
          /** @type {Event} */
          let event;
          try {
            event = JSON.parse(message.data);
          } catch (e) {
            throw new SlipwayError({
              code: "unexpected_answer",
              message: `unreadable message in the event stream of operation ${id}: ${message.data.slice(0, 200)}`,
              cause: e,
            });
          }
          failingSince = undefined;
          failures = 0;
          if (event.seq <= last) {
            continue;
          }
          last = event.seq;
          yield event;
          if (event.kind === "operation_finished") {
            return;
          }
        }
        failure = new SlipwayError({
          code: "unavailable",
          message: `the event stream of operation ${id} ended before the operation did`,
        });
      } catch (e) {
        if (signal?.aborted || !isTransient(e)) {
          throw e;
        }
        failure = e;
      }
      // Resume where it left off, for as long as the failures in a row last
      // less than the patience.
      const now = Date.now();
      failingSince ??= now;
      if (now - failingSince >= FOLLOW_PATIENCE_MS) {
        throw failure;
      }
      await sleep(Math.min(200 * 2 ** failures, 3200), undefined, { signal });
      failures += 1;
    }
  }

  /**
   * Any call of the API, for what this layer does not wrap: the JSON answer,
   * or a {@link SlipwayError}.
   * @template [T=unknown]
   * @param {string} method
   * @param {string} path e.g. `/v1/clusters?mine=true`
   * @param {unknown} [body] sent as JSON
   * @returns {Promise<T>}
   */
  request(method, path, body) {
    return this.#call(method, path, { body });
  }

  // ---- inside ----

  /** The API token to send, if any. */
  #apiToken() {
    return this.#token ?? savedSession(this.server)?.token;
  }

  /**
   * Saves a session and uses it from now on.
   * @param {Session} session
   */
  #keep(session) {
    saveSession(this.server, {
      token: session.token,
      login: session.login,
      expires_at: session.expires_at,
    });
    this.#token = session.token;
    return session;
  }

  /**
   * Waits for the action's operation, if asked, and checks it did what was
   * asked: it succeeded and the cluster is where the action puts it.
   * @param {ActionResponse} response
   * @param {(cluster: ClusterStatus) => boolean} arrived
   * @param {WaitOptions} options
   * @returns {Promise<ActionResponse>}
   */
  async #finish(response, arrived, { wait = true, timeout, onEvent, signal }) {
    const operation = response.operation;
    if (!wait || !operation) {
      return response;
    }
    const timedOut = await this.#watch(operation.id, timeout ?? DEFAULT_WAIT_MS, onEvent, signal);
    const [ended, cluster] = await Promise.all([
      this.operation(operation.id),
      this.status(response.cluster.name),
    ]);
    if (timedOut && !TERMINAL.has(ended.state)) {
      throw stillRunning(ended);
    }
    if (ended.state !== "succeeded" || !arrived(cluster)) {
      throw new OperationFailed(ended, `${cluster.name} is ${cluster.state}`);
    }
    return { ...response, operation: ended, cluster };
  }

  /**
   * Follows the operation's log until its end (`false`) or for `timeout` ms
   * (`true`).
   * @param {string} id
   * @param {number} timeout
   * @param {((event: Event) => void) | undefined} onEvent
   * @param {AbortSignal | undefined} signal
   */
  async #watch(id, timeout, onEvent, signal) {
    const stop = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      stop.abort();
    }, timeout);
    const relay = () => stop.abort(signal?.reason);
    signal?.addEventListener("abort", relay);
    try {
      signal?.throwIfAborted();
      for await (const event of this.follow(id, { signal: stop.signal })) {
        onEvent?.(event);
      }
      return false;
    } catch (e) {
      if (timedOut && !signal?.aborted) {
        return true;
      }
      throw e;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", relay);
    }
  }

  /**
   * Sends a request to the API; a failure to reach it is a
   * {@link SlipwayError} `unavailable`.
   * @param {string} method
   * @param {string} path
   * @param {{body?: unknown, headers?: Record<string, string>, auth?: boolean, signal?: AbortSignal}} [options]
   */
  async #send(method, path, { body, headers = {}, auth = true, signal } = {}) {
    const sent = new Headers(headers);
    if (!sent.has("accept")) {
      sent.set("accept", "application/json");
    }
    const token = auth ? this.#apiToken() : undefined;
    if (token) {
      sent.set("authorization", `Bearer ${token}`);
    }
    if (body !== undefined) {
      sent.set("content-type", "application/json");
    }
    try {
      return await this.#fetch(`${this.server}${path}`, {
        method,
        headers: sent,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
    } catch (e) {
      if (signal?.aborted) {
        throw e;
      }
      const cause = /** @type {{cause?: {message?: string}, message?: string}} */ (e);
      throw new SlipwayError({
        code: "unavailable",
        message: `cannot reach Slipway at ${this.server}: ${cause.cause?.message ?? cause.message ?? e}`,
        cause: e,
      });
    }
  }

  /**
   * Calls the API: the JSON answer, or the server's error thrown.
   * @param {string} method
   * @param {string} path
   * @param {{body?: unknown, auth?: boolean, signal?: AbortSignal}} [options]
   * @returns {Promise<any>}
   */
  async #call(method, path, options = {}) {
    const response = await this.#send(method, path, options);
    if (!response.ok) {
      throw await errorFrom(response);
    }
    const text = await response.text();
    return text ? JSON.parse(text) : undefined;
  }
}

/** @param {DeviceCode} code */
function printCode(code) {
  process.stderr.write(
    `To sign in, open ${code.verification_uri} and enter the code ${code.user_code}\n`,
  );
}

/** @param {string} segment */
function enc(segment) {
  return encodeURIComponent(segment);
}

/**
 * Whether asking again later may cure the error: no answer, a broken
 * connection, or 429/502/503/504.
 * @param {unknown} e
 */
function isTransient(e) {
  if (e instanceof SlipwayError) {
    return e.code === "unavailable" || [429, 502, 503, 504].includes(e.status ?? 0);
  }
  // The body's stream broke (the connection was reset).
  return e instanceof TypeError;
}

/** @param {OperationView} operation */
function stillRunning(operation) {
  return new SlipwayError({
    code: "still_running",
    message:
      `operation ${operation.id} (${operation.kind} of ${operation.cluster}) is still ` +
      `${operation.state} after the wait; follow it with: slipway logs ${operation.id} --follow`,
    detail: {
      code: "still_running",
      message: `operation ${operation.state}`,
      operation: operation.id,
    },
  });
}
