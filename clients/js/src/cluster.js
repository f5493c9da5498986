// A cluster's endpoint, and a `fetch` that signs every request to it with a
// cluster token kept fresh.

import { SlipwayError } from "./errors.js";

/** @typedef {import("./api.js").components["schemas"]["ClusterToken"]} ClusterToken */

/** The longest margin before expiry at which a token is renewed: 5 minutes. */
const MAX_MARGIN_MS = 300_000;

/** The gateway's codes for a token that a new one cures. */
const RENEWABLE = new Set(["token_expired", "token_revoked"]);

/**
 * A token held, and when it was received (local clock, ms).
 * @typedef {{token: string, expiresAt: number, receivedAt: number}} Held
 */

/**
 * Whether a token is due for renewal at `now`: when `now >= expires_at -
 * margin`, with `margin = min(300 s, lifetime / 5)` and `lifetime =
 * expires_at - the time it was received`.
 * @param {Held} held
 * @param {number} now
 */
export function isDue(held, now) {
  const lifetime = held.expiresAt - held.receivedAt;
  const margin = Math.min(MAX_MARGIN_MS, lifetime / 5);
  return now >= held.expiresAt - margin;
}

/**
 * Keeps one cluster token fresh: renewed before sending when due, or once
 * the gateway refused it as expired or revoked. Concurrent callers share one
 * renewal (one request in flight at most).
 */
export class TokenKeeper {
  /** @type {Held | undefined} */
  #held;
  /** @type {Promise<Held> | undefined} */
  #renewing;
  #issue;
  #now;

  /**
   * @param {() => Promise<ClusterToken>} issue gets a new token (`POST /v1/clusters/{name}/access`)
   * @param {() => number} [now] the local clock, in ms
   */
  constructor(issue, now = Date.now) {
    this.#issue = issue;
    this.#now = now;
  }

  /** The token to send now: the one held, or a new one if it is due. */
  async token() {
    const held = this.#held;
    if (held && !isDue(held, this.#now())) {
      return held.token;
    }
    return (await this.#renew(held)).token;
  }

  /**
   * A token to replace `refused`, which the gateway refused as expired or
   * revoked: a new one, unless another caller already replaced it.
   * @param {string} refused
   */
  async replace(refused) {
    const held = this.#held;
    if (held && held.token !== refused && !isDue(held, this.#now())) {
      return held.token;
    }
    return (await this.#renew(held)).token;
  }

  /**
   * @param {Held | undefined} stale what the caller saw
   * @returns {Promise<Held>}
   */
  #renew(stale) {
    if (this.#renewing) {
      return this.#renewing;
    }
    const held = this.#held;
    if (held && held !== stale && !isDue(held, this.#now())) {
      return Promise.resolve(held);
    }
    const renewing = (async () => {
      const issued = await this.#issue();
      const fresh = {
        token: issued.token,
        expiresAt: Date.parse(issued.expires_at),
        receivedAt: this.#now(),
      };
      this.#held = fresh;
      return fresh;
    })();
    this.#renewing = renewing;
    renewing.then(
      () => this.#forget(renewing),
      () => this.#forget(renewing),
    );
    return renewing;
  }

  /** @param {Promise<Held>} renewing */
  #forget(renewing) {
    if (this.#renewing === renewing) {
      this.#renewing = undefined;
    }
  }
}

/**
 * Whether a request body can be sent a second time.
 * @param {unknown} body
 * @returns {boolean}
 */
export function isReplayable(body) {
  return (
    body === undefined ||
    body === null ||
    typeof body === "string" ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof URLSearchParams ||
    body instanceof Blob ||
    body instanceof FormData
  );
}

/**
 * The error code of a 401 answer's `{"error": {"code"}}`, read from a copy
 * (the answer itself stays unread).
 * @param {Response} response
 * @returns {Promise<string | undefined>}
 */
async function refusalCode(response) {
  try {
    const body = /** @type {{error?: {code?: unknown}} | null} */ (await response.clone().json());
    const code = body?.error?.code;
    return typeof code === "string" ? code : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A running cluster, as its users call it: `endpoint` (its gateway's URL)
 * and `fetch`, which sends `Authorization: Bearer <cluster token>` on every
 * request, with the token kept fresh.
 */
export class Cluster {
  /**
   * @param {object} options
   * @param {string} options.name the cluster
   * @param {string} options.endpoint its gateway's URL
   * @param {TokenKeeper} options.tokens
   * @param {typeof fetch} options.fetch the `fetch` to send with
   */
  constructor({ name, endpoint, tokens, fetch: send }) {
    /** The cluster's name. */
    this.name = name;
    /** The cluster's gateway, e.g. `http://127.0.0.1:40123`. */
    this.endpoint = endpoint;
    const base = new URL(endpoint);

    /**
     * `fetch`, signed for the cluster: `path` is a path under the endpoint
     * (`/health`, `api/v1/items`) or a full URL on the endpoint's origin.
     * The cluster token is renewed before it is due; if the gateway answers
     * 401 `token_expired` or `token_revoked`, a new token is got once and
     * the request sent again once (when its body can be replayed). A token
     * that cannot be got (the user's access is gone) throws that
     * {@link SlipwayError}; any other answer is returned as `fetch` would.
     * @param {string | URL} path
     * @param {RequestInit} [init]
     * @returns {Promise<Response>}
     */
    this.fetch = async (path, init = {}) => {
      const url = resolve(base, endpoint, path);
      const token = await tokens.token();
      const response = await sign(send, url, init, token);
      if (response.status !== 401 || !RENEWABLE.has((await refusalCode(response)) ?? "")) {
        return response;
      }
      const fresh = await tokens.replace(token);
      if (!isReplayable(init.body)) {
        return response;
      }
      await response.body?.cancel();
      return sign(send, url, init, fresh);
    };

    /** The cluster token to send now, for a client that signs by itself. */
    this.token = () => tokens.token();
  }
}

/**
 * @param {typeof fetch} send
 * @param {URL} url
 * @param {RequestInit} init
 * @param {string} token
 */
function sign(send, url, init, token) {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${token}`);
  return send(url, { ...init, headers });
}

/**
 * The URL `path` stands for under `endpoint`; a full URL must be on the
 * endpoint's origin (the token is not sent elsewhere).
 * @param {URL} base
 * @param {string} endpoint
 * @param {string | URL} path
 */
function resolve(base, endpoint, path) {
  if (path instanceof URL || /^[a-z][a-z0-9+.-]*:/i.test(path)) {
    const url = new URL(path);
    if (url.origin !== base.origin) {
      throw new SlipwayError({
        code: "invalid_request",
        message: `${url.href} is not on the cluster's endpoint ${endpoint}: its token is sent there only`,
      });
    }
    return url;
  }
  return new URL(`${endpoint.replace(/\/+$/, "")}/${path.replace(/^\/+/, "")}`);
}
