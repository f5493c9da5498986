/** @typedef {import("./api.js").components["schemas"]["ErrorDetail"]} ErrorDetail */
/** @typedef {import("./api.js").components["schemas"]["OperationView"]} OperationView */

/**
 * An error the Slipway API or a cluster's gateway answered, or met on the
 * way: `code` is the server's stable code (`not_found`, `forbidden`,
 * `token_revoked`, …), `message` the server's own words, `status` the HTTP
 * status (absent when no answer came: code `unavailable`).
 */
export class SlipwayError extends Error {
  /**
   * @param {{code: string, message: string, status?: number, detail?: ErrorDetail, cause?: unknown}} error
   */
  constructor({ code, message, status, detail, cause }) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "SlipwayError";
    /** The server's code, e.g. `forbidden`, `token_revoked`, `operation_failed`. */
    this.code = code;
    /** The HTTP status of the answer, if there was one. */
    this.status = status;
    /** The whole error document (`field`, `operation`), when the server sent one. */
    this.detail = detail ?? { code, message };
  }
}

/**
 * An operation (a deploy, a destroy) that ended without doing what was
 * asked: it failed, was cancelled or interrupted, or left the cluster
 * elsewhere. `operation` is the operation as it ended; its `error` is the
 * operation's error text, which the message quotes.
 */
export class OperationFailed extends SlipwayError {
  /**
   * @param {OperationView} operation
   * @param {string} what what did not happen, e.g. `demo is failed`
   */
  constructor(operation, what) {
    const error = operation.error ? `: ${operation.error}` : "";
    super({
      code: "operation_failed",
      message:
        `${what}: operation ${operation.id} (${operation.kind} of ${operation.cluster}) ` +
        `${operation.state}${error}; see its log: slipway logs ${operation.id}`,
      detail: {
        code: "operation_failed",
        message: operation.error ?? `operation ${operation.state}`,
        operation: operation.id,
      },
    });
    this.name = "OperationFailed";
    /** The operation as it ended (`state`, `error`, …). */
    this.operation = operation;
  }
}

/** The credentials file is open to other users, or cannot be read or written. */
export class CredentialsError extends Error {
  /**
   * @param {string} message
   * @param {string} path
   * @param {unknown} [cause]
   */
  constructor(message, path, cause) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "CredentialsError";
    /** The credentials file concerned. */
    this.path = path;
  }
}

/**
 * The error an answer that is not 2xx stands for: the server's
 * `{"error": {"code", "message"}}`, or `unexpected_answer` when the body is
 * not one.
 * @param {Response} response
 * @returns {Promise<SlipwayError>}
 */
export async function errorFrom(response) {
  const text = await response.text().catch(() => "");
  /** @type {unknown} */
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const detail = /** @type {{error?: ErrorDetail} | undefined} */ (body)?.error;
  if (detail && typeof detail.code === "string" && typeof detail.message === "string") {
    return new SlipwayError({
      code: detail.code,
      message: detail.message,
      status: response.status,
      detail,
    });
  }
  return new SlipwayError({
    code: "unexpected_answer",
    message: `${response.url || "the server"} answered ${response.status} ${response.statusText}${
      text ? `: ${text.slice(0, 500)}` : ""
    }`,
    status: response.status,
  });
}
