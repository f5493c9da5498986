// Signing in against the real server and the fake GitHub, and the
// credentials file shared with the CLI.

import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";

import { CredentialsError, Slipway, credentialsPath } from "../src/index.js";
import { ownCredentials, skip, world } from "../test-helpers/world.js";

const run = promisify(execFile);

/** @param {string} file */
function mode(file) {
  return fs.statSync(file).mode & 0o777;
}

/**
 * `slipway login --github-token` with `XDG_CONFIG_HOME` as given.
 * @param {string} login
 * @param {string} config
 */
function cliLogin(login, config) {
  // (SLIPWAY_URL and SLIPWAY_TOKEN are not set: the world's module removes them.)
  const env = { ...process.env, HOME: config, XDG_CONFIG_HOME: config };
  return run(
    world.slipway,
    ["login", "--github-token", world.users[login], "--server", world.server],
    { env },
  );
}

describe("signing in", { skip }, () => {
  test("by the device flow: the code is shown, the session saved in the credentials file (mode 600)", async () => {
    const config = ownCredentials();
    /** @type {import("../src/slipway.js").DeviceCode[]} */
    const shown = [];
    const slipway = new Slipway({ server: world.server });
    const session = await slipway.signIn({ onCode: (code) => void shown.push(code) });

    assert.equal(shown.length, 1);
    assert.match(shown[0].user_code, /\S/);
    assert.match(shown[0].verification_uri, /^https?:\/\//);
    assert.equal(session.login, world.device_user);
    assert.ok(session.organizations.includes(world.organization), session.organizations.join());

    const file = path.join(config, "slipway", "credentials.json");
    assert.equal(credentialsPath(), file);
    assert.equal(mode(file), 0o600);
    assert.equal(mode(path.dirname(file)), 0o700);
    assert.deepEqual(JSON.parse(fs.readFileSync(file, "utf8")), {
      servers: {
        [world.server]: {
          token: session.token,
          login: world.device_user,
          expires_at: session.expires_at,
        },
      },
    });
    // Another client, later, is signed in from the file.
    const me = await new Slipway({ server: world.server }).whoami();
    assert.equal(me.login, world.device_user);
    assert.equal(me.credential.kind, "user_token");
  });

  test("`slipway login --github-token` (the CLI), then the client uses its session without signing in", async () => {
    const config = ownCredentials();
    await cliLogin("alice", config);
    const file = path.join(config, "slipway", "credentials.json");
    assert.equal(mode(file), 0o600);

    process.env.SLIPWAY_URL = world.server;
    try {
      const slipway = Slipway.fromEnvironment();
      assert.equal((await slipway.whoami()).login, "alice");
      const cluster = await slipway.cluster(world.cluster);
      const health = await cluster.fetch("/health");
      assert.equal(health.status, 200);
    } finally {
      delete process.env.SLIPWAY_URL;
    }
  });

  test("a group-readable credentials file is refused with the clear message, by the client and by the CLI", async (t) => {
    const config = ownCredentials();
    await cliLogin("alice", config);
    const file = path.join(config, "slipway", "credentials.json");
    fs.chmodSync(file, 0o640);
    const message = `${file} is open to other users (mode 0640): run chmod 600 ${file}`;

    await assert.rejects(new Slipway({ server: world.server }).whoami(), (e) => {
      assert.ok(e instanceof CredentialsError);
      assert.equal(e.message, message);
      return true;
    });
    assert.throws(() => Slipway.fromEnvironment({}), { name: "CredentialsError", message });

    // The CLI refuses the same file the same way.
    const env = { ...process.env, HOME: config, XDG_CONFIG_HOME: config, SLIPWAY_URL: world.server };
    const cli = await run(world.slipway, ["whoami"], { env }).then(
      () => undefined,
      (/** @type {{code: number, stderr: string}} */ e) => e,
    );
    assert.ok(cli, "the CLI refused");
    assert.ok(cli.stderr.includes(message), cli.stderr);

    t.diagnostic(`refused: ${message}`);
    fs.chmodSync(file, 0o600);
    assert.equal((await new Slipway({ server: world.server }).whoami()).login, "alice");
  });
});
