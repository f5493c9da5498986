// The credentials file shared with the CLI's `slipway login`: one user
// token per server, readable by its owner only.

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { randomBytes } from "node:crypto";

import { CredentialsError } from "./errors.js";

/**
 * A session saved for one server.
 * @typedef {{token: string, login: string, expires_at: string}} Saved
 */

/**
 * The file's content.
 * @typedef {{servers: Record<string, Saved>, [other: string]: unknown}} CredentialsFile
 */

/**
 * Where the credentials are kept: `$XDG_CONFIG_HOME/slipway/credentials.json`
 * when `XDG_CONFIG_HOME` is set and absolute, else
 * `$HOME/.config/slipway/credentials.json` — on every platform, as the CLI.
 * @param {NodeJS.ProcessEnv} [env]
 * @returns {string}
 */
export function credentialsPath(env = process.env) {
  const xdg = env.XDG_CONFIG_HOME;
  const config =
    xdg && path.isAbsolute(xdg) ? xdg : path.join(env.HOME || os.homedir(), ".config");
  return path.join(config, "slipway", "credentials.json");
}

/**
 * A server's key in the file: its URL without trailing `/`.
 * @param {string} server
 */
export function serverKey(server) {
  return server.replace(/\/+$/, "");
}

/**
 * Reads the file: empty when there is none. Refuses a file that other users
 * may read or write, and one that does not parse.
 * @param {string} [file]
 * @returns {CredentialsFile}
 */
export function readCredentials(file = credentialsPath()) {
  /** @type {fs.Stats} */
  let stat;
  try {
    stat = fs.statSync(file);
  } catch (e) {
    if (/** @type {NodeJS.ErrnoException} */ (e).code === "ENOENT") {
      return { servers: {} };
    }
    throw new CredentialsError(`cannot read ${file}: ${/** @type {Error} */ (e).message}`, file, e);
  }
  if ((stat.mode & 0o077) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, "0");
    throw new CredentialsError(
      `${file} is open to other users (mode ${mode}): run chmod 600 ${file}`,
      file,
    );
  }
  /** @type {unknown} */
  let content;
  try {
    content = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new CredentialsError(`cannot read ${file}: ${/** @type {Error} */ (e).message}`, file, e);
  }
  if (!isObject(content) || (content.servers !== undefined && !isObject(content.servers))) {
    throw new CredentialsError(
      `cannot read ${file}: not a credentials file (expected {"servers": {…}})`,
      file,
    );
  }
  return /** @type {CredentialsFile} */ ({ ...content, servers: content.servers ?? {} });
}

/**
 * The unexpired session saved for `server`, if any.
 * @param {string} server
 * @param {string} [file]
 * @returns {Saved | undefined}
 */
export function savedSession(server, file = credentialsPath()) {
  const saved = readCredentials(file).servers[serverKey(server)];
  if (!saved || typeof saved.token !== "string") {
    return undefined;
  }
  const expires = Date.parse(saved.expires_at);
  return expires > Date.now() ? saved : undefined;
}

/**
 * Saves a session for `server`, keeping the other servers'; returns the
 * file's path.
 * @param {string} server
 * @param {Saved} saved
 * @param {string} [file]
 * @returns {string}
 */
export function saveSession(server, saved, file = credentialsPath()) {
  const content = readCredentials(file);
  content.servers[serverKey(server)] = {
    token: saved.token,
    login: saved.login,
    expires_at: saved.expires_at,
  };
  writeCredentials(content, file);
  return file;
}

/**
 * Forgets the session saved for `server`.
 * @param {string} server
 * @param {string} [file]
 */
export function forgetSession(server, file = credentialsPath()) {
  const content = readCredentials(file);
  const key = serverKey(server);
  if (key in content.servers) {
    delete content.servers[key];
    writeCredentials(content, file);
  }
}

/**
 * Writes the file atomically, never readable by others: the directory is
 * created with mode 700; a new file beside it, created with mode 600, is
 * written, synced and renamed over it.
 * @param {CredentialsFile} content
 * @param {string} file
 */
function writeCredentials(content, file) {
  const dir = path.dirname(file);
  const staged = path.join(
    dir,
    `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`,
  );
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const fd = fs.openSync(staged, "wx", 0o600);
    try {
      fs.fchmodSync(fd, 0o600);
      fs.writeFileSync(fd, `${JSON.stringify(content, null, 2)}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(staged, file);
  } catch (e) {
    fs.rmSync(staged, { force: true });
    throw new CredentialsError(
      `cannot save the credentials in ${file}: ${/** @type {Error} */ (e).message}`,
      file,
      e,
    );
  }
}

/**
 * @param {unknown} value
 * @returns {value is Record<string, unknown>}
 */
function isObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
